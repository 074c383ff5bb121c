package handler

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
)

// ErrClosed is returned by the sending methods of a Conn once its closing
// handshake has started or the connection is gone.
var ErrClosed = errors.New("ws4go: connection closed")

// ErrWriteQueueFull is returned by a send that would grow the connection's
// queue of unsent bytes past its limit; the connection is then closed (see the
// server's write-queue settings), since a peer that does not read would
// otherwise make the server hold unbounded memory.
var ErrWriteQueueFull = errors.New("ws4go: write queue full")

// Conn is one WebSocket connection, as seen by its handler.
//
// Every method is safe to call from any goroutine at any time, including
// after the connection has closed (sends then return ErrClosed). Sends never
// wait on the peer without bound: bytes the socket does not take at once are
// queued per connection up to a limit and written in the background, so a
// slow peer cannot hold up the caller or other connections.
type Conn interface {
	// Send sends one complete message of type t. The payload is copied or
	// written before Send returns, so p may be reused afterwards.
	Send(t MessageType, p []byte) error
	// SendText sends s as one text message. s must be valid UTF-8.
	SendText(s string) error
	// SendBinary sends p as one binary message.
	SendBinary(p []byte) error
	// NewWriter starts a message of type t sent as a stream of fragments
	// (ws4py's send(generator)): each Write sends one fragment, Close sends
	// the final one. Other data messages wait until the writer is closed;
	// control frames (ping, pong, close) may still be sent in between. The
	// writer must be closed.
	NewWriter(t MessageType) (io.WriteCloser, error)
	// Ping sends a ping with payload (at most 125 bytes). The peer's pong
	// arrives at Handler.Ponged.
	Ping(payload []byte) error
	// Close starts the closing handshake with code and reason (the reason
	// is at most 123 bytes of UTF-8). The close frame is sent once: later
	// calls do nothing and return nil. The server closes the TCP
	// connection when the peer answers, or after the close timeout.
	// Codes that must not appear on the wire (1005, 1006, 1015) and
	// other invalid codes are refused with an error.
	Close(code CloseCode, reason string) error
	// Terminate drops the connection without a closing handshake.
	// Handler.Closed follows with CloseAbnormal, unless a close frame had
	// already been sent or received (see Handler.Closed).
	Terminate()

	// LocalAddr is the server's address of the connection.
	LocalAddr() net.Addr
	// RemoteAddr is the peer's address.
	RemoteAddr() net.Addr
	// Request is the HTTP upgrade request (ws4py's environ): method, URL
	// with path and query, headers and Host. Its Body is empty. Treat it
	// as read-only.
	//
	// It is always available during Opened. To keep idle connections
	// small, the standalone server keeps it afterwards only if the handler
	// called Request during Opened (or the server's KeepRequest is set);
	// otherwise Request returns nil once Opened has returned. (Behind an
	// http.Handler the *http.Request exists anyway and is kept.) Read what
	// you need in Opened.
	Request() *http.Request
	// Subprotocol is the subprotocol chosen in the handshake, or "".
	Subprotocol() string

	// Data returns the value last given to SetData, or nil.
	Data() any
	// SetData stores a per-connection value for the application.
	SetData(v any)

	// Context returns the connection's context: it is cancelled once the
	// connection is gone (its socket closed: after the closing handshake,
	// or at once by Terminate), before Closed is called (so Closed may
	// wait for the goroutines that watch it), and is already cancelled if
	// the connection is gone when it is first asked for. Pass it to the
	// work a handler starts in goroutines of its own. Behind an
	// http.Handler it carries the upgrade request's context values (not
	// its cancellation: the request ends once the connection is taken
	// over) when first asked for during Opened, as Request is kept.
	Context() context.Context
}
