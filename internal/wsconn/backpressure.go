package wsconn

import "github.com/ws4go/ws4go/handler"

// BufferedAmount returns the bytes queued for the peer and not handed to
// the socket yet: frames of its own and shared ones, the rest of a frame
// partly written, and frames waiting for the end of a fragmented message.
// (What the kernel's socket buffer holds is not counted.)
func (c *Conn) BufferedAmount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.q == nil {
		return 0
	}
	return c.q.bytes
}

// drainedLocked has the handler's Drained called, if it has one, because
// the queue has emptied after passing half of MaxWriteQueue. The call is
// made on a goroutine of its own, in turn with the connection's other
// callbacks (see call): the writer that emptied the queue may be inside one
// of them (a Send from ReceivedMessage), or hold locks of the
// application's (a Send from anywhere). One call is pending at a time.
func (c *Conn) drainedLocked() {
	d, ok := c.h.(handler.Drainer)
	if !ok || c.has(stDrainDue) {
		return
	}
	c.set(stDrainDue)
	go c.call(func() {
		c.mu.Lock()
		c.clear(stDrainDue)
		closing := c.has(stGone | stCloseSent)
		c.mu.Unlock()
		if !closing {
			d.Drained(c)
		}
	})
}
