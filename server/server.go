package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/blocking"
	"github.com/ws4go/ws4go/internal/deflate"
	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/netpoll"
	"github.com/ws4go/ws4go/internal/wsconn"
	"github.com/ws4go/ws4go/observe"
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or
// Close.
var ErrServerClosed = errors.New("ws4go: server closed")

// Engine selects how connections are driven.
type Engine string

// Engines.
const (
	// EngineGoroutine runs one reading goroutine per connection: simple,
	// and the lowest latency under load.
	EngineGoroutine Engine = "goroutine"
	// EngineNetpoll waits for readable sockets with epoll and hands them
	// to a bounded pool of workers, so idle connections hold no
	// goroutine and no buffer.
	EngineNetpoll Engine = "netpoll"
)

// Defaults for zero-valued Server fields.
const (
	DefaultMaxMessageSize   = 16 << 20
	DefaultMaxWriteQueue    = 4 << 20
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultCloseTimeout     = 5 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultPingInterval     = 30 * time.Second
	DefaultPongTimeout      = 30 * time.Second
	DefaultMessageTimeout   = 60 * time.Second
	DefaultMaxBufferedBytes = 1 << 30
	DefaultMaxConnections   = 100_000
)

// A Server serves WebSocket connections. Like net/http.Server it is its own
// configuration: set the fields, then call ListenAndServe or Serve, or mount
// it (or HTTPHandler) on an http.ServeMux. Fields must not be changed once it
// serves. The zero value serves nothing until Handler or Routes is set.
type Server struct {
	// Addr is the TCP address ListenAndServe listens on ("127.0.0.1:9001").
	Addr string
	// Handler makes the handler of each connection, for every path that
	// Routes does not name.
	Handler handler.Factory
	// Routes maps exact request paths to handler factories (ws4py's
	// per-path handler classes). A path with no route and no Handler gets
	// 404.
	Routes map[string]handler.Factory
	// HTTP, if set, serves the requests on the standalone listener that
	// are not WebSocket upgrades (a page, health checks, metrics). If nil
	// they are refused like any bad handshake.
	HTTP http.Handler

	// Engine is EngineNetpoll (the default on Linux) or EngineGoroutine
	// (the default elsewhere, and what the netpoll engine uses for
	// listeners without a raw descriptor, such as a tls.NewListener).
	Engine Engine

	// TLSConfig, if set, makes Serve and ListenAndServe speak TLS (wss://
	// and https://) on their TCP or Unix listener, on either engine. On the
	// netpoll engine the TLS handshake and the request head are read on a
	// short-lived goroutine, then the connection joins the engine like
	// any other: workers decrypt records as they arrive and encrypt into
	// its bounded write queue, and an idle connection holds no goroutine
	// and no buffer beyond crypto/tls's own state. HandshakeTimeout
	// bounds the TLS handshake and the request head together; failed TLS
	// handshakes are counted by the Observer (observe.RejectTLSTimeout
	// and the other RejectTLS reasons). A clone is used, with defaults
	// filled in: MinVersion TLS 1.2 (1.3 is preferred, as crypto/tls
	// does), NextProtos ["http/1.1"]. Session tickets stay on unless
	// SessionTicketsDisabled; use GetCertificate to replace the
	// certificate without a restart.
	//
	// NextProtos with "h2" (opt-in: ["h2", "http/1.1"]) serves WebSocket
	// over HTTP/2 (RFC 8441) besides HTTP/1.1 upgrades: a connection
	// whose ALPN picks h2 goes to net/http's HTTP/2 server (with
	// H2StreamWindow, H2ConnWindow and H2MaxStreams as its bounds), which
	// runs each WebSocket stream as the goroutine engine runs a
	// connection, on either engine, and other requests through HTTP.
	// Extended CONNECT must be on in net/http: import
	// github.com/ws4go/ws4go/xconnect (a warning is logged otherwise).
	// (Passing Serve a tls.NewListener instead also works, on the
	// goroutine engine only.)
	TLSConfig *tls.Config

	// Subprotocols the server speaks, most preferred first.
	Subprotocols []string
	// OriginPatterns allow cross-origin browsers from these origins:
	// path.Match patterns on the Origin's host[:port] ("*.example.com"),
	// or on scheme://host[:port] if the pattern has a scheme
	// ("https://*.example.com" allows https pages only). By default a
	// request with an Origin header is accepted only if the Origin's host
	// equals Host (and, on a TLS listener, its scheme is https): the
	// defence against cross-site WebSocket hijacking.
	OriginPatterns []string
	// CheckOrigin, if set, decides instead of OriginPatterns. It runs
	// before the 101; a panic in it costs only that handshake (500,
	// logged, counted as Panicked(observe.SiteOrigin)).
	CheckOrigin func(r *http.Request) bool
	// Accept, if set, decides on every WebSocket handshake before the
	// 101, on every path (standalone or http.Handler, either engine):
	// where applications authenticate (a token in a header, a cookie or
	// the query). It sees only handshakes that passed the protocol, Host
	// and Origin checks and that Routes, Handler or HTTPHandler route to
	// a handler. It accepts with a nil error (Accepted may pick the
	// handler and the subprotocol, and give the connection's Data), or
	// refuses: a *Refusal error is answered with its status, header and
	// body, any other error with 403. A panic in it costs only that
	// handshake (500, logged, counted as Panicked(observe.SiteAccept)).
	//
	// r.Context() ends after HandshakeTimeout, or when the server shuts
	// down: bound any call the hook makes by it. On the standalone
	// listener r is parsed from the request head only for the hook (a
	// server without one does not pay for it; r.RemoteAddr and, on TLS,
	// r.TLS are set) and is the one handler.Conn.Request returns. The
	// hook runs on a goroutine of the handshake's own, on either engine
	// (the netpoll engine hands a handshake to one when Accept is set,
	// and takes the connection back once accepted), so a slow hook
	// holds up no other connection. A hook that ignores its context is
	// waited for by Shutdown until its context ends, and by Close at
	// most HandshakeTimeout; a handshake whose hook returns after
	// shutdown started is refused (503).
	Accept func(r *http.Request) (Accepted, error)
	// AllowedHosts, if set, are the only Host headers served, on every
	// path (WebSocket and plain HTTP, standalone and http.Handler); any
	// other gets 403 (observe.RejectHostNotAllowed). It defends a server
	// reached by name only from DNS rebinding, in which a hostile page
	// rebinds its own name to the server's address: its requests still
	// carry its name in Host (and pass the Origin check, since Origin
	// and Host agree). An entry is "*" (any host), an address prefix
	// ("127.0.0.0/8"), or a host name or IP address with an optional
	// port ("example.com", "[::1]:9001"; a name may be a path.Match
	// pattern such as "*.example.com"); an entry without a port matches
	// any port. LoopbackHosts lists the loopback names. Empty:
	// any Host.
	AllowedHosts []string

	// Compression enables permessage-deflate (RFC 7692) for clients that
	// offer it. It is off by default: it costs CPU on every message, and
	// compressing secrets together with attacker-chosen data can leak them
	// (as CRIME and BREACH did). With it on, each message is compressed on
	// its own (both sides are asked not to keep context), so idle
	// connections cost no extra memory; messages under 128 bytes are sent
	// uncompressed.
	Compression bool

	// MaxMessageSize is the largest message accepted (default 16 MiB);
	// a larger one fails the connection with 1009. Negative: no limit.
	MaxMessageSize int64
	// MaxWriteQueue bounds the bytes queued for a peer that does not read
	// (default 4 MiB). A send past it closes the connection with
	// WriteQueueCloseCode (default 1008).
	MaxWriteQueue       int
	WriteQueueCloseCode handler.CloseCode

	// HandshakeTimeout bounds the reading of the opening handshake
	// (default 10 s).
	HandshakeTimeout time.Duration
	// CloseTimeout bounds the closing handshake: after the close frame is
	// sent the peer has this long to answer before the TCP connection is
	// dropped (default 5 s).
	CloseTimeout time.Duration
	// WriteTimeout: a connection whose queued frames make no progress
	// (the socket takes none of their bytes) for this long is dropped,
	// on both engines; Closed gets 1006 "write timeout" (default 10 s;
	// negative: never). It also bounds the write of a handshake response.
	WriteTimeout time.Duration
	// PingInterval: a connection that received nothing for this long is
	// pinged (default 30 s; negative disables the heartbeat).
	PingInterval time.Duration
	// PongTimeout: a pinged connection that sends nothing for this long is
	// dropped (default 30 s).
	PongTimeout time.Duration
	// IdleTimeout closes (1001) a connection that received no data
	// message for this long. Zero: never.
	IdleTimeout time.Duration
	// MessageTimeout: a message or control frame whose first byte has
	// arrived must arrive whole within this long (its deadline is fixed
	// at that byte: control frames inside a fragmented message and a
	// trickle of bytes do not extend it); else the connection fails with
	// 1008 "message timeout" (default 60 s; negative: never).
	MessageTimeout time.Duration
	// MaxBufferedBytes bounds the memory held across all connections for
	// partial messages, inflater output and write queues (default 1 GiB;
	// negative: no bound). The connection that would take the total past
	// it is closed with 1013 (Try Again Later). Reads are counted after
	// the fact, so the total may pass it by about one read per
	// connection.
	MaxBufferedBytes int64
	// MaxConnections is the most WebSocket connections open at once, over
	// HTTP/1.1 and as HTTP/2 streams alike, on every path (standalone or
	// http.Handler, either engine); default DefaultMaxConnections
	// (100,000), negative: no limit. A handshake that would pass it is
	// refused with 503 and "Retry-After: 5" (observe.RejectMaxConnections),
	// after the protocol, Host and Origin checks and the Accept hook. The
	// count is exact: a place is taken just before the 101 (or, over
	// HTTP/2, the 200) is written, and given back when the connection
	// ends or its handshake fails. It bounds what the descriptor limit
	// no longer does once one TCP connection may carry H2MaxStreams
	// WebSockets; see the README's memory budget for what each costs.
	MaxConnections int

	// KeepRequest keeps every connection's upgrade request for its whole
	// life. By default it is kept after Opened only if the handler asked
	// for it there (see handler.Conn.Request): it costs its size per
	// connection.
	KeepRequest bool

	// Workers is the most goroutines the netpoll engine runs connections
	// on, those held by a handler that blocks included (default
	// 4×GOMAXPROCS); GOMAXPROCS of them poll at once. When every one is
	// held, ready connections wait in the kernel: the engine's
	// backpressure.
	Workers int

	// Logger receives the server's logs (default slog.Default()).
	Logger *slog.Logger
	// Observer, if set, is told what the server and its connections do
	// (metrics.New makes one for Prometheus).
	Observer observe.Observer

	initOnce sync.Once
	closed   context.Context // cancelled when the server stops accepting
	stop     context.CancelFunc
	wcfg     wsconn.Config
	bcfg     blocking.Config
	hcfg     handshake.Config
	tlsCfg   *tls.Config // TLSConfig with defaults
	table    *wsconn.Table

	mu         sync.Mutex
	listeners  map[*net.Listener]struct{}
	handshakes map[net.Conn]struct{}
	fallback   *fallback
	engine     engine
	closing    atomic.Bool
	wg         sync.WaitGroup // connection goroutines
}

// engine is what an engine does for the server.
type engine interface {
	// serve takes ownership of an accepted connection.
	serve(nc net.Conn)
	// adopt runs a connection whose handshake is done: rest are bytes
	// already read after the handshake.
	adopt(nc net.Conn, c func(wsconn.Transport) *wsconn.Conn, rest []byte)
	// close releases the engine once every connection is gone.
	close()
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		s.wcfg = wsconn.Config{
			MaxMessageSize: orDefault(s.MaxMessageSize, DefaultMaxMessageSize),
			MaxWriteQueue:  int(orDefault(int64(s.MaxWriteQueue), DefaultMaxWriteQueue)),
			WriteQueueCode: s.WriteQueueCloseCode,
			IdleTimeout:    max(s.IdleTimeout, 0),
			PingInterval:   time.Duration(orDefault(int64(s.PingInterval), int64(DefaultPingInterval))),
			PongTimeout:    time.Duration(orDefault(int64(s.PongTimeout), int64(DefaultPongTimeout))),
			CloseTimeout:   time.Duration(orDefault(int64(s.CloseTimeout), int64(DefaultCloseTimeout))),
			MessageTimeout: time.Duration(orDefault(int64(s.MessageTimeout), int64(DefaultMessageTimeout))),
			WriteTimeout:   s.writeTimeout(),
			Budget:         &wsconn.Budget{Max: orDefault(s.MaxBufferedBytes, DefaultMaxBufferedBytes)},
			MaxConns:       int(orDefault(int64(s.MaxConnections), DefaultMaxConnections)),
			KeepRequest:    s.KeepRequest,
			Observer:       s.Observer,
			Logger:         s.logger(),
		}
		s.bcfg = blocking.Config{WriteTimeout: s.wcfg.WriteTimeout, Flushers: &s.wg}
		s.hcfg = handshake.Config{
			Subprotocols:   s.Subprotocols,
			OriginPatterns: s.OriginPatterns,
			CheckOrigin:    s.CheckOrigin,
			AllowedHosts:   s.AllowedHosts,
		}
		if s.Compression {
			s.hcfg.Negotiate = deflate.Negotiate
		}
		if s.TLSConfig != nil {
			s.tlsCfg = s.TLSConfig.Clone()
			if s.tlsCfg.MinVersion == 0 {
				s.tlsCfg.MinVersion = tls.VersionTLS12
			}
			if len(s.tlsCfg.NextProtos) == 0 {
				s.tlsCfg.NextProtos = []string{"http/1.1"}
			}
			if offersH2(s.tlsCfg) && !strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
				s.logger().Warn(`ws4go: TLSConfig offers "h2" but net/http's extended CONNECT is off: browsers will open their WebSockets over HTTP/1.1; import _ "github.com/ws4go/ws4go/xconnect"`)
			}
		}
		s.closed, s.stop = context.WithCancel(context.Background())
		s.table = wsconn.NewTable(&s.wcfg)
		s.listeners = map[*net.Listener]struct{}{}
		s.handshakes = map[net.Conn]struct{}{}
		s.engine = s.newEngine()
	})
}

// orDefault maps zero to def and negative values to zero (disabled).
func orDefault(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) handshakeTimeout() time.Duration {
	return time.Duration(orDefault(int64(s.HandshakeTimeout), int64(DefaultHandshakeTimeout)))
}

func (s *Server) writeTimeout() time.Duration {
	return time.Duration(orDefault(int64(s.WriteTimeout), int64(DefaultWriteTimeout)))
}

// ListenAndServe listens on s.Addr and serves until Shutdown or Close.
func (s *Server) ListenAndServe() error {
	if s.closing.Load() {
		return ErrServerClosed
	}
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve accepts connections on l until Shutdown or Close, and closes l.
// Requests that are not WebSocket upgrades go to s.HTTP. With TLSConfig
// set, l is a plain TCP or Unix listener and Serve speaks TLS on it.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	serve := s.engine.serve
	if s.tlsCfg != nil {
		if n, ok := s.engine.(*netpollEngine); ok && netpoll.CanServe(l) {
			serve = n.serveTLS
		} else {
			l = tls.NewListener(l, s.tlsCfg)
		}
	}
	if !s.trackListener(&l, true) {
		l.Close()
		return ErrServerClosed
	}
	defer s.trackListener(&l, false)
	if ls, ok := s.engine.(interface {
		serveListener(net.Listener) (bool, error)
	}); ok && s.tlsCfg == nil {
		if handled, err := ls.serveListener(l); handled {
			if s.closing.Load() {
				return ErrServerClosed
			}
			return err
		}
	}
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTemporary(err)) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger().Warn("ws4go: accept error; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		serve(nc)
	}
}

// errTemporary classifies accept errors worth retrying (out of file
// descriptors, aborted connections) by returning err itself for them.
func errTemporary(err error) error {
	type temporary interface{ Temporary() bool }
	if t, ok := err.(temporary); ok && t.Temporary() {
		return err
	}
	return errNotTemporary
}

var errNotTemporary = errors.New("not temporary")

func (s *Server) trackListener(l *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closing.Load() {
			return false
		}
		s.listeners[l] = struct{}{}
	} else {
		delete(s.listeners, l)
	}
	return true
}

// trackHandshake records connections still in their opening handshake, so
// Shutdown and Close can drop them.
func (s *Server) trackHandshake(nc net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closing.Load() {
			return false
		}
		s.handshakes[nc] = struct{}{}
	} else {
		delete(s.handshakes, nc)
	}
	return true
}

// route returns the factory for a request path (nil: none) and whether the
// Routes name the path.
func (s *Server) route(path string) (f handler.Factory, named bool) {
	if f, ok := s.Routes[path]; ok {
		return f, true
	}
	return s.Handler, false
}

// Len returns the number of open WebSocket connections.
func (s *Server) Len() int {
	s.init()
	return s.table.Len()
}

// Stats is a snapshot of a server's load.
type Stats struct {
	// Connections is the number of open WebSocket connections.
	Connections int
	// WorkersBusy and WorkerQueue are the netpoll engine's workers
	// running a connection now and the ready connections already taken
	// from epoll that wait for a worker (zero on the goroutine engine).
	WorkersBusy, WorkerQueue int
	// Buffered is the bytes held now for partial messages, inflater
	// output and write queues across all connections.
	Buffered int64
}

// Stats returns a snapshot of the server's load.
func (s *Server) Stats() Stats {
	s.init()
	st := Stats{Connections: s.table.Len(), Buffered: s.wcfg.Budget.Held()}
	if n, ok := s.engine.(*netpollEngine); ok {
		st.WorkersBusy, st.WorkerQueue = n.e.Stats()
	}
	return st
}

// Range calls f for each open connection until f returns false.
func (s *Server) Range(f func(handler.Conn) bool) {
	s.init()
	s.table.Range(f)
}

// Broadcast sends a message to every open connection (ws4py's manager
// broadcast) and returns how many it was queued for. The frame is encoded
// once; slow peers get it queued and never delay the others.
func (s *Server) Broadcast(t handler.MessageType, p []byte) int {
	s.init()
	return s.table.Broadcast(t, p)
}

// CloseAll starts the closing handshake of every open connection.
func (s *Server) CloseAll(code handler.CloseCode, reason string) {
	s.init()
	s.table.CloseAll(code, reason)
}

// Shutdown stops the server gracefully: it closes the listeners, refuses new
// handshakes, sends every connection a close frame 1001 ("going away"), and
// waits until they have all closed or ctx ends; then it drops whatever is
// left and releases everything. It returns ctx's error if ctx ended first.
// Until ctx's deadline, a peer that has not answered the 1001 is waited for
// even past CloseTimeout (without a deadline, CloseTimeout applies).
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.stopAccepting()
	until, _ := ctx.Deadline()
	s.table.Drain(handler.CloseGoingAway, "server shutting down", until)
	var err error
	if !s.table.Wait(ctx.Done()) {
		err = ctx.Err()
	}
	if !s.release(ctx.Done(), true) && err == nil {
		err = ctx.Err()
	}
	return err
}

// Close drops every connection at once, without closing handshakes, and
// releases everything. It waits for the goroutines of handshakes in
// progress at most HandshakeTimeout: an accept hook that ignores its
// request's context (which Close ends) is not waited for longer.
func (s *Server) Close() error {
	s.init()
	s.stopAccepting()
	var bound <-chan struct{}
	if d := s.handshakeTimeout(); d > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		bound = ctx.Done()
	}
	s.release(bound, false)
	return nil
}

func (s *Server) stopAccepting() {
	s.closing.Store(true)
	s.stop()
	s.mu.Lock()
	for l := range s.listeners {
		if sl, ok := s.engine.(interface{ stopListener(net.Listener) }); ok {
			sl.stopListener(*l)
		}
		(*l).Close()
	}
	for nc := range s.handshakes {
		// Not a TLS connection's Close: it would send close_notify,
		// waiting on the peer with s.mu held.
		blocking.Abort(nc)
	}
	fb := s.fallback
	s.mu.Unlock()
	if fb != nil {
		fb.shutdown()
	}
	if d, ok := s.engine.(interface{ dropHandshakes() }); ok {
		d.dropHandshakes()
	}
}

// release drops every connection, waits for the server's goroutines until
// done fires (nil: no bound) and closes the engine; graceful, it also waits
// for the HTTP/2 connections' graceful end. It reports whether the
// goroutines ended: one still in an accept hook finds the server closing
// when the hook returns, and refuses its handshake.
func (s *Server) release(done <-chan struct{}, graceful bool) bool {
	s.table.TerminateAll()
	ended := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(ended)
	}()
	ok := true
	select {
	case <-ended:
	case <-done:
		ok = false
	}
	s.mu.Lock()
	fb := s.fallback
	s.mu.Unlock()
	if fb != nil {
		if graceful && ok {
			fb.settle(done, s.wcfg.CloseTimeout)
		}
		fb.close()
	}
	s.engine.close()
	return ok
}
