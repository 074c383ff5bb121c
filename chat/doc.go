// Package chat is a chat-room WebSocket handler: every message a client sends
// reaches every client in the same room (the sender included), with join and
// leave notices. Rooms live in memory (Hub, the default) or on a NATS server
// (ConnectNATS), so that clients connected to different ws4go nodes share a
// room.
//
//	ch := chat.New(chat.Options{})                 // rooms in memory
//	srv := &server.Server{Routes: map[string]handler.Factory{"/chat": ch.NewHandler}}
//
//	nt, err := chat.ConnectNATS("nats://127.0.0.1:4222", chat.NATSOptions{})
//	ch := chat.New(chat.Options{Transport: nt}) // rooms shared by every node
//
// # Rooms
//
// A client's room is the query parameter "room" (ws://host/chat?room=go), or
// else, when Options.PathPrefix is set, the rest of the request path after it
// (PathPrefix "/chat/": ws://host/chat/go), or else Options.DefaultRoom
// ("lobby"). A room name is 1 to 64 ASCII letters, digits, '-' or '_'; a
// connection asking for another is closed with 1008. The query parameter
// "name" is the client's display name (1 to 32 printable characters; by
// default "guest-" and a number). Names need not be unique: the id of an
// event tells members apart.
//
// # Wire format
//
// Every message is a text message holding one JSON object.
//
// Client to server: {"text": "hello"}. A text message that does not start
// with "{" is taken whole as the text, so `wscat` users can just type. Text
// is at most Options.MaxText bytes (default 4096) and not empty; a message
// that breaks this is answered with an error event to the sender only.
// Binary messages close the connection with 1003.
//
// Server to client, an Event:
//
//	{"type":"welcome","room":"go","id":"a1b2c3-7","name":"ann","time":"2024-05-01T10:00:00.123456789Z"}
//	{"type":"join","room":"go","id":"a1b2c3-7","name":"ann","time":"..."}
//	{"type":"message","room":"go","id":"a1b2c3-7","name":"ann","seq":1,"text":"hello","time":"..."}
//	{"type":"leave","room":"go","id":"a1b2c3-7","name":"ann","time":"..."}
//	{"type":"error","room":"go","error":"message too long (5000 bytes, at most 4096)","time":"..."}
//
// welcome is sent to a new client only, first: it tells the client its id
// and name. join and leave are sent to every member of the room, the joining
// client included (its own join is how it knows that it now receives the
// room's messages). message carries the sender's id and name and seq, the
// sender's own count of messages from 1, so that a receiver can check that
// it got every message once and in order. time is when the sender's node
// received the message (RFC 3339, UTC).
//
// # Ordering and delivery
//
// With the in-memory Hub, every member of a room receives the room's events
// in one order: the order in which the server received them. With NATS,
// every member receives each sender's messages in the order sent, and the
// members on one node share one order; members on different nodes may see
// messages of different senders interleaved differently. Delivery is at
// most once: see ConnectNATS for what a broker outage loses.
//
// A member that does not read its messages is not allowed to hold up the
// others or to make the server hold unbounded memory: events wait in a
// queue of its own (Options.MaxQueue bytes, besides the server's own
// per-connection write queue), and a member whose queue overflows is closed
// with 1008 "too slow".
package chat
