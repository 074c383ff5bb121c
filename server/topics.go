package server

import (
	"errors"
	"fmt"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/wsconn"
)

// Topics: a connection subscribes to named topics (from its handler, or
// from anywhere through the server), and Publish sends a message to every
// subscriber of a topic. docs/topics.md says how the messages are written
// and what the bounds cost.

// MaxTopicLength is the longest topic name, in bytes.
const MaxTopicLength = wsconn.MaxTopicLength

// Defaults for the subscription bounds.
const (
	DefaultMaxSubscriptions      = 1000
	DefaultMaxTotalSubscriptions = 1_000_000
)

var (
	// ErrTopicName refuses a topic name that is empty, longer than
	// MaxTopicLength or not valid UTF-8 (the error returned wraps it
	// with what is wrong).
	ErrTopicName = wsconn.ErrTopicName
	// ErrTooManySubscriptions refuses a subscription past
	// Server.MaxSubscriptions or Server.MaxTotalSubscriptions (the error
	// returned wraps it with which).
	ErrTooManySubscriptions = wsconn.ErrTooManySubscriptions
	// ErrUnknownConn refuses a handler.Conn that is not a connection of
	// this server (another server's, a client's, a test double).
	ErrUnknownConn = errors.New("ws4go: not a connection of this server")
	// ErrInvalidUTF8 refuses a text message to publish or prepare that is
	// not valid UTF-8: every subscriber would fail it with 1007.
	ErrInvalidUTF8 = wsconn.ErrInvalidUTF8
	// ErrMessageTooLarge refuses a message to publish, broadcast or send
	// prepared that is larger than Server.MaxMessageSize.
	ErrMessageTooLarge = errors.New("ws4go: message larger than MaxMessageSize")
)

// conn returns c as one of s's connections.
func (s *Server) conn(c handler.Conn) (*wsconn.Conn, error) {
	s.init()
	wc, ok := c.(*wsconn.Conn)
	if !ok || !s.table.Has(wc) {
		return nil, ErrUnknownConn
	}
	return wc, nil
}

// Subscribe subscribes c, a connection of s, to topic; subscribing again to
// a topic it has does nothing. It is safe from any goroutine, a handler's
// callbacks included. The subscription ends with Unsubscribe or with the
// connection, whichever comes first; a connection that is closing gets
// handler.ErrClosed. It fails with ErrTooManySubscriptions past
// MaxSubscriptions for c or MaxTotalSubscriptions for the server.
func (s *Server) Subscribe(c handler.Conn, topic string) error {
	wc, err := s.conn(c)
	if err != nil {
		return err
	}
	return s.table.Subscribe(wc, topic)
}

// Unsubscribe ends c's subscription to topic, if it has one.
func (s *Server) Unsubscribe(c handler.Conn, topic string) error {
	wc, err := s.conn(c)
	if err != nil {
		return err
	}
	return s.table.Unsubscribe(wc, topic)
}

// Subscriptions returns the topics c is subscribed to, in no particular
// order (none for a connection that is not s's).
func (s *Server) Subscriptions(c handler.Conn) []string {
	wc, err := s.conn(c)
	if err != nil {
		return nil
	}
	return wc.Subscriptions()
}

// Subscribers returns how many connections are subscribed to topic.
func (s *Server) Subscribers(topic string) int {
	s.init()
	return s.table.Subscribers(topic)
}

// Publish sends a message of type t to every subscriber of topic and
// returns how many it was queued for. payload is copied: it may be reused
// at once. Every subscriber gets a topic's messages in the order they were
// published (publishes to one topic are serialised).
//
// Publish only queues (the frame, encoded once, is shared by every queue),
// and leaves the writing to the engine's workers: it makes no system call
// per subscriber. A subscriber without room for the message in its write
// queue is closed or skipped, as SlowSubscribers says; a closing one is not
// counted. It is safe from any goroutine, a handler's callbacks included,
// and during Shutdown (closing connections are not counted).
func (s *Server) Publish(topic string, t handler.MessageType, payload []byte) (int, error) {
	s.init()
	if err := wsconn.CheckTopic(topic); err != nil {
		return 0, err
	}
	if err := s.checkSize(len(payload)); err != nil {
		return 0, err
	}
	m, err := wsconn.NewPrepared(t, payload)
	if err != nil {
		return 0, err
	}
	return s.table.Publish(topic, m)
}

// PublishPrepared is Publish with a message prepared once (see Prepare):
// the same frame is queued for every subscriber of every publish.
func (s *Server) PublishPrepared(topic string, pm *PreparedMessage) (int, error) {
	s.init()
	if err := s.checkSize(pm.m.Len()); err != nil {
		return 0, err
	}
	return s.table.Publish(topic, pm.m)
}

// checkSize refuses a message larger than MaxMessageSize.
func (s *Server) checkSize(n int) error {
	if max := s.wcfg.MaxMessageSize; max > 0 && int64(n) > max {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrMessageTooLarge, n, max)
	}
	return nil
}
