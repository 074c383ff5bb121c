package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

//go:embed index.html
var indexHTML []byte

// handlers are the handlers the binary can serve, by name.
var handlers = map[string]handler.Factory{
	"echo": handler.Echo,
}

type serveFlags struct {
	addr, handler, engine, path, origins, subprotocols, logLevel, logFormat string
	maxMessage                                                              int64
	maxWriteQueue                                                           int
	pingInterval, pongTimeout, idleTimeout, closeTimeout, handshakeTimeout  time.Duration
	shutdownTimeout                                                         time.Duration
	workers                                                                 int
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "127.0.0.1:9001", "`host:port` to listen on")
	fs.StringVar(&f.handler, "handler", "echo", "handler to serve at -path: "+strings.Join(handlerNames(), ", "))
	fs.StringVar(&f.engine, "engine", string(server.EngineGoroutine), "connection engine: goroutine or netpoll")
	fs.StringVar(&f.path, "path", "/ws", "path of the WebSocket endpoint")
	fs.StringVar(&f.origins, "origins", "", "extra allowed browser origins, comma-separated host patterns (the request's own host is always allowed)")
	fs.StringVar(&f.subprotocols, "subprotocols", "", "subprotocols spoken, comma-separated, most preferred first")
	fs.Int64Var(&f.maxMessage, "max-message-size", server.DefaultMaxMessageSize, "largest message accepted, in bytes (larger: close 1009)")
	fs.IntVar(&f.maxWriteQueue, "max-write-queue", server.DefaultMaxWriteQueue, "bytes queued for a slow reader before it is closed")
	fs.DurationVar(&f.pingInterval, "ping-interval", server.DefaultPingInterval, "ping a connection silent this long (0: no heartbeat)")
	fs.DurationVar(&f.pongTimeout, "pong-timeout", server.DefaultPongTimeout, "drop a pinged connection silent this long")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", 0, "close a connection that sent no message this long (0: never)")
	fs.DurationVar(&f.closeTimeout, "close-timeout", server.DefaultCloseTimeout, "wait this long for the peer's close frame")
	fs.DurationVar(&f.handshakeTimeout, "handshake-timeout", server.DefaultHandshakeTimeout, "drop a client that has not sent its handshake in this time")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGTERM, wait this long for clients to close")
	fs.IntVar(&f.workers, "workers", 0, "netpoll engine workers (0: 4×GOMAXPROCS)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
}

func handlerNames() []string {
	var names []string
	for n := range handlers {
		names = append(names, n)
	}
	return names
}

// envName is the environment variable of a flag: -ping-interval is
// WS4GO_PING_INTERVAL.
func envName(flagName string) string {
	return "WS4GO_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags reads the environment first and the command line second, so a
// flag given on the command line wins.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		f.Usage += " [$" + envName(f.Name) + "]"
		if v, ok := os.LookupEnv(envName(f.Name)); ok && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("$%s: %v", envName(f.Name), e)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
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
	fs := flag.NewFlagSet("ws4go serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ws4go serve [flags]\n\nServes a WebSocket handler at -path and a demo page at /.\nEvery flag can also be set with the environment variable named in brackets.\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "ws4go serve:", err)
		return 2
	}
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "ws4go serve:", err)
		return 2
	}
	factory, ok := handlers[f.handler]
	if !ok {
		fmt.Fprintf(stderr, "ws4go serve: unknown handler %q (have %s)\n", f.handler, strings.Join(handlerNames(), ", "))
		return 2
	}
	engine := server.Engine(f.engine)
	if engine != server.EngineGoroutine && engine != server.EngineNetpoll {
		fmt.Fprintf(stderr, "ws4go serve: unknown engine %q\n", f.engine)
		return 2
	}
	page := http.NewServeMux()
	page.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(indexHTML)
	})
	srv := &server.Server{
		Routes:           map[string]handler.Factory{f.path: factory},
		HTTP:             page,
		Engine:           engine,
		OriginPatterns:   splitList(f.origins),
		Subprotocols:     splitList(f.subprotocols),
		MaxMessageSize:   disabledIfZero(f.maxMessage),
		MaxWriteQueue:    int(disabledIfZero(int64(f.maxWriteQueue))),
		PingInterval:     time.Duration(disabledIfZero(int64(f.pingInterval))),
		PongTimeout:      f.pongTimeout,
		IdleTimeout:      f.idleTimeout,
		CloseTimeout:     f.closeTimeout,
		HandshakeTimeout: f.handshakeTimeout,
		Workers:          f.workers,
		Logger:           log,
	}
	l, err := net.Listen("tcp", f.addr)
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}
	log.Info("ws4go serving", "addr", l.Addr().String(), "ws", "ws://"+l.Addr().String()+f.path, "page", "http://"+l.Addr().String()+"/", "handler", f.handler, "engine", string(engine))
	fmt.Fprintf(stdout, "listening on %s\n", l.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		log.Error("serve", "err", err)
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down", "connections", srv.Len(), "timeout", f.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), f.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown deadline passed; dropped the remaining connections", "err", err)
	}
	<-errc
	log.Info("stopped")
	return 0
}

// disabledIfZero maps a flag's 0 ("off") to the Server's negative "off".
func disabledIfZero(v int64) int64 {
	if v == 0 {
		return -1
	}
	return v
}
