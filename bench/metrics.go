package bench

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
)

// metricsHandler serves the figures every server under test exposes at
// /metrics, in the Prometheus text format: go_goroutines and
// go_memstats_heap_inuse_bytes. The peers serve the same (bench/peers,
// package peer).
func metricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
		fmt.Fprintf(w, "# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes %d\n", ms.HeapInuse)
	})
}

// gcHandler serves /gc on the metrics listener of every server under test:
// it runs the garbage collector and returns freed memory to the operating
// system (runtime.GC, debug.FreeOSMemory), then answers 204. The benchmark
// calls it before each RSS reading of the idle scenario, so that garbage
// left by the handshakes and memory the runtime keeps for later do not
// count as memory per connection; the peers serve the same.
func gcHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
		w.WriteHeader(http.StatusNoContent)
	})
}
