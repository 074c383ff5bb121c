package wsconn

// HoldRead has the engine stop reading the socket (ReadPaused) until
// ReleaseRead, for an owner that cannot take more messages yet (a client
// whose application reads with Conn.Read, and lags): TCP then holds the
// peer back, as the write queue's pause does. An engine that feeds with
// FeedUntilHeld stops right after the message that held input, and feeds
// what it has read beyond it once the hold ends; with Feed, everything
// already read is delivered first.
//
// While input is held the timers that watch the peer's silence (the
// heartbeat, MessageTimeout, IdleTimeout) do not run: the silence is ours.
// ReleaseRead starts them again from that moment. The hold ends by itself
// once the connection is closing (our close frame queued, or gone): the
// closing handshake reads on, discarding data messages, and an engine
// waiting to read finds the socket closed. HoldRead then does nothing.
func (c *Conn) HoldRead() {
	c.mu.Lock()
	if !c.closing() {
		c.set(stHeld)
	}
	c.mu.Unlock()
}

// ReleaseRead ends HoldRead, if it has not ended by itself.
func (c *Conn) ReleaseRead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.has(stHeld) {
		return
	}
	c.clear(stHeld)
	// The peer's clocks start now: a heartbeat ping sent before the hold
	// is forgotten (any input answers it), a partial message gets its
	// MessageTimeout again. Only a message the reader is holding: the
	// reading goroutine may reset msgStart meanwhile, and a stale start
	// must not time out an idle connection. A peer cannot renew a
	// message's time this way: a hold needs a complete message, which
	// cannot come before the partial one ends.
	now := c.now()
	c.lastRead.Store(now)
	c.pingSent.Store(0)
	if at := c.msgStart.Load(); at != 0 {
		c.msgStart.CompareAndSwap(at, now)
	}
	if !c.has(stPaused) {
		c.resumeReadLocked()
	}
}
