package bench

import (
	"fmt"
	"net/http"
	"runtime"
)

// MetricsHandler serves the figures every server under test exposes at
// /metrics, in the Prometheus text format: go_goroutines.
func MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	})
}
