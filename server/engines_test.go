package server_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/goleak"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// within fails the test if ch is not closed or sent on within d: a guard
// against a hang, not a synchronisation.
func within[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: not within %v", what, d)
	}
	var zero T
	return zero
}

// lockingCloser's Closed takes a lock that the test holds while it calls
// Terminate, as a handler guarding its own state would.
type lockingCloser struct {
	handler.Echo
	mu     *sync.Mutex
	opened chan handler.Conn
	closed chan [2]string
}

func (h *lockingCloser) Opened(c handler.Conn) { h.opened <- c }

func (h *lockingCloser) Closed(_ handler.Conn, code handler.CloseCode, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed <- [2]string{code.String(), reason}
}

// TestClosedNotOnCaller: Closed never runs on the goroutine that asked for
// the close (Terminate, Close, a send that fails), so a handler may hold
// its own lock while calling them and take it in Closed.
func TestClosedNotOnCaller(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		var mu sync.Mutex
		h := &lockingCloser{mu: &mu, opened: make(chan handler.Conn, 1), closed: make(chan [2]string, 1)}
		addr := start(t, e, &server.Server{NewHandler: func() handler.Handler { return h }})
		for _, how := range []string{"Terminate", "Close"} {
			c := dial(t, addr, "/")
			conn := within(t, h.opened, 5*time.Second, "Opened")
			done := make(chan struct{})
			go func() {
				mu.Lock()
				if how == "Terminate" {
					conn.Terminate()
				} else {
					_ = conn.Close(4000, "bye")
				}
				mu.Unlock()
				close(done)
			}()
			within(t, done, 10*time.Second, how+" while holding the lock Closed takes (deadlock)")
			if how == "Close" {
				c.expect(ws.OpClose, closePayload(4000, "bye"))
				c.send(ws.OpClose, closePayload(4000, ""))
				c.expectEOF()
			}
			got := within(t, h.closed, 10*time.Second, "Closed")
			t.Logf("%s: Closed %v", how, got)
		}
	})
}

// addrKeeper records its connection and the addresses it reports once
// closed.
type addrKeeper struct {
	handler.Echo
	closed chan [2]string
}

func (h *addrKeeper) Closed(c handler.Conn, _ handler.CloseCode, _ string) {
	h.closed <- [2]string{fmt.Sprint(c.RemoteAddr()), fmt.Sprint(c.LocalAddr())}
}

// TestAddrAfterClose: RemoteAddr and LocalAddr stay right after the
// connection closed (on netpoll the descriptor is gone by then, and its
// number may belong to another connection).
func TestAddrAfterClose(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		h := &addrKeeper{closed: make(chan [2]string, 1)}
		addr := start(t, e, &server.Server{NewHandler: func() handler.Handler { return h }})
		c := dial(t, addr, "/")
		want := [2]string{c.nc.LocalAddr().String(), addr}
		c.echoes("x")
		c.closeNormally()
		if got := within(t, h.closed, 5*time.Second, "Closed"); got != want {
			t.Fatalf("in Closed: RemoteAddr, LocalAddr = %q, want %q", got, want)
		}
	})
}

// TestBroadcastDuringStream: a message being streamed with NewWriter does
// not hold up Broadcast; the broadcast frame follows its last fragment
// (no data frame may come between fragments).
func TestBroadcastDuringStream(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		streaming, finish := make(chan struct{}), make(chan struct{})
		s := &server.Server{NewHandler: func() handler.Handler {
			return &opener{f: func(c handler.Conn) {
				go func() {
					w, err := c.NewWriter(handler.Text)
					if err != nil {
						panic(err)
					}
					_, _ = w.Write([]byte("one "))
					close(streaming)
					<-finish
					_, _ = w.Write([]byte("two"))
					_ = w.Close()
				}()
			}}
		}}
		addr := start(t, e, s)
		c := dial(t, addr, "/")
		within(t, streaming, 5*time.Second, "first fragment")
		sent := make(chan int, 1)
		go func() { sent <- s.Broadcast(handler.Binary, []byte("news")) }()
		if n := within(t, sent, 5*time.Second, "Broadcast during a streamed message"); n != 1 {
			t.Fatalf("Broadcast reached %d", n)
		}
		close(finish)
		var frames []string
		for len(frames) < 4 {
			h, p, err := c.read()
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, fmt.Sprintf("%v/%v/%s", h.OpCode, h.Fin, p))
		}
		want := []string{"1/false/one ", "0/false/two", "0/true/", "2/true/news"}
		if fmt.Sprint(frames) != fmt.Sprint(want) {
			t.Fatalf("frames %q, want %q", frames, want)
		}
		c.closeNormally()
	})
}

// TestWriteQueueBound: a send is refused as soon as it would take the
// queue past MaxWriteQueue, including one huge message whose rest (after
// what the socket took) alone passes it; the connection is closed with the
// write-queue code either way.
func TestWriteQueueBound(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		for _, tc := range []struct {
			name  string
			limit int
			sizes []int
		}{
			// Larger than MaxMessageSize (16 MiB), the most a lone
			// frame may take of the queue.
			{"one huge message", 256 << 10, []int{32 << 20}},
			{"queue plus message", 8 << 20, []int{4 << 20, 8 << 20}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				closed := make(chan [2]string, 1)
				s := &server.Server{
					MaxWriteQueue: tc.limit, WriteQueueCloseCode: handler.CloseTryAgainLater,
					WriteTimeout: time.Hour, CloseTimeout: 200 * time.Millisecond,
					NewHandler: func() handler.Handler { return &recorder{closed: closed} },
				}
				addr := start(t, e, s)
				c := dial(t, addr, "/") // and it stops reading
				_ = c.nc.(*net.TCPConn).SetReadBuffer(4096)
				c.echoes("ready") // it is in the table now
				var conn handler.Conn
				s.Range(func(hc handler.Conn) bool { conn = hc; return false })
				var err error
				for _, n := range tc.sizes {
					if err = conn.SendBinary(make([]byte, n)); err != nil {
						break
					}
				}
				if !errors.Is(err, handler.ErrWriteQueueFull) {
					t.Fatalf("sends of %v bytes to a peer that does not read: %v, want ErrWriteQueueFull", tc.sizes, err)
				}
				got := within(t, closed, 10*time.Second, "Closed")
				if got != [2]string{handler.CloseTryAgainLater.String(), "write queue overflow"} {
					t.Fatalf("closed with %v", got)
				}
			})
		}
	})
}

// holder holds its worker on "hold", reporting it on held, until free.
type holder struct {
	handler.Echo
	held    chan struct{}
	release chan struct{}
	once    sync.Once
}

// newHolder makes a holder for up to n holds at once.
func newHolder(n int) *holder {
	return &holder{held: make(chan struct{}, n), release: make(chan struct{})}
}

func (h *holder) ReceivedMessage(c handler.Conn, m handler.Message) {
	if string(m.Data) == "hold" {
		h.held <- struct{}{}
		<-h.release
	}
	h.Echo.ReceivedMessage(c, m)
}

// free ends the holds; a test also has it run before the server shuts
// down (a cleanup registered after start), even on failure.
func (h *holder) free() { h.once.Do(func() { close(h.release) }) }

// dialEchoing dials n clients, each seen to echo.
func dialEchoing(t *testing.T, addr string, n int) []*rawClient {
	t.Helper()
	var clients []*rawClient
	for i := 0; i < n; i++ {
		c := dial(t, addr, "/")
		c.echoes("hi")
		clients = append(clients, c)
	}
	return clients
}

// TestBackpressure: with one worker held by a handler that blocks, the
// engine waits (no goroutine per waiting connection) and every other
// connection is served once the handler returns.
func TestBackpressure(t *testing.T) {
	const others = 20
	h := newHolder(1)
	s := &server.Server{Workers: 1, PingInterval: -1, NewHandler: func() handler.Handler { return h }}
	addr := start(t, server.EngineNetpoll, s)
	t.Cleanup(h.free)
	clients := dialEchoing(t, addr, others)
	blocking := dial(t, addr, "/")
	before := runtime.NumGoroutine()
	blocking.send(ws.OpText, []byte("hold"))
	within(t, h.held, 5*time.Second, "the handler blocking")
	for i, c := range clients {
		c.send(ws.OpText, []byte(fmt.Sprint("m", i)))
	}
	// The others' messages are waiting: the only worker is held.
	for deadline := time.Now().Add(5 * time.Second); s.Stats().WorkersBusy != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, want the one worker busy", s.Stats())
		}
		runtime.Gosched()
	}
	if g := runtime.NumGoroutine() - before; g > 2 {
		t.Errorf("%d more goroutines while %d connections wait", g, others)
	}
	h.free()
	blocking.expect(ws.OpText, []byte("hold"))
	for i, c := range clients {
		c.expect(ws.OpText, []byte(fmt.Sprint("m", i)))
	}
}

func openFiles(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestOneDescriptorPerConnection: on netpoll a connection costs exactly one
// descriptor (the server's end; the client's is the other), and all of them
// are given back once the connections close; no goroutine is left.
func TestOneDescriptorPerConnection(t *testing.T) {
	const n = 200
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) }) // after the server's shutdown
	s := &server.Server{PingInterval: -1}
	addr := start(t, server.EngineNetpoll, s)
	waitEmpty := func() {
		for deadline := time.Now().Add(5 * time.Second); s.Len() > 0; {
			if time.Now().After(deadline) {
				t.Fatalf("%d connections left", s.Len())
			}
			runtime.Gosched()
		}
	}
	warm := dial(t, addr, "/") // the engine is up (its epoll set open)
	warm.closeNormally()
	warm.nc.Close()
	waitEmpty()
	base := openFiles(t)
	clients := dialEchoing(t, addr, n)
	if got := openFiles(t) - base; got != 2*n {
		t.Errorf("%d descriptors for %d connections (client ends included), want %d", got, n, 2*n)
	}
	for _, c := range clients {
		c.closeNormally()
		c.nc.Close()
	}
	waitEmpty()
	if got := openFiles(t); got != base {
		t.Errorf("%d descriptors open after the connections closed, %d before", got, base)
	}
}

// TestBlockingHandler: handlers that block hold their own connection, not
// the others: on netpoll, as long as fewer than Workers are held, the
// events a held worker had taken go to the others and a worker takes its
// place.
func TestBlockingHandler(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		const blocked, others = 3, 30
		h := newHolder(blocked)
		addr := start(t, e, &server.Server{Workers: blocked + 1, PingInterval: -1, NewHandler: func() handler.Handler { return h }})
		t.Cleanup(h.free)
		clients := dialEchoing(t, addr, others)
		var holders []*rawClient
		for i := 0; i < blocked; i++ {
			c := dial(t, addr, "/")
			c.send(ws.OpText, []byte("hold"))
			within(t, h.held, 5*time.Second, "a handler blocking")
			holders = append(holders, c)
		}
		// Everyone else is served meanwhile, round after round (all
		// sent first, so they come in batches).
		for round := 0; round < 20; round++ {
			for i, c := range clients {
				c.send(ws.OpText, []byte(fmt.Sprint(round, "/", i)))
			}
			for i, c := range clients {
				c.expect(ws.OpText, []byte(fmt.Sprint(round, "/", i)))
			}
		}
		h.free()
		for _, c := range holders {
			c.expect(ws.OpText, []byte("hold"))
		}
	})
}
