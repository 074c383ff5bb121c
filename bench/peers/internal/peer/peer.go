// Package peer is what every peer server of the ws4go benchmark shares:
// its flags, its /metrics endpoint and its way of stopping.
//
// Every server serves the benchmark protocol on -addr:
//
//	/ws         echo: every message is sent back to its sender, same type
//	/broadcast  broadcast: every message received is sent to every client
//	            connected to /broadcast, the sender included, same type
//	/topics     topics: a text message "sub T1 T2 ..." subscribes its sender
//	            to each topic named and is answered with the text message
//	            "ok"; a binary message "T PAYLOAD" (a topic, one space,
//	            the payload) sends PAYLOAD as a binary message to every
//	            subscriber of T (ParseSubscribe, SplitPublish)
//
// and on -metrics
//
//	/metrics    go_goroutines and go_memstats_heap_inuse_bytes (Prometheus text)
//	/gc         runtime.GC and debug.FreeOSMemory, then 204
//
// No server pings, compresses or limits message sizes below 16 MiB. The
// metrics endpoint is the same as ws4go's own server under test
// (bench.MetricsHandler and bench.GCHandler in the main module): every
// server is measured the same way.
package peer

import (
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// Flags are the command line every server under test takes.
type Flags struct {
	Addr    string // WebSocket (or raw TCP) host:port
	Metrics string // host:port of /metrics; empty: none
	Mode    string // raw TCP only: echo or broadcast
	// TLSCert and TLSKey, if set, make the server speak TLS (wss://)
	// with crypto/tls (nbio with its own TLS engine).
	TLSCert, TLSKey string
}

// Parse parses the command line.
func Parse() Flags {
	var f Flags
	flag.StringVar(&f.Addr, "addr", "127.0.0.1:9400", "`host:port` to serve on")
	flag.StringVar(&f.Metrics, "metrics", "", "`host:port` serving /metrics (empty: none)")
	flag.StringVar(&f.Mode, "mode", "echo", "raw TCP server: echo or broadcast")
	flag.StringVar(&f.TLSCert, "tls-cert", "", "PEM certificate `file`: serve wss:// (with -tls-key)")
	flag.StringVar(&f.TLSKey, "tls-key", "", "PEM key `file` of -tls-cert")
	flag.Parse()
	return f
}

// ServeMetrics serves /metrics and /gc on addr in the background.
func ServeMetrics(addr string) {
	if addr == "" {
		return
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(l, Mux())
}

// Mux serves /metrics and /gc (see the package documentation).
func Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
		fmt.Fprintf(w, "# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes %d\n", ms.HeapInuse)
	})
	mux.HandleFunc("/gc", func(w http.ResponseWriter, r *http.Request) {
		// The benchmark reads the server's RSS after this, before and
		// after opening connections: without it, garbage left by the
		// handshakes and memory the runtime has not yet returned to the
		// OS would count as memory per connection.
		runtime.GC()
		debug.FreeOSMemory()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// Routes routes the benchmark's WebSocket endpoints: echo at /ws,
// broadcast at /broadcast, topics at /topics.
func Routes(echo, broadcast, topics http.HandlerFunc) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", echo)
	mux.HandleFunc("/broadcast", broadcast)
	mux.HandleFunc("/topics", topics)
	return mux
}

// OK answers a subscribe request on /topics.
const OK = "ok"

// ParseSubscribe returns the topics a subscribe request ("sub T1 T2 ...",
// a text message on /topics) names, and false if m is not one. (The
// benchmark's own copy is in the main module, bench/topics.go.)
func ParseSubscribe(m []byte) ([]string, bool) {
	rest, ok := bytes.CutPrefix(m, []byte("sub "))
	if !ok {
		return nil, false
	}
	var topics []string
	for _, t := range bytes.Fields(rest) {
		topics = append(topics, string(t))
	}
	return topics, len(topics) > 0
}

// SplitPublish splits a publish request ("T PAYLOAD", a binary message on
// /topics) into its topic and payload, and reports false if m is not one.
func SplitPublish(m []byte) (topic, payload []byte, ok bool) {
	topic, payload, ok = bytes.Cut(m, []byte{' '})
	return topic, payload, ok && len(topic) > 0
}

// ServeHTTP serves h on addr with net/http until SIGINT or SIGTERM, over
// TLS (crypto/tls, HTTP/1.1 only) if f has a certificate.
func ServeHTTP(f Flags, h http.Handler) {
	l, err := net.Listen("tcp", f.Addr)
	if err != nil {
		log.Fatal(err)
	}
	if f.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(f.TLSCert, f.TLSKey)
		if err != nil {
			log.Fatal(err)
		}
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
	}
	go func() { log.Fatal(http.Serve(l, h)) }()
	Wait()
}

// Wait blocks until SIGINT or SIGTERM.
func Wait() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	<-c
}

// MaxMessage is the read limit every server sets.
const MaxMessage = 16 << 20
