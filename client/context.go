package client

import "context"

// connContext is a Conn's context, made on first use (guarded by Conn.mu).
type connContext struct {
	ctx    context.Context
	cancel context.CancelFunc
	ended  bool // the connection is gone: Context returns a cancelled one
}

// Context implements handler.Conn: it is cancelled once the connection is
// gone, before Handler.Closed is called.
func (c *Conn) Context() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	x := &c.cctx
	if x.ctx == nil {
		x.ctx, x.cancel = context.WithCancel(context.Background())
		if x.ended {
			x.cancel()
		}
	}
	return x.ctx
}

// endContextLocked marks the connection's context ended and returns the
// function that cancels it (call it after c.mu is released); c.mu is held.
func (c *Conn) endContextLocked() context.CancelFunc {
	c.cctx.ended = true
	if c.cctx.cancel != nil {
		return c.cctx.cancel
	}
	return func() {}
}
