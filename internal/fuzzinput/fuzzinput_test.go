package fuzzinput

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand"
	"testing"
)

func TestFrameOps(t *testing.T) {
	var w Writer
	Stream(&w, NewReader(append(FrameOp(0x81, "hi"), CloseOp(1000, "")...)), false)
	want := [][]byte{{0x81, 2, 'h', 'i'}, {0x88, 2, 0x03, 0xe8}}
	if fmt.Sprint(w.Writes) != fmt.Sprint(want) {
		t.Fatalf("writes %x, want %x", w.Writes, want)
	}
	// The wrong masking for the side: a server's frame masked.
	w = Writer{}
	Stream(&w, NewReader([]byte{OpFrame | 0x30 | WriteAfter, 0x81, 1, 'a'}), false)
	if got := w.Writes[0]; !bytes.Equal(got, []byte{0x81, 0x81, 0x37, 0xfa, 0x21, 0x3d, 'a' ^ 0x37}) {
		t.Fatalf("masked frame %x", got)
	}
}

// TestStreamPinned holds the decoding of random inputs to the bytes it gave
// when the stored corpora were written: they are in this format, and a
// change would make each of them test something else. Change the hash only
// with the corpora.
func TestStreamPinned(t *testing.T) {
	h := sha256.New()
	rng := rand.New(rand.NewSource(1))
	for range 300 {
		b := make([]byte, rng.Intn(200))
		rng.Read(b)
		for _, masked := range []bool{false, true} {
			var w Writer
			Stream(&w, NewReader(b), masked)
			for _, p := range w.Writes {
				fmt.Fprintf(h, "%x,", p)
			}
			fmt.Fprint(h, "|")
		}
	}
	const want = "ba796c012b4bcb22337c809714619e7aa0799f9287bcddf7df0c31781238f676"
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != want {
		t.Fatalf("decoding changed: hash %s, want %s", got, want)
	}
}
