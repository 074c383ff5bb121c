package client

import (
	"bufio"
	"compress/flate"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/proto"
)

const (
	readBufSize = 4 << 10
	// writeChunk is how much payload is masked and written at a time.
	writeChunk = 32 << 10
)

// Conn is a client WebSocket connection. It implements handler.Conn, so the
// handlers written for the server run unchanged on the client. Every method
// is safe to call from any goroutine, including after the connection has
// closed (sends then return handler.ErrClosed).
//
// Unlike the server's, a client Conn writes synchronously: Send returns once
// the frame is on the socket, or fails after Options.WriteTimeout.
type Conn struct {
	nc  net.Conn
	br  *bufio.Reader
	h   handler.Handler
	log *slog.Logger
	req *http.Request
	sub string
	ext string // the extensions the server accepted

	// Compression, when negotiated: dz is used under msgMu, inf by the
	// reading goroutine.
	dz  *deflater
	inf *inflater

	writeTimeout time.Duration
	closeTimeout time.Duration
	pingInterval time.Duration
	pongTimeout  time.Duration

	data atomic.Value // boxed user data

	// Read side: the reading goroutine only (and Opened, before it starts).
	rd       proto.Reader
	panicked bool

	lastRead atomic.Int64 // unix nanos of the last bytes received
	pingSent atomic.Int64 // unix nanos of an unanswered heartbeat ping, 0 if none

	msgMu sync.Mutex // held while a data message is being sent
	wmu   sync.Mutex // held while a frame is written
	wbuf  []byte

	mu        sync.Mutex
	closeSent bool
	closeRecv bool
	gone      bool // the socket is closed (or closing, after a failure)
	code      handler.CloseCode
	reason    string
	hb        *time.Timer
	cctx      connContext // see Context

	done chan struct{}
}

func newConn(nc net.Conn, br *bufio.Reader, h handler.Handler, opts *Options, req *http.Request, sub string) *Conn {
	c := &Conn{
		nc: nc, br: br, h: h, log: opts.logger(), req: req, sub: sub,
		writeTimeout: orDefault(opts.WriteTimeout, DefaultWriteTimeout),
		closeTimeout: orDefault(opts.CloseTimeout, DefaultCloseTimeout),
		pingInterval: orDefault(opts.PingInterval, DefaultPingInterval),
		pongTimeout:  orDefault(opts.PongTimeout, DefaultPongTimeout),
		done:         make(chan struct{}),
	}
	c.rd.Client = true
	c.rd.MaxMessage = orDefault(opts.MaxMessageSize, DefaultMaxMessageSize)
	c.lastRead.Store(time.Now().UnixNano())
	return c
}

// start calls Opened, then runs the reading goroutine and the heartbeat.
func (c *Conn) start() {
	c.call(func() { c.h.Opened(c) })
	if c.pingInterval > 0 {
		c.mu.Lock()
		if !c.gone {
			c.hb = time.AfterFunc(c.pingInterval, c.beat)
		}
		c.mu.Unlock()
	}
	go c.readLoop()
}

// Done is closed once the connection is gone and Handler.Closed has
// returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

func (c *Conn) readLoop() {
	defer close(c.done)
	buf := make([]byte, readBufSize)
	reading := true
	var err error
	for {
		var n int
		n, err = c.br.Read(buf)
		if n > 0 {
			c.lastRead.Store(time.Now().UnixNano())
			c.pingSent.Store(0)
			if reading {
				reading = c.feed(buf[:n])
			}
		}
		if err != nil {
			break
		}
	}
	c.nc.Close()
	c.finish(err)
}

// feed processes bytes from the server; false means the connection wants no
// more input (its closing handshake is under way or it failed).
func (c *Conn) feed(p []byte) bool {
	for len(p) > 0 {
		n, ev, perr := c.rd.Next(p)
		p = p[n:]
		if perr != nil {
			c.fail(perr.Code, perr.Reason)
			return false
		}
		switch ev.Kind {
		case proto.Message:
			if c.closing() {
				continue // data after our close frame is discarded
			}
			data := ev.Data
			if ev.Compressed {
				var err error
				// The size limit applies to the inflated message.
				data, err = c.inf.inflate(ev.Data, c.rd.MaxMessage)
				switch {
				case errors.Is(err, errTooBig):
					c.fail(handler.CloseMessageTooBig, "message too big")
					return false
				case err != nil:
					c.fail(handler.CloseInvalidPayload, "invalid compressed data")
					return false
				case ev.Type == handler.Text && !utf8.Valid(data):
					c.fail(handler.CloseInvalidPayload, "invalid UTF-8 in text message")
					return false
				}
			}
			c.call(func() { c.h.ReceivedMessage(c, handler.Message{Type: ev.Type, Data: data}) })
		case proto.Ping:
			_ = c.writeFrame(ws.OpPong, 0, true, ev.Data)
		case proto.Pong:
			c.call(func() { c.h.Ponged(c, ev.Data) })
		case proto.Close:
			c.closeReceived(ev.Code, ev.Reason)
			return false
		}
	}
	return true
}

func (c *Conn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeSent || c.gone
}

// finish ends the connection once the reading goroutine has stopped.
func (c *Conn) finish(err error) {
	c.mu.Lock()
	c.gone = true
	if c.hb != nil {
		c.hb.Stop()
	}
	if c.code == 0 {
		c.code = handler.CloseAbnormal
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded) && c.closeSent:
			c.reason = "close timeout: the server did not finish the closing handshake"
		case err == nil, errors.Is(err, io.EOF):
			c.reason = "connection closed without a close frame"
		default:
			c.reason = err.Error()
		}
	}
	code, reason := c.code, c.reason
	cancel := c.endContextLocked()
	c.mu.Unlock()
	cancel()
	c.rd.Release()
	c.panicked = false // Closed is always delivered
	c.call(func() { c.h.Closed(c, code, reason) })
}

// call runs a handler callback; a panic fails the connection with 1011.
func (c *Conn) call(f func()) {
	if c.panicked {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			c.panicked = true
			c.log.Error("ws4go client: handler panicked; closing the connection with 1011",
				"remote", c.RemoteAddr(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			c.fail(handler.CloseInternalError, "internal error")
		}
	}()
	f()
}

// closeReceived answers the server's close frame; the server then closes
// the TCP connection (RFC 6455 7.1.1), within CloseTimeout.
func (c *Conn) closeReceived(code handler.CloseCode, reason string) {
	c.mu.Lock()
	c.closeRecv = true
	if c.code == 0 {
		c.code, c.reason = code, reason
	}
	c.mu.Unlock()
	// Echo the server's code (an empty close is answered with an empty
	// close). Does nothing if we already sent ours.
	_ = c.sendClose(code, reason)
}

// fail closes the connection after a protocol error (or a panicking
// handler) with code: RFC 6455 7.1.7.
func (c *Conn) fail(code handler.CloseCode, reason string) {
	c.mu.Lock()
	if c.code == 0 {
		c.code, c.reason = code, reason
	}
	c.mu.Unlock()
	_ = c.sendClose(code, reason)
	c.mu.Lock()
	c.gone = true
	c.mu.Unlock()
	// Half-close, so that the close frame is not destroyed by a reset;
	// the reading goroutine drains the socket until the server closes it
	// or CloseTimeout passes.
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		return
	}
	c.nc.Close()
}

// terminate drops the connection without a closing handshake.
func (c *Conn) terminate(reason string) {
	c.mu.Lock()
	if c.code == 0 {
		c.code, c.reason = handler.CloseAbnormal, reason
	}
	c.gone = true
	c.mu.Unlock()
	c.nc.Close()
}

// sendClose sends the close frame once and bounds the rest of the closing
// handshake by CloseTimeout.
func (c *Conn) sendClose(code handler.CloseCode, reason string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if c.closeSent || c.gone {
		c.mu.Unlock()
		return nil
	}
	c.closeSent = true
	c.mu.Unlock()
	if c.closeTimeout > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.closeTimeout))
	}
	var payload []byte
	if code != handler.CloseNoStatus {
		if len(reason) > 123 {
			reason = reason[:123]
		}
		payload = append([]byte{byte(code >> 8), byte(code)}, reason...)
	}
	return c.writeLocked(ws.OpClose, 0, true, payload)
}

// rsv1 marks the first frame of a compressed message (RFC 7692 section 6).
const rsv1 = 0x4

// writeFrame writes one frame unless the closing handshake has started. rsv
// is 0, or rsv1 on the first frame of a compressed message.
func (c *Conn) writeFrame(op ws.OpCode, rsv byte, fin bool, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	closed := c.closeSent || c.gone
	c.mu.Unlock()
	if closed {
		return handler.ErrClosed
	}
	return c.writeLocked(op, rsv, fin, p)
}

// writeLocked masks and writes one frame; the caller holds wmu. p is not
// modified. A failed write drops the connection.
func (c *Conn) writeLocked(op ws.OpCode, rsv byte, fin bool, p []byte) error {
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	if c.wbuf == nil {
		c.wbuf = make([]byte, 0, ws.MaxHeaderSize+writeChunk)
	}
	w := appendWriter{c.wbuf[:0]}
	var hbuf [ws.MaxHeaderSize]byte
	_ = ws.WriteHeaderBuffer(&w, ws.Header{Fin: fin, Rsv: rsv, OpCode: op, Length: int64(len(p)), Masked: true, Mask: mask}, hbuf[:])
	buf := w.b
	if c.writeTimeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	off := 0
	for {
		n := min(len(p)-off, writeChunk)
		start := len(buf)
		buf = append(buf, p[off:off+n]...)
		ws.Cipher(buf[start:], mask, off)
		off += n
		if _, err := c.nc.Write(buf); err != nil {
			c.terminate("write: " + err.Error())
			return err
		}
		if off == len(p) {
			return nil
		}
		buf = buf[:0]
	}
}

type appendWriter struct{ b []byte }

// Write appends p.
func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// beat is the heartbeat: it pings a connection that received nothing for
// PingInterval, and drops one whose ping got nothing back for PongTimeout.
func (c *Conn) beat() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone || c.closeSent || c.closeRecv {
		return
	}
	now := time.Now().UnixNano()
	if sent := c.pingSent.Load(); sent != 0 {
		if c.pongTimeout > 0 {
			if waited := time.Duration(now - sent); waited >= c.pongTimeout {
				c.mu.Unlock()
				c.terminate(fmt.Sprintf("heartbeat timeout: nothing received for %v after a ping", waited.Round(time.Millisecond)))
				c.mu.Lock()
				return
			}
			c.hb.Reset(min(c.pongTimeout-time.Duration(now-sent), c.pingInterval))
			return
		}
	}
	idle := time.Duration(now - c.lastRead.Load())
	if idle < c.pingInterval {
		c.hb.Reset(c.pingInterval - idle)
		return
	}
	c.pingSent.Store(now)
	// The write may wait for a slow server: not on the timer's goroutine.
	go func() { _ = c.Ping(nil) }()
	if c.pongTimeout > 0 {
		c.hb.Reset(min(c.pongTimeout, c.pingInterval))
	} else {
		c.hb.Reset(c.pingInterval)
	}
}

// Send implements handler.Conn: it sends one message, masked like every
// client frame, and compressed if permessage-deflate was negotiated and the
// message is at least Compression.Threshold bytes long.
func (c *Conn) Send(t handler.MessageType, p []byte) error {
	if t != handler.Text && t != handler.Binary {
		return fmt.Errorf("ws4go client: bad message type %d", t)
	}
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	if c.dz != nil && len(p) >= c.dz.threshold {
		if c.closing() {
			return handler.ErrClosed // not worth compressing
		}
		return c.writeFrame(ws.OpCode(t), rsv1, true, c.dz.compress(p))
	}
	return c.writeFrame(ws.OpCode(t), 0, true, p)
}

// SendText implements handler.Conn.
func (c *Conn) SendText(s string) error { return c.Send(handler.Text, []byte(s)) }

// SendBinary implements handler.Conn.
func (c *Conn) SendBinary(p []byte) error { return c.Send(handler.Binary, p) }

// NewWriter implements handler.Conn: each Write sends one fragment, Close
// the final one. Other messages wait until the writer is closed. With
// permessage-deflate, the message is compressed as one deflate stream
// whatever its length (each Write is flushed into its fragment).
func (c *Conn) NewWriter(t handler.MessageType) (io.WriteCloser, error) {
	if t != handler.Text && t != handler.Binary {
		return nil, fmt.Errorf("ws4go client: bad message type %d", t)
	}
	c.msgMu.Lock()
	if c.closing() {
		c.msgMu.Unlock()
		return nil, handler.ErrClosed
	}
	w := &fragmentWriter{c: c, op: ws.OpCode(t)}
	if c.dz != nil {
		w.rsv = rsv1
		w.fw = c.dz.writer(-1)
	}
	return w, nil
}

type fragmentWriter struct {
	c      *Conn
	op     ws.OpCode
	rsv    byte // rsv1 until the first frame of a compressed message is sent
	closed bool

	// fw compresses the message, if it is compressed, into c.dz.out.
	// held is the end of the output so far, not sent yet: if nothing
	// follows, it is the tail that RFC 7692 7.2.1 removes.
	fw   *flate.Writer
	held []byte
}

// Write sends p as one fragment.
func (w *fragmentWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, handler.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	frame := p
	if w.fw != nil {
		d := w.c.dz
		d.out.b = append(d.out.b[:0], w.held...)
		_, _ = w.fw.Write(p)
		_ = w.fw.Flush()
		n := len(d.out.b) - len(tail)
		w.held = append(w.held[:0], d.out.b[n:]...)
		frame = d.out.b[:n]
	}
	if err := w.c.writeFrame(w.op, w.rsv, false, frame); err != nil {
		return 0, err
	}
	w.op, w.rsv = ws.OpContinuation, 0
	return len(p), nil
}

// Close sends the final fragment: empty, or for a compressed message that
// had no Write, the compressed empty message.
func (w *fragmentWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	defer w.c.msgMu.Unlock()
	var frame []byte
	if w.fw != nil {
		d := w.c.dz
		if w.op != ws.OpContinuation {
			d.out.b = d.out.b[:0]
			_ = w.fw.Flush()
			frame = d.out.b[:len(d.out.b)-len(tail)]
		}
		d.release(w.fw, -1)
	}
	return w.c.writeFrame(w.op, w.rsv, true, frame)
}

// Ping implements handler.Conn. The server's pong arrives at
// Handler.Ponged.
func (c *Conn) Ping(payload []byte) error {
	if len(payload) > 125 {
		return errors.New("ws4go client: a ping payload is at most 125 bytes")
	}
	return c.writeFrame(ws.OpPing, 0, true, payload)
}

// Close implements handler.Conn: it sends a close frame with code and
// reason; the connection ends when the server has answered and closed the
// TCP connection, or after Options.CloseTimeout. Wait on Done for the end.
// A frame being written when Close is called is finished first (within
// Options.WriteTimeout).
func (c *Conn) Close(code handler.CloseCode, reason string) error {
	if !code.Valid() {
		return fmt.Errorf("ws4go client: close code %d may not be sent", code)
	}
	if len(reason) > 123 || !utf8.ValidString(reason) {
		return errors.New("ws4go client: a close reason is at most 123 bytes of UTF-8")
	}
	return c.sendClose(code, reason)
}

// Terminate implements handler.Conn: it drops the connection without a
// closing handshake; Handler.Closed follows with CloseAbnormal.
func (c *Conn) Terminate() { c.terminate("terminated") }

// LocalAddr implements handler.Conn.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr implements handler.Conn: the server's address (or the proxy's,
// through a proxy).
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Request implements handler.Conn: the opening handshake as sent (URL,
// Host and headers, without Sec-WebSocket-Key). Treat it as read-only.
func (c *Conn) Request() *http.Request { return c.req }

// Subprotocol implements handler.Conn: the subprotocol the server chose, or
// "".
func (c *Conn) Subprotocol() string { return c.sub }

// Extensions is the Sec-WebSocket-Extensions answer of the server, e.g.
// "permessage-deflate; server_no_context_takeover", or "" when it accepted
// no extension (and messages go uncompressed both ways).
func (c *Conn) Extensions() string { return c.ext }

type boxed struct{ v any }

// Data implements handler.Conn.
func (c *Conn) Data() any {
	if b, ok := c.data.Load().(boxed); ok {
		return b.v
	}
	return nil
}

// SetData implements handler.Conn.
func (c *Conn) SetData(v any) { c.data.Store(boxed{v}) }

var _ handler.Conn = (*Conn)(nil)
