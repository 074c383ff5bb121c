package server

import (
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/wsconn"
)

// Len returns the number of open WebSocket connections.
func (s *Server) Len() int {
	s.init()
	return s.table.Len()
}

// Stats is a snapshot of a server's load.
type Stats struct {
	// Connections is the number of open WebSocket connections.
	Connections int
	// WorkersBusy and WorkerQueue are the netpoll engine's workers
	// running a connection now and the ready connections already taken
	// from epoll that wait for a worker (zero on the goroutine engine).
	WorkersBusy, WorkerQueue int
	// Buffered is the bytes held now for partial messages, inflater
	// output and write queues across all connections.
	Buffered int64
	// Topics is the number of topics with subscribers, Subscriptions
	// the subscriptions of all connections.
	Topics, Subscriptions int
}

// Stats returns a snapshot of the server's load.
func (s *Server) Stats() Stats {
	s.init()
	st := Stats{Connections: s.table.Len(), Buffered: s.wcfg.Budget.Held()}
	st.Topics, st.Subscriptions = s.table.TopicStats()
	if n, ok := s.engine.(*netpollEngine); ok {
		st.WorkersBusy, st.WorkerQueue = n.e.Stats()
	}
	return st
}

// Range calls f for each open connection until f returns false.
func (s *Server) Range(f func(handler.Conn) bool) {
	s.init()
	s.table.Range(f)
}

// Broadcast sends a message to every open connection (ws4py's manager
// broadcast): it is Publish to a topic everyone is subscribed to, with the
// same ordering, queueing and slow-subscriber policy, and returns how many
// connections it was queued for (0 for a message Publish refuses: a bad
// type, text that is not UTF-8, one past MaxMessageSize).
func (s *Server) Broadcast(t handler.MessageType, p []byte) int {
	s.init()
	if s.checkSize(len(p)) != nil {
		return 0
	}
	m, err := wsconn.NewPrepared(t, p)
	if err != nil {
		return 0
	}
	return s.table.Broadcast(m)
}

// CloseAll starts the closing handshake of every open connection.
func (s *Server) CloseAll(code handler.CloseCode, reason string) {
	s.init()
	s.table.CloseAll(code, reason)
}
