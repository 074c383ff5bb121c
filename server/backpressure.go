package server

import "github.com/ws4go/ws4go/handler"

// SlowPolicy says what a publish does to a subscriber whose write queue has
// no room for the message (past MaxWriteQueue, or past MaxBufferedBytes
// while it holds frames already).
type SlowPolicy uint8

// Slow-subscriber policies.
const (
	// SlowClose closes the subscriber, as a Send would: with
	// WriteQueueCloseCode (default 1008), or 1013 when the server-wide
	// MaxBufferedBytes is what it would pass. The default.
	SlowClose SlowPolicy = iota
	// SlowSkip leaves it open and skips the message for it: the
	// subscriber misses it, which the Observer hears (Skipped; the
	// metrics count it in ws4go_publish_skipped_total). A subscriber that
	// stops reading still ends after WriteTimeout without progress.
	SlowSkip
)

// BufferedAmount returns the bytes queued for c, a connection of s, and not
// handed to the socket yet (0 for a connection that is not s's): its own
// messages and those published to it, what is left of one partly written,
// and messages waiting for the end of one sent with NewWriter. A handler
// that produces for a slow reader checks it (as with a browser's
// WebSocket.bufferedAmount) and resumes in Drained (see handler.Drainer).
func (s *Server) BufferedAmount(c handler.Conn) int {
	wc, err := s.conn(c)
	if err != nil {
		return 0
	}
	return wc.BufferedAmount()
}
