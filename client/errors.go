package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ws4go/ws4go/handler"
)

// Handshake failures. A failed opening handshake is reported as a
// *HandshakeError that wraps one of these, so callers can tell them apart
// with errors.Is.
var (
	// ErrBadStatus: the server answered with a status other than 101
	// Switching Protocols (a refusal, a redirect, a plain HTTP server),
	// or, over HTTP/2, other than 2xx.
	ErrBadStatus = errors.New("status is not 101 Switching Protocols")
	// ErrBadUpgrade: the Upgrade header is missing or does not name
	// "websocket".
	ErrBadUpgrade = errors.New(`the Upgrade header does not name "websocket"`)
	// ErrBadConnection: the Connection header is missing or does not
	// include "Upgrade".
	ErrBadConnection = errors.New(`the Connection header does not include "Upgrade"`)
	// ErrMissingAccept: the Sec-WebSocket-Accept header is missing.
	ErrMissingAccept = errors.New("the Sec-WebSocket-Accept header is missing")
	// ErrBadAccept: Sec-WebSocket-Accept does not match the key sent (or
	// appears more than once).
	ErrBadAccept = errors.New("the Sec-WebSocket-Accept header does not match the key sent")
	// ErrBadSubprotocol: the server chose a subprotocol the client did not
	// offer, or more than one.
	ErrBadSubprotocol = errors.New("the server chose a subprotocol that was not offered")
	// ErrBadExtension: the server accepted an extension the client did
	// not offer (any extension when compression is disabled, anything but
	// permessage-deflate otherwise), accepted it more than once, or sent a
	// malformed Sec-WebSocket-Extensions header.
	ErrBadExtension = errors.New("the server chose an extension that was not offered")
	// ErrBadExtensionParam: the server accepted permessage-deflate with
	// parameters RFC 7692 does not allow in its answer: an unknown or
	// duplicate parameter, a bad value, client_max_window_bits when it
	// was not offered, or no server_no_context_takeover when it was
	// requested (Compression.ServerNoContextTakeover).
	ErrBadExtensionParam = errors.New("the server accepted permessage-deflate with invalid parameters")
	// ErrMalformedResponse: the response is not valid HTTP/1.1.
	ErrMalformedResponse = errors.New("malformed handshake response")
	// ErrHeadTooLarge: the response's head (its status line and header
	// fields) is longer than 8 KiB, the bound the server puts on request
	// heads. The client stops reading there.
	ErrHeadTooLarge = errors.New("the response head is larger than 8 KiB")
	// ErrProxy: the proxy did not open the tunnel: an HTTP or HTTPS
	// proxy answered the CONNECT request with something other than 2xx
	// (or with an invalid or oversized answer), a SOCKS5 proxy refused
	// the credentials or the connection. Failing to reach the proxy at
	// all is not an ErrProxy: that error wraps the network's.
	ErrProxy = errors.New("the proxy refused to open the tunnel")
	// ErrHandshakeTimeout: the connection was not open within
	// Options.HandshakeTimeout. The error also matches
	// context.DeadlineExceeded.
	ErrHandshakeTimeout = errors.New("the connection did not open within Options.HandshakeTimeout")
)

// handshakeTimeout is why a Dial's context ended when HandshakeTimeout
// passed (its cause): it says how long that was.
type handshakeTimeout time.Duration

func (d handshakeTimeout) Error() string {
	return fmt.Sprintf("the connection did not open within HandshakeTimeout (%v)", time.Duration(d))
}

func (handshakeTimeout) Is(target error) bool {
	return target == ErrHandshakeTimeout || target == context.DeadlineExceeded
}

// Timeout reports true, as a net.Error's does.
func (handshakeTimeout) Timeout() bool { return true }

// HandshakeError is a failed opening handshake (or proxy tunnel): the
// server's answer broke RFC 6455 section 4.1, or refused the connection,
// or the proxy refused the tunnel (Err is ErrProxy).
type HandshakeError struct {
	// URL is the WebSocket URL dialled.
	URL string
	// Err is one of the Err* values of this package; errors.Is matches it.
	Err error
	// Detail says what exactly was wrong ("got 404 Not Found",
	// `Upgrade: "h2c"`).
	Detail string
	// StatusCode is the response's status, when there was a response
	// (0 otherwise).
	StatusCode int
	// Header is the response's header, when there was a response.
	Header http.Header
	// Body is the start (at most 1 KiB) of a refusal's body.
	Body []byte
}

// Error says what was wrong, e.g. `ws4go client: handshake with
// ws://127.0.0.1:9001/ws failed: status is not 101 Switching Protocols: got
// 404 Not Found: "no WebSocket handler for this path"`.
func (e *HandshakeError) Error() string {
	var b strings.Builder
	b.WriteString("ws4go client: handshake with ")
	b.WriteString(e.URL)
	b.WriteString(" failed: ")
	b.WriteString(e.Err.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if body := strings.TrimSpace(string(e.Body)); body != "" {
		b.WriteString(": ")
		b.WriteString(strconv.Quote(body))
	}
	return b.String()
}

// Unwrap returns Err.
func (e *HandshakeError) Unwrap() error { return e.Err }

// ErrHandlerSet is what Conn.Read returns on a Conn dialled with a
// handler: its messages go to Handler.ReceivedMessage. Dial with a nil
// handler to read them with Read.
var ErrHandlerSet = errors.New("ws4go client: Read on a Conn dialled with a handler: its messages go to the handler (dial with a nil handler to use Read)")

// CloseError is how a connection ended, as Conn.Read reports it once the
// messages received before the end have been read: the code and reason
// Handler.Closed gets (see handler.Handler), e.g. 1000 and the server's
// reason after a normal close, 1006 and why when no close frame came
// (the server vanished, Terminate, a heartbeat timeout).
// errors.Is(err, handler.ErrClosed) holds for it.
type CloseError struct {
	Code   handler.CloseCode
	Reason string
}

// Error says how the connection ended, e.g. `ws4go client: connection
// closed: 1000 (normal closure) "bye"`.
func (e *CloseError) Error() string {
	s := fmt.Sprintf("ws4go client: connection closed: %d (%v)", uint16(e.Code), e.Code)
	if e.Reason != "" {
		s += " " + strconv.Quote(e.Reason)
	}
	return s
}

// Is reports whether target is handler.ErrClosed.
func (e *CloseError) Is(target error) bool { return target == handler.ErrClosed }
