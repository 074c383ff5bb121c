package wsconn

// Unit tests of publishing: the fan-out queues and never writes, the frame
// is shared and counted once, the slow-subscriber policies, BufferedAmount
// and Drained. The engine is played by fakeEngine, which runs the flushes a
// publish asked for when the test says so.

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/observe"
)

// fakeEngine holds the flushes asked for with FlushSoon until run.
type fakeEngine struct {
	mu    sync.Mutex
	due   []*Conn
	spare []*Conn // the list run used last, reused
}

// run flushes the connections that asked, as an engine's workers would.
func (e *fakeEngine) run() int {
	e.mu.Lock()
	due := e.due
	e.due, e.spare = e.spare[:0], nil
	e.mu.Unlock()
	for _, c := range due {
		c.Flush()
	}
	clear(due)
	e.mu.Lock()
	e.spare = due
	e.mu.Unlock()
	return len(due)
}

// enginePipe is a pipe on a fakeEngine; writes on it outside the engine's
// flushes are counted (a publish must make none).
type enginePipe struct {
	*pipe
	e      *fakeEngine
	c      *Conn
	writes int // calls of Write
}

func (p *enginePipe) FlushSoon() {
	p.e.mu.Lock()
	p.e.due = append(p.e.due, p.c)
	p.e.mu.Unlock()
}

func (p *enginePipe) Write(bufs [][]byte) (int, error) {
	p.pipe.mu.Lock()
	p.writes++
	p.pipe.mu.Unlock()
	return p.pipe.Write(bufs)
}

// subscriberConn makes a started connection of tab on e, with a socket
// that takes room bytes (-1: any).
func subscriberConn(tab *Table, e *fakeEngine, room int, h handler.Handler) (*Conn, *enginePipe) {
	if h == nil {
		h = &recorder{}
	}
	p := &enginePipe{pipe: &pipe{room: room}, e: e}
	c := New(tab.cfg, p, h, "", Request{})
	p.c = c
	c.Start(tab)
	return c, p
}

// TestPublishOnlyQueues: a publish writes nothing itself, shares one frame
// among the queues, counts it once in the budget and each connection's
// whole share against its own bound; the engine's flush writes it, and
// everything is given back once it is written.
func TestPublishOnlyQueues(t *testing.T) {
	b := &Budget{}
	cfg := &Config{MaxMessageSize: 1 << 20, MaxWriteQueue: 1 << 20, Budget: b}
	tab := NewTable(cfg)
	e := &fakeEngine{}
	const n = 5
	var conns []*Conn
	var pipes []*enginePipe
	for range n {
		c, p := subscriberConn(tab, e, -1, nil)
		if err := tab.Subscribe(c, "news"); err != nil {
			t.Fatal(err)
		}
		conns, pipes = append(conns, c), append(pipes, p)
	}
	m := prepared(t, handler.Binary, "hello")
	for i := range 3 {
		if got, err := tab.Publish("news", m); err != nil || got != n {
			t.Fatalf("publish %d: %d, %v; want %d", i, got, err, n)
		}
	}
	for i, p := range pipes {
		if p.writes != 0 {
			t.Fatalf("connection %d: the publish wrote %d times on its goroutine", i, p.writes)
		}
	}
	// One frame's allocation, once; an index entry per delivery.
	if want := int64(m.alloc + 3*n*indexCost); b.Held() != want {
		t.Fatalf("budget holds %d, want %d (the frame once, %d index entries)", b.Held(), want, 3*n)
	}
	if want := 3 * (m.alloc + indexCost); conns[0].Held() != want {
		t.Fatalf("a connection holds %d against its bound, want %d (the frame whole, three times)", conns[0].Held(), want)
	}
	if got := conns[0].BufferedAmount(); got != 3*len(m.frame) {
		t.Fatalf("BufferedAmount %d, want %d", got, 3*len(m.frame))
	}
	if k := e.run(); k != n {
		t.Fatalf("%d flushes asked for, want one per connection (%d)", k, n)
	}
	for i, p := range pipes {
		fs := frames(t, p.drain(-1))
		if len(fs) != 3 {
			t.Fatalf("connection %d got %d frames, want 3", i, len(fs))
		}
		for _, f := range fs {
			if f.Header.OpCode != ws.OpBinary || !f.Header.Fin || string(f.Payload) != "hello" {
				t.Fatalf("connection %d got %+v %q", i, f.Header, f.Payload)
			}
		}
		if p.writes != 1 {
			t.Fatalf("connection %d: %d writes, want the three frames in one", i, p.writes)
		}
	}
	if b.Held() != 0 || conns[0].Held() != 0 || conns[0].BufferedAmount() != 0 || m.refs.Load() != 0 {
		t.Fatalf("after the writes: budget %d, connection %d, buffered %d, references %d; want 0", b.Held(), conns[0].Held(), conns[0].BufferedAmount(), m.refs.Load())
	}
	// Dropped unwritten: given back all the same.
	if got, _ := tab.Publish("news", m); got != n {
		t.Fatalf("publish: %d", got)
	}
	for _, c := range conns {
		c.Terminate()
		c.Finish()
	}
	if b.Held() != 0 || m.refs.Load() != 0 {
		t.Fatalf("after the connections ended: budget %d, references %d; want 0", b.Held(), m.refs.Load())
	}
	if topics, subs := tab.TopicStats(); topics != 0 || subs != 0 {
		t.Fatalf("after the connections ended: %d topics, %d subscriptions", topics, subs)
	}
}

// TestSlowSubscriberPolicy: a subscriber whose queue has no room is closed
// (the write-queue code) or, with SkipSlow, skipped and left open; either
// way the others get the message and the observer hears it.
func TestSlowSubscriberPolicy(t *testing.T) {
	for _, skip := range []bool{false, true} {
		t.Run(fmt.Sprintf("skip=%v", skip), func(t *testing.T) {
			obs := &countingObserver{}
			b := &Budget{}
			cfg := &Config{MaxMessageSize: 1 << 20, MaxWriteQueue: 4096, Budget: b, SkipSlow: skip, Observer: obs}
			tab := NewTable(cfg)
			e := &fakeEngine{}
			slow, sp := subscriberConn(tab, e, 0, nil) // its socket takes nothing
			fast, fp := subscriberConn(tab, e, -1, nil)
			for _, c := range []*Conn{slow, fast} {
				if err := tab.Subscribe(c, "t"); err != nil {
					t.Fatal(err)
				}
			}
			msg := bytes.Repeat([]byte("x"), 1000)
			m, _ := NewPrepared(handler.Binary, msg)
			sent := 0
			for i := 0; i < 10; i++ {
				got, _ := tab.Publish("t", m)
				e.run()
				sent++
				if got < 2 {
					break
				}
			}
			if got := len(frames(t, fp.drain(-1))); got != sent {
				t.Fatalf("the fast subscriber got %d of %d", got, sent)
			}
			obs.mu.Lock()
			skipped, overflows := obs.skipped, obs.overflows
			obs.mu.Unlock()
			if skip {
				if skipped != 1 || overflows != 0 || slow.closing() {
					t.Fatalf("skip: %d skipped, %d overflows, closing %v; want 1, 0, open", skipped, overflows, slow.closing())
				}
				if err := slow.SendPrepared(m); !errors.Is(err, handler.ErrWriteQueueFull) || slow.closing() {
					t.Fatalf("SendPrepared to a full queue: %v, closing %v; want ErrWriteQueueFull, open", err, slow.closing())
				}
			} else {
				if skipped != 0 || overflows != 1 || !slow.closing() {
					t.Fatalf("close: %d skipped, %d overflows, closing %v; want 0, 1, closing", skipped, overflows, slow.closing())
				}
				code, _ := slow.CloseStatus()
				if code != handler.ClosePolicyViolation {
					t.Fatalf("the slow subscriber closed with %d, want 1008", code)
				}
			}
			for _, c := range []*Conn{slow, fast} {
				c.Terminate()
				c.Finish()
			}
			_ = sp
			if b.Held() != 0 || m.refs.Load() != 0 {
				t.Fatalf("budget %d, references %d after the end", b.Held(), m.refs.Load())
			}
		})
	}
}

// TestPublishBudgetFull: when the server-wide budget cannot take a publish,
// subscribers holding frames already get 1013 and those holding none still
// get the message.
func TestPublishBudgetFull(t *testing.T) {
	b := &Budget{Max: 8192}
	cfg := &Config{MaxMessageSize: 1 << 20, MaxWriteQueue: 1 << 20, Budget: b}
	tab := NewTable(cfg)
	e := &fakeEngine{}
	holder, _ := subscriberConn(tab, e, 0, nil)
	idle, ip := subscriberConn(tab, e, -1, nil)
	_ = tab.Subscribe(holder, "t")
	big := prepared(t, handler.Binary, string(make([]byte, 6000)))
	if err := holder.SendPrepared(big); err != nil {
		t.Fatal(err)
	}
	e.run()
	small := prepared(t, handler.Binary, string(make([]byte, 3000)))
	_ = tab.Subscribe(idle, "t")
	if got, _ := tab.Publish("t", small); got != 1 {
		t.Fatalf("published to %d, want 1 (the connection holding nothing)", got)
	}
	e.run()
	if code, _ := holder.CloseStatus(); code != handler.CloseTryAgainLater {
		t.Fatalf("the connection holding frames closed with %d, want 1013", code)
	}
	if fs := frames(t, ip.drain(-1)); len(fs) != 1 {
		t.Fatalf("the idle connection got %d frames, want 1", len(fs))
	}
	for _, c := range []*Conn{holder, idle} {
		c.Terminate()
		c.Finish()
	}
	if b.Held() != 0 {
		t.Fatalf("budget %d after the end", b.Held())
	}
}

// TestPublishDuringFragments: a publish during a fragmented message waits
// for its last fragment, then leaves with the engine's flush.
func TestPublishDuringFragments(t *testing.T) {
	cfg := &Config{MaxMessageSize: 1 << 20, MaxWriteQueue: 1 << 20}
	tab := NewTable(cfg)
	e := &fakeEngine{}
	c, p := subscriberConn(tab, e, -1, nil)
	_ = tab.Subscribe(c, "t")
	w, _ := c.NewWriter(handler.Text)
	_, _ = w.Write([]byte("a"))
	if n, _ := tab.Publish("t", prepared(t, handler.Text, "news")); n != 1 {
		t.Fatalf("queued for %d", n)
	}
	if c.BufferedAmount() != 6 {
		t.Fatalf("BufferedAmount %d with a deferred frame of 6 bytes", c.BufferedAmount())
	}
	_, _ = w.Write([]byte("b"))
	_ = w.Close()
	e.run()
	var got []string
	for _, f := range frames(t, p.drain(-1)) {
		got = append(got, fmt.Sprintf("%d%v%s", f.Header.OpCode, f.Header.Fin, f.Payload))
	}
	if want := "[1falsea 0falseb 0true 1truenews]"; fmt.Sprint(got) != want {
		t.Fatalf("wire %v, want %s", got, want)
	}
}

// drainer records its Drained calls and checks they never overlap another
// callback.
type drainer struct {
	recorder
	in      sync.Mutex
	drained chan struct{}
}

func (d *drainer) ReceivedMessage(c handler.Conn, m handler.Message) {
	if !d.in.TryLock() {
		panic("callbacks overlap")
	}
	defer d.in.Unlock()
	d.recorder.ReceivedMessage(c, m)
}

func (d *drainer) Drained(handler.Conn) {
	if !d.in.TryLock() {
		panic("callbacks overlap")
	}
	defer d.in.Unlock()
	d.drained <- struct{}{}
}

// TestDrained: Drained comes once the queue empties after passing half its
// bound, not for a queue that never did, and BufferedAmount follows the
// bytes not written.
func TestDrained(t *testing.T) {
	cfg := &Config{MaxMessageSize: 1 << 20, MaxWriteQueue: 8192}
	tab := NewTable(cfg)
	e := &fakeEngine{}
	h := &drainer{drained: make(chan struct{}, 4)}
	c, p := subscriberConn(tab, e, 0, h)
	m := prepared(t, handler.Binary, string(make([]byte, 1000)))
	for range 3 {
		_ = c.SendPrepared(m)
	}
	e.run()
	if got, want := c.BufferedAmount(), 3*len(m.frame); got != want {
		t.Fatalf("BufferedAmount %d, want %d", got, want)
	}
	p.drain(500)
	c.Flush()
	if got, want := c.BufferedAmount(), 3*len(m.frame)-500; got != want {
		t.Fatalf("BufferedAmount %d after 500 bytes written, want %d", got, want)
	}
	p.drain(-1)
	c.Flush()
	if c.BufferedAmount() != 0 {
		t.Fatalf("BufferedAmount %d once all is written", c.BufferedAmount())
	}
	select {
	case <-h.drained:
		t.Fatal("Drained after a queue that stayed under half its bound")
	default:
	}
	// Past half the bound (4 KiB of 8), then written: Drained.
	p.drain(0)
	for range 5 {
		_ = c.SendPrepared(m)
	}
	e.run()
	c.Feed(clientFrame(ws.OpText, []byte("meanwhile")))
	p.drain(-1)
	c.Flush()
	<-h.drained
	c.Terminate()
	c.Finish()
}

// countingObserver counts the publishing events.
type countingObserver struct {
	observe.Base
	mu                          sync.Mutex
	skipped, overflows, fanouts int
}

func (o *countingObserver) Skipped(n int) {
	o.mu.Lock()
	o.skipped += n
	o.mu.Unlock()
}

func (o *countingObserver) WriteQueueOverflow() {
	o.mu.Lock()
	o.overflows++
	o.mu.Unlock()
}

func (o *countingObserver) Broadcast(int) {
	o.mu.Lock()
	o.fanouts++
	o.mu.Unlock()
}
