//go:build linux

package adversary

import (
	"bytes"
	"compress/flate"
	"strconv"
	"testing"
	"time"
)

// advBomb is a permessage-deflate payload (RFC 7692: deflate blocks, the
// final empty block's 00 00 ff ff left off) that inflates to mib MiB of
// zeros: one MiB deflated from a fresh window, repeated (its back
// references reach only zeros within itself).
func advBomb(t *testing.T, mib int) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	chunk := b.Bytes()
	bomb := bytes.Repeat(chunk, mib)
	return bomb[:len(bomb)-4]
}

// TestAdvDecompressionBomb sends, with -compression, a message of a few
// dozen KB that inflates to twice -max-message-size (16 MiB): the server
// closes with 1009, and its peak RSS (VmHWM) grows by at most 3× the limit
// (the inflater must stop at the limit, not grow its output by append).
func TestAdvDecompressionBomb(t *testing.T) {
	const (
		maxMsg   = 16 << 20
		multiple = 3.0
	)
	bomb := advBomb(t, 2*maxMsg>>20)
	advEachEngine(t, func(t *testing.T, engine string) {
		p := advStart(t, engine, "-compression", "-max-message-size", strconv.Itoa(maxMsg))
		base := advSettle(t, p)
		c, err := advDial(p.addr, advDialOpts{compression: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// An honest compressed message first: the stream is right.
		hello := advBomb(t, 1)
		if _, err := c.Write(append(advHeader(advOpBinary, true, true, len(hello)), advMasked(hello, 0)...)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		f, err := c.readFrame()
		if err != nil || f.op != advOpBinary {
			t.Fatalf("the honest message: opcode %d (close %d), %v", f.op, f.closeCode(), err)
		}
		before := p.status(t)
		start := time.Now()
		if _, err := c.Write(append(advHeader(advOpBinary, true, true, len(bomb)), advMasked(bomb, 0)...)); err != nil {
			t.Fatal(err)
		}
		code, _, _, err := c.readClose(10 * time.Second)
		if err != nil || code != 1009 {
			t.Errorf("the bomb: close %d, %v; want 1009", code, err)
		}
		took := time.Since(start)
		after := p.status(t)
		growth := after.HWM - before.HWM
		got := float64(growth) / maxMsg
		if got > multiple {
			t.Errorf("VmHWM grew %.1f MiB for a %d MiB limit: %.2f× the limit, want at most %.1f×", advMiB(growth), maxMsg>>20, got, multiple)
		}
		c.Close()
		advBackToBaseline(t, p, base, 5*time.Second)
		t.Logf("adversary: bomb %s: deflated=%dB inflates_to=%dMiB max_message=%dMiB close=%d took=%v hwm_before=%.1fMiB hwm_after=%.1fMiB hwm_growth=%.1fMiB multiple=%.2f rss_after=%.1fMiB",
			engine, len(bomb), 2*maxMsg>>20, maxMsg>>20, code, took.Round(time.Millisecond),
			advMiB(before.HWM), advMiB(after.HWM), advMiB(growth), got, advMiB(after.RSS))
	})
}
