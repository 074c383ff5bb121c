package proto

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
)

// TestLengthOverflow: a continuation frame whose length is near 2^63 after a
// short first fragment must fail with 1009, not wrap the limit check.
func TestLengthOverflow(t *testing.T) {
	for _, length := range []uint64{math.MaxInt64, math.MaxInt64 - 1, 1 << 62, 1<<20 + 1} {
		stream := mask(ws.OpBinary, false, []byte("a"))
		hdr := []byte{0x80, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
		binary.BigEndian.PutUint64(hdr[2:], length)
		stream = append(stream, hdr...)
		stream = append(stream, make([]byte, 4096)...)
		_, err := collect(t, stream, len(stream))
		if err == nil || err.Code != handler.CloseMessageTooBig {
			t.Errorf("continuation of %d bytes after 1: %v, want 1009", length, err)
		}
	}
}

// TestHeldWithinLimit: a message that arrives in many frames and reads makes
// the reader hold at most the limit, not append's growth past it.
func TestHeldWithinLimit(t *testing.T) {
	const limit = 100_000
	r := Reader{MaxMessage: limit}
	chunk := make([]byte, 999)
	var stream []byte
	for i := 0; i < limit/len(chunk); i++ {
		stream = append(stream, mask(ws.OpContinuation, false, chunk)...)
	}
	stream[0] = 0x02 // the first frame opens a binary message
	stream = append(stream, mask(ws.OpContinuation, true, chunk[:limit%len(chunk)])...)
	most := 0
	for len(stream) > 0 {
		n, ev, err := r.Next(stream[:min(len(stream), 1500)])
		if err != nil {
			t.Fatal(err)
		}
		stream = stream[n:]
		most = max(most, r.Held())
		if ev.Kind == Message && len(ev.Data) != limit {
			t.Fatalf("message of %d bytes, want %d", len(ev.Data), limit)
		}
	}
	if most > limit {
		t.Errorf("held %d bytes for a message of %d (the limit)", most, limit)
	}
}

func TestGrow(t *testing.T) {
	var b []byte
	allocs := 0
	for len(b) < 1<<20 {
		if len(b)+1000 > cap(b) {
			allocs++
		}
		b = append(Grow(b, 1000, 1<<20+500), make([]byte, 1000)...)
		if cap(b) > 1<<20+500 && len(b) <= 1<<20+500 {
			t.Fatalf("cap %d past the bound", cap(b))
		}
	}
	if allocs > 15 {
		t.Errorf("%d allocations to grow to 1 MiB: not doubling", allocs)
	}
}
