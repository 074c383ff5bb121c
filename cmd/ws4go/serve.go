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
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ws4go/ws4go/chat"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/metrics"
	"github.com/ws4go/ws4go/server"
)

// A handlerDef is a handler that `ws4go serve -handler NAME` can serve.
// Other files of this package add theirs to handlers in an init function,
// with flags of their own if they need some (chat.go does).
type handlerDef struct {
	// summary is shown by ws4go serve -h.
	summary string
	// flags, if set, registers the handler's own flags on ws4go serve's
	// flag set (each also settable by its WS4GO_ variable). They are
	// registered whichever handler is chosen, so their names must not
	// clash with other flags.
	flags func(fs *flag.FlagSet)
	// build makes the handler once the flags are parsed.
	build func(env handlerEnv) (built, error)
}

// handlerEnv is what a handler is built with.
type handlerEnv struct {
	log *slog.Logger
	// server is configured but not serving yet; its Routes are set from
	// built.factory afterwards.
	server *server.Server
	// path is where the handler is served (-path).
	path string
}

// built is a handler ready to serve.
type built struct {
	factory handler.Factory
	// page, if set, is served at / instead of the echo demo page.
	page http.Handler
	// stop, if set, runs once the server has shut down.
	stop func()
}

// handlers are the handlers the binary can serve, by name.
var handlers = map[string]handlerDef{
	"echo": {
		summary: "sends every message back (the demo page at / talks to it)",
		build:   func(handlerEnv) (built, error) { return built{factory: handler.NewEcho}, nil },
	},
}

// serveFlags are ws4go serve's settings. Those of the Server are its own
// fields, which the flags set directly: a flag shares its field's default
// and its zero/negative convention (0: the default, -1: no limit).
type serveFlags struct {
	srv server.Server
	// fields maps the Server's fields to their flags, for Validate's
	// errors.
	fields map[string]string

	addr, handler, engine, path, origins, subprotocols, logLevel, logFormat string
	allowedHosts                                                            string
	shutdownTimeout, tlsCheck                                               time.Duration
	metricsAddr, tlsCert, tlsKey                                            string
	pprof, http2                                                            bool
}

func (f *serveFlags) register(fs *flagSet) {
	s := &f.srv
	f.fields = map[string]string{
		"Engine": "engine", "Routes": "path", "OriginPatterns": "origins", "AllowedHosts": "allowed-hosts",
		"Subprotocols": "subprotocols", "TLSConfig": "tls-cert",
	}
	field := func(field, name string) string {
		f.fields[field] = name
		return name
	}
	fs.StringVar(&f.addr, "addr", "127.0.0.1:9001", "`host:port` to listen on, or unix:/path/to.sock for a Unix socket")
	fs.StringVar(&f.handler, "handler", "echo", "handler to serve at -path (see below)")
	fs.StringVar(&f.engine, "engine", string(server.EngineNetpoll), "connection engine: netpoll (epoll and a worker pool; Linux) or goroutine (one goroutine per connection)")
	fs.StringVar(&f.path, "path", "/ws", "path of the WebSocket endpoint (starts with /)")
	fs.StringVar(&f.origins, "origins", "", "extra allowed browser origins, comma-separated host patterns (the request's own host is always allowed)")
	fs.StringVar(&f.allowedHosts, "allowed-hosts", "", "Host headers served, comma-separated (host[:port], *.pattern, CIDR prefix; * for any); default: only loopback names (localhost, 127.0.0.0/8, [::1]) when -addr is a loopback address, against DNS rebinding, else any")
	fs.StringVar(&f.subprotocols, "subprotocols", "", "subprotocols spoken, comma-separated, most preferred first")
	boolFlag(fs, &s.Compression, false, "compression", "negotiate permessage-deflate (RFC 7692) with clients that offer it")
	numberFlag(fs, &s.MaxMessageSize, server.DefaultMaxMessageSize, field("MaxMessageSize", "max-message-size"), "largest message accepted, in `bytes`, after decompression (larger: close 1009)", "", "no limit")
	numberFlag(fs, &s.MaxWriteQueue, server.DefaultMaxWriteQueue, field("MaxWriteQueue", "max-write-queue"), "`bytes` queued for a slow reader before it is closed", "", "no limit")
	numberFlag(fs, &s.MaxBufferedBytes, server.DefaultMaxBufferedBytes, field("MaxBufferedBytes", "max-buffered"), "`bytes` held for partial messages and write queues across all connections; the connection that would pass it gets close 1013", "", "no bound")
	numberFlag(fs, &s.MaxConnections, server.DefaultMaxConnections, field("MaxConnections", "max-connections"), "at most `n` WebSockets open at once, over HTTP/1.1 and HTTP/2 alike; past it a handshake gets 503 with Retry-After", "", "no limit")
	numberFlag(fs, &s.MaxH2Connections, server.DefaultMaxH2Connections, field("MaxH2Connections", "max-h2-connections"), "at most `n` HTTP/2 connections open at once (with -tls-cert); past it ALPN gives clients HTTP/1.1", "", "no limit")
	numberFlag(fs, &s.PingInterval, server.DefaultPingInterval, field("PingInterval", "ping-interval"), "ping a connection silent for this `duration`", "", "no heartbeat")
	numberFlag(fs, &s.PongTimeout, server.DefaultPongTimeout, field("PongTimeout", "pong-timeout"), "drop a pinged connection silent for this `duration`", "", "never")
	numberFlag(fs, &s.IdleTimeout, 0, field("IdleTimeout", "idle-timeout"), "close a connection that sent no message for this `duration`", "never, the default", "never")
	numberFlag(fs, &s.MessageTimeout, server.DefaultMessageTimeout, field("MessageTimeout", "message-timeout"), "a message or frame that has begun must arrive whole within this `duration` (else close 1008)", "", "no limit")
	numberFlag(fs, &s.WriteTimeout, server.DefaultWriteTimeout, field("WriteTimeout", "write-timeout"), "drop a connection whose queued frames make no progress for this `duration`", "", "never")
	numberFlag(fs, &s.CloseTimeout, server.DefaultCloseTimeout, field("CloseTimeout", "close-timeout"), "wait this `duration` for the peer's close frame", "", "without bound")
	numberFlag(fs, &s.HandshakeTimeout, server.DefaultHandshakeTimeout, field("HandshakeTimeout", "handshake-timeout"), "drop a client that has not sent its handshake (TLS included) within this `duration` (over HTTP/2: its first request, and the next one once its streams ended)", "", "no bound")
	numberFlag(fs, &f.shutdownTimeout, 10*time.Second, "shutdown-timeout", "on SIGTERM, wait this `duration` for clients to answer the 1001 close, then drop the rest", "", "no deadline: each client has -close-timeout")
	numberFlag(fs, &s.Workers, 0, field("Workers", "workers"), "run connections on at most `n` netpoll engine workers", fmt.Sprintf("4×GOMAXPROCS, %d here", 4*runtime.GOMAXPROCS(0)), "")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "`host:port` (or unix:/path) of the operations listener: Prometheus /metrics, /healthz, /readyz (empty: no metrics, at no cost)")
	boolFlag(fs, &f.pprof, false, "pprof", "serve /debug/pprof/ on the -metrics-addr listener")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate `file` (chain first): serve wss:// and https:// (with -tls-key)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key `file` of -tls-cert")
	boolFlag(fs, &f.http2, true, "http2", "with -tls-cert, offer HTTP/2 by ALPN: browsers then open their WebSockets as RFC 8441 streams, several on one connection (false: HTTP/1.1 only)")
	numberFlag(fs, &f.tlsCheck, 10*time.Second, "tls-reload-check", "every `duration`, look for a changed -tls-cert or -tls-key and load it, as SIGHUP does", "", "on SIGHUP only")
}

// check refuses, as one line each, the values that cannot work together
// or that the Server would refuse (Validate), before anything listens.
func (f *serveFlags) check(fs *flagSet, owner map[string]string) string {
	if _, ok := handlers[f.handler]; !ok {
		return fs.bad("handler", f.handler, "want one of "+strings.Join(handlerNames(), ", "))
	}
	for _, name := range slices.Sorted(maps.Keys(fs.from)) {
		if o := owner[name]; o != "" && o != f.handler {
			return fs.bad(name, fs.Lookup(name).Value.String(), fmt.Sprintf("want -handler %s, the only handler that uses it (this is -handler %s)", o, f.handler))
		}
	}
	for _, a := range []struct{ name, value string }{{"addr", f.addr}, {"metrics-addr", f.metricsAddr}} {
		if a.value == "" && a.name == "metrics-addr" {
			continue
		}
		if err := checkAddr(a.value); err != nil {
			return fs.bad(a.name, a.value, err.Error())
		}
	}
	var level slog.Level
	if level.UnmarshalText([]byte(f.logLevel)) != nil {
		return fs.bad("log-level", f.logLevel, "want debug, info, warn or error")
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		return fs.bad("log-format", f.logFormat, "want text or json")
	}
	if f.pprof && f.metricsAddr == "" {
		return fs.bad("pprof", "true", "want -metrics-addr too: pprof is served on the operations listener")
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		if f.tlsCert == "" {
			return fs.bad("tls-key", f.tlsKey, "want -tls-cert with it")
		}
		return fs.bad("tls-cert", f.tlsCert, "want -tls-key with it")
	}
	for _, name := range []string{"http2", "tls-reload-check"} {
		if f.tlsCert == "" && fs.isSet(name) {
			return fs.bad(name, fs.Lookup(name).Value.String(), "want -tls-cert and -tls-key: it applies to TLS only")
		}
	}
	if err := f.srv.Validate(); err != nil {
		var ce *server.ConfigError
		if errors.As(err, &ce) {
			if name, ok := f.fields[ce.Field]; ok {
				return fs.bad(name, ce.Value, ce.Want)
			}
		}
		return err.Error()
	}
	return ""
}

func handlerNames() []string {
	names := make([]string, 0, len(handlers))
	for n := range handlers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// allowedHosts is Server.AllowedHosts for -allowed-hosts: by default only
// loopback names on a loopback address (as development servers do, so a
// page rebound to 127.0.0.1 cannot reach the server), any elsewhere.
func allowedHosts(flagValue, addr string) []string {
	if list := splitList(flagValue); len(list) > 0 {
		if slices.Contains(list, "*") {
			return nil
		}
		return list
	}
	if strings.HasPrefix(addr, "unix:") {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return server.LoopbackHosts
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

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

// health answers liveness and readiness probes.
type health struct{ ready atomic.Bool }

func (h *health) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !h.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "draining\n")
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
}

// opsMux is the operations listener's handler.
func opsMux(reg *prometheus.Registry, h *health, withPprof bool, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry: reg,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError),
	})))
	h.register(mux)
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// listen listens on a TCP host:port or, for unix:/path, on a Unix socket,
// and returns the address to show (host:port or unix:/path).
func listen(addr string) (net.Listener, string, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, "", err
		}
		return l, l.Addr().String(), nil
	}
	l, err := net.Listen("unix", path)
	if err != nil && errors.Is(err, syscall.EADDRINUSE) && staleSocket(path) {
		// Left behind by a process that did not exit cleanly.
		if os.Remove(path) == nil {
			l, err = net.Listen("unix", path)
		}
	}
	if err != nil {
		return nil, "", err
	}
	// The socket file is removed when the listener closes.
	return l, "unix:" + path, nil
}

// staleSocket reports whether path is a Unix socket nobody listens on.
func staleSocket(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return false
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// hostOf is the authority of a URL for a listening address.
func hostOf(addr string) string {
	if strings.HasPrefix(addr, "unix:") {
		return "localhost"
	}
	return addr
}

// certReloader holds the certificate of -tls-cert and -tls-key and loads it
// again on SIGHUP, or when either file changes: connections made before keep
// theirs, new ones get the new one. A pair that fails to load (a renewal
// half written, a key that does not match) leaves the old one in use; it
// is logged, and tried again at the next check.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cur               atomic.Pointer[tls.Certificate]
	seen              string // the files' sizes and times at the last load or failure (watch's)
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.cur.Load(), nil }

// load reads the pair. The files' stamp is taken before they are read, so
// a change that lands during or after the read (the key written after the
// certificate) is seen by the next check.
func (r *certReloader) load() error {
	st := r.stamp()
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	r.seen = st
	if err != nil {
		return err
	}
	r.cur.Store(&cert)
	return nil
}

// stamp identifies the files' contents cheaply: size and time of each.
func (r *certReloader) stamp() string {
	var b strings.Builder
	for _, name := range []string{r.certFile, r.keyFile} {
		if fi, err := os.Stat(name); err == nil {
			fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

// watch reloads on SIGHUP, and every check if the files changed, until ctx
// ends.
func (r *certReloader) watch(ctx context.Context, check time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if check > 0 {
		t := time.NewTicker(check)
		defer t.Stop()
		tick = t.C
	}
	for {
		why := "SIGHUP"
		select {
		case <-ctx.Done():
			return
		case <-hup:
		case <-tick:
			if r.stamp() == r.seen {
				continue
			}
			why = "the files changed"
		}
		if err := r.load(); err != nil { // not again until they change again (or SIGHUP)
			r.log.Error("reloading the TLS certificate failed; keeping the old one", "why", why, "err", err)
			continue
		}
		r.log.Info("TLS certificate reloaded", "why", why, "cert", r.certFile)
	}
}
