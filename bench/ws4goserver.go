package bench

import (
	"context"
	"crypto/tls"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// ServeWS4Go is the ws4go server under test (bench/cmd/ws4go-server): echo
// at /ws, broadcast at /broadcast, topics at /topics, no heartbeat, /metrics and /gc
// at -metrics (see the package documentation), on the engine -engine. It is
// configured like the peers: defaults but for the heartbeat, which no server
// under test runs. It serves until ctx ends, then drops every
// connection. args are its command line:
//
//	-addr 127.0.0.1:9400 -metrics 127.0.0.1:9401 -engine goroutine|netpoll [-tls-cert F -tls-key F [-h2]]
//
// -h2 needs package xconnect in the program (bench/cmd/ws4go-server
// imports it).
func ServeWS4Go(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("ws4go-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9400", "WebSocket `host:port`")
	maddr := fs.String("metrics", "", "`host:port` serving /metrics (empty: none)")
	engine := fs.String("engine", "goroutine", "goroutine or netpoll")
	fs.String("mode", "", "ignored: /ws and /broadcast are both served")
	certFile := fs.String("tls-cert", "", "PEM certificate `file`: serve wss:// (with -tls-key)")
	keyFile := fs.String("tls-key", "", "PEM key `file` of -tls-cert")
	h2 := fs.Bool("h2", false, "with -tls-cert: offer HTTP/2 (ALPN h2), WebSockets over RFC 8441 streams")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	srv := &server.Server{
		Engine:       server.Engine(*engine),
		PingInterval: -1,
		Logger:       log,
	}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		if *h2 {
			srv.TLSConfig.NextProtos = []string{"h2", "http/1.1"}
		}
	}
	srv.Routes = map[string]handler.Factory{
		"/ws":        handler.NewEcho,
		"/broadcast": broadcastHandler(srv),
		"/topics":    topicsHandler(srv),
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *maddr != "" {
		ml, err := net.Listen("tcp", *maddr)
		if err != nil {
			l.Close()
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", metricsHandler())
		mux.Handle("/gc", gcHandler())
		hs := &http.Server{Handler: mux}
		go hs.Serve(ml)
		defer hs.Close()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	srv.Close()
	<-errc
	return nil
}
