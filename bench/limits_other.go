//go:build !unix

package bench

// fdLimits is unknown here.
func fdLimits() (soft, hard uint64, ok bool) { return 0, 0, false }
