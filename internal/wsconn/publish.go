package wsconn

import (
	"errors"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/observe"
)

// Publishing: a message encoded once (a Prepared) is queued for each of
// many connections, and nothing more on the publisher's goroutine: no
// write, no system call per connection. A connection whose queue was
// empty has the right to write taken for it and passed to its engine
// (flushSoon), which writes on a goroutine of its own (a netpoll worker,
// a blocking transport's flusher), so the writes of one publish spread
// over the engine's workers. Frames published before the engine gets to a
// connection join its queue and leave with the others in one writev of up
// to flushIovecs frames. No timer holds a frame back: on an idle server
// it is written as soon as a worker takes the turn (microseconds), and
// under load it waits as long as the workers take to come round to its
// connection, which is what lets later frames catch up with it.

// fanout is one publish of m in progress.
type fanout struct {
	m      *Prepared
	budget *Budget
	n      int  // the connections it may be queued for
	skip   bool // Config.SkipSlow: skip a subscriber that has no room
	// full: the budget could not take the publish whole when it began:
	// subscribers that hold frames already get the slow-subscriber
	// treatment (1013 or skipped); those that hold none still get it.
	full            bool
	queued, skipped int
}

// begin counts a publish to up to n connections: the references, the index
// entries in the budget (given back for those it is not queued for), and
// the frame in the budget unless it is counted there already.
func (f *fanout) begin(cfg *Config, m *Prepared, n int) {
	*f = fanout{m: m, budget: cfg.Budget, n: n, skip: cfg.SkipSlow}
	f.full = f.budget.over(int64(m.alloc + n*indexCost))
	_ = f.budget.add(int64(n * indexCost))
	m.hold(f.budget, int64(n)+1)
}

// end gives back what begin counted for the connections m was not queued
// for, and the publish's own reference, and tells the observer (a fan-out
// to a topic or everyone as a Broadcast, unless one is false).
func (f *fanout) end(o observe.Observer, one bool) {
	unused := f.n - f.queued
	_ = f.budget.add(-int64(unused * indexCost))
	f.m.unref(int64(unused) + 1)
	if o != nil {
		if !one {
			o.Broadcast(f.queued)
		}
		k := observe.KindOf(f.m.typ)
		for range f.queued {
			o.Sent(k, f.m.n)
		}
		if f.skipped > 0 {
			o.Skipped(f.skipped)
		}
	}
}

// deliver queues the message for c, unless c is closing (see queueShared).
func (f *fanout) deliver(c *Conn) error {
	err := c.queueShared(f.m, f.full, f.skip)
	switch err {
	case nil:
		f.queued++
	case errSkipped:
		f.skipped++
	}
	return err
}

// errSkipped: the slow-subscriber policy skipped the message (the
// connection had no room for it and stays open).
var errSkipped = errors.New("ws4go: skipped: the write queue is full")

// queueShared queues m (a fanout's message, counted by it) and gets it
// written by the engine; it never writes itself. During a fragmented
// message (NewWriter) m waits for its last fragment. A connection without
// room for it (past MaxWriteQueue; or, when full, the budget's bound and
// frames already queued) is closed as a Send would close it, or with skip
// left as it is: it reports handler.ErrWriteQueueFull or errSkipped, and
// ErrClosed for a closing connection.
func (c *Conn) queueShared(m *Prepared, full, skip bool) error {
	e := entry{b: m.frame, p: m}
	c.mu.Lock()
	if c.has(stGone | stCloseSent) {
		c.mu.Unlock()
		return handler.ErrClosed
	}
	q := c.q
	over := c.overLocked(len(e.b), e.cost())
	budget := !over && full && q.pending()
	if (over || budget) && skip {
		c.mu.Unlock()
		return errSkipped
	}
	var code handler.CloseCode
	switch {
	case over:
		code = c.writeQueueCode()
		c.overflowLocked(code, "write queue overflow")
	case budget:
		code = handler.CloseTryAgainLater
		c.limited(observe.LimitBudget)
		c.overflowLocked(code, "try again later")
	default:
		q = c.queueLocked()
		if c.has(stFragmented) {
			q.deferred = append(q.deferred, e)
		} else {
			c.appendLocked(q, e)
		}
		c.holdLocked(q, e)
		c.pauseLocked()
	}
	// Start writing if nobody does; during a fragmented message its
	// writer will (but an overflow has a close frame to write now).
	start := !c.has(stFlushing) && (code != 0 || !c.has(stFragmented))
	if start {
		c.set(stFlushing)
	}
	c.mu.Unlock()
	if start {
		c.flushSoon()
	}
	if code != 0 {
		return handler.ErrWriteQueueFull
	}
	return nil
}

// SendPrepared queues m for c alone, as a publish to one subscriber: it
// returns handler.ErrWriteQueueFull if c had no room for it (closed, or
// left open with Config.SkipSlow).
func (c *Conn) SendPrepared(m *Prepared) error {
	var f fanout
	f.begin(c.cfg, m, 1)
	err := f.deliver(c)
	f.end(c.cfg.Observer, true)
	if err == errSkipped {
		err = handler.ErrWriteQueueFull
	}
	return err
}
