// Package netpoll is ws4go's epoll engine: connections wait for readiness in
// one epoll set, and a small pool of workers takes ready connections from it
// and processes them where they are: read what is there into the worker's
// buffer, parse it without blocking, run the handler. An idle connection
// holds no goroutine and no buffer: only its descriptor, its epoll
// registration and its small connection state.
//
// Connections are accepted as raw descriptors (accept4), so each costs exactly
// one fd and stays out of the Go runtime's own poller. Each is registered
// once, edge-triggered, for reading and writing; it is never re-armed. A
// per-connection counter decides who processes it, so a connection is
// processed by one worker at a time, in order, however many workers saw its
// events.
//
// Workers take events from the epoll set themselves (epoll_wait without
// waiting), so an event costs no hand-off between goroutines; GOMAXPROCS of
// them are started. When nothing is ready, one worker waits in the Go
// runtime's own poller for the epoll set to become readable (never in a
// blocking epoll_wait, which would hold its P from the rest of the
// process), and the others sleep until it finds more than one event ready:
// a light load is served by one worker without waking the others.
//
// A handler that blocks holds its worker: a monitor notices a worker stalled
// on one event (after a few milliseconds), hands the rest of its batch to the
// other workers and gets another worker polling (a sleeping one, or a new
// one up to Config.Workers goroutines in all). When that many are held,
// nobody polls: ready connections wait in the kernel (the engine's
// backpressure) and no goroutine is added.
//
// The engine started on github.com/mailru/easygo/netpoll; it now drives
// epoll itself, since easygo's single wait loop needs a hand-off to a worker
// for every event and a re-arm (EPOLL_CTL_MOD) per turn, and keeps a map
// entry and a closure per descriptor: owning the loop made echo cheaper per
// message and idle connections smaller.
package netpoll

import (
	"log/slog"
	"net"
	"time"

	"github.com/ws4go/ws4go/internal/wsconn"
)

// Decision is the server's answer to a complete request head.
type Decision struct {
	// Response is written to the client (101 or a refusal).
	Response []byte
	// Accept, set when the handshake is accepted, makes the connection.
	Accept func(wsconn.Transport) *wsconn.Conn
	// Fallback, if set, takes over a plain HTTP request: read holds the
	// bytes read so far.
	Fallback func(nc net.Conn, read []byte)
}

// Config configures an Engine.
type Config struct {
	// Workers is the most goroutines processing connections, those held
	// by a handler that blocks included (default 4×GOMAXPROCS); at most
	// GOMAXPROCS of them poll at once.
	Workers int
	// ReadBufferSize is the size of each worker's read buffer (default
	// 32 KiB).
	ReadBufferSize int
	// HandshakeTimeout drops a connection that has not completed its
	// request head in time (default 10 s).
	HandshakeTimeout time.Duration
	// HeadEnd returns the length of a complete request head in buf, 0 if
	// it is not complete yet, or a refusal to send if it can never be.
	HeadEnd func(buf []byte) (n int, refuse []byte)
	// Decide answers a complete request head.
	Decide func(head []byte) Decision
	// Table tracks the open connections.
	Table  *wsconn.Table
	Logger *slog.Logger
	// Accepted and TimedOut, if set, are told of each accepted connection
	// and each one dropped for not finishing its handshake in time.
	Accepted, TimedOut func()
}
