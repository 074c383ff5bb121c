package conformance

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"slices"
)

// This file re-runs families 1–9 over permessage-deflate (groups 10.25 and
// 10.26): each case of those families, unchanged but for family 3's RSV1
// cases and family 8's sizes (see cases), runs on a connection that
// negotiated the extension, with the server's compressed echoes inflated
// and checked by the client. In 10.25 the client compresses every data
// message it sends; in 10.26 it sends them uncompressed (RSV1 clear, which
// is still a valid message). The offers of Autobahn 13.x's shape
// (gridOffers) take turns from case to case, so every parameter combination
// meets every family. Heavy cases are left out: the largest messages are
// family 8's business, and 10.4.23's over permessage-deflate.

// pmdRerun is how a re-run case uses permessage-deflate: the offer it makes,
// the answer it requires, and how it compresses its messages.
type pmdRerun struct {
	offer, answer string
	compress      bool // compress every data message, not only RSV1 ones
	level         int  // compress/flate level
}

// rerunGroup is the group of the first re-run, after the offer grid.
const rerunGroup = 25

// pmdRerunCases returns groups 10.25 (client messages compressed) and
// 10.26 (uncompressed), in ID order: "10.25.6.5.3" is case 6.5.3 re-run
// with compressed messages.
func pmdRerunCases() []Case {
	base := slices.DeleteFunc(cases(true), func(c Case) bool { return c.Heavy })
	levels := []int{flate.DefaultCompression, flate.BestSpeed, flate.HuffmanOnly, flate.BestCompression, flate.NoCompression}
	var cs []Case
	for g, compress := range []bool{true, false} {
		how := "client messages compressed"
		if !compress {
			how = "client messages uncompressed"
		}
		for i, c := range base {
			// The two groups use different offers for the same
			// case.
			o := gridOffers[(i+5*g)%len(gridOffers)]
			m := &pmdRerun{offer: o.offer, answer: deflateAnswer(o.serverBits), compress: compress, level: levels[i%len(levels)]}
			if o.clientBits > 0 {
				// compress/flate cannot keep to a smaller window;
				// Huffman coding alone refers to nothing.
				m.level = flate.HuffmanOnly
			}
			run := c.Run
			c.ID = fmt.Sprintf("10.%d.%s", rerunGroup+g, c.ID)
			c.Description = fmt.Sprintf("%s [%s; offer %q]", c.Description, how, o.offer)
			c.Run = func(ctx context.Context, t *Target) Outcome {
				tt := *t
				tt.pmd = m
				return run(ctx, &tt)
			}
			cs = append(cs, c)
		}
	}
	return cs
}

// adapt turns a family 1–9 scenario into its re-run: the client offers
// m.offer, requires m.answer and inflates the server's messages
// (Client.UseDeflate), and its data messages are compressed as the frames
// go (compressFrames).
func (m *pmdRerun) adapt(sc scenario, t *Target) (scenario, *Target) {
	tt := *t
	tt.Extensions, tt.pmd = m.offer, nil
	sc.actions = m.compressFrames(sc.actions)
	prepare := sc.prepare
	sc.prepare = func(c *Client) error {
		if c.Extensions != m.answer {
			return fmt.Errorf("permessage-deflate answer %q, want %q", c.Extensions, m.answer)
		}
		if _, err := c.UseDeflate(); err != nil {
			return err
		}
		if prepare != nil {
			return prepare(c)
		}
		return nil
	}
	return sc, &tt
}

// compressFrames returns a copy of the actions with the client's data
// messages compressed (RFC 7692 §7.2.1), across actions, since one message
// may span several:
//
//   - a text or binary frame with RSV1, or with no reserved bit if m.compress,
//     starts a compressed message with a fresh compressor (no context
//     takeover) and gets RSV1; its continuations are compressed too;
//   - each frame carries the compressed form of its own payload, ended by a
//     sync flush, so the server can inflate all of a frame's data as soon
//     as the frame arrives (the fail-fast cases of family 6 stay fail-fast);
//     an empty frame in the middle of a message stays empty; the final
//     frame's data loses the 00 00 ff ff tail;
//   - a frame that announces more bytes than it carries (declLen) announces
//     as many more than its compressed data;
//   - everything else (control frames, reserved opcodes, frames with other
//     reserved bits, continuations of a plain or of no message) is sent as
//     is: the server must treat it as families 1–9 expect.
func (m *pmdRerun) compressFrames(as []action) []action {
	out := make([]action, len(as))
	var cur *msgDeflater // the compressed message being sent, nil if none
	for i, a := range as {
		out[i] = a
		if len(a.frames) == 0 {
			continue
		}
		frs := make([]fr, len(a.frames))
		for j, f := range a.frames {
			switch {
			case f.op == OpText || f.op == OpBinary:
				cur = nil
				if f.rsv == RSV1 || f.rsv == 0 && m.compress {
					cur = newMsgDeflater(m.level)
				}
			case f.op != OpContinuation || f.rsv != 0:
				frs[j] = f
				continue
			}
			if cur == nil {
				frs[j] = f
				continue
			}
			frs[j] = cur.frame(f)
			if f.fin && f.declLen == 0 {
				cur = nil
			}
		}
		out[i].frames = frs
	}
	return out
}

// msgDeflater compresses one message frame by frame.
type msgDeflater struct {
	buf bytes.Buffer
	w   *flate.Writer
}

func newMsgDeflater(level int) *msgDeflater {
	d := &msgDeflater{}
	w, err := flate.NewWriter(&d.buf, level)
	if err != nil {
		panic(err)
	}
	d.w = w
	return d
}

// frame returns f carrying the compressed form of its payload.
func (d *msgDeflater) frame(f fr) fr {
	last := f.fin && f.declLen == 0
	if len(f.payload) > 0 {
		d.w.Write(f.payload)
	}
	if len(f.payload) > 0 || last || f.declLen > 0 {
		d.w.Flush()
	}
	z := bytes.Clone(d.buf.Bytes())
	d.buf.Reset()
	if last {
		var ok bool
		if z, ok = bytes.CutSuffix(z, deflateTail); !ok {
			panic("conformance: sync flush did not end with 00 00 ff ff")
		}
	}
	if f.declLen > 0 {
		f.declLen += len(z) - len(f.payload)
	}
	if f.op != OpContinuation {
		f.rsv = RSV1
	}
	f.payload = z
	return f
}
