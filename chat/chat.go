package chat

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/observe"
)

// Event types: the "type" of an Event.
const (
	TypeWelcome = "welcome"
	TypeJoin    = "join"
	TypeLeave   = "leave"
	TypeMessage = "message"
	TypeError   = "error"
)

// Event is one message from the server to a client (see the package
// documentation for the wire format).
type Event struct {
	// Type is TypeWelcome, TypeJoin, TypeLeave, TypeMessage or TypeError.
	Type string `json:"type"`
	// Room is the room the event belongs to.
	Room string `json:"room"`
	// ID identifies the member the event is about (the sender, the one
	// joining or leaving, or the client itself for welcome); it is unique
	// across nodes.
	ID string `json:"id,omitempty"`
	// Name is that member's display name.
	Name string `json:"name,omitempty"`
	// Seq numbers a sender's messages from 1.
	Seq uint64 `json:"seq,omitempty"`
	// Text is a message's text.
	Text string `json:"text,omitempty"`
	// Error says what was wrong with the client's last message.
	Error string `json:"error,omitempty"`
	// Time is when the node received the message, or the join or leave
	// happened.
	Time time.Time `json:"time"`
}

// Defaults for zero-valued Options fields.
const (
	DefaultRoom     = "lobby"
	DefaultMaxText  = 4096
	DefaultMaxQueue = 1 << 20
)

// Options configures a Chat. The zero value is ready to use: rooms in memory.
type Options struct {
	// Transport carries rooms between nodes (default: a new Hub, rooms in
	// this process only).
	Transport Transport
	// DefaultRoom is the room of a client that names none (default
	// "lobby").
	DefaultRoom string
	// PathPrefix, if set, makes the rest of the request path after it the
	// room's name ("/chat/" and a request for /chat/go: room "go"). The
	// query parameter "room" wins over the path.
	PathPrefix string
	// MaxText is the longest text accepted from a client, in bytes
	// (default 4096).
	MaxText int
	// MaxQueue bounds the bytes of events waiting to be sent to one
	// member (default 1 MiB): a member that lets more pile up is closed
	// with 1008 "too slow", so that it neither holds up the room nor makes
	// the server hold unbounded memory.
	MaxQueue int
	// RateLimit, if positive, caps the messages one client may send per
	// second, in bursts of up to RateBurst (default: RateLimit rounded
	// up); a message past it is refused with an error event. Without a
	// limit, one client that sends faster than the others read can get
	// them closed as too slow. Zero: no limit.
	RateLimit float64
	RateBurst int
	// Logger receives the chat's logs (default slog.Default()).
	Logger *slog.Logger
	// Observer, if set, is told of each event's fan-out to the local
	// members of a room (observe's Broadcast) and of each member closed
	// as too slow (WriteQueueOverflow): set it to the server's Observer
	// so that these show in its metrics.
	Observer observe.Observer
}

// Chat is the chat service of one node: its handlers (NewHandler) join each
// connection to its room, and the rooms of the node's members are
// subscribed on the Transport.
type Chat struct {
	tr       Transport
	defRoom  string
	prefix   string
	maxText  int
	maxQueue int
	rate     float64
	burst    float64
	log      *slog.Logger
	obs      observe.Observer
	node     string // random id prefix of this node's members
	next     atomic.Uint64

	mu    sync.Mutex
	rooms map[string]*room
}

// New makes a Chat.
func New(o Options) *Chat {
	ch := &Chat{
		tr:       o.Transport,
		defRoom:  o.DefaultRoom,
		prefix:   o.PathPrefix,
		maxText:  o.MaxText,
		maxQueue: o.MaxQueue,
		log:      o.Logger,
		obs:      o.Observer,
		rooms:    map[string]*room{},
	}
	if ch.tr == nil {
		ch.tr = &Hub{}
	}
	if ch.defRoom == "" {
		ch.defRoom = DefaultRoom
	}
	if ch.maxText <= 0 {
		ch.maxText = DefaultMaxText
	}
	if ch.maxQueue <= 0 {
		ch.maxQueue = DefaultMaxQueue
	}
	if ch.log == nil {
		ch.log = slog.Default()
	}
	if o.RateLimit > 0 {
		ch.rate, ch.burst = o.RateLimit, float64(o.RateBurst)
		if ch.burst <= 0 {
			ch.burst = math.Ceil(o.RateLimit)
		}
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	ch.node = hex.EncodeToString(b[:])
	return ch
}

// NewHandler returns the handler of a new connection: ch.NewHandler is the
// handler.Factory to serve, e.g. Routes: {"/chat": ch.NewHandler}.
func (ch *Chat) NewHandler() handler.Handler { return &conn{ch: ch} }

// Rooms returns the number of this node's members in each room.
func (ch *Chat) Rooms() map[string]int {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	out := make(map[string]int, len(ch.rooms))
	for name, r := range ch.rooms {
		r.mu.Lock()
		out[name] = len(r.members)
		r.mu.Unlock()
	}
	return out
}

// room is a room with members on this node.
type room struct {
	name  string
	obs   observe.Observer
	ready chan struct{} // closed once the subscription is made
	unsub func() error
	err   error

	mu      sync.Mutex
	members map[*member]struct{}
}

// deliver hands an event from the transport to every local member.
func (r *room) deliver(ev []byte) {
	r.mu.Lock()
	for m := range r.members {
		m.enqueue(ev)
	}
	n := len(r.members)
	r.mu.Unlock()
	if r.obs != nil {
		r.obs.Broadcast(n)
	}
}

// join adds m to its room, subscribing to the room if m is its first local
// member.
func (ch *Chat) join(m *member) error {
	ch.mu.Lock()
	r := ch.rooms[m.room]
	fresh := r == nil
	if fresh {
		r = &room{name: m.room, obs: ch.obs, ready: make(chan struct{}), members: map[*member]struct{}{}}
		ch.rooms[m.room] = r
	}
	r.mu.Lock()
	r.members[m] = struct{}{}
	r.mu.Unlock()
	ch.mu.Unlock()
	if fresh {
		r.unsub, r.err = ch.tr.Subscribe(r.name, r.deliver)
		close(r.ready)
	}
	<-r.ready
	if r.err != nil {
		ch.leave(m)
		return r.err
	}
	return nil
}

// leave removes m from its room, unsubscribing when it was the last local
// member.
func (ch *Chat) leave(m *member) {
	ch.mu.Lock()
	r := ch.rooms[m.room]
	if r == nil {
		ch.mu.Unlock()
		return
	}
	r.mu.Lock()
	_, in := r.members[m]
	delete(r.members, m)
	last := len(r.members) == 0
	r.mu.Unlock()
	if in && last {
		delete(ch.rooms, m.room)
	}
	ch.mu.Unlock()
	if in && last {
		<-r.ready
		if r.unsub != nil {
			if err := r.unsub(); err != nil {
				ch.log.Warn("chat: unsubscribing", "room", r.name, "err", err)
			}
		}
	}
}

// publish encodes ev and publishes it to its room.
func (ch *Chat) publish(ev *Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return ch.tr.Publish(ev.Room, b)
}

// member is one connection in a room, with its queue of events to send.
type member struct {
	c          handler.Conn
	id, name   string
	room       string
	seq        uint64    // messages sent; the connection's callbacks only
	tokens     float64   // rate limit bucket; the callbacks only
	refilled   time.Time // when tokens was last topped up
	maxQueue   int
	log        *slog.Logger
	obs        observe.Observer
	mu         sync.Mutex
	queue      [][]byte
	queueBytes int // queued and being sent
	sending    bool
	closed     bool
}

// enqueue queues an event for the member. It never blocks: a member whose
// queue would pass MaxQueue is closed with 1008 instead.
func (m *member) enqueue(ev []byte) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	if m.queueBytes > 0 && m.queueBytes+len(ev) > m.maxQueue {
		m.closed = true
		clear(m.queue)
		m.queue, m.queueBytes = nil, 0
		m.mu.Unlock()
		if m.obs != nil {
			m.obs.WriteQueueOverflow()
		}
		m.log.Warn("chat: closing a member that does not read", "room", m.room, "id", m.id, "remote", m.c.RemoteAddr(), "queued_max", m.maxQueue)
		go func() { _ = m.c.Close(handler.ClosePolicyViolation, "too slow: messages not read") }()
		return
	}
	m.queue = append(m.queue, ev)
	m.queueBytes += len(ev)
	start := !m.sending
	m.sending = true
	m.mu.Unlock()
	if start {
		go m.send()
	}
}

// send writes queued events in order until the queue is empty. It runs in a
// goroutine of its own, so that a send that waits on a slow peer holds up
// no one else.
func (m *member) send() {
	for {
		m.mu.Lock()
		if m.closed || len(m.queue) == 0 {
			m.sending = false
			m.mu.Unlock()
			return
		}
		ev := m.queue[0]
		m.queue[0] = nil
		m.queue = m.queue[1:]
		m.mu.Unlock()
		err := m.c.Send(handler.Text, ev)
		m.mu.Lock()
		m.queueBytes -= len(ev)
		if err != nil {
			m.closed = true
			clear(m.queue)
			m.queue, m.queueBytes = nil, 0
		}
		m.mu.Unlock()
	}
}

// close drops the queue: the connection is gone.
func (m *member) close() {
	m.mu.Lock()
	m.closed = true
	clear(m.queue)
	m.queue, m.queueBytes = nil, 0
	m.mu.Unlock()
}

// conn is the handler of one chat connection.
type conn struct {
	ch *Chat
	m  *member
}

// validRoom reports whether name is 1 to 64 of [A-Za-z0-9_-].
func validRoom(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// cleanName returns a display name of 1 to 32 printable characters, or "".
func cleanName(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > 32 || !utf8.ValidString(s) {
		return ""
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return ""
		}
	}
	return s
}

func (ch *Chat) roomOf(r *http.Request) string {
	if r == nil {
		return ch.defRoom
	}
	if q := r.URL.Query(); q.Has("room") {
		return q.Get("room")
	}
	if ch.prefix != "" {
		if rest, ok := strings.CutPrefix(r.URL.Path, ch.prefix); ok && rest != "" {
			return rest
		}
	}
	return ch.defRoom
}

// Opened welcomes the client and joins it to its room.
func (h *conn) Opened(c handler.Conn) {
	ch := h.ch
	req := c.Request()
	roomName := ch.roomOf(req)
	if !validRoom(roomName) {
		_ = c.Close(handler.ClosePolicyViolation, "bad room name: 1 to 64 of A-Z a-z 0-9 - _")
		return
	}
	n := ch.next.Add(1)
	id := ch.node + "-" + strconv.FormatUint(n, 36)
	name := ""
	if req != nil {
		name = cleanName(req.URL.Query().Get("name"))
	}
	if name == "" {
		name = "guest-" + strconv.FormatUint(n, 10)
	}
	m := &member{c: c, id: id, name: name, room: roomName, maxQueue: ch.maxQueue, log: ch.log, obs: ch.obs}
	welcome, _ := json.Marshal(&Event{Type: TypeWelcome, Room: roomName, ID: id, Name: name, Time: now()})
	m.enqueue(welcome)
	if err := ch.join(m); err != nil {
		ch.log.Error("chat: joining a room", "room", roomName, "err", err)
		_ = c.Close(handler.CloseInternalError, "cannot join the room")
		m.close()
		return
	}
	h.m = m
	if err := ch.publish(&Event{Type: TypeJoin, Room: roomName, ID: id, Name: name, Time: now()}); err != nil {
		ch.log.Warn("chat: publishing a join", "room", roomName, "err", err)
	}
}

func now() time.Time { return time.Now().UTC() }

// ReceivedMessage publishes the client's message to its room.
func (h *conn) ReceivedMessage(c handler.Conn, msg handler.Message) {
	m := h.m
	if m == nil {
		return
	}
	if msg.Type != handler.Text {
		_ = c.Close(handler.CloseUnsupportedData, "chat messages are JSON text")
		return
	}
	text := string(msg.Data)
	if strings.HasPrefix(text, "{") {
		var in struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(msg.Data, &in); err != nil || in.Text == nil {
			h.sendError(`a message is {"text": "..."} or plain text`)
			return
		}
		text = *in.Text
	}
	switch {
	case text == "":
		h.sendError("empty message")
		return
	case len(text) > h.ch.maxText:
		h.sendError(fmt.Sprintf("message too long (%d bytes, at most %d)", len(text), h.ch.maxText))
		return
	}
	if !h.allow() {
		h.sendError(fmt.Sprintf("rate limit: at most %g messages per second", h.ch.rate))
		return
	}
	ev := &Event{Type: TypeMessage, Room: m.room, ID: m.id, Name: m.name, Seq: m.seq + 1, Text: text, Time: now()}
	if err := h.ch.publish(ev); err != nil {
		h.ch.log.Warn("chat: publishing a message", "room", m.room, "err", err)
		h.sendError("message not delivered: " + err.Error())
		return
	}
	m.seq++
}

// allow takes a token from the member's bucket, if there is a rate limit.
func (h *conn) allow() bool {
	ch, m := h.ch, h.m
	if ch.rate <= 0 {
		return true
	}
	t := time.Now()
	if m.refilled.IsZero() {
		m.tokens = ch.burst
	} else {
		m.tokens = min(ch.burst, m.tokens+t.Sub(m.refilled).Seconds()*ch.rate)
	}
	m.refilled = t
	if m.tokens < 1 {
		return false
	}
	m.tokens--
	return true
}

func (h *conn) sendError(msg string) {
	b, _ := json.Marshal(&Event{Type: TypeError, Room: h.m.room, Error: msg, Time: now()})
	h.m.enqueue(b)
}

// Ponged does nothing.
func (h *conn) Ponged(handler.Conn, []byte) {}

// Closed takes the client out of its room.
func (h *conn) Closed(c handler.Conn, code handler.CloseCode, reason string) {
	m := h.m
	if m == nil {
		return
	}
	m.close()
	h.ch.leave(m)
	if err := h.ch.publish(&Event{Type: TypeLeave, Room: m.room, ID: m.id, Name: m.name, Time: now()}); err != nil {
		h.ch.log.Warn("chat: publishing a leave", "room", m.room, "err", err)
	}
}
