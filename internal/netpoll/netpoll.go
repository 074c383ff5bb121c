// Package netpoll is the epoll engine behind server.EngineNetpoll. Its design
// is described in the documentation of the public package
// github.com/ws4go/ws4go/netpoll; its API speaks the server's internal types
// (wsconn.Conn, wsconn.Table) and is for package server only.
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
	// Unsent, if set, is called instead of Accept when the socket did
	// not take Response: no connection is made.
	Unsent func()
	// Fallback, if set, takes over a plain HTTP request: read holds the
	// bytes read so far (a copy it keeps). It is called on the worker,
	// so it must not block: it starts what serves nc (a goroutine it
	// can count before it starts, which a goroutine started here could
	// not).
	Fallback func(nc net.Conn, read []byte)
}

// Peer is what Decide may ask of the connection besides its head.
type Peer interface{ RemoteAddr() net.Addr }

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
	// request head in time (default 10 s; negative: no bound).
	HandshakeTimeout time.Duration
	// HeadEnd returns the length of a complete request head in buf, 0 if
	// it is not complete yet, or a refusal to send if it can never be.
	HeadEnd func(buf []byte) (n int, refuse []byte)
	// Decide answers a complete request head that came from p.
	Decide func(head []byte, p Peer) Decision
	// Table tracks the open connections.
	Table  *wsconn.Table
	Logger *slog.Logger
	// Accepted and TimedOut, if set, are told of each accepted connection
	// and each one dropped for not finishing its handshake in time.
	Accepted, TimedOut func()
}
