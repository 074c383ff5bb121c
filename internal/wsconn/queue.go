package wsconn

import (
	"sort"
	"time"
	"unsafe"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/observe"
)

// flushIovecs is the most frames one Flush hands to the transport at once:
// a wake-up costs O(1) whatever the queue's length.
const flushIovecs = 16

// maxPong is the largest pong frame: a 2-byte header and 125 bytes.
const maxPong = 2 + 125

// queue holds the frames the socket did not take at once. Its index is
// frames[head:]; what was written is dropped from the front by moving head,
// so neither writing nor consuming copies the index.
type queue struct {
	frames  [][]byte // frames[head][off:] is next on the wire
	head    int
	off     int
	mem     int  // memory of the frames not written yet, and of deferred (frameCost)
	started bool // frames[head] is the rest of a frame partly on the wire
	// inflight is how many frames from head the Flush in progress handed
	// to the transport: they stay in the queue, untouched, until it
	// returns (an overflow meanwhile keeps them, so the stream stays well
	// formed).
	inflight int
	// pong is the index in frames of the queued pong not handed to the
	// transport yet, -1 if none: a newer ping's answer replaces its
	// payload (RFC 6455 5.5.3 allows answering only the latest ping).
	pong int
	// since is when the frames last made progress (or began waiting):
	// the table's sweeper drops the connection past WriteTimeout.
	since int64
	// deferred holds shared (broadcast) frames that arrived during a
	// fragmented message: no data frame may come between its fragments.
	deferred [][]byte
	// iov is what Flush hands to the transport (only the holder of the
	// right to write touches it).
	iov [flushIovecs][]byte
	// drained, if set, is closed when the queue next gives memory back
	// or goes: senders waiting for room (see waitRoomLocked) wake.
	drained chan struct{}
}

// wake wakes the senders waiting for room.
func (q *queue) wake() {
	if q != nil && q.drained != nil {
		close(q.drained)
		q.drained = nil
	}
}

// sizeClasses are the Go allocator's small size classes (runtime's
// sizeclasses.go): a frame of n bytes costs the class n rounds up to.
var sizeClasses = [...]int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

// indexCost is a frame's share of the queue's index: its slice header,
// twice over for the slack of a growing index.
const indexCost = 2 * int(unsafe.Sizeof([]byte(nil)))

// allocSize is the heap memory an allocation of n bytes takes.
func allocSize(n int) int {
	if n > sizeClasses[len(sizeClasses)-1] {
		const page = 8192
		return (n + page - 1) &^ (page - 1)
	}
	return sizeClasses[sort.SearchInts(sizeClasses[:], n)]
}

// frameCost is the memory a queued frame holds: its allocation (the whole
// of it from the frame's start, as its capacity says) and its index entry.
func frameCost(f []byte) int { return allocSize(cap(f)) + indexCost }

func (c *Conn) queueLocked() *queue {
	if c.q == nil {
		c.q = &queue{pong: -1}
	}
	return c.q
}

// queuedLocked is the memory the queue holds (deferred frames included).
func (c *Conn) queuedLocked() int {
	if c.q == nil {
		return 0
	}
	return c.q.mem
}

// memLocked changes the queue's memory by d, in the server-wide budget too.
func (c *Conn) memLocked(q *queue, d int) {
	q.mem += d
	_ = c.cfg.Budget.add(int64(d))
}

// pending reports whether frames wait for the socket.
func (q *queue) pending() bool { return q != nil && q.head < len(q.frames) }

// appendLocked adds a frame at the back of the index, compacting it first
// when its front is spent and it is full.
func (c *Conn) appendLocked(q *queue, frame []byte) {
	if !q.pending() {
		q.since = c.now()
	}
	if q.head > 0 && len(q.frames) == cap(q.frames) && q.inflight == 0 {
		n := copy(q.frames, q.frames[q.head:])
		clear(q.frames[n:])
		q.frames = q.frames[:n]
		if q.pong >= 0 {
			q.pong -= q.head
		}
		q.head = 0
	}
	q.frames = append(q.frames, frame)
	c.memLocked(q, frameCost(frame))
}

// pushFrontLocked queues the rest of a frame partly written (started: some
// of it is on the wire) ahead of what was queued meanwhile. The caller holds
// the right to write, so no Flush is in progress.
func (c *Conn) pushFrontLocked(rest []byte, started bool) {
	q := c.queueLocked()
	if !q.pending() {
		q.since = c.now()
	}
	if q.head > 0 {
		q.head--
		q.frames[q.head] = rest
	} else {
		q.frames = append(q.frames, nil)
		copy(q.frames[1:], q.frames)
		q.frames[0] = rest
		if q.pong >= 0 {
			q.pong++
		}
	}
	q.off, q.started = 0, started
	c.memLocked(q, frameCost(rest))
	c.pauseLocked()
}

// enqueueLocked appends a frame to the queue, or if deferred to the frames
// that wait for the end of the fragmented message being sent. A frame that
// would take the queue past its bound means the peer does not read: the
// frames not yet started are dropped and the connection is closed with the
// configured code (or 1013 if the server-wide budget is what it would
// pass). The close frame waits behind what the socket already holds, so
// the peer sees it only if it resumes reading (CloseTimeout ends it
// otherwise).
func (c *Conn) enqueueLocked(frame []byte, deferred bool) error {
	if c.overLocked(len(frame), frameCost(frame)) {
		c.overflowLocked(c.writeQueueCode(), "write queue overflow")
		return handler.ErrWriteQueueFull
	}
	if !c.has(stCloseSent) && c.cfg.Budget.over(int64(frameCost(frame))) {
		c.limited(observe.LimitBudget)
		c.overflowLocked(handler.CloseTryAgainLater, "try again later")
		return handler.ErrWriteQueueFull
	}
	q := c.queueLocked()
	if deferred {
		q.deferred = append(q.deferred, frame)
		c.memLocked(q, frameCost(frame))
	} else {
		c.appendLocked(q, frame)
	}
	c.pauseLocked()
	return nil
}

// enqueuePongLocked queues the answer to a ping: if a pong not yet handed
// to the transport is queued, its payload is replaced, so a ping flood holds
// at most one queued pong (and one partly written).
func (c *Conn) enqueuePongLocked(hdr []byte, p []byte) error {
	q := c.queueLocked()
	if i := q.pong; i >= q.head+q.inflight && !(i == q.head && (q.off > 0 || q.started)) {
		q.frames[i] = append(append(q.frames[i][:0], hdr...), p...)
		return nil
	}
	size := maxPong
	if c.cfg.Client {
		size += maskLen
	}
	frame := append(append(make([]byte, 0, size), hdr...), p...)
	if err := c.enqueueLocked(frame, false); err != nil {
		return err
	}
	q.pong = len(q.frames) - 1
	return nil
}

// overLocked reports whether a frame of n bytes, costing cost, would take
// the queue past its bound. A close frame always gets in, and so does a
// frame no larger than the largest message the server accepts when nothing
// else is queued: echoing a message of MaxMessageSize must work whatever
// MaxWriteQueue is.
func (c *Conn) overLocked(n, cost int) bool {
	max := c.cfg.MaxWriteQueue
	queued := c.queuedLocked()
	if max <= 0 || c.has(stCloseSent) || queued+cost <= max {
		return false
	}
	return queued > 0 || int64(n) > c.cfg.MaxMessageSize+ws.MaxHeaderSize
}

// releaseDeferredLocked queues the frames that waited for the end of a
// fragmented message (they are already counted in the queue's memory).
func (c *Conn) releaseDeferredLocked() {
	if q := c.q; q != nil && len(q.deferred) > 0 {
		if !q.pending() {
			q.since = c.now()
		}
		q.frames = append(q.frames, q.deferred...)
		clear(q.deferred)
		q.deferred = nil
		c.pauseLocked()
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
		c.setCloseLocked(c.writeQueueCode(), "write queue overflow", c.us())
	}
	c.dropQueueLocked()
}

func (c *Conn) writeQueueCode() handler.CloseCode {
	if c.cfg.WriteQueueCode == 0 {
		return handler.ClosePolicyViolation
	}
	return c.cfg.WriteQueueCode
}

// overflowLocked drops what the peer has not started to receive and queues
// a close frame with code: the frames a Flush in progress handed to the
// transport, and the one partly on the wire, stay ahead of it, so the
// stream stays well formed.
func (c *Conn) overflowLocked(code handler.CloseCode, reason string) {
	if o := c.cfg.Observer; o != nil && code != handler.CloseTryAgainLater {
		o.WriteQueueOverflow()
	}
	q := c.queueLocked()
	keep := q.inflight
	if q.pending() && keep == 0 && (q.off > 0 || q.started) {
		keep = 1
	}
	end := q.head + keep
	q.wake() // (to find the connection closing)
	clear(q.frames[end:])
	q.frames = q.frames[:end]
	clear(q.deferred)
	q.deferred = nil
	if q.pong >= end {
		q.pong = -1
	}
	mem := 0
	for _, f := range q.frames[q.head:] {
		mem += frameCost(f)
	}
	c.memLocked(q, mem-q.mem)
	c.set(stCloseSent | stShutdown)
	c.closingAt.Store(time.Now().UnixNano())
	c.setCloseLocked(code, reason, c.us())
	frame := c.closeFrame(code, reason)
	c.appendLocked(q, frame)
	c.pauseLocked()
	if o := c.cfg.Observer; o != nil {
		o.Sent(observe.KindClose, len(frame)-2)
	}
}

// enqueueClose queues a close frame; c.mu is held.
func (c *Conn) enqueueClose(code handler.CloseCode, reason string) {
	if c.enqueueLocked(c.closeFrame(code, reason), false) == nil {
		if o := c.cfg.Observer; o != nil {
			o.Sent(observe.KindClose, 2+len(reason))
		}
	}
}

// dropQueueLocked releases the queue and its share of the budget.
func (c *Conn) dropQueueLocked() {
	if q := c.q; q != nil {
		c.memLocked(q, -q.mem)
		clear(q.frames)
		clear(q.deferred)
		q.wake()
		c.q = nil
	}
	c.pauseLocked()
}

// consumeLocked drops n written bytes from the head of the queue.
func (c *Conn) consumeLocked(n int) {
	q := c.q
	if q == nil {
		return
	}
	if n > 0 {
		q.since = c.now()
	}
	freed := 0
	for n > 0 && q.pending() {
		f := q.frames[q.head]
		left := len(f) - q.off
		if n < left {
			q.off += n
			break
		}
		n -= left
		freed += frameCost(f)
		q.frames[q.head] = nil
		if q.pong == q.head {
			q.pong = -1
		}
		q.head++
		q.off, q.started = 0, false
	}
	if !q.pending() {
		q.frames, q.head, q.pong = nil, 0, -1
	}
	c.memLocked(q, -freed)
	if freed > 0 {
		q.wake()
	}
	c.pauseLocked()
}

// readResumer is an optional Transport method: the Conn calls ResumeRead
// (with c.mu held: it must not block) when ReadPaused turns false.
type readResumer interface{ ResumeRead() }

// pauseLocked sets stPaused from the queue: input waits while our close
// frame is queued, or while the queue holds more than half its bound, so
// a peer that does not read is held back by TCP instead of being read (and
// its messages answered or discarded) at full speed.
func (c *Conn) pauseLocked() {
	q := c.q
	p := q.pending() && !c.has(stGone) &&
		(c.has(stCloseSent) || c.cfg.MaxWriteQueue > 0 && q.mem > c.cfg.MaxWriteQueue/2)
	if p == c.has(stPaused) {
		return
	}
	if p {
		c.set(stPaused)
		return
	}
	c.clear(stPaused)
	if r, ok := c.tr.(readResumer); ok {
		r.ResumeRead()
	}
}

// ReadPaused reports whether the engine should stop reading the socket for
// now: queued output waits for the peer (see Config.MaxWriteQueue). The
// Transport's optional ResumeRead method is called when it turns false.
func (c *Conn) ReadPaused() bool { return c.has(stPaused) }
