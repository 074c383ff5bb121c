package chat_test

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ws4go/ws4go/chat"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// TestRoomOrder: every member of a room gets every message of the room, its
// own included, once, in one order shared by all; other rooms get none.
func TestRoomOrder(t *testing.T) {
	forEngines(t, testRoomOrder)
}

func testRoomOrder(t *testing.T, engine server.Engine) {
	ch := chat.New(chat.Options{Logger: quietLogger()})
	addr := serveChat(t, ch, &server.Server{Engine: engine}, nil, nil)

	a := join(t, addr, "/ws?room=r&name=ann")
	b := join(t, addr, "/ws?room=r&name=bob")
	c := join(t, addr, "/ws?room=r&name=cid")
	other := join(t, addr, "/ws?room=elsewhere&name=dan")
	// ann saw bob and cid join, bob saw cid.
	a.waitFor(func(ev chat.Event) bool { return ev.Type == chat.TypeJoin && ev.ID == b.id && ev.Name == "bob" })
	a.waitFor(func(ev chat.Event) bool { return ev.Type == chat.TypeJoin && ev.ID == c.id })
	b.waitFor(func(ev chat.Event) bool { return ev.Type == chat.TypeJoin && ev.ID == c.id })
	if got := ch.Rooms(); got["r"] != 3 || got["elsewhere"] != 1 {
		t.Fatalf("Rooms() = %v", got)
	}

	const n = 200
	members := []*member{a, b, c}
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= n; i++ {
				m.say(fmt.Sprintf("%s %d", m.name, i))
			}
		}()
	}
	wg.Wait()
	want := map[string]int{a.id: n, b.id: n, c.id: n}
	var orders [][]chat.Event
	for _, m := range members {
		msgs := m.messages(3 * n)
		checkOncePerSenderOrder(t, m.name, msgs, want)
		orders = append(orders, msgs)
	}
	for i := range orders[0] {
		for j := 1; j < len(orders); j++ {
			if orders[j][i].ID != orders[0][i].ID || orders[j][i].Seq != orders[0][i].Seq {
				t.Fatalf("message %d: %s got %s/%d, %s got %s/%d: members disagree on the order",
					i, members[0].name, orders[0][i].ID, orders[0][i].Seq, members[j].name, orders[j][i].ID, orders[j][i].Seq)
			}
		}
	}

	// The other room got nothing of it: its next message is its own.
	other.say("dan 1")
	if ev := other.waitFor(func(ev chat.Event) bool { return ev.Type == chat.TypeMessage }); ev.ID != other.id {
		t.Fatalf("room elsewhere got %+v", ev)
	}

	// Leave notices.
	_ = b.c.Close(handler.CloseNormal, "")
	for _, m := range []*member{a, c} {
		ev := m.waitFor(func(ev chat.Event) bool { return ev.Type == chat.TypeLeave })
		if ev.ID != b.id || ev.Name != "bob" || ev.Room != "r" {
			t.Fatalf("%s: leave %+v, want bob's", m.name, ev)
		}
	}
}

func TestNamesAndErrors(t *testing.T) {
	ch := chat.New(chat.Options{MaxText: 10, Logger: quietLogger()})
	addr := serveChat(t, ch, nil, nil, nil)

	m := join(t, addr, "/ws")
	if !strings.HasPrefix(m.name, "guest-") {
		t.Fatalf("name %q, want guest-N", m.name)
	}
	m.say("x")
	if ev := m.waitFor(isMessage); ev.Room != chat.DefaultRoom {
		t.Fatalf("room %q, want %q", ev.Room, chat.DefaultRoom)
	}

	m = join(t, addr, "/ws?room=errs&name=%20eve%20")
	if m.name != "eve" {
		t.Fatalf("name %q, want eve", m.name)
	}
	for _, tc := range []struct{ send, want string }{
		{`plain word`, "message:plain word"},
		{`{"text": "json ✓"}`, "message:json ✓"},
		{`{"txt": "x"}`, `error:a message is {"text": "..."} or plain text`},
		{`{bad`, `error:a message is {"text": "..."} or plain text`},
		{`{"text": ""}`, "error:empty message"},
		{`eleven byte`, "error:message too long (11 bytes, at most 10)"},
	} {
		_ = m.c.SendText(tc.send)
		ev := m.next()
		if got := ev.Type + ":" + ev.Text + ev.Error; got != tc.want {
			t.Fatalf("sent %q: got %q, want %q", tc.send, got, tc.want)
		}
	}
	// Seqs count only the messages delivered.
	m.say("third")
	if ev := m.next(); ev.Seq != 3 {
		t.Fatalf("seq %d, want 3", ev.Seq)
	}
	_ = m.c.SendBinary([]byte("bin"))
	if code := <-m.closed; code != handler.CloseUnsupportedData {
		t.Fatalf("binary message: closed with %d, want 1003", code)
	}
}

func isMessage(ev chat.Event) bool { return ev.Type == chat.TypeMessage }

func TestRoomFromPath(t *testing.T) {
	ch := chat.New(chat.Options{PathPrefix: "/chat/", Logger: quietLogger()})
	addr := serveChat(t, ch, nil, nil, nil)
	for _, tc := range []struct{ target, room string }{
		{"/chat/go", "go"},
		{"/chat/go?room=rust", "rust"},
		{"/chat/", chat.DefaultRoom},
		{"/other", chat.DefaultRoom},
	} {
		m := join(t, addr, tc.target)
		m.say("hi")
		if ev := m.waitFor(isMessage); ev.Room != tc.room {
			t.Fatalf("%s: room %q, want %q", tc.target, ev.Room, tc.room)
		}
	}
	for _, bad := range []string{"/chat/a.b", "/chat/x?room=" + strings.Repeat("r", 65), "/chat/%2A", "/ws?room="} {
		m := connect(t, addr, bad)
		select {
		case code := <-m.closed:
			if code != handler.ClosePolicyViolation {
				t.Fatalf("%s: closed with %d, want 1008", bad, code)
			}
		case ev := <-m.events:
			t.Fatalf("%s: got %+v, want close 1008", bad, ev)
		case <-time.After(waitTimeout):
			t.Fatalf("%s: not closed", bad)
		}
	}
}

// TestSlowMember: a member that does not read is closed once its queue
// passes MaxQueue, and meanwhile the others get every message promptly
// (the server's write timeout is a minute: waiting on the slow member would
// time the test out).
func TestSlowMember(t *testing.T) {
	forEngines(t, testSlowMember)
}

func testSlowMember(t *testing.T, engine server.Engine) {
	ch := chat.New(chat.Options{MaxQueue: 256 << 10, Logger: quietLogger()})
	s := &server.Server{Engine: engine, WriteTimeout: time.Minute, CloseTimeout: 200 * time.Millisecond, MaxWriteQueue: 128 << 10, Logger: quietLogger()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Small kernel buffers towards the slow peer, so that a few hundred
	// KiB fill them.
	addr := serveChat(t, ch, s, smallSendBuffers{l}, nil)

	a := join(t, addr, "/ws?room=r&name=ann")
	b := join(t, addr, "/ws?room=r&name=bob")

	// The slow member: joins and never reads a byte.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	slow, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "GET /ws?room=r&name=slow HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	slowJoin := a.waitFor(func(ev chat.Event) bool { return ev.Type == chat.TypeJoin && ev.Name == "slow" })

	// ann sends in rounds, and waits for both readers to get each round:
	// a reader's queue never holds more than a round, while the stalled
	// member's grows by a round each time.
	const rounds, perRound = 20, 50
	text := strings.Repeat("x", 1000)
	start := time.Now()
	var slowLeft []string // who saw the slow member leave
	for r := 0; r < rounds; r++ {
		for i := 1; i <= perRound; i++ {
			seq := r*perRound + i
			a.say(fmt.Sprintf("ann %d %s", seq, text))
		}
		for _, m := range []*member{a, b} {
			for got := 0; got < perRound; {
				ev := m.next()
				switch ev.Type {
				case chat.TypeLeave:
					if ev.ID != slowJoin.ID {
						t.Fatalf("%s: %s left", m.name, ev.Name)
					}
					slowLeft = append(slowLeft, m.name)
				case chat.TypeMessage:
					if want := uint64(r*perRound + got + 1); ev.Seq != want {
						t.Fatalf("%s: seq %d, want %d", m.name, ev.Seq, want)
					}
					got++
				}
			}
		}
	}
	elapsed := time.Since(start)
	// The slow member was dropped: its leave reaches the others.
	for _, m := range []*member{a, b} {
		if !slices.Contains(slowLeft, m.name) {
			m.waitFor(func(ev chat.Event) bool { return ev.Type == chat.TypeLeave && ev.ID == slowJoin.ID })
		}
	}
	if got := ch.Rooms()["r"]; got != 2 {
		t.Fatalf("%d members left in the room, want 2", got)
	}
	t.Logf("%d messages of 1 KB to 2 readers and one stalled member in %v", rounds*perRound, elapsed)
}

// smallSendBuffers shrinks the send buffer of every accepted connection.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10)
	}
	return nc, err
}

func TestRateLimit(t *testing.T) {
	ch := chat.New(chat.Options{RateLimit: 0.5, RateBurst: 3, Logger: quietLogger()})
	addr := serveChat(t, ch, nil, nil, nil)
	m := join(t, addr, "/ws?room=r&name=flood")
	for i := 1; i <= 5; i++ {
		m.say(fmt.Sprintf("flood %d", i))
	}
	var got []string
	for len(got) < 5 {
		ev := m.next()
		got = append(got, ev.Type+":"+ev.Text+ev.Error)
	}
	want := []string{"message:flood 1", "message:flood 2", "message:flood 3",
		"error:rate limit: at most 0.5 messages per second", "error:rate limit: at most 0.5 messages per second"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
