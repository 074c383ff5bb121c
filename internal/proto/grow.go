package proto

// Grow returns b with room for at least n more bytes. It doubles the
// capacity, so a buffer that grows to its final size leaves behind at most
// that size again in discarded arrays (append grows large slices by about
// a quarter, which leaves four times the final size), and it never grows
// past max bytes of capacity when max > 0 and the bytes fit: a buffer
// bounded by a message limit holds at most the limit.
func Grow(b []byte, n int, max int64) []byte {
	need := len(b) + n
	if need <= cap(b) {
		return b
	}
	size := max64(int64(need), 2*int64(cap(b)), 512)
	if max > 0 && size > max {
		size = max64(max, int64(need))
	}
	nb := make([]byte, len(b), size)
	copy(nb, b)
	return nb
}

func max64(a int64, b ...int64) int64 {
	for _, x := range b {
		a = max(a, x)
	}
	return a
}
