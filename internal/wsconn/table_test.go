package wsconn

import (
	"sync"
	"testing"
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
