package server

import (
	"crypto/tls"
	"sync"
	"time"

	"github.com/ws4go/ws4go/observe"
)

// h2Conn keeps HandshakeTimeout for an HTTP/2 connection, which net/http
// would hold open without a stream for as long as the client keeps it
// busy (PINGs, SETTINGS, a header block trickled in CONTINUATIONs,
// refused requests): its first stream must start by the handshake's
// deadline, and each later one within HandshakeTimeout of the end of the
// last stream served. A stream counts as served if it was a WebSocket
// (the handshake accepted) or a request for s.HTTP; refused ones leave the
// clock where it was. While a stream runs the clock stops. When it runs
// out the TCP connection is closed (nothing is open on it to lose); one
// that never served a stream is counted as a handshake timeout.
type h2Conn struct {
	s  *Server
	tc *tls.Conn

	mu     sync.Mutex
	timer  *time.Timer // nil without a HandshakeTimeout
	until  time.Time   // when the connection is closed if no stream runs
	open   int         // streams whose handler runs
	served bool        // a stream was served
	closed bool        // the clock ran out, or the connection ended
	ended  bool        // the MaxH2Connections place is given back
}

// h2ConnKey holds a request's *h2Conn in its context.
type h2ConnKey struct{}

// begin stops the clock while a stream's handler runs.
func (c *h2Conn) begin() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.open++
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
}

// finish restarts the clock when the last stream running ends: from now
// if the stream was served, else where it was.
func (c *h2Conn) finish(served bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open--
	if served {
		c.served = true
		c.until = time.Now().Add(c.s.handshakeTimeout())
	}
	if c.open == 0 && c.timer != nil && !c.closed {
		c.timer.Reset(time.Until(c.until))
	}
}

// expire closes the connection if its clock ran out with no stream
// running. (A run that a begin or a later deadline overtook does not.)
func (c *h2Conn) expire() {
	c.mu.Lock()
	if c.closed || c.open > 0 || time.Now().Before(c.until) {
		c.mu.Unlock()
		return
	}
	c.closed = true
	served := c.served
	c.mu.Unlock()
	if !served {
		c.s.rejected(observe.RejectTimeout)
	}
	// Not tc.Close: its close_notify could wait on a peer that does not
	// read.
	c.tc.NetConn().Close()
}

// end releases what the connection holds once net/http is done with it.
func (c *h2Conn) end() {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended, c.closed = true, true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.s.releaseH2()
}
