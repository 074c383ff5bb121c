package wsconn

import (
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/observe"
)

// flushIovecs is the most frames one Flush hands to the transport at once
// (one writev: the netpoll engine's iovec array holds as many): a wake-up
// costs O(1) whatever the queue's length, and under a fan-out load the
// frames published while a connection waited for its turn leave together.
const flushIovecs = 64

// maxPong is the largest pong frame: a 2-byte header and 125 bytes.
const maxPong = 2 + 125

// entry is a queued frame: b, the rest of it not handed to the socket yet,
// and, for a frame other connections share, the Prepared it belongs to.
type entry struct {
	b []byte
	p *Prepared // nil: the frame is this connection's own
}

// cost is what e counts against its connection's MaxWriteQueue: the whole
// allocation of its frame (shared or not: a connection's bound does not
// depend on who else holds its frames) and its index entry.
func (e entry) cost() int {
	if e.p != nil {
		return e.p.alloc + indexCost
	}
	return frameCost(e.b)
}

// charge is what e counts in the server-wide budget: a shared frame counts
// there once, through its Prepared, and each queue only its index entry.
func (e entry) charge() int {
	if e.p != nil {
		return indexCost
	}
	return frameCost(e.b)
}

// queue holds the frames the socket did not take at once. Its index is
// frames[head:]; what was written is dropped from the front by moving head,
// so neither writing nor consuming copies the index. A queue that empties
// goes back to a pool (see putQueue), index and all: a connection between
// bursts holds none, and a burst costs no allocation.
type queue struct {
	frames  []entry // frames[head].b[off:] is next on the wire
	head    int
	off     int
	mem     int  // MaxWriteQueue's measure: the cost of the frames not written yet, and of deferred
	charged int  // what the queue counts in the budget now (the charge of the same frames)
	bytes   int  // bytes not written yet, deferred included (BufferedAmount)
	started bool // frames[head] is the rest of a frame partly on the wire
	// high: mem passed half of MaxWriteQueue since the queue was last
	// empty; Drained is due when it empties.
	high bool
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
	// deferred holds shared (published) frames that arrived during a
	// fragmented message: no data frame may come between its fragments.
	deferred []entry
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

// queues pools the queues of connections between bursts.
var queues = sync.Pool{New: func() any { return &queue{pong: -1} }}

// maxPooledIndex is the largest index a pooled queue keeps.
const maxPooledIndex = 256

// sizeClasses are the Go allocator's small size classes (runtime's
// sizeclasses.go): a frame of n bytes costs the class n rounds up to.
var sizeClasses = [...]int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

// indexCost is a frame's share of the queue's index: its entry, twice over
// for the slack of a growing index.
const indexCost = 2 * int(unsafe.Sizeof(entry{}))

// allocSize is the heap memory an allocation of n bytes takes.
func allocSize(n int) int {
	if n > sizeClasses[len(sizeClasses)-1] {
		const page = 8192
		return (n + page - 1) &^ (page - 1)
	}
	return sizeClasses[sort.SearchInts(sizeClasses[:], n)]
}

// frameCost is the memory a queued frame of this connection's own holds:
// its allocation (the whole of it from the frame's start, as its capacity
// says) and its index entry.
func frameCost(f []byte) int { return allocSize(cap(f)) + indexCost }

func (c *Conn) queueLocked() *queue {
	if c.q == nil {
		c.q = queues.Get().(*queue)
	}
	return c.q
}

// putQueue gives an empty queue nobody refers to any more back to the pool.
func putQueue(q *queue) {
	if cap(q.frames) > maxPooledIndex {
		q.frames = nil
	}
	*q = queue{frames: q.frames[:0], pong: -1}
	queues.Put(q)
}

// queuedLocked is the memory the queue holds (deferred frames included).
func (c *Conn) queuedLocked() int {
	if c.q == nil {
		return 0
	}
	return c.q.mem
}

// holdLocked counts e, just queued or deferred, in q: against
// MaxWriteQueue, in BufferedAmount, and in the budget unless it is shared
// (a publish counts its entries there at once: see fanout).
func (c *Conn) holdLocked(q *queue, e entry) {
	cost := e.cost()
	q.mem += cost
	q.charged += e.charge()
	q.bytes += len(e.b)
	if e.p == nil {
		_ = c.cfg.Budget.add(int64(cost))
	}
	if max := c.cfg.MaxWriteQueue; max > 0 && q.mem > max/2 {
		q.high = true
	}
}

// letGo uncounts e, written or dropped (but for its bytes, which the caller
// counts), and returns its charge, for the caller to give back to the
// budget together with the others'.
func (q *queue) letGo(e entry) int {
	q.mem -= e.cost()
	ch := e.charge()
	q.charged -= ch
	if e.p != nil {
		e.p.unref(1)
	}
	return ch
}

// pending reports whether frames wait for the socket.
func (q *queue) pending() bool { return q != nil && q.head < len(q.frames) }

// appendLocked adds a frame at the back of the index, compacting it first
// when its front is spent and it is full. The caller counts it.
func (c *Conn) appendLocked(q *queue, e entry) {
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
	q.frames = append(q.frames, e)
}

// pushFrontLocked queues the rest of a frame partly written (started: some
// of it is on the wire) ahead of what was queued meanwhile. The caller holds
// the right to write, so no Flush is in progress.
func (c *Conn) pushFrontLocked(rest []byte, started bool) {
	q := c.queueLocked()
	if !q.pending() {
		q.since = c.now()
	}
	e := entry{b: rest}
	if q.head > 0 {
		q.head--
		q.frames[q.head] = e
	} else {
		q.frames = append(q.frames, entry{})
		copy(q.frames[1:], q.frames)
		q.frames[0] = e
		if q.pong >= 0 {
			q.pong++
		}
	}
	q.off, q.started = 0, started
	c.holdLocked(q, e)
	c.pauseLocked()
}

// enqueueLocked appends a frame of this connection's own to the queue. A
// frame that would take the queue past its bound means the peer does not
// read: the frames not yet started are dropped and the connection is closed
// with the configured code (or 1013 if the server-wide budget is what it
// would pass). The close frame waits behind what the socket already holds,
// so the peer sees it only if it resumes reading (CloseTimeout ends it
// otherwise).
func (c *Conn) enqueueLocked(frame []byte) error {
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
	e := entry{b: frame}
	c.appendLocked(q, e)
	c.holdLocked(q, e)
	c.pauseLocked()
	return nil
}

// enqueuePongLocked queues the answer to a ping: if a pong not yet handed
// to the transport is queued, its payload is replaced, so a ping flood holds
// at most one queued pong (and one partly written).
func (c *Conn) enqueuePongLocked(hdr []byte, p []byte) error {
	q := c.queueLocked()
	if i := q.pong; i >= q.head+q.inflight && !(i == q.head && (q.off > 0 || q.started)) {
		old := len(q.frames[i].b)
		q.frames[i].b = append(append(q.frames[i].b[:0], hdr...), p...)
		q.bytes += len(q.frames[i].b) - old
		return nil
	}
	size := maxPong
	if c.cfg.Client {
		size += maskLen
	}
	frame := append(append(make([]byte, 0, size), hdr...), p...)
	if err := c.enqueueLocked(frame); err != nil {
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
// fragmented message (they are already counted in the queue).
func (c *Conn) releaseDeferredLocked() {
	if q := c.q; q != nil && len(q.deferred) > 0 {
		if !q.pending() {
			q.since = c.now()
		}
		q.frames = append(q.frames, q.deferred...)
		clear(q.deferred)
		q.deferred = q.deferred[:0]
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
	freed := 0
	for _, e := range q.frames[end:] {
		freed += q.letGo(e)
	}
	for _, e := range q.deferred {
		freed += q.letGo(e)
	}
	clear(q.frames[end:])
	q.frames = q.frames[:end]
	clear(q.deferred)
	q.deferred = q.deferred[:0]
	if q.pong >= end {
		q.pong = -1
	}
	q.bytes = -q.off
	for _, e := range q.frames[q.head:] {
		q.bytes += len(e.b)
	}
	_ = c.cfg.Budget.add(-int64(freed))
	c.set(stCloseSent | stShutdown)
	c.closingAt.Store(time.Now().UnixNano())
	c.setCloseLocked(code, reason, c.us())
	frame := c.closeFrame(code, reason)
	e := entry{b: frame}
	c.appendLocked(q, e)
	c.holdLocked(q, e)
	c.pauseLocked()
	if o := c.cfg.Observer; o != nil {
		o.Sent(observe.KindClose, len(frame)-2)
	}
}

// enqueueClose queues a close frame; c.mu is held.
func (c *Conn) enqueueClose(code handler.CloseCode, reason string) {
	if c.enqueueLocked(c.closeFrame(code, reason)) == nil {
		if o := c.cfg.Observer; o != nil {
			o.Sent(observe.KindClose, 2+len(reason))
		}
	}
}

// dropQueueLocked releases the queue and what it holds. A Flush in progress
// still refers to it, so it is not pooled then.
func (c *Conn) dropQueueLocked() {
	if q := c.q; q != nil {
		freed := 0
		for _, e := range q.frames[q.head:] {
			freed += q.letGo(e)
		}
		for _, e := range q.deferred {
			freed += q.letGo(e)
		}
		_ = c.cfg.Budget.add(-int64(freed))
		clear(q.frames)
		clear(q.deferred)
		q.wake()
		c.q = nil
		if q.inflight == 0 {
			putQueue(q)
		}
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
	q.bytes -= n
	freed := 0
	for n > 0 && q.pending() {
		e := q.frames[q.head]
		left := len(e.b) - q.off
		if n < left {
			q.off += n
			break
		}
		n -= left
		freed += q.letGo(e)
		q.frames[q.head] = entry{}
		if q.pong == q.head {
			q.pong = -1
		}
		q.head++
		q.off, q.started = 0, false
	}
	if !q.pending() {
		q.frames, q.head, q.pong = q.frames[:0], 0, -1
	}
	_ = c.cfg.Budget.add(-int64(freed))
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
	resume := false
	if c.has(stHeld) && c.closing() {
		c.clear(stHeld) // the closing handshake reads on (see HoldRead)
		resume = !p
	}
	if p != c.has(stPaused) {
		if p {
			c.set(stPaused)
		} else {
			c.clear(stPaused)
			resume = !c.has(stHeld)
		}
	}
	if resume {
		c.resumeReadLocked()
	}
}

// resumeReadLocked wakes an engine waiting for ReadPaused to turn false.
func (c *Conn) resumeReadLocked() {
	if r, ok := c.tr.(readResumer); ok {
		r.ResumeRead()
	}
}

// ReadPaused reports whether the engine should stop reading the socket for
// now: queued output waits for the peer (see Config.MaxWriteQueue), or the
// owner holds input (see HoldRead). The Transport's optional ResumeRead
// method is called when it turns false.
func (c *Conn) ReadPaused() bool { return c.has(stPaused | stHeld) }
