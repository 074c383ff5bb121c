package server

import (
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/wsconn"
)

// PreparedMessage is a message encoded once, to send to any number of
// connections, topics or servers (as gorilla's PreparedMessage): every write
// queue that holds it refers to the same frame, which counts once in
// MaxBufferedBytes while any queue holds it, and against each connection's
// MaxWriteQueue as its own would. It is safe for concurrent use.
type PreparedMessage struct{ m *wsconn.Prepared }

// Prepare makes a message of type t (handler.Text or handler.Binary) with
// payload, which it copies: the caller may reuse it. A text payload must be
// valid UTF-8 (ErrInvalidUTF8).
func Prepare(t handler.MessageType, payload []byte) (*PreparedMessage, error) {
	m, err := wsconn.NewPrepared(t, payload)
	if err != nil {
		return nil, err
	}
	return &PreparedMessage{m: m}, nil
}

// Type returns the message's type.
func (pm *PreparedMessage) Type() handler.MessageType { return pm.m.Type() }

// Len returns the message's payload length.
func (pm *PreparedMessage) Len() int { return pm.m.Len() }

// SendPrepared queues pm for c, a connection of s, as Publish queues it for
// a subscriber: it never writes on the caller's goroutine. It returns
// handler.ErrWriteQueueFull if c had no room for it (c is then closed, or
// left open with SlowSubscribers SlowSkip), handler.ErrClosed if c is
// closing.
func (s *Server) SendPrepared(c handler.Conn, pm *PreparedMessage) error {
	wc, err := s.conn(c)
	if err != nil {
		return err
	}
	if err := s.checkSize(pm.m.Len()); err != nil {
		return err
	}
	return wc.SendPrepared(pm.m)
}

// BroadcastPrepared is Broadcast with a message prepared once: it returns
// how many connections it was queued for (0 for a message larger than
// MaxMessageSize).
func (s *Server) BroadcastPrepared(pm *PreparedMessage) int {
	s.init()
	if s.checkSize(pm.m.Len()) != nil {
		return 0
	}
	return s.table.Broadcast(pm.m)
}
