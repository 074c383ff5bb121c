package wsconn

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
)

// TestPlaces: a table hands out MaxConns places, reservations and the
// connections holding one alike; a place comes back with Release or when
// its connection leaves the table, once, whichever comes first.
func TestPlaces(t *testing.T) {
	cfg := &Config{MaxMessageSize: 1 << 20, MaxWriteQueue: 1 << 20, MaxConns: 2}
	tab := NewTable(cfg)
	a, ok1 := tab.Reserve()
	b, ok2 := tab.Reserve()
	if !ok1 || !ok2 {
		t.Fatal("two places of two refused")
	}
	if _, ok := tab.Reserve(); ok {
		t.Fatal("a third place of two")
	}
	a.Release()
	a.Release() // a second Release gives back nothing more
	c, ok := tab.Reserve()
	if !ok {
		t.Fatal("a released place not free")
	}
	if _, ok := tab.Reserve(); ok {
		t.Fatal("a place released twice counted twice")
	}
	// b and c go to connections: Release afterwards does nothing; the
	// places come back as the connections leave the table.
	conns := make([]*Conn, 0, 2)
	for _, p := range []*Place{b, c} {
		conn := New(cfg, &pipe{room: -1}, &recorder{}, "", Request{})
		conn.Hold(p)
		conn.Start(tab)
		p.Release()
		conns = append(conns, conn)
	}
	if _, ok := tab.Reserve(); ok {
		t.Fatal("a place held by a connection given back by Release")
	}
	conns[0].Terminate()
	conns[0].Finish()
	if tab.Len() != 1 {
		t.Fatalf("Len %d, want 1", tab.Len())
	}
	d, ok := tab.Reserve()
	if !ok {
		t.Fatal("the place of a connection that left not free")
	}
	d.Release()

	// Concurrent reservations never pass the bound.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []*Place
	for range 64 {
		wg.Go(func() {
			if p, ok := tab.Reserve(); ok {
				mu.Lock()
				got = append(got, p)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != 1 {
		t.Fatalf("%d places taken concurrently with one free", len(got))
	}

	// No bound: nothing is counted.
	if p, ok := NewTable(&Config{}).Reserve(); !ok || p != nil {
		t.Fatalf("unbounded table: %v %v", p, ok)
	}
}

// TestClientTimersNeverWrite: one sweeper drives the timers of many client
// connections, and a client's transport writes synchronously, so the
// frames a client's timers send (a heartbeat ping, the 1008 close at
// MessageTimeout) are queued for a flusher (WaitWritable), never written
// by the sweeper itself: it would wait on one connection's full socket
// while the others' timers wait.
func TestClientTimersNeverWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		input []byte
		want  ws.OpCode
	}{
		{"heartbeat", Config{Client: true, PingInterval: time.Second}, nil, ws.OpPing},
		// The server has begun a 256-byte frame.
		{"message timeout", Config{Client: true, MessageTimeout: time.Second}, []byte{0x82, 0x7e, 1, 0, 'x'}, ws.OpClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p, _ := newTestConn(t, tc.cfg, -1)
			if len(tc.input) > 0 && !c.Feed(tc.input) {
				t.Fatal("Feed failed")
			}
			c.timers(time.Now().Add(2 * time.Second).UnixNano())
			if wire := p.drain(-1); len(wire) > 0 {
				t.Fatalf("the timers wrote %d bytes themselves", len(wire))
			}
			p.mu.Lock()
			waits := p.waits
			p.mu.Unlock()
			if waits != 1 {
				t.Fatalf("WaitWritable called %d times, want once", waits)
			}
			c.Flush() // the flusher
			wire := p.drain(-1)
			f, err := ws.ReadFrame(bytes.NewReader(wire))
			if err != nil || f.Header.OpCode != tc.want || !f.Header.Masked {
				t.Fatalf("the flusher wrote %x (%v): want a masked frame of opcode %d", wire, err, tc.want)
			}
		})
	}
}

// greeter sends a greeting from Opened.
type greeter struct{ recorder }

func (g *greeter) Opened(c handler.Conn) { _ = c.SendText("hello") }

// TestTableDrain: Drain closes every connection with its code, and every
// connection that joins afterwards once its handler has seen Opened (which
// may still send).
func TestTableDrain(t *testing.T) {
	t.Parallel()
	cfg := &Config{MaxMessageSize: 1 << 10}
	tab := NewTable(cfg)
	start := func() (*Conn, *pipe) {
		p := &pipe{room: -1}
		c := New(cfg, p, &greeter{}, "", Request{})
		c.Start(tab)
		return c, p
	}
	before, pb := start()
	tab.Drain(handler.CloseGoingAway, "restart", time.Time{})
	after, pa := start()
	for i, p := range []*pipe{pb, pa} {
		fs := frames(t, p.drain(-1))
		if len(fs) != 2 || string(fs[0].Payload) != "hello" || !bytes.Equal(fs[1].Payload, closePayload(1001, "restart")) {
			t.Fatalf("connection %d: wire %+v, want the greeting then close 1001", i, fs)
		}
	}
	for _, c := range []*Conn{before, after} {
		c.Terminate()
		c.Finish()
	}
}

// TestTableAll: Len, Has and Range see the open connections; CloseAll
// starts every closing handshake; TerminateAll drops them all at once (Len
// is 0 before their engines finish them); Wait reports the table emptying,
// or gives up when told to.
func TestTableAll(t *testing.T) {
	t.Parallel()
	cfg := &Config{MaxMessageSize: 1 << 10}
	tab := NewTable(cfg)
	var conns []*Conn
	var pipes []*pipe
	for range 4 {
		p := &pipe{room: -1}
		c := New(cfg, p, &recorder{}, "", Request{})
		c.Start(tab)
		conns, pipes = append(conns, c), append(pipes, p)
	}
	other := New(cfg, &pipe{room: -1}, &recorder{}, "", Request{})
	if tab.Len() != 4 || !tab.Has(conns[0]) || tab.Has(other) || tab.Has(nil) {
		t.Fatalf("Len %d, Has %v %v", tab.Len(), tab.Has(conns[0]), tab.Has(other))
	}
	seen := 0
	tab.Range(func(handler.Conn) bool { seen++; return seen < 2 })
	if seen != 2 {
		t.Fatalf("Range went on after false: %d calls", seen)
	}
	tab.CloseAll(4000, "all")
	for i, p := range pipes {
		if fs := frames(t, p.drain(-1)); len(fs) != 1 || !bytes.Equal(fs[0].Payload, closePayload(4000, "all")) {
			t.Fatalf("connection %d: wire %+v", i, fs)
		}
	}
	done := make(chan struct{})
	close(done)
	if tab.Wait(done) {
		t.Fatal("Wait reported an empty table with 4 connections")
	}
	waited := make(chan bool, 1)
	go func() { waited <- tab.Wait(nil) }()
	tab.TerminateAll()
	if tab.Len() != 0 {
		t.Fatalf("Len %d after TerminateAll", tab.Len())
	}
	if !<-waited {
		t.Fatal("Wait did not report the table empty")
	}
	for i, p := range pipes {
		if !p.closed {
			t.Fatalf("connection %d not dropped", i)
		}
		conns[i].Finish()
	}
}

// TestTerminateAllDropsLateJoiners: a connection that joins the table
// after TerminateAll (its handshake ended while the server was closing) is
// dropped at once, after Opened, and leaves the table.
func TestTerminateAllDropsLateJoiners(t *testing.T) {
	cfg := &Config{MaxMessageSize: 1 << 20}
	tb := NewTable(cfg)
	tb.TerminateAll()
	p := &pipe{room: -1}
	c := New(cfg, p, &recorder{}, "", Request{})
	c.Start(tb)
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if !closed {
		t.Fatal("a connection that joined after TerminateAll is still open")
	}
	if n := tb.Len(); n != 0 {
		t.Fatalf("Len() = %d after TerminateAll, want 0", n)
	}
}
