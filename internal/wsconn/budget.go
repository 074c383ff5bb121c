package wsconn

import (
	"sync/atomic"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/observe"
)

// Budget bounds the memory held across connections for partial messages
// (proto.Reader.Held), inflater output (deflate.Inflater.Held) and write
// queues (their real memory: see Config.MaxWriteQueue). It is one shared
// counter: each connection adds the change in what it holds after each step
// of Feed and each change of its queue, and gives everything back when it
// finishes. The connection that would take the total past Max is closed
// with 1013 (Try Again Later). A queued frame is refused before it is
// counted; the read side is counted after the fact, so the total may pass
// Max by at most what one Feed step adds per connection (a read buffer, or
// one inflated piece).
type Budget struct {
	// Max is the bound in bytes; zero or negative: none (the total is
	// still kept).
	Max int64
	n   atomic.Int64
}

// Held returns the bytes held now.
func (b *Budget) Held() int64 {
	if b == nil {
		return 0
	}
	return b.n.Load()
}

// add adds d (negative: returns memory) and reports whether the total is
// within the bound.
func (b *Budget) add(d int64) bool {
	if b == nil || d == 0 {
		return true
	}
	t := b.n.Add(d)
	return d < 0 || b.Max <= 0 || t <= b.Max
}

// over reports whether d more bytes would pass the bound.
func (b *Budget) over(d int64) bool {
	return b != nil && b.Max > 0 && b.n.Load()+d > b.Max
}

// accountRead counts the change in what the read side holds, and fails the
// connection (1013) if it took the budget past its bound. It reports false
// then.
func (c *Conn) accountRead() bool {
	held := int64(c.rd.Held())
	if c.infl != nil {
		held += int64(c.infl.Held())
	}
	d := held - c.readHeld.Load()
	if d == 0 {
		return true
	}
	c.readHeld.Store(held)
	if c.cfg.Budget.add(d) || c.closing() {
		return true
	}
	c.limited(observe.LimitBudget)
	c.fail(handler.CloseTryAgainLater, "try again later")
	return false
}

// limited tells the observer that the connection passed limit l.
func (c *Conn) limited(l observe.Limit) {
	if o := c.cfg.Observer; o != nil {
		o.Limited(l)
	}
}

// Held returns the memory the connection holds now: its reader's buffers,
// its inflater's output and its write queue, as counted in the budget.
func (c *Conn) Held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.readHeld.Load()) + c.queuedLocked()
}
