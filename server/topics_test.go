package server_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/observe"
	"github.com/ws4go/ws4go/server"
)

// topicHandler runs the commands its client sends as text messages, and
// answers each with "ok" or the error: "sub T", "unsub T", "pub T text"
// (Publish from inside the callback); "fill N" sends 8 KiB messages until
// N bytes wait unsent, and does not answer.
type topicHandler struct {
	handler.Base
	s      *server.Server
	closed chan<- handler.CloseCode // if set, told of Closed
}

func (h topicHandler) ReceivedMessage(c handler.Conn, m handler.Message) {
	cmd, arg, _ := strings.Cut(string(m.Data), " ")
	var err error
	switch cmd {
	case "sub":
		err = h.s.Subscribe(c, arg)
	case "unsub":
		err = h.s.Unsubscribe(c, arg)
	case "pub":
		topic, text, _ := strings.Cut(arg, " ")
		_, err = h.s.Publish(topic, handler.Text, []byte(text))
	case "fill":
		var n int
		fmt.Sscan(arg, &n)
		for h.s.BufferedAmount(c) < n && c.SendBinary(make([]byte, 8<<10)) == nil {
		}
		return
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	reply := "ok"
	if err != nil {
		reply = "err " + err.Error()
	}
	_ = c.SendText(reply)
}

func (h topicHandler) Closed(_ handler.Conn, code handler.CloseCode, _ string) {
	if h.closed != nil {
		h.closed <- code
	}
}

// topicServer is a server whose connections run topicHandler; each
// connection's end arrives on the channel.
func topicServer(s *server.Server) <-chan handler.CloseCode {
	closed := make(chan handler.CloseCode, 10000)
	s.NewHandler = func() handler.Handler { return topicHandler{s: s, closed: closed} }
	return closed
}

// command sends a command and checks its answer.
func (c *rawClient) command(cmd string) {
	c.t.Helper()
	c.send(ws.OpText, []byte(cmd))
	c.expect(ws.OpText, []byte("ok"))
}

// waitClosed waits for n connections' Closed.
func waitClosed(t *testing.T, closed <-chan handler.CloseCode, n int) {
	t.Helper()
	for range n {
		within(t, closed, 10*time.Second, "a connection's end")
	}
}

// checkNoSubscriptions checks that nothing is left of the subscriptions.
func checkNoSubscriptions(t *testing.T, s *server.Server) {
	t.Helper()
	if st := s.Stats(); st.Topics != 0 || st.Subscriptions != 0 {
		t.Fatalf("after the connections ended: %d topics, %d subscriptions", st.Topics, st.Subscriptions)
	}
}

// TestTopics: through real sockets on both engines, every subscriber of a
// topic gets its messages once, in publish order, with their type, and no
// other; Publish counts them; unsubscribing and closing leave nothing.
func TestTopics(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		s := &server.Server{}
		closed := topicServer(s)
		addr := start(t, e, s)
		var cs []*rawClient
		for i := range 6 {
			c := dial(t, addr, "/")
			if i <= 2 {
				c.command("sub a")
			}
			if i >= 2 && i <= 4 {
				c.command("sub b")
			}
			cs = append(cs, c)
		}
		cs[0].command("sub a") // again: nothing changes
		if n := s.Subscribers("a"); n != 3 {
			t.Fatalf("Subscribers(a) = %d, want 3", n)
		}
		if st := s.Stats(); st.Topics != 2 || st.Subscriptions != 6 {
			t.Fatalf("Stats: %d topics, %d subscriptions; want 2, 6", st.Topics, st.Subscriptions)
		}
		const rounds = 50
		for i := range rounds {
			if n, err := s.Publish("a", handler.Text, []byte(fmt.Sprint("a", i))); n != 3 || err != nil {
				t.Fatalf("Publish(a): %d, %v", n, err)
			}
			if n, err := s.Publish("b", handler.Binary, []byte(fmt.Sprint("b", i))); n != 3 || err != nil {
				t.Fatalf("Publish(b): %d, %v", n, err)
			}
		}
		if n, err := s.Publish("nobody", handler.Text, []byte("x")); n != 0 || err != nil {
			t.Fatalf("Publish to a topic without subscribers: %d, %v", n, err)
		}
		for i, c := range cs {
			for r := range rounds {
				if i <= 2 {
					c.expect(ws.OpText, []byte(fmt.Sprint("a", r)))
				}
				if i >= 2 && i <= 4 {
					c.expect(ws.OpBinary, []byte(fmt.Sprint("b", r)))
				}
			}
			c.command("sub c") // answered next: nothing else was queued
		}
		cs[2].command("unsub a")
		cs[2].command("unsub a") // not subscribed: nothing to do
		if n, _ := s.Publish("a", handler.Text, []byte("after")); n != 2 {
			t.Fatalf("Publish(a) after an unsubscribe reached %d, want 2", n)
		}
		cs[0].expect(ws.OpText, []byte("after"))
		cs[1].expect(ws.OpText, []byte("after"))
		cs[2].command("unsub b") // answered first: "after" did not come
		for _, c := range cs {
			c.closeNormally()
		}
		waitClosed(t, closed, len(cs))
		checkNoSubscriptions(t, s)
	})
}

// TestPublishRaces publishes from handlers' callbacks and from another
// goroutine while clients subscribe, unsubscribe and go (run with -race):
// each steady subscriber gets every message once, each publisher's in its
// order, all of them in one order; the registry ends empty.
func TestPublishRaces(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		s := &server.Server{}
		closed := topicServer(s)
		addr := start(t, e, s)
		const steady, each = 4, 100
		var subs []*rawClient
		for range steady {
			c := dial(t, addr, "/")
			c.command("sub t")
			subs = append(subs, c)
		}
		var wg sync.WaitGroup
		for p := range 2 { // clients whose handlers publish
			c := dial(t, addr, "/")
			wg.Go(func() {
				for i := range each {
					c.send(ws.OpText, []byte(fmt.Sprintf("pub t %d.%d", p, i)))
				}
				for range each {
					c.expect(ws.OpText, []byte("ok"))
				}
				c.closeNormally()
			})
		}
		wg.Go(func() { // a publisher of the application's
			for i := range each {
				if _, err := s.Publish("t", handler.Text, []byte(fmt.Sprintf("%d.%d", 9, i))); err != nil {
					t.Error(err)
				}
			}
		})
		churn := make(chan *rawClient, 40)
		wg.Go(func() { // clients that come and go meanwhile
			defer close(churn)
			for i := range 40 {
				nc := dial(t, addr, "/")
				nc.command(fmt.Sprint("sub other", i%3))
				nc.send(ws.OpText, []byte("sub t")) // (its messages may come before the answer)
				if i%2 == 0 {
					nc.send(ws.OpText, []byte("unsub t"))
				}
				churn <- nc
			}
		})
		for nc := range churn {
			_ = nc.nc.Close() // gone without a word, whatever was queued
		}
		wg.Wait()
		var first []string
		for i, c := range subs {
			var got []string
			last := map[int]int{0: -1, 1: -1, 9: -1}
			for range 3 * each {
				h, p, err := c.read()
				if err != nil || h.OpCode != ws.OpText {
					t.Fatalf("subscriber %d: %v %v", i, h.OpCode, err)
				}
				var pub, seq int
				if _, err := fmt.Sscanf(string(p), "%d.%d", &pub, &seq); err != nil || seq != last[pub]+1 {
					t.Fatalf("subscriber %d: %q after %d.%d", i, p, pub, last[pub])
				}
				last[pub] = seq
				got = append(got, string(p))
			}
			if first == nil {
				first = got
			} else if !slices.Equal(first, got) {
				t.Fatalf("subscribers 0 and %d saw the topic in different orders", i)
			}
			c.command("sub t") // nothing more came before the answer
			c.closeNormally()
		}
		waitClosed(t, closed, steady+2+40)
		checkNoSubscriptions(t, s)
	})
}

// TestTopicErrors: hostile names, too many subscriptions (per connection
// and server-wide), connections that are not the server's, and messages
// that cannot be published get clear errors.
func TestTopicErrors(t *testing.T) {
	s := &server.Server{MaxSubscriptions: 3, MaxTotalSubscriptions: 5, MaxMessageSize: 1000}
	conns := make(chan handler.Conn, 2)
	s.NewHandler = func() handler.Handler { return &opener{f: func(c handler.Conn) { conns <- c }} }
	addr := start(t, server.EngineNetpoll, s)
	dial(t, addr, "/")
	dial(t, addr, "/")
	a, b := <-conns, <-conns
	for _, name := range []string{"", strings.Repeat("x", server.MaxTopicLength+1), "\xff"} {
		if err := s.Subscribe(a, name); !errors.Is(err, server.ErrTopicName) {
			t.Errorf("Subscribe(%q): %v, want ErrTopicName", name, err)
		}
		if _, err := s.Publish(name, handler.Text, nil); !errors.Is(err, server.ErrTopicName) {
			t.Errorf("Publish(%q): %v, want ErrTopicName", name, err)
		}
	}
	for i := range 3 {
		if err := s.Subscribe(a, fmt.Sprint("t", i)); err != nil {
			t.Fatal(err)
		}
	}
	err := s.Subscribe(a, "t3")
	if !errors.Is(err, server.ErrTooManySubscriptions) || !strings.Contains(err.Error(), "MaxSubscriptions") {
		t.Errorf("a connection's 4th subscription of 3: %v", err)
	}
	_ = s.Subscribe(b, "t0")
	_ = s.Subscribe(b, "t1")
	err = s.Subscribe(b, "t2")
	if !errors.Is(err, server.ErrTooManySubscriptions) || !strings.Contains(err.Error(), "MaxTotalSubscriptions") {
		t.Errorf("the server's 6th subscription of 5: %v", err)
	}
	other := &server.Server{}
	otherConns := make(chan handler.Conn, 1)
	other.NewHandler = func() handler.Handler { return &opener{f: func(c handler.Conn) { otherConns <- c }} }
	dial(t, start(t, server.EngineNetpoll, other), "/")
	for _, c := range []handler.Conn{<-otherConns, nil} {
		if err := s.Subscribe(c, "t"); !errors.Is(err, server.ErrUnknownConn) {
			t.Errorf("Subscribe of another server's connection: %v", err)
		}
		if err := s.SendPrepared(c, mustPrepare(t, handler.Text, "x")); !errors.Is(err, server.ErrUnknownConn) {
			t.Errorf("SendPrepared to another server's connection: %v", err)
		}
		if n := s.BufferedAmount(c); n != 0 {
			t.Errorf("BufferedAmount of another server's connection: %d", n)
		}
	}
	if _, err := s.Publish("t0", handler.Text, []byte("bad\xff")); !errors.Is(err, server.ErrInvalidUTF8) {
		t.Errorf("Publish of text that is not UTF-8: %v", err)
	}
	if _, err := server.Prepare(handler.Text, []byte("bad\xff")); !errors.Is(err, server.ErrInvalidUTF8) {
		t.Errorf("Prepare of text that is not UTF-8: %v", err)
	}
	if _, err := s.Publish("t0", 9, nil); err == nil {
		t.Error("Publish of a message of type 9")
	}
	if _, err := s.Publish("t0", handler.Binary, make([]byte, 1001)); !errors.Is(err, server.ErrMessageTooLarge) {
		t.Errorf("Publish past MaxMessageSize: %v", err)
	}
	if n := s.Broadcast(handler.Text, []byte("bad\xff")); n != 0 {
		t.Errorf("Broadcast of text that is not UTF-8 reached %d", n)
	}
	if n := s.BroadcastPrepared(mustPrepare(t, handler.Binary, string(make([]byte, 1001)))); n != 0 {
		t.Errorf("BroadcastPrepared past MaxMessageSize reached %d", n)
	}
	if got := s.Subscriptions(a); len(got) != 3 {
		t.Errorf("Subscriptions: %q", got)
	}
}

func mustPrepare(t testing.TB, typ handler.MessageType, p string) *server.PreparedMessage {
	t.Helper()
	pm, err := server.Prepare(typ, []byte(p))
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

// skipObserver counts what publishing reports.
type skipObserver struct {
	observe.Base
	skipped, overflows atomic.Int64
}

func (o *skipObserver) Skipped(n int)       { o.skipped.Add(int64(n)) }
func (o *skipObserver) WriteQueueOverflow() { o.overflows.Add(1) }

// TestSlowSubscriber: a subscriber that stops reading is closed (SlowClose,
// with the write-queue code) or has messages skipped (SlowSkip: counted,
// it stays open and, once it reads again, gets every message published
// after, in order), while another subscriber gets everything.
func TestSlowSubscriber(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		for _, policy := range []server.SlowPolicy{server.SlowClose, server.SlowSkip} {
			t.Run(fmt.Sprint("policy=", policy), func(t *testing.T) {
				obs := &skipObserver{}
				s := &server.Server{
					MaxWriteQueue: 256 << 10, SlowSubscribers: policy, Observer: obs,
					WriteTimeout: 30 * time.Second, CloseTimeout: 200 * time.Millisecond,
				}
				closed := topicServer(s)
				addr := start(t, e, s)
				slow, fast := dial(t, addr, "/"), dial(t, addr, "/")
				for _, c := range []*rawClient{slow, fast} {
					_ = c.nc.SetWriteDeadline(time.Now().Add(time.Minute))
				}
				slow.command("sub t")
				fast.command("sub t")
				msg := make([]byte, 64<<10)
				published := 0
				for obs.skipped.Load() == 0 && obs.overflows.Load() == 0 {
					n, err := s.Publish("t", handler.Binary, numbered(msg, published))
					if err != nil || n == 0 {
						t.Fatalf("Publish: %d, %v", n, err)
					}
					published++
					fast.expect(ws.OpBinary, msg)
					if published > 10000 {
						t.Fatal("the slow subscriber was never found slow")
					}
				}
				t.Logf("the slow subscriber was found slow at message %d", published)
				if policy == server.SlowClose {
					if code := within(t, closed, 10*time.Second, "the slow subscriber's end"); code != handler.ClosePolicyViolation {
						t.Fatalf("the slow subscriber ended with %d, want 1008", code)
					}
					fast.echoesCommand()
					return
				}
				// Skipped: still open; reading again, it gets every
				// message but the one skipped, in order, and those
				// published after.
				for i := range published - 1 {
					slow.expect(ws.OpBinary, numbered(msg, i))
				}
				got := published - 1
				for i := range 5 {
					if n, _ := s.Publish("t", handler.Binary, numbered(msg, published+i)); n != 2 {
						t.Fatalf("after it caught up, a publish reached %d, want 2", n)
					}
					slow.expect(ws.OpBinary, numbered(msg, published+i))
					fast.expect(ws.OpBinary, numbered(msg, published+i))
				}
				if k := obs.skipped.Load(); int(k)+got != published {
					t.Fatalf("%d received + %d skipped of %d published", got, k, published)
				}
				slow.closeNormally()
				fast.closeNormally()
				waitClosed(t, closed, 2)
			})
		}
	})
}

// numbered writes i at the start of msg, and returns it.
func numbered(msg []byte, i int) []byte {
	copy(msg, fmt.Sprintf("%08d", i))
	return msg
}

// echoesCommand checks a topic client is still served.
func (c *rawClient) echoesCommand() {
	c.t.Helper()
	c.command("sub alive")
}

// drainHandler hands over its connection and tells Drained, with what
// is buffered then.
type drainHandler struct {
	handler.Base
	s       *server.Server
	conns   chan handler.Conn
	drained chan int
}

func (h drainHandler) Opened(c handler.Conn)  { h.conns <- c }
func (h drainHandler) Drained(c handler.Conn) { h.drained <- h.s.BufferedAmount(c) }

// TestBufferedAmountDrained: BufferedAmount follows what the socket has not
// taken; Drained comes once the queue empties after passing half its
// bound, when the peer catches up. (It may come earlier too, whenever the
// peer's kernel takes everything queued: the unit test TestDrained holds
// when exactly.)
func TestBufferedAmountDrained(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		s := &server.Server{MaxWriteQueue: 256 << 10, WriteTimeout: 30 * time.Second}
		h := drainHandler{s: s, conns: make(chan handler.Conn, 1), drained: make(chan int, 100)}
		s.NewHandler = func() handler.Handler { return h }
		addr := start(t, e, s)
		c := dial(t, addr, "/")
		sc := <-h.conns
		pm := mustPrepare(t, handler.Binary, string(make([]byte, 16<<10)))
		sent := 0
		for s.BufferedAmount(sc) < 160<<10 {
			if err := s.SendPrepared(sc, pm); err != nil {
				t.Fatal(err)
			}
			sent++
			if b := s.BufferedAmount(sc); b > sent*(16<<10+4) {
				t.Fatalf("BufferedAmount %d after %d messages of %d bytes", b, sent, 16<<10+4)
			}
		}
		for range sent {
			if h, p, err := c.read(); err != nil || h.OpCode != ws.OpBinary || len(p) != 16<<10 {
				t.Fatalf("%v %d %v", h.OpCode, len(p), err)
			}
		}
		// The Drained of the last emptying reports an empty queue
		// (earlier ones may report what was queued after them).
		for within(t, h.drained, 10*time.Second, "Drained") != 0 {
		}
		if b := s.BufferedAmount(sc); b != 0 {
			t.Fatalf("BufferedAmount %d once everything was read", b)
		}
		c.closeNormally()
	})
}

// TestPublishTLSAndH2: Publish reaches subscribers over TLS (both engines)
// and on HTTP/2 streams.
func TestPublishTLSAndH2(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		s := &server.Server{}
		closed := topicServer(s)
		addr, pool := startTLS(t, e, s)
		c1, _ := dialTLS(t, addr, pool)
		c2, _ := dialTLS(t, addr, pool)
		c1.command("sub t")
		c2.command("sub t")

		h2 := &server.Server{}
		h2closed := topicServer(h2)
		h2addr, h2pool := startH2(t, e, h2)
		hc := testutil.DialH2(t, h2addr, h2pool)
		_, st1 := openH2(t, hc, "/", nil)
		_, st2 := openH2(t, hc, "/", nil)
		st1.command("sub t")
		st2.command("sub t")
		for i := range 20 {
			msg := []byte(fmt.Sprint("news ", i))
			if n, _ := s.Publish("t", handler.Text, msg); n != 2 {
				t.Fatalf("TLS: published to %d", n)
			}
			if n, _ := h2.Publish("t", handler.Text, msg); n != 2 {
				t.Fatalf("HTTP/2: published to %d", n)
			}
		}
		for _, c := range []*rawClient{c1, c2, st1, st2} {
			for i := range 20 {
				c.expect(ws.OpText, []byte(fmt.Sprint("news ", i)))
			}
			c.closeNormally()
		}
		waitClosed(t, closed, 2)
		waitClosed(t, h2closed, 2)
		checkNoSubscriptions(t, s)
		checkNoSubscriptions(t, h2)
	})
}

// TestPublishDuringShutdown: publishing while the server shuts down is
// safe; the closing connections are not counted, and nothing is left.
func TestPublishDuringShutdown(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		s := &server.Server{CloseTimeout: 100 * time.Millisecond}
		topicServer(s)
		addr, errc := serveOwn(t, s)
		var cs []*rawClient
		for range 20 {
			c := dial(t, addr, "/")
			c.command("sub t")
			cs = append(cs, c)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					_, _ = s.Publish("t", handler.Text, []byte("x"))
					s.Broadcast(handler.Text, []byte("y"))
				}
			})
		}
		for _, c := range cs { // each answers the 1001 behind what it was sent
			wg.Go(func() {
				for {
					h, p, err := c.read()
					if err != nil {
						t.Errorf("waiting for the 1001: %v", err)
						return
					}
					if h.OpCode == ws.OpClose {
						c.send(ws.OpClose, p[:2])
						return
					}
				}
			})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		close(stop)
		wg.Wait()
		<-errc
		if n, err := s.Publish("t", handler.Text, []byte("late")); n != 0 || err != nil {
			t.Fatalf("Publish after Shutdown: %d, %v", n, err)
		}
		checkNoSubscriptions(t, s)
	})
}
