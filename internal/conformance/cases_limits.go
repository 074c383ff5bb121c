package conformance

import (
	"context"
	"fmt"
	"time"
)

// sizeName renders a byte count as "64 KiB", "1 MiB", "64 B".
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// bigPayload returns n bytes for op: mixed UTF-8 for text, so that frame and
// write boundaries cut multi-byte sequences.
func bigPayload(op byte, n int) []byte {
	if op == OpText {
		return utf8Payload(n)
	}
	return binPayload(n)
}

// perfCase is an echo case with a long timeout; its duration is the figure
// of interest. The script is built only when the case runs, so that listing
// the cases does not allocate their large payloads.
func perfCase(id, desc string, heavy bool, build func() ([]action, []Event)) Case {
	return Case{
		ID: id, Description: desc, Timeout: 120 * time.Second, Heavy: heavy,
		Run: func(ctx context.Context, t *Target) Outcome {
			a, pre := build()
			exp := append(pre, closeEv(1000), tcpClosed)
			return scenario{actions: a, expect: exp, closeAfter: true, wait: 90 * time.Second}.run(ctx, t)
		},
	}
}

// limitsCases is family 8 (Autobahn 9.x shape): large messages, whole,
// fragmented and chopped, and many small round trips. It assumes the
// server accepts messages of at least 16 MiB.
//
// With small, the sizes are a sixteenth (at most 1 MiB) and the round trips
// a tenth: the same shapes for the permessage-deflate re-runs of family 10,
// where every byte is also compressed and inflated on both sides.
func limitsCases(small bool) []Case {
	scale := func(n int) int {
		if small {
			return n / 16
		}
		return n
	}
	trips := 1000
	if small {
		trips = 100
	}
	var cs []Case
	for g, op := range []byte{OpText, OpBinary} {
		for i, n := range []int{64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20} {
			n := scale(n)
			cs = append(cs, perfCase(fmt.Sprintf("8.%d.%d", 1+g, i+1),
				fmt.Sprintf("%s message of %s in one frame", opName(op), sizeName(n)), i == 4,
				func() ([]action, []Event) {
					p := bigPayload(op, n)
					return acts(send(fr{fin: true, op: op, payload: p})), []Event{msgEv(op, p)}
				}))
		}
	}
	for g, op := range []byte{OpText, OpBinary} {
		for i, fs := range []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20} {
			n := scale(4 << 20)
			cs = append(cs, perfCase(fmt.Sprintf("8.%d.%d", 3+g, i+1),
				fmt.Sprintf("%s message of %s in frames of %s", opName(op), sizeName(n), sizeName(fs)), fs <= 64,
				func() ([]action, []Event) {
					p := bigPayload(op, n)
					return acts(send(fragments(op, chunks(p, fs))...)), []Event{msgEv(op, p)}
				}))
		}
	}
	for g, op := range []byte{OpText, OpBinary} {
		for i, ws := range []int{64, 128, 256, 512, 1024, 2048} {
			n := scale(1 << 20)
			cs = append(cs, perfCase(fmt.Sprintf("8.%d.%d", 5+g, i+1),
				fmt.Sprintf("%s message of %s in one frame, %d-byte writes", opName(op), sizeName(n), ws), false,
				func() ([]action, []Event) {
					p := bigPayload(op, n)
					return acts(chopped(ws, fr{fin: true, op: op, payload: p})), []Event{msgEv(op, p)}
				}))
		}
	}
	for g, op := range []byte{OpText, OpBinary} {
		for i, n := range []int{0, 16, 64, 256, 1024, 4096} {
			cs = append(cs, perfCase(fmt.Sprintf("8.%d.%d", 7+g, i+1),
				fmt.Sprintf("%d %s messages of %d bytes, each sent after the previous echo", trips, opName(op), n), false,
				func() ([]action, []Event) {
					p := bigPayload(op, n)
					var a []action
					var evs []Event
					for k := range trips {
						a = append(a, send(fr{fin: true, op: op, payload: p}), waitN(k+1))
						evs = append(evs, msgEv(op, p))
					}
					return a, evs
				}))
		}
	}
	n := scale(16 << 20)
	heavy := []struct {
		desc string
		op   byte
		fs   int // frame size, 0: one frame
		ws   int // write size, 0: one write
	}{
		{"binary message of %s in frames of 64 B", OpBinary, 64, 0},
		{"text message of %s in frames of 4 KiB", OpText, 4 << 10, 0},
		{"binary message of %s in frames of 1 MiB, 65521-byte writes", OpBinary, 1 << 20, 65521},
		{"text message of %s in one frame, 4093-byte writes", OpText, 0, 4093},
	}
	for i, h := range heavy {
		cs = append(cs, perfCase(fmt.Sprintf("8.9.%d", i+1), fmt.Sprintf(h.desc, sizeName(n)), true, func() ([]action, []Event) {
			p := bigPayload(h.op, n)
			frs := []fr{{fin: true, op: h.op, payload: p}}
			if h.fs > 0 {
				frs = fragments(h.op, chunks(p, h.fs))
			}
			return acts(chopped(h.ws, frs...)), []Event{msgEv(h.op, p)}
		}))
	}
	return cs
}

// autoFragCases is family 9: a 64 KiB message in frames of 64 B to 64 KiB,
// sent whole and chopped.
func autoFragCases() []Case {
	var cs []Case
	sizes := []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10}
	variants := []struct {
		op   byte
		chop int
	}{{OpText, 0}, {OpBinary, 0}, {OpText, 7}, {OpBinary, 1}}
	for g, v := range variants {
		p := bigPayload(v.op, 64<<10)
		for i, fs := range sizes {
			desc := fmt.Sprintf("%s message of 64 KiB in frames of %s", opName(v.op), sizeName(fs))
			a := send(fragments(v.op, chunks(p, fs))...)
			if v.chop > 0 {
				desc += fmt.Sprintf(", %d-byte writes", v.chop)
				a = chopped(v.chop, fragments(v.op, chunks(p, fs))...)
			}
			c := echoCase(fmt.Sprintf("9.%d.%d", g+1, i+1), desc, acts(a), msgEv(v.op, p))
			c.Timeout = 30 * time.Second
			cs = append(cs, c)
		}
	}
	return cs
}
