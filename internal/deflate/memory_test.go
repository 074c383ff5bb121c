package deflate

import (
	"errors"
	"runtime"
	"testing"
)

// TestBombMemory: a decompression bomb fed in small pieces makes the
// Inflater hold at most about the limit, and allocate (garbage included)
// at most about twice it: the output grows by doubling up to the limit,
// not by append's quarter steps that leave four times the output behind.
func TestBombMemory(t *testing.T) {
	const limit = 4 << 20
	bomb := Deflate(nil, make([]byte, 64<<20), 15)
	f := NewInflater(limit, false)
	defer f.Release()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var err error
	for fed := 0; fed < len(bomb) && err == nil; fed += 512 {
		err = f.Write(bomb[fed:min(fed+512, len(bomb))])
	}
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("bomb: %v, want ErrTooBig", err)
	}
	if held := f.Held(); held > limit+checkEvery+2*maxMatch {
		t.Errorf("held %d bytes for a limit of %d", held, limit)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	if alloc > 2*limit+limit/4 {
		t.Errorf("allocated %d bytes (%.2f× the limit) inflating a bomb", alloc, float64(alloc)/limit)
	}
	t.Logf("bomb against a %d-byte limit: held %d, allocated %d (%.2f×)", limit, f.Held(), alloc, float64(alloc)/limit)
}
