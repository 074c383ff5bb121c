package wsconn

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/deflate"
	"github.com/ws4go/ws4go/internal/proto"
	"github.com/ws4go/ws4go/observe"
)

// Send implements handler.Conn.
func (c *Conn) Send(t handler.MessageType, p []byte) error {
	if t != handler.Text && t != handler.Binary {
		return fmt.Errorf("ws4go: bad message type %d", t)
	}
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	var err error
	if c.compressing() && c.cfg.Compressor != nil {
		err = c.sendClientMessage(c.cfg.Compressor, ws.OpCode(t), p)
	} else if c.compressing() && len(p) >= compressMin {
		bp := deflateBufs.Get().(*[]byte)
		z := deflate.Deflate((*bp)[:0], p, c.window())
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
	return c.controlVia(op, payload, false)
}

// controlVia sends a control frame; queued, it is left to a flusher
// goroutine (Transport.WaitWritable) even on a transport written
// synchronously: the table's sweeper must not wait on one connection's
// socket while the others' timers wait for it.
func (c *Conn) controlVia(op ws.OpCode, payload []byte, queued bool) error {
	err := c.send(true, 0, op, payload, queued)
	if o := c.cfg.Observer; o != nil && err == nil {
		k := observe.KindPing
		if op == ws.OpPong {
			k = observe.KindPong
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
	w := &fragmentWriter{c: c, op: ws.OpCode(t), typ: t}
	if c.compressing() {
		// A client compresses the message as one DEFLATE stream.
		w.z = c.cfg.Compressor
	}
	return w, nil
}

type fragmentWriter struct {
	c      *Conn
	op     ws.OpCode
	typ    handler.MessageType
	n      int
	closed bool
	z      *deflate.Compressor // nil: the fragments are sent as written
}

// rsv is the reserved bits of the next fragment: RSV1 on the first of a
// compressed message.
func (w *fragmentWriter) rsv() byte {
	if w.z != nil && w.op != ws.OpContinuation {
		return 4
	}
	return 0
}

func (w *fragmentWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, handler.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	frame := p
	if w.z != nil {
		frame = w.z.StreamWrite(p)
	}
	if err := w.c.sendFrameRSV(false, w.rsv(), w.op, frame); err != nil {
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
	var frame []byte
	if w.z != nil {
		frame = w.z.StreamClose()
	}
	err := w.c.sendFrameRSV(true, w.rsv(), w.op, frame)
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

// sendClientMessage sends a client's message, compressed by z unless z
// finds it too short.
func (c *Conn) sendClientMessage(z *deflate.Compressor, op ws.OpCode, p []byte) error {
	if c.closing() {
		return handler.ErrClosed // not worth compressing
	}
	if zp := z.Compress(p); zp != nil {
		return c.sendFrameRSV(true, 4, op, zp)
	}
	return c.sendFrame(true, op, p)
}

// maskLen is the size of a masking key.
const maskLen = 4

// maskBufs hold the masked frames a client writes.
var maskBufs = sync.Pool{New: func() any { return new([]byte) }}

// appendMasked appends a whole masked frame, with a fresh key from
// crypto/rand: RFC 6455 5.3 wants keys the peer cannot predict.
func appendMasked(dst []byte, fin bool, rsv byte, op ws.OpCode, p []byte) []byte {
	var hdr [ws.MaxHeaderSize]byte
	hn := proto.PutHeader(&hdr, fin, rsv, op, len(p))
	hdr[1] |= 0x80
	var key [maskLen]byte
	_, _ = rand.Read(key[:])
	dst = append(append(dst, hdr[:hn]...), key[:]...)
	start := len(dst)
	dst = append(dst, p...)
	ws.Cipher(dst[start:], key, 0)
	return dst
}

// closeFrame is a close frame with code and reason (masked from a client).
func (c *Conn) closeFrame(code handler.CloseCode, reason string) []byte {
	if !c.cfg.Client {
		return proto.AppendClose(nil, code, reason)
	}
	p := proto.AppendClose(nil, code, reason)[2:] // the payload: a close header is 2 bytes
	return appendMasked(make([]byte, 0, ws.MaxHeaderSize+maskLen+len(p)), true, 0, ws.OpClose, p)
}

// sendFrameRSV is sendFrame with reserved bits (RSV1 marks a compressed
// message). A client's frame is masked whole into a pooled buffer (p is the
// caller's and stays as it is), then written or queued as a server's, as a
// payload without a header.
func (c *Conn) sendFrameRSV(fin bool, rsv byte, op ws.OpCode, p []byte) error {
	return c.send(fin, rsv, op, p, false)
}

// send is sendFrameRSV; queued leaves a frame other than a pong to a
// flusher goroutine whatever the transport (see controlVia).
func (c *Conn) send(fin bool, rsv byte, op ws.OpCode, p []byte, queued bool) error {
	var hdr [ws.MaxHeaderSize]byte
	var hn int
	var bp *[]byte
	if c.cfg.Client {
		bp = maskBufs.Get().(*[]byte)
		p = appendMasked((*bp)[:0], fin, rsv, op, p)
		*bp = p[:0]
	} else {
		hn = proto.PutHeader(&hdr, fin, rsv, op, len(p))
	}
	c.mu.Lock()
	if c.has(stGone | stCloseSent) {
		c.mu.Unlock()
		putMaskBuf(bp)
		return handler.ErrClosed
	}
	if !op.IsControl() && c.defersWrites() && !c.waitRoomLocked(hn+len(p)) {
		c.mu.Unlock()
		putMaskBuf(bp)
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
	if c.has(stFlushing) || (op != ws.OpPong && (queued || c.defersWrites())) {
		// The writer of the moment will send it after what it has;
		// or, on a transport that defers writes, a flusher of its own
		// will.
		var err error
		if op == ws.OpPong {
			err = c.enqueuePongLocked(hdr[:hn], p)
		} else {
			frame := make([]byte, 0, hn+len(p))
			err = c.enqueueLocked(append(append(frame, hdr[:hn]...), p...))
			if ends && err == nil {
				c.releaseDeferredLocked()
			}
		}
		start := !c.has(stFlushing)
		if start {
			c.set(stFlushing)
		}
		c.mu.Unlock()
		if start {
			c.tr.WaitWritable()
		}
		if bp != nil {
			putMaskBuf(bp)
			if w, ok := c.tr.(writeWaiter); ok && err == nil && !op.IsControl() {
				w.WaitWrite()
			}
		}
		return err
	}
	c.set(stFlushing)
	if ends {
		// Written by this writer right after the frame.
		c.releaseDeferredLocked()
	}
	c.mu.Unlock()
	err := c.writeHeld(hdr, hn, p)
	if bp != nil {
		putMaskBuf(bp)
	}
	return err
}

// putMaskBuf returns a buffer of maskBufs (nil: none).
func putMaskBuf(bp *[]byte) {
	if bp == nil {
		return
	}
	if cap(*bp) > 1<<20 {
		*bp = nil // a rare big message does not pin its buffer
	}
	maskBufs.Put(bp)
}

// writeHeld writes a frame (hdr[:hn], then p) for the holder of the right
// to write, then what was queued meanwhile. If the socket is full, a copy of
// the rest is kept ahead of anything queued meanwhile and finished when it
// is writable, unless the rest alone passes the queue's bound.
func (c *Conn) writeHeld(hdr [ws.MaxHeaderSize]byte, hn int, p []byte) error {
	n, err := c.write(hdr, hn, p)
	if err != nil {
		c.writeFailed(err)
		return err
	}
	total := hn + len(p)
	if n == total {
		if c.defersWrites() {
			// (A pong, by the reading goroutine:) what was
			// queued meanwhile is the flusher's to write.
			c.mu.Lock()
			more := c.q.pending()
			c.mu.Unlock()
			if more {
				c.tr.WaitWritable()
				return nil
			}
		}
		c.Flush()
		return nil
	}
	c.mu.Lock()
	if c.has(stGone) {
		// The connection ended during the write (Finish may have run
		// and returned its budget): queue nothing on it.
		c.clear(stFlushing)
		c.mu.Unlock()
		return handler.ErrClosed
	}
	over := c.overLocked(total-n, allocSize(total-n)+indexCost)
	if over && (n > 0 && int64(total-n) > c.cfg.MaxMessageSize+ws.MaxHeaderSize) {
		// The rest of a frame larger than any message is too much to
		// keep, and no close frame can follow half a frame.
		c.overflowPartialLocked()
		c.mu.Unlock()
		c.tr.Close()
		return handler.ErrWriteQueueFull
	}
	if over && n == 0 {
		// None of it is on the wire: drop it, close cleanly.
		c.overflowLocked(c.writeQueueCode(), "write queue overflow")
		c.mu.Unlock()
		c.tr.WaitWritable()
		return handler.ErrWriteQueueFull
	}
	var rest []byte
	switch {
	case n < hn:
		rest = append(append(make([]byte, 0, total-n), hdr[n:hn]...), p...)
	default:
		rest = append(make([]byte, 0, total-n), p[n-hn:]...)
	}
	c.pushFrontLocked(rest, n > 0)
	if over {
		// Part of it is on the wire: it is finished first, then the
		// close frame follows it (overflowLocked keeps it).
		c.overflowLocked(c.writeQueueCode(), "write queue overflow")
	}
	c.mu.Unlock()
	c.tr.WaitWritable()
	if over {
		return handler.ErrWriteQueueFull
	}
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

// kick makes sure queued frames get written: it takes the right to write
// if nobody holds it (whoever holds it will see the new frames).
func (c *Conn) kick() { c.kickVia(false) }

// kickVia is kick; queued leaves the writing to a flusher goroutine
// whatever the transport (see controlVia).
func (c *Conn) kickVia(queued bool) {
	c.mu.Lock()
	if c.has(stFlushing) {
		c.mu.Unlock()
		return
	}
	c.set(stFlushing)
	c.mu.Unlock()
	if queued || c.defersWrites() {
		c.tr.WaitWritable()
		return
	}
	c.Flush()
}

// soonFlusher is an optional Transport method: FlushSoon has Conn.Flush
// called (the right to write passes with it) on a goroutine of the
// engine's, soon, without a system call on the caller's goroutine. Without
// it the Conn calls WaitWritable, whose flusher does the same.
type soonFlusher interface{ FlushSoon() }

// flushSoon passes the right to write, which the caller took, to the
// engine: the queued frames, and whatever joins them until the engine
// gets to it, leave together.
func (c *Conn) flushSoon() {
	if f, ok := c.tr.(soonFlusher); ok {
		f.FlushSoon()
		return
	}
	c.tr.WaitWritable()
}

// waitRoomLocked holds a data frame of n bytes for a transport that defers
// writes while the queue is over half its bound or the frame would not fit
// beside what it holds, as a blocking write would have held its sender: a
// burst of sends to a peer that reads meets backpressure, not
// MaxWriteQueue. The flusher's writes make progress or fail within
// WriteTimeout, and the connection's end wakes the sender too. It reports
// false when the connection has ended or is closing meanwhile. c.mu is
// held, and released while waiting.
func (c *Conn) waitRoomLocked(n int) bool {
	cost := allocSize(n) + indexCost
	for {
		if c.has(stGone | stCloseSent) {
			return false
		}
		q := c.q
		if !q.pending() || !c.has(stPaused) && !c.overLocked(n, cost) {
			return true
		}
		if q.drained == nil {
			q.drained = make(chan struct{})
		}
		ch := q.drained
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
	}
}

// defersWrites reports whether only a flusher goroutine may write on c: a
// server's blocking transport (TLS on the goroutine engine, an HTTP/2
// stream) can wait on the peer up to WriteTimeout in a write, which must
// not hold whoever sends (the table's sweeper with its pings and timeouts,
// Shutdown with its 1001s, any goroutine's Send, Close or Broadcast). A
// pong is still written by the reading goroutine that answers the ping.
// (A client sends with backpressure instead: see writeWaiter.)
func (c *Conn) defersWrites() bool { return !c.cfg.Client && c.tr.Blocking() }

// iovs holds the buffer lists Flush hands to the transport, one per Flush
// in progress (not one per queue: a connection with frames waiting holds
// none).
var iovs = sync.Pool{New: func() any { return new([flushIovecs][]byte) }}

// Flush writes queued frames. The caller holds the right to write: the
// engine calls it after Transport.WaitWritable or FlushSoon, to which the
// right passed. When the queue is empty and the closing handshake is done,
// it shuts the socket down. Each write hands at most flushIovecs frames to
// the transport: a wake-up costs O(1) however long the queue is.
func (c *Conn) Flush() {
	var iov *[flushIovecs][]byte
	for {
		c.mu.Lock()
		if c.has(stGone) {
			c.clear(stFlushing)
			c.mu.Unlock()
			putIov(iov)
			return
		}
		q := c.q
		if !q.pending() {
			drained := false
			if q != nil && len(q.deferred) == 0 {
				drained = q.high
				q.wake()
				c.q = nil
				putQueue(q)
			}
			c.clear(stFlushing)
			done := c.has(stShutdown)
			if done {
				c.set(stGone)
			}
			if drained && !c.has(stCloseSent) {
				c.drainedLocked()
			}
			c.mu.Unlock()
			putIov(iov)
			if done {
				c.tr.Shutdown()
			}
			return
		}
		if iov == nil {
			iov = iovs.Get().(*[flushIovecs][]byte)
		}
		k := 0
		for _, e := range q.frames[q.head:min(q.head+flushIovecs, len(q.frames))] {
			iov[k] = e.b
			k++
		}
		iov[0] = iov[0][q.off:]
		q.inflight = k
		c.mu.Unlock()

		n, err := c.tr.Write(iov[:k])

		c.mu.Lock()
		q.inflight = 0
		clear(iov[:k])
		if err != nil {
			c.clear(stFlushing)
			c.mu.Unlock()
			putIov(iov)
			c.writeFailed(err)
			return
		}
		if c.q == q {
			c.consumeLocked(n)
		}
		// A write that made progress is followed by another (a
		// blocking transport waits in it); one that wrote nothing
		// waits for the socket.
		full := c.q.pending() && n == 0
		c.mu.Unlock()
		if full {
			putIov(iov)
			c.tr.WaitWritable()
			return
		}
	}
}

func putIov(iov *[flushIovecs][]byte) {
	if iov != nil {
		iovs.Put(iov)
	}
}

// WriteFailed tells the Conn that a write its engine made on its behalf
// failed (crypto/tls's own, while reading): it is dropped as after any
// failed write.
func (c *Conn) WriteFailed(err error) { c.writeFailed(err) }

// writeFailed drops the connection after a failed write; a blocking
// transport's deadline counts as the write timeout.
func (c *Conn) writeFailed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.writeTimedOut()
		return
	}
	c.terminate("write: " + err.Error())
}
