// Package wsconn is the engine-independent part of a WebSocket connection,
// for both ends: it implements handler.Conn, runs the handler's callbacks,
// keeps the closing handshake, queues outgoing frames and holds the
// connection table with its timers. An engine supplies the socket (a
// Transport), feeds the bytes it reads to Conn.Feed and tells the Conn when
// the socket can take more bytes or has gone. The server's engines run
// server Conns; the client package runs one client Conn (Config.Client)
// over a blocking transport.
package wsconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/deflate"
	"github.com/ws4go/ws4go/internal/proto"
	"github.com/ws4go/ws4go/observe"
)

// Transport is an engine's socket.
//
// A Transport may also have the method
//
//	WriteFrame(hdr [ws.MaxHeaderSize]byte, hn int, p []byte) (int, error)
//
// which writes hdr[:hn] then p as Write would: the Conn then sends frames
// without allocating (a [][]byte passed to Write escapes to the heap).
type Transport interface {
	// Write writes bufs in order and returns how many bytes it wrote. A
	// blocking transport writes everything or fails; a non-blocking one
	// may write less without an error when the socket is full.
	Write(bufs [][]byte) (int, error)
	// Blocking reports whether Write may block.
	Blocking() bool
	// WaitWritable arranges for Conn.Flush to be called once the socket
	// can take more bytes (a blocking transport just calls it from a new
	// goroutine).
	WaitWritable()
	// Shutdown ends a connection whose closing handshake is done: it
	// half-closes the socket, discards what the peer already sent (so the
	// kernel does not answer with a reset that could destroy the close
	// frame in flight) and closes it.
	Shutdown()
	// Close closes the socket at once. Either way the engine then calls
	// Conn.Finish exactly once.
	Close()
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}

// frameWriter is the optional Transport method described on Transport.
type frameWriter interface {
	WriteFrame(hdr [ws.MaxHeaderSize]byte, hn int, p []byte) (int, error)
}

// writeWaiter is an optional method of a blocking Transport: WaitWrite
// returns once the write in progress, if any, has. A client Conn calls it
// after queueing a data frame behind another goroutine's write (a pong, a
// ping, a close frame), so that its sender is held back by the socket as if
// it wrote itself, instead of queueing without bound.
type writeWaiter interface{ WaitWrite() }

// OrDefault maps a size, count or duration of ws4go's public settings to
// its Config field: zero (unset) is def, a negative value is 0 (Config's
// "off", no bound), any other value itself. It is the one place of the
// convention server.Server and client.Options share: zero means the
// documented default, negative means no limit.
func OrDefault[T ~int | ~int64](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Config is what a Conn needs from the server's settings, or from the
// client's options. Its sizes, counts and durations take 0 as "off".
type Config struct {
	// Client makes the Conn the client end (RFC 6455 5.1, 5.3): every
	// frame it sends is masked with a fresh random key, frames from the
	// server must be unmasked (else 1002), and Handler.Closed reports
	// 1006 when the server does not answer our close frame. A Table of
	// client Conns is only for their timers.
	Client bool
	// Compressor, if set, compresses the client's messages once
	// EnableCompression was called (nil: deflate.Deflate, the server's),
	// under the Conn's message lock, and NewWriter's messages as one
	// stream. It holds one connection's state: a Config with one serves
	// a single Conn.
	Compressor *deflate.Compressor

	MaxMessageSize int64
	// MaxConns bounds the places a Table hands out (Table.Reserve): the
	// connections in it and the handshakes being answered for it
	// together. Zero or negative: no bound.
	MaxConns int
	// MaxWriteQueue bounds the memory queued for a peer that reads slower
	// than it is sent to, counted as the heap really holds it (each
	// frame's allocation rounded up to its size class, plus its entry in
	// the queue's index; a shared frame's whole allocation too, though
	// the budget counts it once): a frame that would take the queue past
	// it closes the connection with WriteQueueCode instead (a published
	// one may be skipped instead: SkipSlow). One frame of up to
	// MaxMessageSize may exceed it when nothing else is queued. While the
	// queue holds more than half of it, or our close frame, the
	// connection's input is not read (see ReadPaused).
	MaxWriteQueue  int
	WriteQueueCode handler.CloseCode
	IdleTimeout    time.Duration
	PingInterval   time.Duration
	PongTimeout    time.Duration
	CloseTimeout   time.Duration
	// MessageTimeout: a message or control frame whose first byte has
	// arrived must arrive whole within it (frames interleaved in a
	// fragmented message do not extend it), else the connection fails
	// with 1008 "message timeout". Zero: no limit.
	MessageTimeout time.Duration
	// WriteTimeout: queued frames that make no progress (the socket
	// takes no byte of them) for this long drop the connection (1006,
	// "write timeout"). Zero: no limit.
	WriteTimeout time.Duration
	// Budget, if set, bounds the bytes held across all its connections.
	Budget *Budget
	// DropRequest: the Conn keeps nothing of its request once Opened has
	// returned, and Request then panics with handler.ErrRequestDropped
	// (see New for what it keeps otherwise).
	DropRequest bool
	Logger      *slog.Logger
	// Observer, if set, is told what the connections do.
	Observer observe.Observer

	// MaxSubscriptions bounds the topics one connection is subscribed to,
	// MaxTotalSubscriptions the subscriptions of all a table's
	// connections together (zero or negative: no bound).
	MaxSubscriptions, MaxTotalSubscriptions int
	// SkipSlow: a publish skips a connection that has no room for it
	// (see queueShared) instead of closing it.
	SkipSlow bool
}

// Conn state bits. They change under Conn.mu; being atomic, the hot paths
// can read them without it.
const (
	stCloseSent  uint32 = 1 << iota // our close frame is queued or sent
	stCloseRecv                     // the peer's close frame arrived
	stShutdown                      // shut the socket down once the queue is flushed
	stGone                          // the socket is closed (or closing)
	stFinished                      // Finish has run
	stFlushing                      // a goroutine holds the right to write to the socket
	stFragmented                    // a NewWriter message has sent its first fragment, not its last
	stPaused                        // input is not read until the queue drains (see ReadPaused)
	stOpened                        // Opened has returned
	stDrainDue                      // a call of the handler's Drained is on its way
	stHeld                          // the owner holds input (see HoldRead)
	// The bits below hold what used to be byte fields of Conn, so that
	// it stays in its 240-byte size class: set before Start (or, for
	// stPanicked, by the goroutine running callbacks, under cb).
	stPanicked // a callback panicked: the handler is silenced (under cb)
	stPlaced   // c holds one of the table's MaxConns places (see Hold)
	stFields   // head holds header fields, not a raw head
	stCompress // permessage-deflate was negotiated

	// windowShift places permessage-deflate's server_max_window_bits
	// (8–15; 0: no compression) in the state's top 4 bits.
	windowShift = 28
)

// Conn is one end of a WebSocket connection, the server's (or the client's,
// with Config.Client). It implements handler.Conn.
//
// Every idle connection holds one, so it is kept small (240 bytes, the
// top of its size class: a field more costs 16 bytes a connection): the
// write queue and what only some connections need (the subprotocol, user
// data, the close code and reason, a parsed request) live behind pointers
// that are nil while unused.
type Conn struct {
	cfg   *Config
	tr    Transport
	h     handler.Handler
	table *Table
	slot  int32 // index in table, -1 when not in one
	state atomic.Uint32

	// head is the request kept for Request: its raw head, or (fields
	// set) the header fields of x.req's request (see Request). A string,
	// not a slice: 8 bytes less, which keeps Conn in its size class.
	head string

	// Read side: touched only by the goroutine feeding the Conn.
	rd proto.Reader
	// infl inflates the compressed message in progress; nil between
	// messages, so an idle connection holds no inflater.
	infl *deflate.Inflater

	// Timer state, read by the table's sweeper: unix nanos from the
	// table's coarse clock.
	lastRead    atomic.Int64 // the last bytes received
	lastMessage atomic.Int64 // the last data message
	pingSent    atomic.Int64 // an unanswered heartbeat ping, 0 if none
	closingAt   atomic.Int64 // the closing handshake started
	msgStart    atomic.Int64 // the first byte of the partial message or frame held, 0 if none

	// readHeld is the memory the read side holds (reader and inflater),
	// as last counted in cfg.Budget.
	readHeld atomic.Int64

	msgMu sync.Mutex // held while a data message is being sent
	// cb is held while a handler callback runs: callbacks made off the
	// goroutine feeding the Conn (Drained) wait for the one in progress.
	cb sync.Mutex

	mu sync.Mutex
	q  *queue // frames waiting for the socket; nil when none (mu)
	x  *rare  // nil until needed (mu)
}

// rare is the part of a Conn that only some connections need.
type rare struct {
	subprotocol string
	// req is, until Opened returns, the request Request returns (given to
	// New, or parsed from the raw head on first use); then, with the
	// request's header fields in Conn.head, that request without its
	// Header, or the request New was given to keep whole.
	req *http.Request
	// tls is the TLS state of a request parsed again from the raw head
	// (the accept hook's request had it).
	tls     *tls.ConnectionState
	data    any // user data
	code    handler.CloseCode
	closeBy observe.Side
	reason  string
	// subs lists the connection's subscriptions (see topics), nil if it
	// has none.
	subs *[]*subscription
	// ctx is the parent of the connection's context until Context is
	// first called (nil: context.Background), then the context itself;
	// cancel is set with it.
	ctx    context.Context
	cancel context.CancelFunc
}

func (x *rare) empty() bool {
	return x.subprotocol == "" && x.req == nil && x.tls == nil && x.data == nil &&
		x.code == handler.CloseAbnormal && x.closeBy == 0 && x.reason == "" &&
		x.ctx == nil && x.subs == nil
}

// rareLocked returns c.x, allocating it; c.mu is held (or c is not shared
// yet).
func (c *Conn) rareLocked() *rare {
	if c.x == nil {
		c.x = &rare{code: handler.CloseAbnormal}
	}
	return c.x
}

// setCloseLocked records the close code, reason and initiator.
func (c *Conn) setCloseLocked(code handler.CloseCode, reason string, by observe.Side) {
	x := c.rareLocked()
	x.code, x.reason = code, reason
	if by != 0 {
		x.closeBy = by
	}
}

func (c *Conn) has(bits uint32) bool { return c.state.Load()&bits != 0 }

// set and clear change state bits; c.mu is held.
func (c *Conn) set(bits uint32)   { c.state.Or(bits) }
func (c *Conn) clear(bits uint32) { c.state.And(^bits) }

// New makes the Conn of a completed handshake; r is its upgrade request.
func New(cfg *Config, tr Transport, h handler.Handler, subprotocol string, r Request) *Conn {
	c := &Conn{cfg: cfg, tr: tr, h: h, slot: -1, head: r.Head}
	if r.Head == "" && r.Fields != "" {
		c.set(stFields)
		c.head = r.Fields
	}
	if req := r.Req; subprotocol != "" || req != nil {
		x := c.rareLocked()
		x.subprotocol, x.req = subprotocol, req
		if req != nil {
			// The http.Handler path: Context carries the request's
			// values (the server has already detached them from
			// its cancellation).
			if ctx := req.Context(); ctx != context.Background() {
				x.ctx = ctx
			}
		}
	}
	c.rd.MaxMessage = cfg.MaxMessageSize
	c.rd.Client = cfg.Client
	now := time.Now().UnixNano()
	c.lastRead.Store(now)
	c.lastMessage.Store(now)
	return c
}

// EnableCompression turns on permessage-deflate, as the handshake's answer
// negotiated it: window is the answer's server_max_window_bits (see
// deflate.AnswerWindowBits). Call it before Start.
func (c *Conn) EnableCompression(window int) {
	c.rd.Compression = true
	c.rd.StreamCompressed = true // inflated as it arrives: see inflated
	c.set(stCompress | uint32(window&0xf)<<windowShift)
}

// compressing reports whether permessage-deflate was negotiated.
func (c *Conn) compressing() bool { return c.has(stCompress) }

// window is the negotiated server_max_window_bits: the server's LZ77
// window.
func (c *Conn) window() int { return int(c.state.Load() >> windowShift) }

// InflateWithContext makes compressed messages inflate with the history of
// the ones before (the last 2^windowBits bytes), for a peer that keeps its
// compression context (no server_no_context_takeover): the connection then
// holds an inflater and its window for its whole life. Call it after
// EnableCompression, before Start.
func (c *Conn) InflateWithContext(windowBits int) {
	c.infl = deflate.NewWindowInflater(windowBits)
}

// us and them are the sides of a closing handshake this end and its peer
// started, as observe.Side names them (Server: the server's end).
func (c *Conn) us() observe.Side {
	if c.cfg.Client {
		return observe.Peer
	}
	return observe.Server
}

func (c *Conn) them() observe.Side {
	if c.cfg.Client {
		return observe.Server
	}
	return observe.Peer
}

// compressMin is the smallest message worth compressing.
const compressMin = 128

// deflateBufs holds the buffers compressed messages are sent from.
var deflateBufs = sync.Pool{New: func() any { return new([]byte) }}

// Start adds c to t and calls Opened. Call it before feeding any bytes.
func (c *Conn) Start(t *Table) {
	var drain handler.CloseCode
	var reason string
	var dropped bool
	if t != nil {
		drain, reason, dropped = t.add(c)
	}
	if o := c.cfg.Observer; o != nil {
		o.Opened()
		major := 1 // a raw head is HTTP/1.1's
		if c.x != nil && c.x.req != nil {
			major = c.x.req.ProtoMajor
		}
		o.OpenedHTTP(major)
	}
	c.call(func() { c.h.Opened(c) })
	switch {
	case dropped:
		c.terminate("server closed")
	case drain != 0:
		_ = c.Close(drain, reason)
	}
	c.mu.Lock()
	c.keepRequestLocked()
	c.set(stOpened)
	c.mu.Unlock()
}

// now is the time for the timer state: the table's coarse clock (updated by
// its sweeper, so a message costs no clock reading), or 0 when no timer
// needs it.
func (c *Conn) now() int64 {
	if t := c.table; t != nil {
		return t.now.Load()
	}
	return time.Now().UnixNano()
}

// call runs a handler callback, never two of one connection at once; a
// panic closes this connection with 1011 and silences the handler.
func (c *Conn) call(f func()) {
	c.cb.Lock()
	defer c.cb.Unlock()
	if c.has(stPanicked) {
		return
	}
	if o := c.cfg.Observer; o != nil {
		start := time.Now()
		defer func() { o.HandlerDone(time.Since(start)) }()
	}
	defer func() {
		if v := recover(); v != nil {
			c.set(stPanicked)
			c.logger().Error("ws4go: handler panicked; closing its connection with 1011",
				"remote", c.RemoteAddr(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			c.fail(handler.CloseInternalError, "internal error")
		}
	}()
	f()
}

func (c *Conn) logger() *slog.Logger {
	if c.cfg.Logger != nil {
		return c.cfg.Logger
	}
	return slog.Default()
}

// LocalAddr implements handler.Conn.
func (c *Conn) LocalAddr() net.Addr { return c.tr.LocalAddr() }

// RemoteAddr implements handler.Conn.
func (c *Conn) RemoteAddr() net.Addr { return c.tr.RemoteAddr() }

// Subprotocol implements handler.Conn.
func (c *Conn) Subprotocol() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.x == nil {
		return ""
	}
	return c.x.subprotocol
}

// Data implements handler.Conn.
func (c *Conn) Data() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.x == nil {
		return nil
	}
	return c.x.data
}

// SetData implements handler.Conn.
func (c *Conn) SetData(v any) {
	c.mu.Lock()
	c.rareLocked().data = v
	c.mu.Unlock()
}

// Context implements handler.Conn. The context is made on first use, so
// connections whose handler never asks do not pay for it; Finish cancels it.
func (c *Conn) Context() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.x != nil && c.x.cancel != nil {
		return c.x.ctx
	}
	x := c.rareLocked()
	parent := x.ctx
	if parent == nil {
		parent = context.Background()
	}
	x.ctx, x.cancel = context.WithCancel(parent)
	if c.has(stGone) {
		// Gone already: cancelled, with the request's values kept.
		x.cancel()
	}
	return x.ctx
}

// cancelContextLocked returns the function that cancels the connection's
// context, if one was made (call it once c.mu is released), or nil.
func (c *Conn) cancelContextLocked() context.CancelFunc {
	if c.x == nil {
		return nil
	}
	return c.x.cancel
}

// Handler returns the connection's handler.
func (c *Conn) Handler() handler.Handler { return c.h }

var _ handler.Conn = (*Conn)(nil)
