package handler

import "fmt"

// MessageType is the type of a data message.
type MessageType uint8

// The data message types of RFC 6455 (their values are the frame opcodes).
const (
	Text   MessageType = 1
	Binary MessageType = 2
)

// String returns "text" or "binary".
func (t MessageType) String() string {
	switch t {
	case Text:
		return "text"
	case Binary:
		return "binary"
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// Message is a complete data message, reassembled from its fragments.
//
// Ownership: Data is only valid until the ReceivedMessage call it was passed
// to returns; the engine reuses the buffer afterwards. A handler that keeps
// the payload (or passes it to another goroutine) must copy it first. Sending
// it back with Conn.Send during the callback is fine: Send copies or writes it
// before returning.
type Message struct {
	// Type is Text or Binary.
	Type MessageType
	// Data is the payload. For Text it is valid UTF-8 (the engine has
	// checked it and failed the connection with 1007 otherwise).
	Data []byte
}

// Handler receives the events of one WebSocket connection. Embed Base to
// implement only the callbacks you need.
type Handler interface {
	// Opened is called once the opening handshake has completed, before
	// any message is delivered.
	Opened(c Conn)
	// ReceivedMessage is called for every complete data message. See
	// Message for how long m.Data may be used.
	ReceivedMessage(c Conn, m Message)
	// Ponged is called for every pong frame received, solicited or not.
	// payload is only valid during the call.
	Ponged(c Conn, payload []byte)
	// Closed is called exactly once when the connection is gone. code and
	// reason say how it ended:
	//   - the peer sent a close frame (first, or in answer to Close): its
	//     code and reason (CloseNoStatus if it carried no code);
	//   - the server sent a close frame and none came back: the code it
	//     sent (Close unanswered within the close timeout, Shutdown's
	//     1001, or the server failing the connection: 1002, 1007, 1009,
	//     1011 after a handler panic, the write-queue overflow code);
	//   - no close frame either way (the peer vanished, Terminate, a
	//     heartbeat or idle timeout): CloseAbnormal (1006), and reason
	//     says why.
	Closed(c Conn, code CloseCode, reason string)
}

// Factory makes the Handler of a new connection, so that every connection
// has its own instance (ws4py instantiates its websocket_class per
// connection). It is called once per successful handshake.
type Factory func() Handler

// Base implements every Handler callback as a no-op. Embed it.
type Base struct{}

// Opened does nothing.
func (Base) Opened(Conn) {}

// ReceivedMessage does nothing.
func (Base) ReceivedMessage(Conn, Message) {}

// Ponged does nothing.
func (Base) Ponged(Conn, []byte) {}

// Closed does nothing.
func (Base) Closed(Conn, CloseCode, string) {}

// Echo sends every message back to its sender, with the same type.
type Echo struct{ Base }

// ReceivedMessage echoes m.
func (Echo) ReceivedMessage(c Conn, m Message) { _ = c.Send(m.Type, m.Data) }

// NewEcho is the Factory of Echo (ws4py's EchoWebSocket).
func NewEcho() Handler { return Echo{} }
