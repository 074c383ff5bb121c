package bench

import (
	"context"
	"time"
)

// The readers of this package, for the measurement commands under
// bench/cmd (h2-measure), so that they read /proc and a server's metrics
// as ws4go bench does.

// ProcUsage returns the resident set size (bytes) and the CPU time used so
// far of process pid, from /proc (Linux only).
func ProcUsage(pid int) (rss int64, cpu time.Duration, err error) {
	s, err := readProcStats(pid)
	return s.RSS, s.CPU, err
}

// ServerMetric returns metric name's value on url, a server's /metrics
// page (bounded by 3 s).
func ServerMetric(ctx context.Context, url, name string) (float64, bool) {
	return scrapeMetric(ctx, url, name)
}

// ServerGC posts to url, a server's /gc, and returns once the server has
// collected its garbage (bounded by 30 s).
func ServerGC(ctx context.Context, url string) error { return postGC(ctx, url) }
