//go:build linux

package netpoll

import (
	"bytes"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/wsconn"
)

// TestBlockedHandlersDoNotStall: handlers that block hold up their own
// connections, not the others: with every polling worker held in a
// handler, the monitor gets another worker polling (up to Workers), so a
// third connection is still served; once released, the blocked ones carry
// on in order.
func TestBlockedHandlersDoNotStall(t *testing.T) {
	t.Parallel()
	procs := runtime.GOMAXPROCS(0)
	entered := make(chan struct{}, procs)
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	s := startServer(t, serverOpts{
		engine: func(c *Config) { c.Workers = procs + 1 },
		onMsg: func(c handler.Conn, m handler.Message) {
			if string(m.Data) == "block" {
				entered <- struct{}{}
				<-release
			}
			_ = c.Send(m.Type, m.Data)
		},
	})
	t.Cleanup(free) // before the engine's Close, which waits for the handlers
	var blocked []*wsClient
	for range procs {
		c := s.dialWS(t)
		c.send(t, ws.OpText, []byte("block"))
		c.send(t, ws.OpText, []byte("after"))
		<-entered
		blocked = append(blocked, c)
	}
	if busy, _ := s.e.Stats(); busy < procs {
		t.Errorf("Stats: %d workers busy, want at least the %d blocked", busy, procs)
	}
	other := s.dialWS(t)
	for i := range 3 {
		m := []byte{'m', byte('0' + i)}
		other.send(t, ws.OpBinary, m)
		other.expect(t, ws.OpBinary, m)
	}
	free()
	for _, c := range blocked {
		c.expect(t, ws.OpText, []byte("block"))
		c.expect(t, ws.OpText, []byte("after"))
	}
	s.e.wmu.Lock()
	n := s.e.nworkers
	s.e.wmu.Unlock()
	if n > procs+1 {
		t.Fatalf("%d worker goroutines, more than Workers (%d)", n, procs+1)
	}
}

// TestReadsPerTurnYield: a connection with more input than readsPerTurn
// reads yields its turn (process reports it, and keeps the input event for
// the next turn), and nothing is lost across turns.
func TestReadsPerTurnYield(t *testing.T) {
	t.Parallel()
	var heads [][]byte
	e := newTestEngine(t, func(b []byte) (int, []byte) {
		heads = append(heads, b)
		return 0, nil // never complete: every byte stays in the head
	})
	fd, peer := socketPair(t)
	c := registered(t, e, fd)
	closeOnFailure(t, c)
	in := bytes.Repeat([]byte("0123456789"), 100) // 1000 bytes, under MaxHeadSize
	if _, err := peer.Write(in); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	turns := 0
	for more := true; more; turns++ {
		c.ev.Or(unix.EPOLLIN)
		more = c.process(buf)
		if more && c.ev.Load()&unix.EPOLLIN == 0 {
			t.Fatal("a turn that yields dropped its input event")
		}
		if turns > 100 {
			t.Fatal("never drained")
		}
	}
	if want := len(in)/(readsPerTurn*len(buf)) + 1; turns != want {
		t.Errorf("%d turns for %d bytes in %d-byte reads, want %d (%d reads a turn)", turns, len(in), len(buf), want, readsPerTurn)
	}
	if !bytes.Equal(c.x.head, in) {
		t.Fatalf("the head holds %d bytes, want the %d sent", len(c.x.head), len(in))
	}
	c.requestClose(false)
	c.run(buf)
	expectEOF(t, peer)
}

// TestHeldInputResumes: input that arrives while reading is paused (the
// Conn's output waits for a peer that does not read) is held, not read,
// and acted on in the turn whose EPOLLOUT lets the output go, though the
// edge-triggered descriptor reports the input only once.
func TestHeldInputResumes(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, nil)
	fd, peer := socketPair(t)
	c := registered(t, e, fd)
	closeOnFailure(t, c)
	e.doneHandshake(c)
	h := newTestHandler()
	got := make(chan string, 1)
	h.onMsg = func(_ handler.Conn, m handler.Message) { got <- string(m.Data) }
	c.ws = wsconn.New(&wsconn.Config{MaxMessageSize: 1 << 10, MaxWriteQueue: 1 << 10}, c, h, "", wsconn.Request{})
	c.reading = true
	c.ws.Start(nil)
	// The peer does not read: the socket fills, and a message of more
	// than half MaxWriteQueue waits in the queue, which pauses input.
	filled := 0
	for {
		n, err := unix.Write(fd, make([]byte, 4096))
		if err != nil {
			break
		}
		filled += n
	}
	out := bytes.Repeat([]byte("o"), 600)
	if err := c.ws.SendBinary(out); err != nil {
		t.Fatal(err)
	}
	if !c.ws.ReadPaused() || !c.inputPaused() {
		t.Fatal("input not paused with the queue over half its bound")
	}
	if _, err := peer.Write(frame(ws.OpText, true, []byte("held"))); err != nil {
		t.Fatal(err)
	}
	c.ev.Or(unix.EPOLLIN)
	if c.process(make([]byte, 64)) {
		t.Fatal("a paused connection asked to go on")
	}
	if len(got) != 0 || c.held&unix.EPOLLIN == 0 {
		t.Fatalf("paused: %d messages, held %#x; want none read and the event held", len(got), c.held)
	}
	// The peer reads; the turn of the EPOLLOUT that follows writes the
	// message, and reads the held input.
	if _, err := io.ReadFull(peer, make([]byte, filled)); err != nil {
		t.Fatal(err)
	}
	c.ev.Or(unix.EPOLLOUT)
	c.process(make([]byte, 64))
	select {
	case m := <-got:
		if m != "held" {
			t.Fatalf("got %q", m)
		}
	default:
		t.Fatalf("the held input was not read (held %#x, paused %v)", c.held, c.ws.ReadPaused())
	}
	f, err := ws.ReadFrame(peer)
	if err != nil || f.Header.OpCode != ws.OpBinary || !bytes.Equal(f.Payload, out) {
		t.Fatalf("after the filler: %v %v, want the message", f.Header.OpCode, err)
	}
	c.requestClose(false)
	c.run(nil)
	if ev := h.nextClosed(t); ev.code != handler.CloseAbnormal {
		t.Fatalf("Closed %d, want 1006", ev.code)
	}
}

// closeOnFailure closes c, whose turn the test holds, if the test ends
// before it does: the engine's Close would wait for it for ever.
func closeOnFailure(t *testing.T, c *conn) {
	t.Cleanup(func() {
		if !c.closed.Load() {
			c.requestClose(false)
			c.run(nil)
		}
	})
}
