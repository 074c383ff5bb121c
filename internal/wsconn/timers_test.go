package wsconn

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
)

// The timers a table's sweeper applies to each connection, driven here
// with a chosen clock (Conn.timers(now)) so that each deadline is checked
// just before and just after it passes, without waiting for it.

// newTimedConn is a started Conn in a table of its own, on a pipe with
// room bytes of socket buffer. The timeouts are an hour or more (the
// sweeper, ticking every second, never reaches one); the test's end
// removes the connection, which stops the sweeper.
func newTimedConn(t *testing.T, cfg Config, room int) (*Conn, *pipe, *recorder, *Table) {
	t.Helper()
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = 1 << 20
	}
	tab := NewTable(&cfg)
	p := &pipe{room: room}
	h := &recorder{}
	c := New(&cfg, p, h, "", Request{})
	c.Start(tab)
	t.Cleanup(func() {
		c.Terminate()
		c.Finish()
	})
	return c, p, h, tab
}

// closeCodeOn checks that the pipe holds exactly one frame, a close frame
// with code.
func closeCodeOn(t *testing.T, p *pipe, code handler.CloseCode) {
	t.Helper()
	fs := frames(t, p.drain(-1))
	if len(fs) != 1 || fs[0].Header.OpCode != ws.OpClose || handler.CloseCode(binary.BigEndian.Uint16(fs[0].Payload)) != code {
		t.Fatalf("wire %+v, want one close frame %d", fs, code)
	}
}

const hour = int64(time.Hour)

// dropsAt checks that the timers leave c open just before deadline and
// drop it (close its socket) just after.
func dropsAt(t *testing.T, c *Conn, p *pipe, deadline int64, what string) {
	t.Helper()
	c.timers(deadline - 1)
	if p.isClosed() {
		t.Fatalf("dropped before %s", what)
	}
	c.timers(deadline + 1)
	if !p.isClosed() {
		t.Fatalf("not dropped after %s", what)
	}
}

// isClosed reports whether the socket was closed.
func (p *pipe) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// TestTimerIdle: a connection without data messages for IdleTimeout is
// closed with 1001; control frames do not keep it open.
func TestTimerIdle(t *testing.T) {
	t.Parallel()
	c, p, h, _ := newTimedConn(t, Config{IdleTimeout: time.Hour}, -1)
	start := c.lastMessage.Load()
	c.Feed(clientFrame(ws.OpPing, nil))
	c.Feed(clientFrame(ws.OpPong, nil))
	p.drain(-1)
	c.timers(start + hour - 1)
	if fs := frames(t, p.drain(-1)); len(fs) != 0 {
		t.Fatalf("before the idle timeout: %+v", fs)
	}
	c.timers(start + hour + 1)
	closeCodeOn(t, p, handler.CloseGoingAway)
	c.Feed(clientFrame(ws.OpClose, closePayload(1001, "")))
	c.Finish()
	h.closedWith(t, handler.CloseGoingAway)
}

// TestTimerHeartbeat: after PingInterval without input a ping is sent,
// once; any input answers it; no input within PongTimeout drops the
// connection (1006: no close frame can be trusted to arrive).
func TestTimerHeartbeat(t *testing.T) {
	t.Parallel()
	cfg := Config{PingInterval: time.Hour, PongTimeout: 2 * time.Hour}
	c, p, h, _ := newTimedConn(t, cfg, -1)
	start := c.lastRead.Load()
	c.timers(start + hour - 1)
	if fs := frames(t, p.drain(-1)); len(fs) != 0 {
		t.Fatalf("a ping before the interval: %+v", fs)
	}
	c.timers(start + hour + 1)
	fs := frames(t, p.drain(-1))
	if len(fs) != 1 || fs[0].Header.OpCode != ws.OpPing {
		t.Fatalf("wire %+v, want a ping", fs)
	}
	c.timers(start + 2*hour)
	if fs := frames(t, p.drain(-1)); len(fs) != 0 {
		t.Fatalf("a second ping while the first is unanswered: %+v", fs)
	}
	// The pong: the heartbeat is answered.
	c.Feed(clientFrame(ws.OpPong, nil))
	if c.pingSent.Load() != 0 || len(h.pongs) != 1 {
		t.Fatalf("the pong did not answer the heartbeat (pongs %q)", h.pongs)
	}
	// The next ping, unanswered past PongTimeout.
	sent := start + 5*hour
	c.timers(sent)
	if fs := frames(t, p.drain(-1)); len(fs) != 1 || fs[0].Header.OpCode != ws.OpPing {
		t.Fatalf("wire %+v, want the next ping", fs)
	}
	dropsAt(t, c, p, sent+2*hour, "PongTimeout without a pong")
	c.Finish()
	h.closedWith(t, handler.CloseAbnormal)
	if _, reason := c.CloseStatus(); reason != "heartbeat timeout: no pong" {
		t.Fatalf("reason %q", reason)
	}
}

// TestTimerClose: a closing handshake the peer does not answer within
// CloseTimeout drops the connection, Closed reporting the code we sent;
// a Drain's deadline extends it.
func TestTimerClose(t *testing.T) {
	t.Parallel()
	c, p, h, _ := newTimedConn(t, Config{CloseTimeout: time.Hour}, -1)
	if err := c.Close(4000, "bye"); err != nil {
		t.Fatal(err)
	}
	dropsAt(t, c, p, c.closingAt.Load()+hour, "CloseTimeout")
	c.Finish()
	h.closedWith(t, 4000)

	c, p, _, tab := newTimedConn(t, Config{CloseTimeout: time.Hour}, -1)
	until := time.Now().Add(3 * time.Hour)
	tab.Drain(handler.CloseGoingAway, "shutting down", until)
	closeCodeOn(t, p, handler.CloseGoingAway)
	dropsAt(t, c, p, until.UnixNano(), "the Drain's deadline")
}

// TestTimerMessage: a frame or message begun and not finished within
// MessageTimeout fails the connection with 1008; whole messages, and the
// time between them, never count.
func TestTimerMessage(t *testing.T) {
	t.Parallel()
	c, p, h, _ := newTimedConn(t, Config{MessageTimeout: time.Hour}, -1)
	c.Feed(clientFrame(ws.OpText, []byte("whole")))
	if c.msgStart.Load() != 0 {
		t.Fatal("a whole message left its timer running")
	}
	c.timers(time.Now().UnixNano() + 10*hour)
	if fs := frames(t, p.drain(-1)); len(fs) != 0 {
		t.Fatalf("idle between messages: %+v", fs)
	}
	f := clientFrame(ws.OpBinary, make([]byte, 100))
	c.Feed(f[:50])
	began := c.msgStart.Load()
	if began == 0 {
		t.Fatal("a partial frame started no timer")
	}
	c.timers(began + hour - 1)
	if fs := frames(t, p.drain(-1)); len(fs) != 0 {
		t.Fatalf("before MessageTimeout: %+v", fs)
	}
	c.timers(began + hour + 1)
	closeCodeOn(t, p, handler.ClosePolicyViolation)
	if !p.shutdown {
		t.Fatal("a failed connection is not shut down once its close frame is out")
	}
	c.Finish()
	h.closedWith(t, handler.ClosePolicyViolation)
}

// TestTimerWrite: frames that make no progress toward the socket for
// WriteTimeout drop the connection (no close frame could reach a peer that
// does not read); progress restarts the clock; a blocking transport bounds
// its own writes and is never dropped here.
func TestTimerWrite(t *testing.T) {
	t.Parallel()
	c, p, h, _ := newTimedConn(t, Config{WriteTimeout: time.Hour, MaxWriteQueue: 1 << 20}, 0)
	if err := c.SendBinary(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	since := c.q.since
	c.mu.Unlock()
	dropsAt(t, c, p, since+hour, "WriteTimeout without progress")
	c.Finish()
	h.closedWith(t, handler.CloseAbnormal)
	if _, reason := c.CloseStatus(); reason != "write timeout" {
		t.Fatalf("reason %q", reason)
	}

	cfg := Config{WriteTimeout: time.Hour, MaxWriteQueue: 1 << 20, MaxMessageSize: 1 << 20}
	bp := &blockingPipe{pipe: pipe{room: 0}}
	tab := NewTable(&cfg)
	bc := New(&cfg, bp, &recorder{}, "", Request{})
	bc.Start(tab)
	defer func() { bc.Terminate(); bc.Finish() }()
	if err := bc.SendBinary(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	bc.timers(time.Now().UnixNano() + 10*hour)
	if bp.isClosed() {
		t.Fatal("a blocking transport's connection dropped by the sweeper")
	}
}

// blockingPipe is a pipe whose writes may block: a server Conn then leaves
// every write to a flusher (WaitWritable).
type blockingPipe struct{ pipe }

func (*blockingPipe) Blocking() bool { return true }

// TestWriteFailed: a write that fails drops the connection (1006, the
// error in the reason); a blocking transport's deadline is a write
// timeout.
func TestWriteFailed(t *testing.T) {
	t.Parallel()
	c, p, h := newTestConn(t, Config{}, -1)
	p.Close()
	if err := c.SendText("x"); err == nil {
		t.Fatal("a send on a closed socket succeeded")
	}
	c.Finish()
	h.closedWith(t, handler.CloseAbnormal)
	if _, reason := c.CloseStatus(); reason != "write: use of closed connection" {
		t.Fatalf("reason %q", reason)
	}

	c, _, h = newTestConn(t, Config{}, -1)
	c.WriteFailed(os.ErrDeadlineExceeded)
	c.Finish()
	h.closedWith(t, handler.CloseAbnormal)
	if _, reason := c.CloseStatus(); reason != "write timeout" {
		t.Fatalf("reason %q", reason)
	}
	if err := c.SendText("late"); !errors.Is(err, handler.ErrClosed) {
		t.Fatalf("Send after the end: %v", err)
	}
}

// TestSweeper: the table's sweeper runs while it holds connections that
// have timers, applies them on its own, and stops when the table empties.
func TestSweeper(t *testing.T) {
	t.Parallel()
	cfg := Config{MaxMessageSize: 1 << 10, IdleTimeout: 20 * time.Millisecond}
	tab := NewTable(&cfg)
	p := &pipe{room: -1}
	h := &recorder{}
	c := New(&cfg, p, h, "", Request{})
	c.Start(tab)
	// Wait for the idle close (a pipe's Write takes a frame at once);
	// then answer it.
	eventually(t, "the sweeper closed the idle connection", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.wire.Len() > 0
	})
	closeCodeOn(t, p, handler.CloseGoingAway)
	c.Feed(clientFrame(ws.OpClose, closePayload(1001, "")))
	c.Finish()
	h.closedWith(t, handler.CloseGoingAway)
	tab.mu.Lock()
	running := tab.stop != nil
	tab.mu.Unlock()
	if running || tab.Len() != 0 {
		t.Fatalf("an empty table: sweeper running %v, %d connections", running, tab.Len())
	}
	// A table whose connections have no timers starts no sweeper.
	quiet := NewTable(&Config{MaxMessageSize: 1})
	qc := New(quiet.cfg, &pipe{room: -1}, &recorder{}, "", Request{})
	qc.Start(quiet)
	quiet.mu.Lock()
	running = quiet.stop != nil
	quiet.mu.Unlock()
	qc.Terminate()
	qc.Finish()
	if running {
		t.Fatal("a sweeper for connections without timers")
	}
}

// TestTick: the sweeper ticks at a quarter of the shortest timeout, no
// less than 5 ms and no more than a second.
func TestTick(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  Config
		want time.Duration
	}{
		{Config{IdleTimeout: time.Hour}, time.Second},
		{Config{IdleTimeout: time.Hour, PongTimeout: 2 * time.Second}, 500 * time.Millisecond},
		{Config{CloseTimeout: 400 * time.Millisecond, WriteTimeout: time.Minute}, 100 * time.Millisecond},
		{Config{MessageTimeout: time.Millisecond}, 5 * time.Millisecond},
	} {
		if got := NewTable(&c.cfg).tick(); got != c.want {
			t.Errorf("%+v: tick %v, want %v", c.cfg, got, c.want)
		}
	}
}
