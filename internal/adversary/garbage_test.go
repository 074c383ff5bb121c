//go:build linux

package adversary

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"
)

// advFirstClose walks the client frames in g as a server would frame them
// and returns the code of a well-formed close frame that comes before any
// framing error, if one does: garbage may hold a real close frame, and the
// server then rightly answers with its code (or with 1002 for a code that
// is not allowed on the wire).
func advFirstClose(g []byte, maxMsg int) (int, bool) {
	for len(g) >= 2 {
		b0, b1 := g[0], g[1]
		op := b0 & 0x0f
		if b0&0x70 != 0 || b1&0x80 == 0 || (op > 2 && op < 8) || op > 10 {
			return 0, false
		}
		n, h := uint64(b1&0x7f), 2
		switch n {
		case 126:
			if len(g) < 4 {
				return 0, false
			}
			n, h = uint64(binary.BigEndian.Uint16(g[2:])), 4
		case 127:
			if len(g) < 10 {
				return 0, false
			}
			n, h = binary.BigEndian.Uint64(g[2:]), 10
		}
		if op >= 8 && (n > 125 || b0&0x80 == 0) || n > uint64(maxMsg) || uint64(len(g)) < uint64(h+4)+n {
			return 0, false
		}
		key, payload := g[h:h+4], g[h+4:h+4+int(n)]
		if op == advOpClose {
			if n < 2 {
				return 1005, true
			}
			return int(binary.BigEndian.Uint16([]byte{payload[0] ^ key[0], payload[1] ^ key[1]})), true
		}
		g = g[h+4+int(n):]
	}
	return 0, false
}

// advFrameShaped is size bytes of frames that look right and mostly are
// not: random opcodes (reserved ones too), FIN bits, lengths (past maxMsg
// now and then) and payloads, and now and then a flipped header bit.
func advFrameShaped(rng *rand.Rand, size, maxMsg int) []byte {
	ops := []byte{advOpCont, advOpText, advOpBinary, advOpClose, advOpPing, advOpPong, 0x3, 0xB}
	var g []byte
	for len(g) < size {
		op := ops[rng.IntN(len(ops))]
		var n int
		switch rng.IntN(8) {
		case 0:
			n = maxMsg + 1 + rng.IntN(maxMsg)
		case 1, 2:
			n = 126 + rng.IntN(maxMsg-126)
		default:
			n = rng.IntN(126)
		}
		payload := make([]byte, min(n, 2*maxMsg))
		for j := range payload {
			payload[j] = byte(rng.Uint32())
		}
		f := append(advHeader(op, rng.IntN(4) != 0, false, n), advMasked(payload, 0)...)
		if rng.IntN(16) == 0 {
			f[rng.IntN(2)] ^= 1 << rng.IntN(8)
		}
		g = append(g, f...)
	}
	return g[:size]
}

// TestAdvGarbage sends 200 connections 16 KiB each after the handshake
// (random bytes, or frames that look right and mostly are not), in random chunks, then a tail of 0xFF that no frame can
// swallow whole (-max-message-size 8 KiB): each gets a close frame with
// 1002, 1007 or 1009 (or the code of a well-formed close frame the garbage
// happened to hold; 1009 for every twentieth, whose two frame lengths
// add up past 2^63) and its TCP connection closed, and the server keeps
// serving an honest client.
func TestAdvGarbage(t *testing.T) {
	const (
		n       = 200
		maxMsg  = 8 << 10
		closeTO = time.Second
	)
	advEachEngine(t, func(t *testing.T, engine string) {
		p := advStart(t, engine, "-max-message-size", strconv.Itoa(maxMsg), "-close-timeout", closeTO.String())
		base := advSettle(t, p)
		conns := advDialMany(t, p.addr, n, advDialOpts{})
		type result struct {
			code, data   int
			readErr      error
			closed       bool
			peerClose    int
			hasPeerClose bool
			overflow     bool
		}
		results := make([]result, n)
		var wg sync.WaitGroup
		for i, c := range conns {
			rng := rand.New(rand.NewPCG(uint64(i), 10))
			g := make([]byte, 16<<10)
			overflow := i%20 == 19
			switch {
			case overflow:
				// A fragment of one byte, then a continuation of 2^63-1:
				// their sum must not wrap past -max-message-size.
				g = append(advFrame(advOpBinary, false, []byte("x")), advHeader(advOpCont, true, false, 1<<63-1)...)
				g = append(g, make([]byte, 16<<10)...)
			case i%2 == 0:
				for j := range g {
					g[j] = byte(rng.Uint32())
				}
			default:
				g = advFrameShaped(rng, len(g), maxMsg)
			}
			r := &results[i]
			r.overflow = overflow
			r.peerClose, r.hasPeerClose = advFirstClose(g, maxMsg)
			for range maxMsg + 16 {
				g = append(g, 0xff)
			}
			var chunks [][]byte
			for len(g) > 0 {
				k := min(len(g), 1+rng.IntN(4096))
				chunks, g = append(chunks, g[:k]), g[k:]
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				// The server may close before the last chunk: later
				// writes then fail, which is fine.
				for _, ch := range chunks {
					_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if _, err := c.Write(ch); err != nil {
						break
					}
				}
				r.code, r.data, _, r.readErr = c.readClose(5 * time.Second)
				r.closed, _ = c.closedTCP(closeTO + 2*time.Second)
			}()
		}
		wg.Wait()
		codes := map[int]int{}
		bad, echoed, peerCloses := 0, 0, 0
		for i, r := range results {
			codes[r.code]++
			echoed += r.data
			ok := r.code == 1002 || r.code == 1007 || r.code == 1009
			if r.overflow {
				ok = r.code == 1009
			}
			if r.hasPeerClose {
				peerCloses++
				ok = ok || r.code == r.peerClose || (r.peerClose == 1005 && r.code == 1000)
			}
			if r.readErr != nil || !ok || !r.closed {
				if bad < 5 {
					t.Errorf("garbage %d (length overflow: %v): close %d (garbage's own close: %v %d), %v; TCP closed: %v", i, r.overflow, r.code, r.hasPeerClose, r.peerClose, r.readErr, r.closed)
				}
				bad++
			}
		}
		for _, c := range conns {
			c.Close()
		}
		honest, err := advDial(p.addr, advDialOpts{})
		if err != nil {
			t.Fatalf("after the garbage: %v", err)
		}
		if err := honest.echo([]byte("still serving"), 5*time.Second); err != nil {
			t.Fatalf("after the garbage: %v", err)
		}
		honest.Close()
		end := advBackToBaseline(t, p, base, 5*time.Second)
		t.Logf("adversary: garbage %s: conns=%d bytes_each=%d codes=%v echoed_messages=%d garbage_close_frames=%d bad=%d fds=%d goroutines=%.0f",
			engine, n, 16<<10, codes, echoed, peerCloses, bad, end.FDs, end.Goroutines)
	})
}
