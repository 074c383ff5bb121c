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

// ErrRequestDropped is what Conn.Request panics with once Opened has
// returned, on a server whose DropRequest is set: it keeps nothing of the
// request then, and a handler that reads it later has a bug that a nil
// would only turn into a vaguer panic. (A panic in a callback costs its
// connection, closed with 1011, and is logged.)
var ErrRequestDropped = errors.New("ws4go: Conn.Request after Opened, but the server's DropRequest is set: read what you need of the request in Opened")

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
	// with path and query, headers, Host and RemoteAddr (and, behind an
	// http.Handler, TLS, the mux's path values and what a middleware
	// changed). Its Body is empty. It is never nil; treat it as
	// read-only.
	//
	// The connection keeps the request for its whole life, as bytes: on
	// the standalone listener the head as it arrived, at most 8 KiB (431
	// past it); behind an http.Handler over HTTP/1.1, the request without
	// its Header plus the header fields as a head carries them (at most
	// 8 KiB with the URL and Host, 431 past it); over HTTP/2, the request
	// as net/http made it, which the stream holds anyway. During Opened
	// every call returns the same request; afterwards each call builds a
	// new one from those bytes (microseconds, and garbage of a few times
	// their size), so a handler that needs a field on every message reads
	// it in Opened and keeps it (SetData). After Opened, the request's
	// Context is not the upgrade's: use Conn.Context. docs/budgets.md says
	// what keeping it costs an idle connection.
	//
	// A server whose DropRequest is set keeps nothing of it after Opened,
	// and Request then panics with ErrRequestDropped.
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
	// over) when first asked for during Opened: the context chain is not
	// kept otherwise.
	Context() context.Context
}
