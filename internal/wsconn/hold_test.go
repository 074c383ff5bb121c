package wsconn

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
)

// resumePipe is a pipe whose engine waits for ResumeRead while ReadPaused.
type resumePipe struct {
	pipe
	resumed atomic.Int32
}

func (p *resumePipe) ResumeRead() { p.resumed.Add(1) }

// holder holds input at every message, as the client's Read does when it
// lags.
type holder struct{ recorder }

func (h *holder) ReceivedMessage(c handler.Conn, m handler.Message) {
	h.recorder.ReceivedMessage(c, m)
	c.(*Conn).HoldRead()
}

func newHoldConn(t *testing.T, cfg Config, room int) (*Conn, *resumePipe, *holder) {
	t.Helper()
	cfg.MaxMessageSize = 1 << 20
	p := &resumePipe{pipe: pipe{room: room}}
	h := &holder{}
	c := New(&cfg, p, h, "", Request{})
	c.Start(nil)
	return c, p, h
}

// While input is held the engine is told not to read, and the peer's
// silence does not count: no heartbeat ping, no message timeout, however
// long the hold. ReleaseRead wakes the engine and starts those clocks again
// from then.
func TestHoldReadSuspendsTimers(t *testing.T) {
	c, p, h := newHoldConn(t, Config{PingInterval: time.Second, PongTimeout: time.Second, MessageTimeout: time.Second}, -1)
	partial := clientFrame(ws.OpBinary, make([]byte, 100))[:10]
	if !c.Feed(append(clientFrame(ws.OpText, []byte("a")), partial...)) {
		t.Fatal("Feed failed")
	}
	if !c.ReadPaused() {
		t.Fatal("input not paused while held")
	}
	if len(h.messages) != 1 || h.messages[0] != "a" {
		t.Fatalf("messages %q, want [a]", h.messages)
	}
	c.timers(time.Now().Add(time.Hour).UnixNano())
	if wire := p.drain(-1); len(wire) != 0 || c.closing() {
		t.Fatalf("an hour of hold: %d bytes sent, closing %v; want nothing", len(wire), c.closing())
	}
	c.ReleaseRead()
	if c.ReadPaused() || p.resumed.Load() != 1 {
		t.Fatalf("after ReleaseRead: paused %v, ResumeRead called %d times; want false, once", c.ReadPaused(), p.resumed.Load())
	}
	c.timers(time.Now().UnixNano())
	if wire := p.drain(-1); len(wire) != 0 {
		t.Fatalf("just released: %d bytes sent, want none", len(wire))
	}
	// The partial message's time runs again from the release.
	c.timers(time.Now().Add(2 * time.Second).UnixNano())
	fs := frames(t, p.drain(-1))
	if len(fs) == 0 {
		t.Fatal("MessageTimeout after the release: nothing sent")
	}
	if last := fs[len(fs)-1]; last.Header.OpCode != ws.OpClose || binary.BigEndian.Uint16(last.Payload) != 1008 {
		t.Fatalf("last frame %v %q, want close 1008", last.Header.OpCode, last.Payload)
	}
}

// A hold ends with the connection: once our close frame is on the wire the
// closing handshake reads on (the peer's answer is behind what it sent),
// and a dropped connection wakes the engine to find its socket closed.
func TestHoldReadEndsWhenClosing(t *testing.T) {
	for _, end := range []struct {
		name string
		f    func(c *Conn)
	}{
		{"Close", func(c *Conn) { _ = c.Close(handler.CloseNormal, "") }},
		{"Terminate", func(c *Conn) { c.Terminate() }},
		{"fail", func(c *Conn) { c.fail(handler.CloseProtocolError, "") }},
	} {
		t.Run(end.name, func(t *testing.T) {
			c, p, _ := newHoldConn(t, Config{}, -1)
			c.Feed(clientFrame(ws.OpText, []byte("a")))
			end.f(c)
			if c.ReadPaused() || p.resumed.Load() != 1 {
				t.Fatalf("paused %v, ResumeRead called %d times; want false, once", c.ReadPaused(), p.resumed.Load())
			}
			c.HoldRead()
			if c.ReadPaused() {
				t.Fatal("HoldRead held a closing connection")
			}
			c.ReleaseRead()
			if p.resumed.Load() != 1 {
				t.Fatal("ReleaseRead after the hold ended called ResumeRead")
			}
		})
	}
}

// A hold and the write queue's pause combine: the engine resumes when
// neither holds input back.
func TestHoldReadWithQueuePause(t *testing.T) {
	c, p, _ := newHoldConn(t, Config{MaxWriteQueue: 4096}, 0)
	if err := c.SendBinary(bytes.Repeat([]byte("x"), 3000)); err != nil {
		t.Fatal(err)
	}
	c.Feed(clientFrame(ws.OpText, []byte("a")))
	c.ReleaseRead()
	if !c.ReadPaused() || p.resumed.Load() != 0 {
		t.Fatalf("released with the queue over half its bound: paused %v, resumed %d; want true, 0", c.ReadPaused(), p.resumed.Load())
	}
	c.HoldRead()
	p.flush(c)
	if !c.ReadPaused() || p.resumed.Load() != 0 {
		t.Fatalf("queue flushed while held: paused %v, resumed %d; want true, 0", c.ReadPaused(), p.resumed.Load())
	}
	c.ReleaseRead()
	if c.ReadPaused() || p.resumed.Load() != 1 {
		t.Fatalf("released: paused %v, resumed %d; want false, 1", c.ReadPaused(), p.resumed.Load())
	}
}

// FeedUntilHeld stops right after the message whose callback held input
// and says how much it took; the rest is fed after the hold. Feed, for
// engines that do not hold, takes everything.
func TestFeedUntilHeld(t *testing.T) {
	a, b, cc := clientFrame(ws.OpText, []byte("a")), clientFrame(ws.OpText, []byte("b")), clientFrame(ws.OpBinary, []byte("c"))
	in := append(append(append([]byte(nil), a...), b...), cc...)
	again := bytes.Clone(in) // (the reader unmasks in place)
	c, _, h := newHoldConn(t, Config{}, -1)
	n, ok := c.FeedUntilHeld(in)
	if n != len(a) || !ok || len(h.messages) != 1 {
		t.Fatalf("FeedUntilHeld took %d bytes (ok %v), delivered %q; want %d, [a]", n, ok, h.messages, len(a))
	}
	c.ReleaseRead()
	n2, ok := c.FeedUntilHeld(in[n:])
	if n2 != len(b) || !ok || len(h.messages) != 2 {
		t.Fatalf("after the release: took %d bytes, delivered %q; want %d, [a b]", n2, h.messages, len(b))
	}
	c.ReleaseRead()
	if n3, ok := c.FeedUntilHeld(in[n+n2:]); n3 != len(cc) || !ok {
		t.Fatalf("the last message: took %d bytes, want %d", n3, len(cc))
	}

	c, _, h = newHoldConn(t, Config{}, -1)
	if !c.Feed(again) || len(h.messages) != 3 {
		t.Fatalf("Feed delivered %q, want [a b c]", h.messages)
	}
}
