// Package wsconn is the engine-independent part of a server-side WebSocket
// connection: it implements handler.Conn, runs the handler's callbacks, keeps
// the closing handshake, queues outgoing frames and holds the connection
// table with its timers. An engine supplies the socket (a Transport), feeds
// the bytes it reads to Conn.Feed and tells the Conn when the socket can take
// more bytes or has gone.
package wsconn

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/deflate"
	"github.com/ws4go/ws4go/internal/handshake"
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

// Config is what a Conn needs from the server's settings.
type Config struct {
	MaxMessageSize int64
	// MaxWriteQueue bounds the bytes queued for a peer that reads slower
	// than it is sent to: a frame that would take the queue past it closes
	// the connection with WriteQueueCode instead. One frame of up to
	// MaxMessageSize may exceed it when nothing else is queued.
	MaxWriteQueue  int
	WriteQueueCode handler.CloseCode
	IdleTimeout    time.Duration
	PingInterval   time.Duration
	PongTimeout    time.Duration
	CloseTimeout   time.Duration
	// KeepRequest keeps the raw upgrade request for the whole connection
	// even if the handler did not ask for it during Opened.
	KeepRequest bool
	Logger      *slog.Logger
	// Observer, if set, is told what the connections do.
	Observer observe.Observer
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
)

// Conn is a server-side WebSocket connection. It implements handler.Conn.
//
// Every idle connection holds one, so it is kept small (about 200 bytes):
// the write queue and what only some connections need (the request, the
// subprotocol, user data, the close code and reason) live behind pointers
// that are nil while unused.
type Conn struct {
	cfg   *Config
	tr    Transport
	h     handler.Handler
	table *Table
	slot  int32 // index in table, -1 when not in one
	state atomic.Uint32

	// Read side: touched only by the goroutine feeding the Conn.
	rd       proto.Reader
	panicked bool
	compress bool  // permessage-deflate was negotiated
	window   uint8 // with it, server_max_window_bits: the server's LZ77 window
	// infl inflates the compressed message in progress; nil between
	// messages, so an idle connection holds no inflater.
	infl *deflate.Inflater

	// Timer state, read by the table's sweeper: unix nanos from the
	// table's coarse clock.
	lastRead    atomic.Int64 // the last bytes received
	lastMessage atomic.Int64 // the last data message
	pingSent    atomic.Int64 // an unanswered heartbeat ping, 0 if none
	closingAt   atomic.Int64 // the closing handshake started

	msgMu sync.Mutex // held while a data message is being sent

	mu sync.Mutex
	q  *queue // frames waiting for the socket; nil when none (mu)
	x  *rare  // nil until needed (mu)
}

// queue holds the frames the socket did not take at once.
type queue struct {
	frames  [][]byte // frames[0][off:] is next on the wire
	off     int
	bytes   int  // bytes of frames not written yet, and of deferred
	started bool // frames[0] is the rest of a frame partly on the wire
	// deferred holds shared (broadcast) frames that arrived during a
	// fragmented message: no data frame may come between its fragments.
	deferred [][]byte
}

// rare is the part of a Conn that only some connections need.
type rare struct {
	subprotocol string
	head        []byte        // raw request head (standalone path)
	req         *http.Request // parsed lazily from head, or given (http path)
	data        any           // user data
	code        handler.CloseCode
	closeBy     observe.Side
	reason      string
}

func (x *rare) empty() bool {
	return x.subprotocol == "" && x.head == nil && x.req == nil && x.data == nil &&
		x.code == handler.CloseAbnormal && x.closeBy == 0 && x.reason == ""
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

// New makes the Conn of a completed handshake. head is the raw request head
// (kept to build Request on demand) or nil when req is given.
func New(cfg *Config, tr Transport, h handler.Handler, subprotocol string, head []byte, req *http.Request) *Conn {
	c := &Conn{cfg: cfg, tr: tr, h: h, slot: -1}
	if subprotocol != "" || head != nil || req != nil {
		x := c.rareLocked()
		x.subprotocol, x.head, x.req = subprotocol, head, req
	}
	c.rd.MaxMessage = cfg.MaxMessageSize
	now := time.Now().UnixNano()
	c.lastRead.Store(now)
	c.lastMessage.Store(now)
	return c
}

// EnableCompression turns on permessage-deflate, as the handshake's answer
// negotiated it: window is the answer's server_max_window_bits (see
// deflate.AnswerWindowBits). Call it before Start.
func (c *Conn) EnableCompression(window int) {
	c.compress = true
	c.rd.Compression = true
	c.rd.StreamCompressed = true // inflated as it arrives: see inflated
	c.window = uint8(window)
}

// compressMin is the smallest message worth compressing.
const compressMin = 128

// deflateBufs holds the buffers compressed messages are sent from.
var deflateBufs = sync.Pool{New: func() any { return new([]byte) }}

// Start adds c to t and calls Opened. Call it before feeding any bytes.
func (c *Conn) Start(t *Table) {
	var drain handler.CloseCode
	var reason string
	if t != nil {
		drain, reason = t.add(c)
	}
	if o := c.cfg.Observer; o != nil {
		o.Opened()
	}
	c.call(func() { c.h.Opened(c) })
	if drain != 0 {
		_ = c.Close(drain, reason)
	}
	if !c.cfg.KeepRequest {
		// Idle connections stay small: a request nobody asked for
		// during Opened is not kept.
		c.mu.Lock()
		if c.x != nil {
			c.x.head = nil
			if c.x.empty() {
				c.x = nil
			}
		}
		c.mu.Unlock()
	}
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

// Feed processes bytes read from the socket. It returns false when the Conn
// wants no more input (its closing handshake is done or it failed).
func (c *Conn) Feed(p []byte) bool {
	if len(p) > 0 {
		if now := c.now(); now != 0 {
			c.lastRead.Store(now)
		}
		if c.pingSent.Load() != 0 {
			c.pingSent.Store(0)
		}
	}
	for len(p) > 0 {
		n, ev, perr := c.rd.Next(p)
		p = p[n:]
		if perr != nil {
			c.fail(perr.Code, perr.Reason)
			return false
		}
		if !c.dispatch(ev) {
			return false
		}
	}
	return true
}

// Idle reports whether the reader holds no partial frame or message, so an
// engine may return its read buffer to a pool.
func (c *Conn) Idle() bool { return !c.rd.Buffered() }

// dispatch handles one event; false means stop reading.
func (c *Conn) dispatch(ev proto.Event) bool {
	if ev.Kind == proto.Deflated {
		return c.inflated(ev) // dispatched again once whole
	}
	if o := c.cfg.Observer; o != nil {
		n := len(ev.Data)
		if ev.Kind == proto.Close && ev.Code != handler.CloseNoStatus {
			n = 2 + len(ev.Reason) // a close event carries its payload parsed
		}
		o.Received(eventKind(ev), n)
	}
	switch ev.Kind {
	case proto.Message:
		if now := c.now(); now != 0 {
			c.lastMessage.Store(now)
		}
		if c.closing() {
			return true // data after our close frame is discarded
		}
		c.call(func() { c.h.ReceivedMessage(c, handler.Message{Type: ev.Type, Data: ev.Data}) })
	case proto.Ping:
		_ = c.control(ws.OpPong, ev.Data)
	case proto.Pong:
		c.call(func() { c.h.Ponged(c, ev.Data) })
	case proto.Close:
		c.closeReceived(ev.Code, ev.Reason)
		return false
	}
	return true
}

// inflated takes a compressed message as it arrives, piece by piece
// (Deflated events: with Reader.StreamCompressed, set with Compression, a
// compressed message never arrives as one Message event): each piece is
// inflated at once, into a pooled Inflater held only while the message is
// in progress. So the size limit applies to the inflated size as it is
// produced (a decompression bomb fails with 1009 after at most about the
// limit), and a text message fails with 1007 at the piece that inflates to
// its first invalid UTF-8 byte, not when it ends. The whole message is then
// dispatched as a plain one.
func (c *Conn) inflated(ev proto.Event) bool {
	if c.infl == nil {
		c.infl = deflate.NewInflater(c.cfg.MaxMessageSize, ev.Type == handler.Text)
	}
	err := c.infl.Write(ev.Data)
	var data []byte
	if err == nil && ev.Fin {
		data, err = c.infl.Close()
	}
	switch {
	case errors.Is(err, deflate.ErrTooBig):
		c.fail(handler.CloseMessageTooBig, "message too big")
		return false
	case errors.Is(err, deflate.ErrInvalidUTF8):
		c.fail(handler.CloseInvalidPayload, "invalid UTF-8 in text message")
		return false
	case err != nil:
		c.fail(handler.CloseInvalidPayload, "invalid compressed data")
		return false
	case !ev.Fin:
		return true
	}
	ok := c.dispatch(proto.Event{Kind: proto.Message, Type: ev.Type, Data: data})
	c.releaseInflater()
	return ok
}

// releaseInflater returns the inflater of a message in progress (or just
// delivered) to the pool.
func (c *Conn) releaseInflater() {
	if c.infl != nil {
		c.infl.Release()
		c.infl = nil
	}
}

func eventKind(ev proto.Event) observe.Kind {
	switch ev.Kind {
	case proto.Ping:
		return observe.Ping
	case proto.Pong:
		return observe.Pong
	case proto.Close:
		return observe.Close
	}
	return observe.KindOf(ev.Type)
}

// closing reports whether the close frame has been sent.
func (c *Conn) closing() bool { return c.has(stCloseSent | stGone) }

// call runs a handler callback; a panic closes this connection with 1011
// and silences the handler.
func (c *Conn) call(f func()) {
	if c.panicked {
		return
	}
	if o := c.cfg.Observer; o != nil {
		start := time.Now()
		defer func() { o.HandlerDone(time.Since(start)) }()
	}
	defer func() {
		if v := recover(); v != nil {
			c.panicked = true
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

// closeReceived answers the peer's close frame and ends the connection once
// the answer is on the wire.
func (c *Conn) closeReceived(code handler.CloseCode, reason string) {
	c.mu.Lock()
	if c.has(stCloseRecv | stGone) {
		c.mu.Unlock()
		return
	}
	c.set(stCloseRecv)
	if !c.has(stCloseSent) {
		c.setCloseLocked(code, reason, observe.Peer)
		c.set(stCloseSent)
		c.closingAt.Store(time.Now().UnixNano())
		// Echo the peer's code (an empty close is answered with an
		// empty close).
		c.enqueueClose(code, reason)
	} else {
		c.setCloseLocked(code, reason, 0)
	}
	c.set(stShutdown)
	c.mu.Unlock()
	c.kick()
}

// fail sends a close frame with code and ends the connection as soon as it
// is on the wire, without waiting for the peer's answer (RFC 6455 7.1.7).
func (c *Conn) fail(code handler.CloseCode, reason string) {
	c.mu.Lock()
	if c.has(stGone) {
		c.mu.Unlock()
		return
	}
	if !c.has(stCloseSent) {
		c.set(stCloseSent)
		c.closingAt.Store(time.Now().UnixNano())
		if !c.has(stCloseRecv) {
			c.setCloseLocked(code, reason, observe.Server)
		} else {
			c.rareLocked().closeBy = observe.Server
		}
		c.enqueueClose(code, reason)
	}
	c.set(stShutdown)
	c.mu.Unlock()
	c.kick()
}

// Close implements handler.Conn.
func (c *Conn) Close(code handler.CloseCode, reason string) error {
	if !code.Valid() {
		return fmt.Errorf("ws4go: close code %d may not be sent", code)
	}
	if len(reason) > 123 || !utf8.ValidString(reason) {
		return errors.New("ws4go: a close reason is at most 123 bytes of UTF-8")
	}
	c.mu.Lock()
	if c.has(stCloseSent | stGone) {
		c.mu.Unlock()
		return nil
	}
	c.set(stCloseSent)
	c.closingAt.Store(time.Now().UnixNano())
	c.setCloseLocked(code, reason, observe.Server)
	c.enqueueClose(code, reason)
	c.mu.Unlock()
	c.kick()
	return nil
}

// Terminate implements handler.Conn.
func (c *Conn) Terminate() { c.terminate("terminated") }

// terminate closes the socket without a closing handshake.
func (c *Conn) terminate(reason string) {
	c.mu.Lock()
	if c.has(stGone) {
		c.mu.Unlock()
		return
	}
	c.set(stGone)
	if !c.has(stCloseRecv | stCloseSent) {
		c.setCloseLocked(handler.CloseAbnormal, reason, 0)
	}
	c.dropQueueLocked()
	c.mu.Unlock()
	c.tr.Close()
}

// Finish is called by the engine once, after the socket is closed: it calls
// Handler.Closed and releases everything the connection held.
func (c *Conn) Finish() {
	c.mu.Lock()
	if c.has(stFinished) {
		c.mu.Unlock()
		return
	}
	c.set(stFinished | stGone)
	code, reason, by := handler.CloseAbnormal, "", observe.Side(0)
	if x := c.x; x != nil {
		code, reason, by = x.code, x.reason, x.closeBy
	}
	if code == handler.CloseAbnormal && reason == "" {
		reason = "connection closed without a close frame"
	}
	c.dropQueueLocked()
	c.mu.Unlock()
	if c.table != nil {
		c.table.remove(c)
	}
	c.rd.Release()
	// The inflater of a compressed message the connection's end cut short.
	c.releaseInflater()
	c.panicked = false // Closed is always delivered
	if o := c.cfg.Observer; o != nil {
		o.Closed(code, by)
	}
	c.call(func() { c.h.Closed(c, code, reason) })
}

// ReadEnded tells the Conn that the socket's read side ended (EOF or error)
// before the closing handshake finished.
func (c *Conn) ReadEnded(err error) {
	reason := "connection closed without a close frame"
	if err != nil && !errors.Is(err, io.EOF) {
		reason = err.Error()
	}
	c.terminate(reason)
}

// Send implements handler.Conn.
func (c *Conn) Send(t handler.MessageType, p []byte) error {
	if t != handler.Text && t != handler.Binary {
		return fmt.Errorf("ws4go: bad message type %d", t)
	}
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	var err error
	if c.compress && len(p) >= compressMin {
		bp := deflateBufs.Get().(*[]byte)
		z := deflate.Deflate((*bp)[:0], p, int(c.window))
		err = c.sendFrameRSV(true, 4, ws.OpCode(t), z)
		if cap(z) <= 1<<20 {
			*bp = z[:0]
		}
		deflateBufs.Put(bp)
	} else {
		err = c.sendFrame(true, ws.OpCode(t), p)
	}
	if o := c.cfg.Observer; o != nil && err == nil {
		o.Sent(observe.KindOf(t), len(p))
	}
	return err
}

// SendText implements handler.Conn.
func (c *Conn) SendText(s string) error { return c.Send(handler.Text, []byte(s)) }

// SendBinary implements handler.Conn.
func (c *Conn) SendBinary(p []byte) error { return c.Send(handler.Binary, p) }

// Ping implements handler.Conn.
func (c *Conn) Ping(payload []byte) error {
	if len(payload) > 125 {
		return errors.New("ws4go: a ping payload is at most 125 bytes")
	}
	return c.control(ws.OpPing, payload)
}

func (c *Conn) control(op ws.OpCode, payload []byte) error {
	err := c.sendFrame(true, op, payload)
	if o := c.cfg.Observer; o != nil && err == nil {
		k := observe.Ping
		if op == ws.OpPong {
			k = observe.Pong
		}
		o.Sent(k, len(payload))
	}
	return err
}

// NewWriter implements handler.Conn.
func (c *Conn) NewWriter(t handler.MessageType) (io.WriteCloser, error) {
	if t != handler.Text && t != handler.Binary {
		return nil, fmt.Errorf("ws4go: bad message type %d", t)
	}
	c.msgMu.Lock()
	if c.closing() {
		c.msgMu.Unlock()
		return nil, handler.ErrClosed
	}
	return &fragmentWriter{c: c, op: ws.OpCode(t), typ: t}, nil
}

type fragmentWriter struct {
	c      *Conn
	op     ws.OpCode
	typ    handler.MessageType
	n      int
	closed bool
}

func (w *fragmentWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, handler.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := w.c.sendFrame(false, w.op, p); err != nil {
		return 0, err
	}
	w.op = ws.OpContinuation
	w.n += len(p)
	return len(p), nil
}

func (w *fragmentWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	defer w.c.msgMu.Unlock()
	err := w.c.sendFrame(true, w.op, nil)
	if o := w.c.cfg.Observer; o != nil && err == nil {
		o.Sent(observe.KindOf(w.typ), w.n)
	}
	return err
}

// sendFrame writes one frame, or queues it when another goroutine is writing
// or the socket is full.
func (c *Conn) sendFrame(fin bool, op ws.OpCode, p []byte) error {
	return c.sendFrameRSV(fin, 0, op, p)
}

// sendFrameRSV is sendFrame with reserved bits (RSV1 marks a compressed
// message).
func (c *Conn) sendFrameRSV(fin bool, rsv byte, op ws.OpCode, p []byte) error {
	var hdr [ws.MaxHeaderSize]byte
	hn := proto.PutHeader(&hdr, fin, rsv, op, len(p))
	c.mu.Lock()
	if c.has(stGone | stCloseSent) {
		c.mu.Unlock()
		return handler.ErrClosed
	}
	var ends bool // this frame ends a fragmented message
	if !op.IsControl() {
		ends = fin && op == ws.OpContinuation
		if fin {
			c.clear(stFragmented)
		} else {
			c.set(stFragmented)
		}
	}
	if c.has(stFlushing) {
		// The writer of the moment will send it after what it has.
		frame := make([]byte, 0, hn+len(p))
		err := c.enqueueLocked(append(append(frame, hdr[:hn]...), p...), false)
		if ends && err == nil {
			c.releaseDeferredLocked()
		}
		c.mu.Unlock()
		return err
	}
	c.set(stFlushing)
	if ends {
		// Written by this writer right after the frame.
		c.releaseDeferredLocked()
	}
	c.mu.Unlock()
	return c.writeHeld(hdr, hn, p, false)
}

// writeHeld writes a frame (hdr[:hn], then p) for the holder of the right
// to write, then what was queued meanwhile. If the socket is full, the rest
// is kept ahead of anything queued meanwhile and finished when it is
// writable, unless the rest alone passes the queue's bound. The rest is a
// copy, unless shared: p is then a whole frame that other connections share
// and nobody modifies (hn is 0), queued as it is.
func (c *Conn) writeHeld(hdr [ws.MaxHeaderSize]byte, hn int, p []byte, shared bool) error {
	n, err := c.write(hdr, hn, p)
	if err != nil {
		c.terminate("write: " + err.Error())
		return err
	}
	total := hn + len(p)
	if n == total {
		c.Flush()
		return nil
	}
	c.mu.Lock()
	if c.overLocked(total - n) {
		c.overflowPartialLocked()
		c.mu.Unlock()
		c.tr.Close()
		return handler.ErrWriteQueueFull
	}
	var rest []byte
	switch {
	case shared:
		rest = p[n:]
	case n < hn:
		rest = append(append(make([]byte, 0, total-n), hdr[n:hn]...), p...)
	default:
		rest = append(make([]byte, 0, total-n), p[n-hn:]...)
	}
	c.pushFrontLocked(rest, n > 0)
	c.mu.Unlock()
	c.tr.WaitWritable()
	return nil
}

// write writes a frame's header and payload, without allocating when the
// transport can.
func (c *Conn) write(hdr [ws.MaxHeaderSize]byte, hn int, p []byte) (int, error) {
	if fw, ok := c.tr.(frameWriter); ok {
		return fw.WriteFrame(hdr, hn, p)
	}
	return c.writeBufs(hdr, hn, p)
}

func (c *Conn) writeBufs(hdr [ws.MaxHeaderSize]byte, hn int, p []byte) (int, error) {
	if hn == 0 {
		return c.tr.Write([][]byte{p})
	}
	return c.tr.Write([][]byte{hdr[:hn], p})
}

// pushFrontLocked queues the rest of a frame partly written (started: some
// of it is on the wire) ahead of what was queued meanwhile.
func (c *Conn) pushFrontLocked(rest []byte, started bool) {
	q := c.queueLocked()
	q.frames = append(q.frames, nil)
	copy(q.frames[1:], q.frames)
	q.frames[0] = rest
	q.off, q.started = 0, started
	q.bytes += len(rest)
}

func (c *Conn) queueLocked() *queue {
	if c.q == nil {
		c.q = &queue{}
	}
	return c.q
}

// queued is how many bytes wait in the queue (deferred frames included).
func (c *Conn) queuedLocked() int {
	if c.q == nil {
		return 0
	}
	return c.q.bytes
}

// enqueueLocked appends a frame to the queue, or if deferred to the frames
// that wait for the end of the fragmented message being sent. A frame that
// would take the queue past its bound means the peer does not read: the
// frames not yet started are dropped and the connection is closed with the
// configured code. The close frame waits behind what the socket already
// holds, so the peer sees it only if it resumes reading (CloseTimeout ends
// it otherwise).
func (c *Conn) enqueueLocked(frame []byte, deferred bool) error {
	if c.overLocked(len(frame)) {
		c.overflowLocked()
		return handler.ErrWriteQueueFull
	}
	q := c.queueLocked()
	if deferred {
		q.deferred = append(q.deferred, frame)
	} else {
		q.frames = append(q.frames, frame)
	}
	q.bytes += len(frame)
	return nil
}

// overLocked reports whether n more bytes would pass the queue's bound. A
// close frame always gets in, and so does a frame no larger than the largest
// message the server accepts when nothing else is queued: echoing a message
// of MaxMessageSize must work whatever MaxWriteQueue is.
func (c *Conn) overLocked(n int) bool {
	max := c.cfg.MaxWriteQueue
	queued := c.queuedLocked()
	if max <= 0 || c.has(stCloseSent) || queued+n <= max {
		return false
	}
	return queued > 0 || int64(n) > c.cfg.MaxMessageSize+ws.MaxHeaderSize
}

// releaseDeferredLocked queues the frames that waited for the end of a
// fragmented message (they are already counted in the queue's bytes).
func (c *Conn) releaseDeferredLocked() {
	if q := c.q; q != nil && len(q.deferred) > 0 {
		q.frames = append(q.frames, q.deferred...)
		clear(q.deferred)
		q.deferred = nil
	}
}

// overflowPartialLocked ends the connection when the rest of a frame already
// partly on the wire would pass the queue's bound: no close frame can follow
// half a frame, so the socket is closed at once; Closed still gets the
// write-queue code.
func (c *Conn) overflowPartialLocked() {
	if o := c.cfg.Observer; o != nil {
		o.WriteQueueOverflow()
	}
	c.set(stGone)
	c.clear(stFlushing)
	if !c.has(stCloseSent | stCloseRecv) {
		c.setCloseLocked(c.writeQueueCode(), "write queue overflow", observe.Server)
	}
	c.dropQueueLocked()
}

func (c *Conn) writeQueueCode() handler.CloseCode {
	if c.cfg.WriteQueueCode == 0 {
		return handler.ClosePolicyViolation
	}
	return c.cfg.WriteQueueCode
}

func (c *Conn) overflowLocked() {
	if o := c.cfg.Observer; o != nil {
		o.WriteQueueOverflow()
	}
	q := c.queueLocked()
	// Keep the frame partly on the wire so the stream stays well formed.
	keep := 0
	if len(q.frames) > 0 && (q.off > 0 || q.started) {
		keep = 1
	}
	clear(q.frames[keep:])
	q.frames = q.frames[:keep]
	clear(q.deferred)
	q.deferred = nil
	q.bytes = 0
	if keep == 1 {
		q.bytes = len(q.frames[0]) - q.off
	}
	c.set(stCloseSent | stShutdown)
	c.closingAt.Store(time.Now().UnixNano())
	code := c.writeQueueCode()
	c.setCloseLocked(code, "write queue overflow", observe.Server)
	frame := proto.AppendClose(nil, code, "write queue overflow")
	q.frames = append(q.frames, frame)
	q.bytes += len(frame)
	if o := c.cfg.Observer; o != nil {
		o.Sent(observe.Close, len(frame)-2)
	}
}

// enqueueClose queues a close frame; c.mu is held.
func (c *Conn) enqueueClose(code handler.CloseCode, reason string) {
	if c.enqueueLocked(proto.AppendClose(nil, code, reason), false) == nil {
		if o := c.cfg.Observer; o != nil {
			o.Sent(observe.Close, 2+len(reason))
		}
	}
}

func (c *Conn) dropQueueLocked() {
	if c.q != nil {
		clear(c.q.frames)
		clear(c.q.deferred)
		c.q = nil
	}
}

// kick makes sure queued frames get written: it takes the right to write
// if nobody holds it (whoever holds it will see the new frames).
func (c *Conn) kick() {
	c.mu.Lock()
	if c.has(stFlushing) {
		c.mu.Unlock()
		return
	}
	c.set(stFlushing)
	c.mu.Unlock()
	c.Flush()
}

// Flush writes queued frames. The caller holds the right to write: the
// engine calls it after Transport.WaitWritable, to which the right passed.
// When the queue is empty and the closing handshake is done, it shuts the
// socket down.
func (c *Conn) Flush() {
	for {
		c.mu.Lock()
		if c.has(stGone) {
			c.clear(stFlushing)
			c.mu.Unlock()
			return
		}
		q := c.q
		if q == nil || len(q.frames) == 0 {
			if q != nil && len(q.deferred) == 0 {
				c.q = nil
			}
			c.clear(stFlushing)
			done := c.has(stShutdown)
			if done {
				c.set(stGone)
			}
			c.mu.Unlock()
			if done {
				c.tr.Shutdown()
			}
			return
		}
		bufs := make([][]byte, len(q.frames))
		copy(bufs, q.frames)
		bufs[0] = bufs[0][q.off:]
		c.mu.Unlock()

		n, err := c.tr.Write(bufs)
		if err != nil {
			c.mu.Lock()
			c.clear(stFlushing)
			c.mu.Unlock()
			c.terminate("write: " + err.Error())
			return
		}
		c.mu.Lock()
		c.consumeLocked(n)
		full := c.q != nil && len(c.q.frames) > 0 && n < sizeOf(bufs)
		c.mu.Unlock()
		if full {
			c.tr.WaitWritable()
			return
		}
	}
}

func sizeOf(bufs [][]byte) (n int) {
	for _, b := range bufs {
		n += len(b)
	}
	return n
}

// consumeLocked drops n written bytes from the head of the queue.
func (c *Conn) consumeLocked(n int) {
	q := c.q
	if q == nil {
		return
	}
	q.bytes -= n
	for n > 0 && len(q.frames) > 0 {
		left := len(q.frames[0]) - q.off
		if n < left {
			q.off += n
			return
		}
		n -= left
		q.frames[0] = nil
		q.frames = q.frames[1:]
		q.off, q.started = 0, false
	}
	if len(q.frames) == 0 {
		q.frames = nil
	}
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

// Request implements handler.Conn. On the standalone path it is parsed from
// the raw head on first use, so connections whose handler never asks do not
// pay for it.
func (c *Conn) Request() *http.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	x := c.x
	if x == nil {
		return nil
	}
	if x.req == nil && x.head != nil {
		x.req, _ = handshake.ParseRequest(x.head)
		x.head = nil
	}
	return x.req
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

// Handler returns the connection's handler.
func (c *Conn) Handler() handler.Handler { return c.h }

var _ handler.Conn = (*Conn)(nil)

// ReleaseIdle drops the read-side buffers when no message is in progress,
// so an idle connection holds none.
func (c *Conn) ReleaseIdle() {
	if !c.rd.Buffered() {
		c.rd.Release()
	}
}
