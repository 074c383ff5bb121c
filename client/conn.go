package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/deflate"
	"github.com/ws4go/ws4go/internal/wsconn"
)

const readBufSize = 4 << 10

// Conn is a client WebSocket connection. It implements handler.Conn, so the
// handlers written for the server run unchanged on the client. Every method
// is safe to call from any goroutine, including after the connection has
// closed (sends then return handler.ErrClosed).
//
// It runs on the server's connection core (internal/wsconn) in its client
// role, over a blocking socket read by a goroutine of its own: the same
// closing handshake, heartbeat, panic isolation and streaming, fail-fast
// inflater. Unlike the server's, a client Conn writes synchronously: Send
// returns once the frame is on the socket, or fails after
// Options.WriteTimeout. The one exception: while another goroutine is
// writing a control frame (a pong, a heartbeat ping, a close frame), a
// message is queued behind it and Send returns once that write has.
type Conn struct {
	c     *wsconn.Conn
	tr    *transport
	table *wsconn.Table // drives its timers (see timerTables)
	ext   string        // the extensions the server accepted
	done  chan struct{}
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

// newConn makes the Conn of a completed handshake; pmd is the
// permessage-deflate answer (nil: no compression), ext its header value.
func newConn(nc net.Conn, br *bufio.Reader, h handler.Handler, opts *Options, req *http.Request, sub string, pmd *deflate.Parameters, ext string) *Conn {
	cfg := opts.connConfig()
	if pmd != nil {
		cfg.Compressor = opts.Compression.compressor(pmd)
	}
	c := &Conn{table: timerTable(cfg), ext: ext, done: make(chan struct{})}
	c.tr = &transport{
		nc: nc, br: br, resume: make(chan struct{}, 1),
		writeTimeout: wsconn.OrDefault(opts.WriteTimeout, DefaultWriteTimeout),
		closeTimeout: cfg.CloseTimeout,
	}
	c.c = wsconn.New(cfg, c.tr, bound{h, c}, sub, wsconn.Request{Req: req})
	c.tr.c = c.c
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

// start calls Opened, then runs the reading goroutine.
func (c *Conn) start() {
	c.c.Start(c.table)
	go c.readLoop()
}

// Done is closed once the connection is gone and Handler.Closed has
// returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// readLoop feeds the server's bytes to the core, as the server's goroutine
// engine does.
func (c *Conn) readLoop() {
	defer close(c.done)
	buf := make([]byte, readBufSize)
	reading := true
	var err error
	for {
		// Input waits while our close frame does (see
		// wsconn.Conn.ReadPaused).
		for c.c.ReadPaused() {
			<-c.tr.resume
		}
		var n int
		n, err = c.tr.br.Read(buf)
		if n > 0 && reading {
			reading = c.c.Feed(buf[:n])
			c.c.ReleaseIdle()
		}
		if err != nil {
			break
		}
	}
	c.tr.nc.Close()
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
		err = io.EOF
	}
	c.c.ReadEnded(err)
	c.c.Finish()
}

// transport is the client's socket: blocking writes, each bounded by
// WriteTimeout.
type transport struct {
	nc           net.Conn
	br           *bufio.Reader // the socket, with what the handshake read ahead
	c            *wsconn.Conn
	writeTimeout time.Duration
	closeTimeout time.Duration
	resume       chan struct{} // ResumeRead wakes the reading goroutine
	wmu          sync.Mutex    // held during a write (see WaitWrite)
}

func (t *transport) Write(bufs [][]byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.writeTimeout > 0 {
		_ = t.nc.SetWriteDeadline(time.Now().Add(t.writeTimeout))
	}
	if bw, ok := t.nc.(buffersWriter); ok {
		return bw.WriteBuffers(bufs)
	}
	nb := net.Buffers(bufs)
	n, err := nb.WriteTo(t.nc)
	return int(n), err
}

// buffersWriter is a socket that takes a frame's header and payload in one
// call: an HTTP/2 stream then sends them in one DATA frame.
type buffersWriter interface {
	WriteBuffers(bufs [][]byte) (int, error)
}

// WaitWrite returns once the write in progress, if any, has.
func (t *transport) WaitWrite() {
	t.wmu.Lock()
	t.wmu.Unlock() //nolint:staticcheck // an empty critical section: waiting is the point
}

func (t *transport) Blocking() bool { return true }

// WaitWritable is only called when a write made no progress, which a
// blocking write does not do without an error; flush anyway.
func (t *transport) WaitWritable() { go t.c.Flush() }

// Shutdown follows the closing handshake: the server closes the TCP
// connection first (RFC 6455 7.1.1), so the client half-closes (the FIN
// follows its close frame, which a reset would destroy) and reads on until
// the server closes, or CloseTimeout passes. Over HTTP/2 the half-close is
// END_STREAM (RFC 8441 section 5).
func (t *transport) Shutdown() {
	if cw, ok := t.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		if t.closeTimeout > 0 {
			_ = t.nc.SetReadDeadline(time.Now().Add(t.closeTimeout))
		}
		return
	}
	t.nc.Close()
}

// ResumeRead wakes the reading goroutine waiting for ReadPaused to end.
func (t *transport) ResumeRead() {
	select {
	case t.resume <- struct{}{}:
	default:
	}
}

func (t *transport) Close()               { t.nc.Close() }
func (t *transport) LocalAddr() net.Addr  { return t.nc.LocalAddr() }
func (t *transport) RemoteAddr() net.Addr { return t.nc.RemoteAddr() }

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
// Handler.Ponged.
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
