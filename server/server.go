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
	// and the engine for handlers that block for long.
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
	DefaultMaxH2Connections = 10_000
)

// A Server serves WebSocket connections. Like net/http.Server it is its own
// configuration: set the fields, then call ListenAndServe or Serve, or mount
// it (or HTTPHandler) on an http.ServeMux. Fields must not be changed once it
// serves. The zero value serves nothing until NewHandler or Routes is set.
//
// Every size, count and duration among the fields follows one convention:
// zero means the default its documentation gives (the Default constants),
// a negative value means no limit (the bound or timer is off). Validate
// says which other values are refused.
type Server struct {
	// Addr is the TCP address ListenAndServe and Listen listen on
	// ("127.0.0.1:9001"); empty means ":http" (port 80 on every
	// interface), as for net/http. Port 0 lets the system choose one:
	// Listen returns the listener, whose Addr tells which.
	Addr string
	// NewHandler makes the handler of each connection, for every path that
	// Routes does not name.
	NewHandler handler.Factory
	// Routes maps exact request paths to handler factories (ws4py's
	// per-path handler classes). A path with no route and no NewHandler gets
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
	// connection, on either engine, and other requests through HTTP;
	// MaxH2Connections bounds these connections.
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
	// and Origin checks and that Routes, NewHandler or HTTPHandler route to
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

	// MaxMessageSize is the largest message accepted, after
	// decompression (default 16 MiB; negative: no limit); a larger one
	// fails the connection with 1009.
	MaxMessageSize int64
	// MaxWriteQueue bounds the bytes queued for a peer that does not read
	// (default 4 MiB; negative: no bound). A send past it closes the
	// connection with WriteQueueCloseCode (default 1008, Policy
	// Violation; a code an endpoint may send, see handler.CloseCode.Valid).
	MaxWriteQueue       int
	WriteQueueCloseCode handler.CloseCode

	// HandshakeTimeout bounds the reading of the opening handshake
	// (default 10 s; negative: no bound): over TLS the TLS handshake and the request head
	// together, or on an HTTP/2 connection the TLS handshake and its
	// first request, and then each wait for a request once its last
	// stream ended (see MaxH2Connections). An Accept hook's context
	// has a HandshakeTimeout of its own, from when the hook starts.
	HandshakeTimeout time.Duration
	// CloseTimeout bounds the closing handshake: after the close frame is
	// sent the peer has this long to answer before the TCP connection is
	// dropped (default 5 s; negative: the peer is waited for without
	// bound).
	CloseTimeout time.Duration
	// WriteTimeout: a connection whose queued frames make no progress
	// (the socket takes none of their bytes) for this long is dropped,
	// on both engines; Closed gets 1006 "write timeout" (default 10 s;
	// negative: never). It also bounds the write of a handshake response,
	// and, over TLS on the standalone listener, each record written to a
	// plain-HTTP or HTTP/2 connection (a response of HTTP's included).
	WriteTimeout time.Duration
	// PingInterval: a connection that received nothing for this long is
	// pinged (default 30 s; negative disables the heartbeat).
	PingInterval time.Duration
	// PongTimeout: a pinged connection that sends nothing for this long is
	// dropped (default 30 s; negative: never).
	PongTimeout time.Duration
	// IdleTimeout closes (1001) a connection that received no data
	// message for this long (default, and negative: never).
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
	// WebSockets; see docs/budgets.md for what each costs.
	MaxConnections int
	// MaxH2Connections is the most HTTP/2 connections (TLS connections
	// whose ALPN chose "h2") open at once; default
	// DefaultMaxH2Connections (10,000), negative: no limit. They are not
	// WebSockets and MaxConnections does not count them, but each costs
	// net/http's state whether or not it carries a stream (about 40 KiB
	// idle, and up to H2ConnWindow of unread input). Past it ALPN gives a
	// client that offers http/1.1 besides h2 (as browsers do) HTTP/1.1,
	// whose upgrades MaxConnections counts; a client that offers h2 alone
	// fails its TLS handshake. Either is counted as
	// observe.RejectMaxH2Connections. (On a tls.NewListener of your own,
	// whose ALPN the server does not see, such a connection is closed
	// after its TLS handshake.) An HTTP/2 connection must also open its
	// first stream within HandshakeTimeout of its start, and each later
	// one within HandshakeTimeout of its last stream's end, or it is
	// closed; a stream counts if it was served (a WebSocket, or a
	// request for HTTP), not if it was refused.
	MaxH2Connections int

	// DropRequest makes connections keep nothing of their upgrade request
	// once Opened has returned: handler.Conn.Request then panics with
	// handler.ErrRequestDropped, so read what you need of it in Opened. It
	// saves the bytes kept otherwise (the request head: about 160 bytes
	// for a minimal client, 0.5 KiB for a browser, at most 8 KiB; see
	// handler.Conn.Request and docs/budgets.md), and lifts the
	// 8 KiB bound (431) on the http.Handler path, where net/http's own
	// MaxHeaderBytes then applies alone.
	DropRequest bool

	// MaxSubscriptions bounds the topics one connection is subscribed to
	// at once (default DefaultMaxSubscriptions, 1,000; negative: no
	// bound), so that a client cannot talk an application into holding
	// a million subscriptions for it; MaxTotalSubscriptions bounds the
	// subscriptions of all connections together (default
	// DefaultMaxTotalSubscriptions, 1,000,000; negative: no bound), so
	// that many clients cannot multiply the first. Subscribe past either
	// fails with ErrTooManySubscriptions. docs/budgets.md says what a
	// subscription costs.
	MaxSubscriptions      int
	MaxTotalSubscriptions int
	// SlowSubscribers is what a Publish or Broadcast does to a connection
	// whose write queue has no room for the message: SlowClose (the
	// default) or SlowSkip.
	SlowSubscribers SlowPolicy

	// Workers is the most goroutines the netpoll engine runs connections
	// on, those held by a handler that blocks included (default
	// 4×GOMAXPROCS; negative is refused: the pool is always bounded);
	// GOMAXPROCS of them poll at once. When every one is held, ready
	// connections wait in the kernel: the engine's backpressure.
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
	invalid  error     // Validate's, once
	logBad   sync.Once // logs invalid on the http.Handler path

	mu         sync.Mutex
	listeners  map[*net.Listener]struct{}
	handshakes map[net.Conn]struct{}
	fallback   *fallback
	engine     engine
	closing    atomic.Bool
	wg         sync.WaitGroup // connection goroutines

	// h2Conns counts the HTTP/2 connections open against h2Most
	// (MaxH2Connections; 0: no bound).
	h2Conns atomic.Int64
	h2Most  int64

	flushers flushers // the goroutine engine's publish writers
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
		s.invalid = s.Validate()
		s.wcfg = wsconn.Config{
			MaxMessageSize:        wsconn.OrDefault(s.MaxMessageSize, DefaultMaxMessageSize),
			MaxWriteQueue:         wsconn.OrDefault(s.MaxWriteQueue, DefaultMaxWriteQueue),
			WriteQueueCode:        s.WriteQueueCloseCode,
			IdleTimeout:           wsconn.OrDefault(s.IdleTimeout, 0),
			PingInterval:          wsconn.OrDefault(s.PingInterval, DefaultPingInterval),
			PongTimeout:           wsconn.OrDefault(s.PongTimeout, DefaultPongTimeout),
			CloseTimeout:          wsconn.OrDefault(s.CloseTimeout, DefaultCloseTimeout),
			MessageTimeout:        wsconn.OrDefault(s.MessageTimeout, DefaultMessageTimeout),
			WriteTimeout:          s.writeTimeout(),
			Budget:                &wsconn.Budget{Max: wsconn.OrDefault(s.MaxBufferedBytes, DefaultMaxBufferedBytes)},
			MaxConns:              wsconn.OrDefault(s.MaxConnections, DefaultMaxConnections),
			DropRequest:           s.DropRequest,
			MaxSubscriptions:      wsconn.OrDefault(s.MaxSubscriptions, DefaultMaxSubscriptions),
			MaxTotalSubscriptions: wsconn.OrDefault(s.MaxTotalSubscriptions, DefaultMaxTotalSubscriptions),
			SkipSlow:              s.SlowSubscribers == SlowSkip,
			Observer:              s.Observer,
			Logger:                s.logger(),
		}
		s.bcfg = blocking.Config{WriteTimeout: s.wcfg.WriteTimeout, Flushers: &s.wg,
			Soon: func(c *wsconn.Conn) { s.flushers.add(s, c) }}
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
		s.h2Most = int64(wsconn.OrDefault(s.MaxH2Connections, DefaultMaxH2Connections))
		if offersH2(s.tlsCfg) {
			s.boundH2(s.tlsCfg)
		}
		s.closed, s.stop = context.WithCancel(context.Background())
		s.table = wsconn.NewTable(&s.wcfg)
		s.listeners = map[*net.Listener]struct{}{}
		s.handshakes = map[net.Conn]struct{}{}
		s.engine = s.newEngine()
	})
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) handshakeTimeout() time.Duration {
	return wsconn.OrDefault(s.HandshakeTimeout, DefaultHandshakeTimeout)
}

func (s *Server) writeTimeout() time.Duration {
	return wsconn.OrDefault(s.WriteTimeout, DefaultWriteTimeout)
}

// route returns the factory for a request path (nil: none) and whether the
// Routes name the path.
func (s *Server) route(path string) (f handler.Factory, named bool) {
	if f, ok := s.Routes[path]; ok {
		return f, true
	}
	return s.NewHandler, false
}
