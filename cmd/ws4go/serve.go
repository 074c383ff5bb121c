package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ws4go/ws4go/chat"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/metrics"
	"github.com/ws4go/ws4go/server"
)

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("unknown log format %q", format)
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f serveFlags
	fs := newFlagSet("ws4go serve")
	f.register(fs)
	// owner names the handler of each handler's own flag.
	owner, known := map[string]string{}, map[string]bool{}
	fs.VisitAll(func(fl *flag.Flag) { known[fl.Name] = true })
	for _, n := range handlerNames() {
		if h := handlers[n]; h.flags != nil {
			h.flags(fs.FlagSet)
			fs.VisitAll(func(fl *flag.Flag) {
				if !known[fl.Name] {
					known[fl.Name], owner[fl.Name] = true, n
				}
			})
		}
	}
	usageErr := func(line string) int {
		fmt.Fprintln(stderr, "ws4go serve: "+line)
		return 2
	}
	if err := fs.parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprint(stdout, serveUsage)
			fs.PrintDefaults()
			fmt.Fprintf(stdout, "\nHandlers (-handler):\n")
			for _, n := range handlerNames() {
				fmt.Fprintf(stdout, "  %-10s %s\n", n, handlers[n].summary)
			}
			return 0
		}
		return usageErr(fs.parseError(err))
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Sprintf("unexpected arguments %q (flags go before them; ws4go serve -h lists the flags)", fs.Args()))
	}
	srv := &f.srv
	srv.Engine = server.Engine(f.engine)
	srv.OriginPatterns = splitList(f.origins)
	srv.AllowedHosts = allowedHosts(f.allowedHosts, f.addr)
	srv.Subprotocols = splitList(f.subprotocols)
	// Checked with the path; the handler's factory replaces it once built.
	srv.Routes = map[string]handler.Factory{f.path: handler.NewEcho}
	if line := f.check(fs, owner); line != "" {
		return usageErr(line)
	}
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return usageErr(fs.bad("log-level", f.logLevel, err.Error()))
	}
	for _, v := range fs.unknownEnv() {
		log.Warn("ignoring an environment variable that names no flag of ws4go serve", "var", v)
	}
	def := handlers[f.handler]
	shutdownTimeout := cmp.Or(f.shutdownTimeout, 10*time.Second)
	if f.tlsCert != "" {
		certs := &certReloader{certFile: f.tlsCert, keyFile: f.tlsKey, log: log}
		if err := certs.load(); err != nil {
			return usageErr(fs.bad("tls-cert", f.tlsCert, "want a PEM certificate (chain first) whose key is -tls-key: "+err.Error()))
		}
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go certs.watch(wctx, max(cmp.Or(f.tlsCheck, 10*time.Second), 0))
		srv.TLSConfig = &tls.Config{
			// Replaced on SIGHUP or when the files change; a
			// connection keeps the certificate it was made with.
			GetCertificate: certs.get,
			MinVersion:     tls.VersionTLS12,
			NextProtos:     []string{"http/1.1"},
			// Session tickets (resumption) are on: crypto/tls's
			// default, with keys it rotates itself.
		}
		if f.http2 {
			// WebSocket over HTTP/2 (RFC 8441): extended CONNECT
			// is on (main imports xconnect).
			srv.TLSConfig.NextProtos = []string{"h2", "http/1.1"}
		}
	}
	srv.Logger = log

	var reg *prometheus.Registry
	if f.metricsAddr != "" {
		// A registry of our own rather than the global default, so that
		// serve can run more than once in a process (the tests do); it
		// holds the same Go runtime and process collectors.
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		m, err := metrics.New(reg, nil)
		if err != nil {
			log.Error("metrics", "err", err)
			return 1
		}
		srv.Observer = m
		m.Watch(srv)
	}
	h, err := def.build(handlerEnv{log: log, server: srv, path: f.path})
	if err != nil {
		log.Error("starting the handler", "handler", f.handler, "err", err)
		return 1
	}
	if h.stop != nil {
		defer h.stop() // after the server has shut down
	}
	var health health
	page := http.NewServeMux()
	health.register(page)
	if h.page == nil {
		h.page = chat.Page(f.path, "echo")
	}
	page.Handle("GET /{$}", h.page)
	srv.Routes = map[string]handler.Factory{f.path: h.factory}
	srv.HTTP = page

	l, addr, err := listen(f.addr)
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}
	scheme := "ws"
	if srv.TLSConfig != nil {
		scheme = "wss" // the server speaks TLS on l
	}
	stopOps, opsAddr := func() {}, ""
	if f.metricsAddr != "" {
		ol, oaddr, err := listen(f.metricsAddr)
		if err != nil {
			l.Close()
			log.Error("listen (metrics)", "err", err)
			return 1
		}
		ops := &http.Server{
			Handler:           opsMux(reg, &health, f.pprof, log),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := ops.Serve(ol); !errors.Is(err, http.ErrServerClosed) {
				log.Error("operations listener", "err", err)
			}
		}()
		stopOps = func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if ops.Shutdown(sctx) != nil {
				ops.Close()
			}
			<-done
		}
		opsAddr = oaddr
		log.Info("operations listener", "addr", oaddr, "metrics", "/metrics", "health", "/healthz /readyz", "pprof", f.pprof)
	}
	// Serve logs "ws4go: serving" with the address, scheme and engine.
	log.Info("ws4go: endpoint", "url", scheme+"://"+hostOf(addr)+f.path, "handler", f.handler)
	fmt.Fprintf(stdout, "listening on %s\n", addr)
	if opsAddr != "" {
		fmt.Fprintf(stdout, "metrics on %s\n", opsAddr)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	health.ready.Store(true)
	select {
	case err := <-errc:
		log.Error("serve", "err", err)
		srv.Close()
		stopOps()
		return 1
	case <-ctx.Done():
	}
	// Drain: readiness goes false (load balancers stop sending clients),
	// the listener closes, every client gets 1001 and has up to
	// -shutdown-timeout to answer it; then whatever is left is dropped.
	health.ready.Store(false)
	log.Info("draining", "connections", srv.Len(), "deadline", f.shutdownTimeout)
	sctx, cancel := context.Background(), context.CancelFunc(func() {})
	if shutdownTimeout > 0 {
		sctx, cancel = context.WithTimeout(sctx, shutdownTimeout)
	}
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown deadline passed; dropped the remaining connections", "err", err)
	}
	<-errc
	stopOps()
	log.Info("stopped")
	return 0
}

const serveUsage = `Usage: ws4go serve [flags]

Serves a WebSocket handler at -path and a page at /, on a TCP address or a
Unix socket, over TLS with -tls-cert and -tls-key (reloaded without a
restart on SIGHUP or when the files change). /healthz answers 200 while
the process runs; /readyz answers 200, or 503 while draining. With
-metrics-addr, an operations listener serves /metrics (Prometheus), /healthz,
/readyz and, with -pprof, /debug/pprof/; it stays up while the server drains.

SIGTERM or SIGINT drains: /readyz turns 503, the listener closes, every
client gets close 1001 and has up to -shutdown-timeout to answer; then the
process exits 0.

Every flag can also be set with the environment variable named in brackets
(a flag on the command line wins).

Flags:
`
