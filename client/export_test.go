package client

// Hooks for the tests of package client_test.

// Unread reports what the unread messages of c, a Conn read with Read,
// hold now and at most so far (heap bytes), how many there are, and
// whether its input is held.
func Unread(c *Conn) (mem, peak, n int, held bool) {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	return c.in.mem, c.in.peak, len(c.in.msgs), c.in.held
}

// UnreadBound is the most that unread messages of size bytes may hold: the
// bound, plus the message that reached it, rounded up to the allocator's
// pages.
func UnreadBound(size int) int { return maxUnread + (size+8191)&^8191 + entryCost }
