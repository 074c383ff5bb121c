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
	// TotalAlloc counts the whole process: the best of three runs keeps
	// what the runtime or the test framework allocates meanwhile out of
	// the figure.
	best := uint64(1 << 62)
	for range 3 {
		alloc, held := inflateBomb(t, bomb, limit)
		if held > limit+checkEvery+2*maxMatch {
			t.Errorf("held %d bytes for a limit of %d", held, limit)
		}
		best = min(best, alloc)
	}
	if best > 2*limit+limit/4 {
		t.Errorf("allocated %d bytes (%.2f× the limit) inflating a bomb", best, float64(best)/limit)
	}
	t.Logf("bomb against a %d-byte limit: allocated %d (%.2f×)", limit, best, float64(best)/limit)
}

// inflateBomb feeds bomb to a new Inflater in 512-byte pieces until it
// fails with ErrTooBig, and returns what the process allocated meanwhile
// and what the Inflater held at the end.
func inflateBomb(t *testing.T, bomb []byte, limit int64) (alloc uint64, held int) {
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
	return after.TotalAlloc - before.TotalAlloc, f.Held()
}
