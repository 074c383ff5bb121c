package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/ws4go/ws4go/chat"
	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

const waitTimeout = 10 * time.Second

// forEngines runs f as a subtest per server engine.
func forEngines(t *testing.T, f func(t *testing.T, e server.Engine)) {
	for _, e := range []server.Engine{server.EngineGoroutine, server.EngineNetpoll} {
		t.Run(string(e), func(t *testing.T) { f(t, e) })
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// serveChat serves ch on a fresh 127.0.0.1 port (every path; the demo page
// and the extra HTTP handlers at their paths) and shuts it down when the test
// ends. s may preset server fields; l, if not nil, is the listener.
func serveChat(t testing.TB, ch *chat.Chat, s *server.Server, l net.Listener, pages map[string]http.Handler) string {
	t.Helper()
	if s == nil {
		s = &server.Server{}
	}
	s.NewHandler = ch.NewHandler // every path: the room may come from the path
	s.PingInterval = -1
	if s.Logger == nil {
		s.Logger = quietLogger()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", chat.Page("/ws", "chat"))
	for p, h := range pages {
		mux.Handle(p, h)
	}
	s.HTTP = mux
	return testutil.Serve(t, s, l)
}

// member is a chat client (our client package) that decodes events.
type member struct {
	t      testing.TB
	c      *client.Conn
	events chan chat.Event
	closed chan handler.CloseCode
	id     string
	name   string
}

type memberHandler struct {
	handler.Base
	m *member
}

func (h memberHandler) ReceivedMessage(c handler.Conn, msg handler.Message) {
	var ev chat.Event
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		ev = chat.Event{Type: "undecodable", Text: string(msg.Data)}
	}
	select {
	case h.m.events <- ev:
	default:
		h.m.t.Errorf("event queue full")
	}
}

func (h memberHandler) Closed(c handler.Conn, code handler.CloseCode, reason string) {
	h.m.closed <- code
}

// connect connects a member to ws://addr+target without waiting.
func connect(t testing.TB, addr, target string) *member {
	t.Helper()
	m := &member{t: t, events: make(chan chat.Event, 1<<16), closed: make(chan handler.CloseCode, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, "ws://"+addr+target, memberHandler{m: m}, &client.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	m.c = c
	t.Cleanup(func() {
		c.Terminate()
		<-c.Done()
	})
	return m
}

// join connects a member to ws://addr+target and waits for the welcome and
// its own join notice: from then on it receives the room's messages.
func join(t testing.TB, addr, target string) *member {
	t.Helper()
	m := connect(t, addr, target)
	w := m.next()
	if w.Type != chat.TypeWelcome {
		t.Fatalf("first event %+v, want a welcome", w)
	}
	m.id, m.name = w.ID, w.Name
	m.waitFor(func(ev chat.Event) bool { return ev.Type == chat.TypeJoin && ev.ID == m.id })
	return m
}

// next returns the next event.
func (m *member) next() chat.Event {
	m.t.Helper()
	select {
	case ev := <-m.events:
		return ev
	case code := <-m.closed:
		m.t.Fatalf("%s: closed with %d while waiting for an event", m.name, code)
	case <-time.After(waitTimeout):
		m.t.Fatalf("%s: no event in %v", m.name, waitTimeout)
	}
	return chat.Event{}
}

// waitFor skips events until f accepts one, and returns it.
func (m *member) waitFor(f func(chat.Event) bool) chat.Event {
	m.t.Helper()
	for {
		if ev := m.next(); f(ev) {
			return ev
		}
	}
}

// messages collects the next n message events, skipping notices.
func (m *member) messages(n int) []chat.Event {
	m.t.Helper()
	out := make([]chat.Event, 0, n)
	for len(out) < n {
		if ev := m.next(); ev.Type == chat.TypeMessage {
			out = append(out, ev)
		}
	}
	return out
}

func (m *member) say(text string) {
	m.t.Helper()
	b, _ := json.Marshal(map[string]string{"text": text})
	if err := m.c.Send(handler.Text, b); err != nil {
		m.t.Fatalf("%s: send: %v", m.name, err)
	}
}

// checkOncePerSenderOrder checks that msgs hold, for each sender in want,
// exactly seq 1..want[sender] once each, in order.
func checkOncePerSenderOrder(t testing.TB, who string, msgs []chat.Event, want map[string]int) {
	t.Helper()
	last := map[string]uint64{}
	for _, ev := range msgs {
		if _, ok := want[ev.ID]; !ok {
			t.Fatalf("%s: message from unexpected sender %q: %+v", who, ev.ID, ev)
		}
		if ev.Seq != last[ev.ID]+1 {
			t.Fatalf("%s: from %s seq %d after %d (lost, duplicated or out of order)", who, ev.ID, ev.Seq, last[ev.ID])
		}
		if ev.Text != fmt.Sprintf("%s %d", ev.Name, ev.Seq) {
			t.Fatalf("%s: text %q for seq %d of %s", who, ev.Text, ev.Seq, ev.Name)
		}
		last[ev.ID] = ev.Seq
	}
	for id, n := range want {
		if last[id] != uint64(n) {
			t.Fatalf("%s: got %d of %s's %d messages", who, last[id], id, n)
		}
	}
}

// natsServer starts an in-process NATS server on 127.0.0.1 (port 0: any)
// and stops it when the test ends.
func natsServer(t testing.TB, port int) *natsserver.Server {
	t.Helper()
	if port == 0 {
		port = natsserver.RANDOM_PORT
	}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// natsNode starts a ws4go node, on engine, whose chat rooms are on the NATS
// server at url.
func natsNode(t testing.TB, url string, engine server.Engine) (addr string, nt *chat.NATS) {
	t.Helper()
	nt, err := chat.ConnectNATS(url, chat.NATSOptions{ReconnectWait: 20 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nt.Close() })
	ch := chat.New(chat.Options{Transport: nt, Logger: quietLogger()})
	return serveChat(t, ch, &server.Server{Engine: engine}, nil, nil), nt
}
