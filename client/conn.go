package client

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/blocking"
	"github.com/ws4go/ws4go/internal/deflate"
	"github.com/ws4go/ws4go/internal/wsconn"
)

// Conn is a client WebSocket connection. It implements handler.Conn, so the
// handlers written for the server run unchanged on the client. Every method
// is safe to call from any goroutine, including after the connection has
// closed (sends then return handler.ErrClosed).
//
// Its messages go one of two ways, chosen at Dial: to the Handler's
// callbacks, or, dialled with a nil handler, to Read, which returns them
// one by one (a pull-style loop for tools, tests and bots). Not both: Read
// on a Conn with a handler returns ErrHandlerSet.
//
// It runs on the server's connection core (internal/wsconn) in its client
// role, over a blocking socket read by a goroutine of its own: the same
// closing handshake, heartbeat, panic isolation and streaming, fail-fast
// inflater. Unlike the server's, a client Conn writes synchronously: Send
// returns once the frame is on the socket, or fails once the socket has
// taken none of it for Options.WriteTimeout. The one exception: while
// another goroutine is writing a control frame (a pong, a heartbeat ping,
// a close frame), a message is queued behind it and Send returns once that
// write has. Heartbeat pings, and the close at MessageTimeout, are written
// by a goroutine of their own, never by the timer that sends them, which
// serves other connections too.
type Conn struct {
	c     *wsconn.Conn
	tr    *blocking.Transport
	table *wsconn.Table // drives its timers (see timerTables)
	ext   string        // the extensions the server accepted
	done  chan struct{}
	// rest is what the handshake read past the server's answer, fed
	// first; bcfg the transport's settings; flushers counts its
	// flusher goroutines (a heartbeat ping is written by one).
	rest     []byte
	bcfg     blocking.Config
	flushers sync.WaitGroup
	// in keeps the messages for Read when the Conn was dialled without
	// a handler (nil otherwise).
	in *inbox
}

// bound is the Handler as the user wrote it, called with the client's Conn
// rather than the core's, so that a handler can use what only a client Conn
// has (Done, Extensions).
type bound struct {
	h handler.Handler
	c *Conn
}

func (b bound) Opened(handler.Conn) { b.h.Opened(b.c) }
func (b bound) ReceivedMessage(_ handler.Conn, m handler.Message) {
	b.h.ReceivedMessage(b.c, m)
}
func (b bound) Ponged(_ handler.Conn, p []byte) { b.h.Ponged(b.c, p) }
func (b bound) Closed(_ handler.Conn, code handler.CloseCode, reason string) {
	b.h.Closed(b.c, code, reason)
}

// newConn makes the Conn of a completed handshake; h is nil for one read
// with Read, pmd the permessage-deflate answer (nil: no compression), ext
// its header value.
func newConn(nc net.Conn, br *bufio.Reader, h handler.Handler, opts *Options, req *http.Request, sub string, pmd *deflate.Parameters, ext string) *Conn {
	cfg := opts.connConfig()
	if pmd != nil {
		cfg.Compressor = opts.Compression.compressor(pmd)
	}
	c := &Conn{table: timerTable(cfg), ext: ext, done: make(chan struct{})}
	if n := br.Buffered(); n > 0 {
		c.rest, _ = br.Peek(n)
	}
	// Sync: Send returns once its frame is on the socket. Linger: the
	// server closes the TCP connection first (RFC 6455 7.1.1): after our
	// close frame, read until it does, at most CloseTimeout (if it has
	// a bound: zero here).
	linger := cfg.CloseTimeout
	if linger == 0 {
		linger = -1
	}
	c.bcfg = blocking.Config{
		WriteTimeout: wsconn.OrDefault(opts.WriteTimeout, DefaultWriteTimeout),
		Sync:         true,
		Linger:       linger,
		Flushers:     &c.flushers,
	}
	var wh handler.Handler = bound{h, c}
	if h == nil {
		c.in = newInbox()
		wh = c.in
	}
	c.tr, c.c = blocking.New(nc, &c.bcfg, func(tr wsconn.Transport) *wsconn.Conn {
		return wsconn.New(cfg, tr, wh, sub, wsconn.Request{Req: req})
	})
	if c.in != nil {
		c.in.c = c.c
	}
	if pmd != nil {
		c.c.EnableCompression(pmd.ServerMaxWindowBits)
		if !pmd.ServerNoContextTakeover {
			// zlib cannot compress with an 8-bit window and silently
			// uses 9 bits instead: keep 512 bytes so that such
			// servers still decode.
			c.c.InflateWithContext(max(pmd.ServerMaxWindowBits, 9))
		}
	}
	return c
}

// timerTables holds a wsconn.Table per set of timer settings: its sweeper
// drives the heartbeat and close timeout of every client connection with
// those settings, as the server's drives its connections' (and runs only
// while one is open), so a connection needs no timer of its own.
var timerTables sync.Map // timerKey → *wsconn.Table

type timerKey struct{ ping, pong, close, message time.Duration }

func timerTable(cfg *wsconn.Config) *wsconn.Table {
	k := timerKey{cfg.PingInterval, cfg.PongTimeout, cfg.CloseTimeout, cfg.MessageTimeout}
	if t, ok := timerTables.Load(k); ok {
		return t.(*wsconn.Table)
	}
	t, _ := timerTables.LoadOrStore(k, wsconn.NewTable(&wsconn.Config{PingInterval: k.ping, PongTimeout: k.pong, CloseTimeout: k.close, MessageTimeout: k.message}))
	return t.(*wsconn.Table)
}

// start calls Opened, then runs the reading goroutine; Done is closed
// once it and any flusher have ended.
func (c *Conn) start() {
	c.c.Start(c.table)
	rest := c.rest
	c.rest = nil
	go func() {
		c.tr.Run(rest)
		c.flushers.Wait()
		close(c.done)
	}()
}

// Done is closed once the connection is gone and Handler.Closed has
// returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Send implements handler.Conn: it sends one message, masked like every
// client frame, and compressed if permessage-deflate was negotiated and the
// message is at least Compression.Threshold bytes long.
func (c *Conn) Send(t handler.MessageType, p []byte) error { return c.c.Send(t, p) }

// SendText implements handler.Conn.
func (c *Conn) SendText(s string) error { return c.Send(handler.Text, []byte(s)) }

// SendBinary implements handler.Conn.
func (c *Conn) SendBinary(p []byte) error { return c.Send(handler.Binary, p) }

// NewWriter implements handler.Conn: each Write sends one fragment, Close
// the final one. Other messages wait until the writer is closed. With
// permessage-deflate, the message is compressed as one deflate stream
// whatever its length (each Write is flushed into its fragment).
func (c *Conn) NewWriter(t handler.MessageType) (io.WriteCloser, error) { return c.c.NewWriter(t) }

// Ping implements handler.Conn. The server's pong arrives at
// Handler.Ponged (a Conn read with Read has none: the pong only shows that
// the server is there, to the heartbeat).
func (c *Conn) Ping(payload []byte) error { return c.c.Ping(payload) }

// Close implements handler.Conn: it sends a close frame with code and
// reason; the connection ends when the server has answered and closed the
// TCP connection, or after Options.CloseTimeout. Wait on Done for the end.
// A frame being written when Close is called is finished first (within
// Options.WriteTimeout).
func (c *Conn) Close(code handler.CloseCode, reason string) error { return c.c.Close(code, reason) }

// Terminate implements handler.Conn: it drops the connection without a
// closing handshake; Handler.Closed follows with CloseAbnormal.
func (c *Conn) Terminate() { c.c.Terminate() }

// LocalAddr implements handler.Conn. Over HTTP/2 it is the TCP
// connection's, which the pool's other WebSockets to the server may share.
func (c *Conn) LocalAddr() net.Addr { return c.c.LocalAddr() }

// RemoteAddr implements handler.Conn: the server's address (or the proxy's,
// through a proxy).
func (c *Conn) RemoteAddr() net.Addr { return c.c.RemoteAddr() }

// Request implements handler.Conn: the opening handshake as sent (URL,
// Host and headers, without Sec-WebSocket-Key). Treat it as read-only.
func (c *Conn) Request() *http.Request { return c.c.Request() }

// Subprotocol implements handler.Conn: the subprotocol the server chose, or
// "".
func (c *Conn) Subprotocol() string { return c.c.Subprotocol() }

// Proto is the HTTP version the WebSocket runs over: "HTTP/1.1", or
// "HTTP/2.0" on a stream of an HTTP/2 connection (Options.HTTP2).
func (c *Conn) Proto() string { return c.c.Request().Proto }

// Extensions is the Sec-WebSocket-Extensions answer of the server, e.g.
// "permessage-deflate; server_no_context_takeover", or "" when it accepted
// no extension (and messages go uncompressed both ways).
func (c *Conn) Extensions() string { return c.ext }

// Data implements handler.Conn.
func (c *Conn) Data() any { return c.c.Data() }

// SetData implements handler.Conn.
func (c *Conn) SetData(v any) { c.c.SetData(v) }

// Context implements handler.Conn: it is cancelled once the connection is
// gone, before Handler.Closed is called.
func (c *Conn) Context() context.Context { return c.c.Context() }

var _ handler.Conn = (*Conn)(nil)
