package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/observe"
)

// Accepted is what an accept hook (Server.Accept) answers for a handshake
// it lets through. The zero value accepts the connection as the server
// would without the hook.
type Accepted struct {
	// NewHandler, if set, makes the connection's handler instead of the
	// factory that Routes or NewHandler give for the request's path (or
	// that HTTPHandler was given).
	NewHandler handler.Factory
	// Subprotocol, if set, is the connection's subprotocol instead of the
	// first of Server.Subprotocols that the client offers. It must be one
	// the client offered (see OfferedSubprotocols): any other is a bug of
	// the hook, and the handshake is refused with 500 and logged.
	Subprotocol string
	// Data is the connection's first value of handler.Conn.Data, there
	// from Opened on.
	Data any
}

// Refusal is an error an accept hook returns to refuse a handshake with a
// response of its own. (Any other error refuses it with 403 and a body
// that does not reveal the error, which is logged at debug level.)
type Refusal struct {
	// Status is the HTTP status, from 300 to 599 but 304 (which has no
	// body); any other value (zero included) means 403 Forbidden.
	Status int
	// Header holds extra response header fields ("WWW-Authenticate",
	// "Retry-After", a "Content-Type" for Body). Fields that frame the
	// response (Content-Length, Connection, Transfer-Encoding, Upgrade)
	// are the server's and are dropped; CR and LF in values become spaces.
	Header http.Header
	// Body is the response body, sent as it is (text/plain unless Header
	// says otherwise).
	Body string
}

// Error implements error.
func (r *Refusal) Error() string {
	return fmt.Sprintf("ws4go: handshake refused with %d", r.status())
}

// status is the status sent: Status if it may carry the body, else 403.
func (r *Refusal) status() int {
	if r == nil || r.Status < 300 || r.Status > 599 || r.Status == http.StatusNotModified {
		return http.StatusForbidden
	}
	return r.Status
}

// OfferedSubprotocols returns the subprotocols the client offers in r
// (Sec-WebSocket-Protocol), in its order: the choices an accept hook has
// for Accepted.Subprotocol.
func OfferedSubprotocols(r *http.Request) []string {
	return handshake.OfferedSubprotocols(r)
}

// runAccept runs the accept hook, if any, on the request of a handshake
// that passed every check (res is its result, which the hook may change),
// routed to f. It returns the connection's factory (f, unless the hook
// picked another) and Data, or the rejection to send. A panic in the hook
// costs only this handshake.
func (s *Server) runAccept(r *http.Request, f handler.Factory, res *handshake.Result) (Accepted, *handshake.Rejection) {
	if s.Accept == nil {
		return Accepted{NewHandler: f}, nil
	}
	if r == nil {
		// The raw head was accepted but net/http refuses it: a bug
		// of the head parser, refused as the origin check refuses it.
		return Accepted{}, handshake.Reject(observe.RejectMalformed, "malformed request")
	}
	var ctx context.Context
	var cancel context.CancelFunc
	if d := s.handshakeTimeout(); d > 0 {
		ctx, cancel = context.WithTimeout(r.Context(), d)
	} else {
		ctx, cancel = context.WithCancel(r.Context())
	}
	defer cancel()
	stop := context.AfterFunc(s.closed, cancel)
	defer stop()
	a, rej := s.callAccept(r.WithContext(ctx))
	if rej == nil && s.closing.Load() {
		// Shutdown started while the hook ran: every path refuses
		// alike (the hook saw its context end, and may have refused
		// for that).
		rej = handshake.Reject(observe.RejectShuttingDown, "server shutting down")
	}
	if rej != nil {
		return Accepted{}, rej
	}
	if a.Subprotocol != "" {
		if !slices.Contains(res.Offered, a.Subprotocol) {
			s.logger().Error("ws4go: the accept hook chose a subprotocol the client did not offer; refusing the handshake with 500",
				"subprotocol", a.Subprotocol, "offered", res.Offered)
			return Accepted{}, handshake.Reject(observe.RejectInternal, "internal error")
		}
		res.Subprotocol = a.Subprotocol
	}
	if a.NewHandler == nil {
		a.NewHandler = f
	}
	return Accepted{NewHandler: a.NewHandler, Data: a.Data}, nil
}

// callAccept calls the hook and turns its error into the rejection to send.
// A panic, in the hook or in what its error does (Error, As), becomes a
// RejectPanic rejection.
func (s *Server) callAccept(r *http.Request) (a Accepted, rej *handshake.Rejection) {
	defer func() {
		if v := recover(); v != nil {
			rej = handshake.Reject(observe.RejectPanic, "internal error")
			rej.Panic, rej.Stack = v, debug.Stack()
			rej.Site = observe.SiteAccept
		}
	}()
	a, err := s.Accept(r)
	if err == nil {
		return a, nil
	}
	var ref *Refusal
	if !errors.As(err, &ref) || ref == nil { // a typed nil *Refusal too
		s.logger().Debug("ws4go: the accept hook refused a handshake", "remote", r.RemoteAddr, "err", err)
		ref = &Refusal{Status: http.StatusForbidden, Body: "forbidden\n"}
	}
	rej = handshake.Reject(observe.RejectAccept, ref.Body)
	rej.Code, rej.Header = ref.status(), ref.Header
	return Accepted{}, rej
}
