package wsconn

import (
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/observe"
)

// closing reports whether the close frame has been sent.
func (c *Conn) closing() bool { return c.has(stCloseSent | stGone) }

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
		c.setCloseLocked(code, reason, c.them())
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
func (c *Conn) fail(code handler.CloseCode, reason string) { c.failVia(code, reason, false) }

// failVia is fail; queued leaves the close frame to a flusher goroutine
// whatever the transport (see controlVia).
func (c *Conn) failVia(code handler.CloseCode, reason string, queued bool) {
	c.mu.Lock()
	if c.has(stGone) {
		c.mu.Unlock()
		return
	}
	if !c.has(stCloseSent) {
		c.set(stCloseSent)
		c.closingAt.Store(time.Now().UnixNano())
		if !c.has(stCloseRecv) {
			c.setCloseLocked(code, reason, c.us())
		} else {
			c.rareLocked().closeBy = c.us()
		}
		c.enqueueClose(code, reason)
	} else if c.cfg.Client && c.noCodeLocked() {
		// After the client's close frame: the failure is why it ends.
		c.setCloseLocked(code, reason, 0)
	}
	c.set(stShutdown)
	c.mu.Unlock()
	c.kickVia(queued)
}

// noCodeLocked reports whether no close code is recorded yet: none
// received, and none sent (but a client's, which does not count until the
// server answers).
func (c *Conn) noCodeLocked() bool {
	return c.x == nil || c.x.code == handler.CloseAbnormal && c.x.reason == ""
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
	if c.cfg.Client {
		// Closed reports the server's answer, or 1006 without one.
		c.rareLocked().closeBy = c.us()
	} else {
		c.setCloseLocked(code, reason, c.us())
	}
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
	if c.noCodeLocked() {
		// This is why the connection ended.
		c.setCloseLocked(handler.CloseAbnormal, reason, 0)
	}
	c.dropQueueLocked()
	cancel := c.cancelContextLocked()
	c.mu.Unlock()
	c.tr.Close()
	if c.table != nil {
		// No longer open: Len, Broadcast and a Shutdown's wait stop
		// counting it now, not when its engine gets to Finish.
		c.table.remove(c)
	}
	if cancel != nil {
		cancel() // the connection is gone now, not when Finish runs
	}
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
	code, reason, by := c.statusLocked()
	cancel := c.cancelContextLocked()
	c.dropQueueLocked()
	c.mu.Unlock()
	if c.table != nil {
		c.table.remove(c)
	}
	c.rd.Release()
	// The inflater of a compressed message the connection's end cut short.
	c.releaseInflater()
	c.cfg.Budget.add(-c.readHeld.Swap(0))
	c.cb.Lock()
	c.clear(stPanicked) // Closed is always delivered
	c.cb.Unlock()
	if cancel != nil {
		// Before Closed, so it may wait for the goroutines that
		// watch the context.
		cancel()
	}
	if o := c.cfg.Observer; o != nil {
		o.Closed(code, by)
	}
	c.call(func() { c.h.Closed(c, code, reason) })
}

// statusLocked is how the connection ended, as Closed reports it, and which
// side started the closing handshake.
func (c *Conn) statusLocked() (handler.CloseCode, string, observe.Side) {
	code, reason, by := handler.CloseAbnormal, "", observe.Side(0)
	if x := c.x; x != nil {
		code, reason, by = x.code, x.reason, x.closeBy
	}
	if code == handler.CloseAbnormal && reason == "" {
		reason = "connection closed without a close frame"
	}
	return code, reason, by
}

// CloseStatus returns the close code and reason Handler.Closed got (or
// will get, once the connection is finished).
func (c *Conn) CloseStatus() (handler.CloseCode, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	code, reason, _ := c.statusLocked()
	return code, reason
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

// messageTimedOut fails a connection whose partial message or frame did not
// arrive whole within MessageTimeout.
func (c *Conn) messageTimedOut() {
	if c.closing() {
		return
	}
	c.limited(observe.LimitMessageTimeout)
	// (The table's sweeper: a client's close frame is left to a
	// flusher, as its pings are.)
	c.failVia(handler.ClosePolicyViolation, "message timeout", c.cfg.Client)
}

// writeTimedOut drops a connection whose queued frames made no progress
// for WriteTimeout: no close frame could reach a peer that does not read.
func (c *Conn) writeTimedOut() {
	if c.has(stGone) {
		return
	}
	c.limited(observe.LimitWriteTimeout)
	c.terminate("write timeout")
}
