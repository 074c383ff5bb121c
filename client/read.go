package client

import (
	"context"
	"sync"
	"unsafe"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/wsconn"
)

// maxUnread bounds the memory the unread messages of a Conn read with Read
// hold before its socket stops being read (see Conn.Read).
const maxUnread = 64 << 10

// entryCost is a held message's share of the inbox's index: its entry,
// twice over for the slack of a growing slice.
const entryCost = 2 * int(unsafe.Sizeof(handler.Message{}))

// inbox is the handler of a Conn dialled without one: it keeps the
// messages for Read, in order, and holds the connection's input while they
// take maxUnread bytes or more. The transport stops feeding at the message
// that holds (wsconn.Conn.FeedUntilHeld), so mem stays below maxUnread
// plus one message.
type inbox struct {
	c     *wsconn.Conn
	ready chan struct{} // a message or the end is there (capacity 1)

	mu   sync.Mutex
	msgs []handler.Message
	mem  int         // what msgs hold, in heap bytes
	peak int         // the most mem has been (for tests)
	held bool        // c's input is held
	end  *CloseError // set by Closed
}

func newInbox() *inbox { return &inbox{ready: make(chan struct{}, 1)} }

func (in *inbox) Opened(handler.Conn)         {}
func (in *inbox) Ponged(handler.Conn, []byte) {}

// ReceivedMessage keeps a copy of m: its buffer is the reader's. The
// copy's capacity is what the allocator gave it (append rounds up to the
// size class), so mem counts the heap it really takes.
func (in *inbox) ReceivedMessage(_ handler.Conn, m handler.Message) {
	m.Data = append([]byte{}, m.Data...)
	in.mu.Lock()
	in.msgs = append(in.msgs, m)
	in.mem += cap(m.Data) + entryCost
	in.peak = max(in.peak, in.mem)
	if !in.held && in.mem >= maxUnread {
		in.held = true
		in.c.HoldRead()
	}
	in.mu.Unlock()
	in.signal()
}

func (in *inbox) Closed(_ handler.Conn, code handler.CloseCode, reason string) {
	in.mu.Lock()
	in.end = &CloseError{Code: code, Reason: reason}
	in.mu.Unlock()
	in.signal()
}

// signal wakes one waiting Read (which passes the signal on while more is
// there).
func (in *inbox) signal() {
	select {
	case in.ready <- struct{}{}:
	default:
	}
}

// next takes the next message, or how the connection ended; ok is false
// when there is neither yet.
func (in *inbox) next() (m handler.Message, end *CloseError, ok bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.msgs) == 0 {
		if in.end == nil {
			return m, nil, false
		}
		in.signal() // for the other Reads waiting
		return m, in.end, true
	}
	m = in.msgs[0]
	in.msgs[0] = handler.Message{}
	in.msgs = in.msgs[1:]
	in.mem -= cap(m.Data) + entryCost
	if len(in.msgs) > 0 || in.end != nil {
		in.signal()
	}
	if in.held && in.mem < maxUnread {
		in.held = false
		in.c.ReleaseRead()
	}
	return m, nil, true
}

// Read returns the next message of a Conn dialled with a nil handler: its
// type and payload, which the caller owns. It waits for one until ctx ends,
// and then returns ctx's error (as it does at once when ctx has ended
// already): the connection stays open, and the next message is the next
// Read's. Once the connection has ended and
// every message received before its end has been read, Read returns a
// *CloseError saying how it ended (errors.Is(err, handler.ErrClosed)
// holds), at every call. On a Conn dialled with a handler, Read returns
// ErrHandlerSet at once: its messages go to Handler.ReceivedMessage.
//
// Unread messages are bounded: once they hold 64 KiB of memory or more,
// the Conn stops reading, right after the message that reached the bound
// (what it had read beyond that waits too), until Read has taken them
// below it. So at most 64 KiB plus one message (of Options.MaxMessageSize
// at most) wait for Read whatever the server sends, and a server that sends
// faster than the application reads is held back by TCP (its writes back
// up), as the server holds back a client that does not read. While the
// socket is not read, the heartbeat and MessageTimeout are suspended (the
// server's silence is the application's), and nothing the server sends is
// seen, its pings included: a server whose heartbeat expects a pong within
// less time than the application lags drops the connection, as it would
// any client that stops reading. Close ends the pause: the closing
// handshake reads on, discarding the messages that follow the client's
// close frame; the ones received before it are still returned.
//
// ctx only bounds the wait: unlike coder/websocket's Read, whose ctx ending
// closes the connection (a message half read cannot be resumed there),
// nothing is lost here, since messages are whole before Read sees them.
//
// One goroutine at a time is the intended use; concurrent Reads are safe
// and each message goes to one of them, but which one returns first is not
// defined. Sends may be made from any goroutine while a Read waits.
func (c *Conn) Read(ctx context.Context) (handler.MessageType, []byte, error) {
	in := c.in
	if in == nil {
		return 0, nil, ErrHandlerSet
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	for {
		m, end, ok := in.next()
		switch {
		case end != nil:
			return 0, nil, end
		case ok:
			return m.Type, m.Data, nil
		}
		select {
		case <-in.ready:
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		}
	}
}
