package wsconn

import (
	"errors"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/deflate"
	"github.com/ws4go/ws4go/internal/proto"
	"github.com/ws4go/ws4go/observe"
)

// Feed processes bytes read from the socket. It returns false when the Conn
// wants no more input (its closing handshake is done or it failed).
//
// The first byte of a message or control frame starts its message timeout
// (Config.MessageTimeout): msgStart holds when, until the message is whole
// (its handler's callback does not count). Control frames inside a
// fragmented message do not restart it.
func (c *Conn) Feed(p []byte) bool {
	_, ok := c.feed(p, false)
	return ok
}

// FeedUntilHeld is Feed for an engine that honours HoldRead: it stops after
// the message whose callback held input, and returns how many bytes of p it
// took. The engine feeds the rest once ReadPaused is false, before reading
// more, so a hold takes effect at once, not after all the engine read.
func (c *Conn) FeedUntilHeld(p []byte) (int, bool) { return c.feed(p, true) }

// feed is Feed, stopping at a hold if held is set.
func (c *Conn) feed(p []byte, held bool) (int, bool) {
	all := len(p)
	if all == 0 {
		return 0, true
	}
	now := c.now()
	if now != 0 {
		c.lastRead.Store(now)
	}
	if c.pingSent.Load() != 0 {
		c.pingSent.Store(0)
	}
	if c.msgStart.Load() == 0 {
		c.msgStart.Store(now)
	}
	for len(p) > 0 {
		n, ev, perr := c.rd.Next(p)
		p = p[n:]
		if perr != nil {
			c.fail(perr.Code, perr.Reason)
			return all - len(p), false
		}
		// Between messages the one read is whole before its callback
		// runs: the time the handler takes is not the peer's, and what
		// follows starts a new message once the callback returns.
		between := !c.rd.Buffered()
		if between {
			c.msgStart.Store(0)
		}
		if !c.dispatch(ev) || !c.accountRead() {
			return all - len(p), false
		}
		if held && len(p) > 0 && c.has(stHeld) {
			return all - len(p), true
		}
		if between && len(p) > 0 {
			c.msgStart.Store(c.now())
		}
	}
	return all, true
}

// Idle reports whether the reader holds no partial frame or message, so an
// engine may return its read buffer to a pool.
func (c *Conn) Idle() bool { return !c.rd.Buffered() }

// dispatch handles one event; false means stop reading.
func (c *Conn) dispatch(ev proto.Event) bool {
	if ev.Kind == proto.Deflated {
		return c.inflated(ev) // dispatched again once whole
	}
	if o := c.cfg.Observer; o != nil {
		n := len(ev.Data)
		if ev.Kind == proto.Close && ev.Code != handler.CloseNoStatus {
			n = 2 + len(ev.Reason) // a close event carries its payload parsed
		}
		o.Received(eventKind(ev), n)
	}
	switch ev.Kind {
	case proto.Message:
		if now := c.now(); now != 0 {
			c.lastMessage.Store(now)
		}
		if c.closing() {
			return true // data after our close frame is discarded
		}
		c.call(func() { c.h.ReceivedMessage(c, handler.Message{Type: ev.Type, Data: ev.Data}) })
	case proto.Ping:
		_ = c.control(ws.OpPong, ev.Data)
	case proto.Pong:
		c.call(func() { c.h.Ponged(c, ev.Data) })
	case proto.Close:
		c.closeReceived(ev.Code, ev.Reason)
		return false
	}
	return true
}

// inflated takes a compressed message as it arrives, piece by piece
// (Deflated events: with Reader.StreamCompressed, set with Compression, a
// compressed message never arrives as one Message event): each piece is
// inflated at once, into a pooled Inflater held only while the message is
// in progress. So the size limit applies to the inflated size as it is
// produced (a decompression bomb fails with 1009 after at most about the
// limit), and a text message fails with 1007 at the piece that inflates to
// its first invalid UTF-8 byte, not when it ends. The whole message is then
// dispatched as a plain one. A connection that inflates with context
// (InflateWithContext) keeps its inflater, and starts each message on it.
func (c *Conn) inflated(ev proto.Event) bool {
	if c.infl == nil {
		c.infl = deflate.NewInflater(c.cfg.MaxMessageSize, ev.Type == handler.Text)
	} else if !c.infl.Open() {
		c.infl.Reset(c.cfg.MaxMessageSize, ev.Type == handler.Text)
	}
	err := c.infl.Write(ev.Data)
	var data []byte
	if err == nil && ev.Fin {
		data, err = c.infl.Close()
	}
	switch {
	case errors.Is(err, deflate.ErrTooBig):
		c.fail(handler.CloseMessageTooBig, "message too big")
		return false
	case errors.Is(err, deflate.ErrInvalidUTF8):
		c.fail(handler.CloseInvalidPayload, "invalid UTF-8 in text message")
		return false
	case err != nil:
		c.fail(handler.CloseInvalidPayload, "invalid compressed data")
		return false
	case !ev.Fin:
		return true
	}
	ok := c.dispatch(proto.Event{Kind: proto.Message, Type: ev.Type, Data: data})
	if !c.infl.KeepsContext() {
		c.releaseInflater()
	}
	return ok
}

// releaseInflater returns the inflater of a message in progress (or just
// delivered) to the pool.
func (c *Conn) releaseInflater() {
	if c.infl != nil {
		c.infl.Release()
		c.infl = nil
	}
}

func eventKind(ev proto.Event) observe.Kind {
	switch ev.Kind {
	case proto.Ping:
		return observe.KindPing
	case proto.Pong:
		return observe.KindPong
	case proto.Close:
		return observe.KindClose
	}
	return observe.KindOf(ev.Type)
}

// ReleaseIdle drops the read-side buffers when no message is in progress,
// so an idle connection holds none.
func (c *Conn) ReleaseIdle() {
	if !c.rd.Buffered() {
		c.rd.Release()
	}
	_ = c.accountRead()
}
