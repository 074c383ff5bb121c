package wsconn

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
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
