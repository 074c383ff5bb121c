// Package observe defines the hooks through which ws4go reports what its
// connections do, for metrics or tracing. The metrics package implements
// them with Prometheus; a server without an Observer pays nothing but a nil
// check.
//
// Implementations must be safe for concurrent use and cheap: the per-message
// hooks run on the hot path of every connection.
package observe

import (
	"time"

	"github.com/ws4go/ws4go/handler"
)

// Kind is the kind of a frame or message.
type Kind uint8

// Kinds. KindText and KindBinary count whole messages; the control kinds
// count frames. (They are named apart from handler.Text and handler.Binary,
// whose values differ.)
const (
	KindText Kind = iota
	KindBinary
	KindPing
	KindPong
	KindClose
	NumKinds
)

// String returns the kind's name, as used in metric labels.
func (k Kind) String() string {
	return [...]string{"text", "binary", "ping", "pong", "close", "?"}[min(k, NumKinds)]
}

// KindOf is the Kind of a data message type.
func KindOf(t handler.MessageType) Kind {
	if t == handler.Text {
		return KindText
	}
	return KindBinary
}

// Side says which end started the closing handshake.
type Side uint8

// Sides.
const (
	// Nobody: the connection ended without a closing handshake.
	Nobody Side = iota
	// Server: the server sent the first close frame.
	Server
	// Peer: the client sent the first close frame.
	Peer
)

// String returns the side's name, as used in metric labels.
func (s Side) String() string {
	return [...]string{"none", "server", "peer"}[min(s, Peer+1)]
}

// Reason is why an opening handshake was refused.
type Reason uint8

// Reasons, with the HTTP status each gets.
const (
	RejectMalformed      Reason = iota // 400: malformed request line or header
	RejectMethod                       // 400: not GET
	RejectHTTPVersion                  // 400: older than HTTP/1.1
	RejectHost                         // 400: Host missing or repeated
	RejectNotUpgrade                   // 400: Upgrade or Connection do not ask for a WebSocket
	RejectKey                          // 400: Sec-WebSocket-Key is not the base64 of 16 bytes
	RejectNoVersion                    // 400: no Sec-WebSocket-Version
	RejectVersion                      // 426: a Sec-WebSocket-Version other than 13
	RejectExtension                    // 400: malformed Sec-WebSocket-Extensions
	RejectOrigin                       // 403: a browser Origin that is not allowed
	RejectNotFound                     // 404: no WebSocket handler for the path
	RejectTimeout                      // 408: the request head did not arrive in time
	RejectTooLarge                     // 431: the request head is too large
	RejectInternal                     // 500: the connection could not be taken over, or the accept hook chose a subprotocol not offered
	RejectShuttingDown                 // 503: the server is shutting down
	RejectHostNotAllowed               // 403: a Host the server does not serve (DNS rebinding)
	RejectPanic                        // 500: a user hook (origin check, accept hook) panicked
	RejectAccept                       // 403 (the response has the status the hook chose): the server's Accept hook refused the handshake
	// The TLS handshake failed (status 0: no HTTP response is sent).
	RejectTLSTimeout     // the TLS handshake did not finish within HandshakeTimeout
	RejectTLSClosed      // the client closed or reset the connection during the TLS handshake
	RejectTLSNotTLS      // the client does not speak TLS (plain HTTP to a TLS port)
	RejectTLSUnsupported // no protocol version, cipher suite, group or ALPN protocol in common
	RejectTLSCertificate // the client refused the server's certificate (an alert such as unknown_ca)
	RejectTLSOther       // any other TLS handshake failure
	// (After the TLS reasons, so that their values stay what they were.)
	RejectMaxConnections // 503: the server holds its MaxConnections WebSockets (the response has Retry-After)
	// HTTP/2 refused (status 0): the server holds its MaxH2Connections
	// HTTP/2 connections. ALPN gave the client http/1.1 instead (counted
	// once its TLS handshake is done), or failed the handshake of a
	// client that offers h2 alone; on a tls.NewListener of the
	// application's the connection was closed after its handshake.
	RejectMaxH2Connections
	NumReasons
)

var reasons = [NumReasons]struct {
	name   string
	status int
}{
	{"malformed", 400}, {"method", 400}, {"http_version", 400}, {"host", 400},
	{"not_upgrade", 400}, {"key", 400}, {"no_version", 400}, {"version", 426},
	{"extension", 400}, {"origin", 403}, {"not_found", 404}, {"timeout", 408},
	{"too_large", 431}, {"internal", 500}, {"shutting_down", 503},
	{"host_not_allowed", 403}, {"panic", 500}, {"accept", 403},
	{"tls_timeout", 0}, {"tls_closed", 0}, {"tls_not_tls", 0},
	{"tls_unsupported", 0}, {"tls_certificate", 0}, {"tls_other", 0},
	{"max_connections", 503}, {"max_h2_connections", 0},
}

// String returns the reason's name, as used in metric labels.
func (r Reason) String() string {
	if r >= NumReasons {
		return "other"
	}
	return reasons[r].name
}

// Status returns the HTTP status of a refusal for reason r.
func (r Reason) Status() int {
	if r >= NumReasons {
		return 400
	}
	return reasons[r].status
}

// Site is the kind of user code that panicked.
type Site uint8

// Sites.
const (
	SiteCallback Site = iota // a Handler callback (the connection gets 1011)
	SiteFactory              // a handler Factory (1011)
	SiteOrigin               // an origin check (CheckOrigin): the handshake gets 500
	SiteAccept               // an accept hook: the handshake gets 500
	NumSites
)

// String returns the site's name, as used in metric labels.
func (s Site) String() string {
	return [...]string{"callback", "factory", "origin", "accept", "other"}[min(s, NumSites)]
}

// Limit is a bound past which a connection was ended.
type Limit uint8

// Limits.
const (
	// LimitMessageTimeout: a message or frame that had begun did not
	// arrive whole within the message timeout.
	LimitMessageTimeout Limit = iota
	// LimitWriteTimeout: queued frames made no progress for the write
	// timeout (the peer stopped reading).
	LimitWriteTimeout
	// LimitBudget: the connection would have taken the bytes buffered
	// across all connections past the server-wide bound.
	LimitBudget
	NumLimits
)

// String returns the limit's name, as used in metric labels.
func (l Limit) String() string {
	return [...]string{"message_timeout", "write_timeout", "budget", "other"}[min(l, NumLimits)]
}

// Observer receives the events of a server.
//
// Events may be added to it in later versions: embed Base in an
// implementation, so that it keeps compiling and ignores the new events.
type Observer interface {
	// Accepted: a TCP connection was accepted; its handshake starts.
	Accepted()
	// Rejected: a handshake was refused, for reason r (r.Status() is the
	// HTTP status it got).
	Rejected(r Reason)
	// Opened: a WebSocket connection opened.
	Opened()
	// OpenedHTTP follows each Opened with the major version of the HTTP
	// that carried the connection's handshake: 1 (an HTTP/1.1 upgrade)
	// or 2 (an RFC 8441 extended CONNECT; the connection is an HTTP/2
	// stream).
	OpenedHTTP(major int)
	// Closed: a WebSocket connection is gone; code is what its handler's
	// Closed callback got and by says who sent the first close frame.
	Closed(code handler.CloseCode, by Side)
	// Received: a message (Text, Binary: payload bytes) or control frame
	// arrived.
	Received(k Kind, bytes int)
	// Sent: a message or control frame was sent (or queued).
	Sent(k Kind, bytes int)
	// HandlerDone: a handler callback ran for d.
	HandlerDone(d time.Duration)
	// HeartbeatTimeout: a connection was dropped for not answering pings.
	HeartbeatTimeout()
	// WriteQueueOverflow: a connection was closed because its peer did
	// not read what was queued for it.
	WriteQueueOverflow()
	// Broadcast: a broadcast, or a publish to a topic, was queued for n
	// connections.
	Broadcast(n int)
	// Skipped: a broadcast or publish skipped n subscribers that had no
	// room for it in their write queue (the server's slow-subscriber
	// policy SlowSkip; they stay open).
	Skipped(n int)
	// Panicked: user code at site panicked; the panic was recovered and
	// cost only its connection or handshake.
	Panicked(s Site)
	// Limited: a connection was ended for passing limit l.
	Limited(l Limit)
}

// Base implements every Observer method as a no-op. Embed it in an Observer
// to implement only the events you need: an event added to Observer later
// is then ignored instead of breaking the build.
type Base struct{}

var _ Observer = Base{}

// Accepted does nothing.
func (Base) Accepted() {}

// Rejected does nothing.
func (Base) Rejected(Reason) {}

// Opened does nothing.
func (Base) Opened() {}

// OpenedHTTP does nothing.
func (Base) OpenedHTTP(int) {}

// Closed does nothing.
func (Base) Closed(handler.CloseCode, Side) {}

// Received does nothing.
func (Base) Received(Kind, int) {}

// Sent does nothing.
func (Base) Sent(Kind, int) {}

// HandlerDone does nothing.
func (Base) HandlerDone(time.Duration) {}

// HeartbeatTimeout does nothing.
func (Base) HeartbeatTimeout() {}

// WriteQueueOverflow does nothing.
func (Base) WriteQueueOverflow() {}

// Broadcast does nothing.
func (Base) Broadcast(int) {}

// Skipped does nothing.
func (Base) Skipped(int) {}

// Panicked does nothing.
func (Base) Panicked(Site) {}

// Limited does nothing.
func (Base) Limited(Limit) {}
