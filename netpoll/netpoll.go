// Package netpoll is ws4go's epoll engine: connections wait for readiness in
// one epoll set (github.com/mailru/easygo/netpoll), and a readable or writable
// connection is handed to a bounded pool of workers that read what is there,
// parse it without blocking and run the handler. An idle connection holds no
// goroutine and no buffer: only its descriptor, its epoll registration and its
// small connection state.
//
// Connections are accepted as raw descriptors (accept4), so each costs exactly
// one fd and stays out of the Go runtime's own poller. (easygo's Handle* and
// NewDesc wrap the descriptor in an os.File: Handle dup()s it, and File.Fd
// turns a non-blocking socket back to blocking on every re-arm; the engine
// uses easygo's Epoll on the raw descriptor instead.) Descriptors are
// registered one-shot: a connection is processed by at most one worker at a
// time, in order, and re-armed when the worker is done.
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
	// Workers is the most goroutines processing connections at once
	// (default 4×GOMAXPROCS).
	Workers int
	// Queue is how many ready connections may wait for a worker (default
	// 16×Workers). When it is full the poller waits: backpressure.
	Queue int
	// ReadBufferSize is the size of the pooled read buffers (default 32 KiB).
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
