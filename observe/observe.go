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

// Kinds. Text and Binary count whole messages; the control kinds count
// frames.
const (
	Text Kind = iota
	Binary
	Ping
	Pong
	Close
	NumKinds
)

// String returns the kind's name, as used in metric labels.
func (k Kind) String() string {
	return [...]string{"text", "binary", "ping", "pong", "close", "?"}[min(k, NumKinds)]
}

// KindOf is the Kind of a data message type.
func KindOf(t handler.MessageType) Kind {
	if t == handler.Text {
		return Text
	}
	return Binary
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

// Observer receives the events of a server.
type Observer interface {
	// Accepted: a TCP connection was accepted; its handshake starts.
	Accepted()
	// Rejected: a handshake was refused with an HTTP status (408 when it
	// timed out).
	Rejected(status int)
	// Opened: a WebSocket connection opened.
	Opened()
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
	// Broadcast: a broadcast was queued for n connections.
	Broadcast(n int)
}
