package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/goleak"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// TestPerPathHandlers mounts two handlers on an http.ServeMux, as a service
// embedding ws4go does.
func TestPerPathHandlers(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		ws4 := &server.Server{Engine: e}
		mux := http.NewServeMux()
		mux.Handle("/echo", ws4.HTTPHandler(handler.NewEcho))
		mux.Handle("/upper", ws4.HTTPHandler(func() handler.Handler { return upper{} }))
		mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "plain") })
		hs := httptest.NewServer(mux)
		defer hs.Close()
		defer ws4.Close()
		addr := hs.Listener.Addr().String()

		a, b := dial(t, addr, "/echo"), dial(t, addr, "/upper")
		a.echoes("hello")
		b.send(ws.OpText, []byte("hello"))
		b.expect(ws.OpText, []byte("HELLO"))
		resp, err := http.Get(hs.URL + "/plain")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "plain" {
			t.Errorf("plain handler: %q", body)
		}
		if n := ws4.Len(); n != 2 {
			t.Errorf("Len() = %d, want 2", n)
		}
		a.closeNormally()
		b.closeNormally()
	})
}

type upper struct{ handler.Base }

func (upper) ReceivedMessage(c handler.Conn, m handler.Message) {
	p := []byte(string(m.Data))
	for i, ch := range p {
		if 'a' <= ch && ch <= 'z' {
			p[i] = ch - 32
		}
	}
	_ = c.SendText(string(p))
}

// TestShutdown: every client gets 1001, Shutdown returns once they have
// answered, and no goroutine is left.
func TestShutdown(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		s := &server.Server{NewHandler: handler.NewEcho}
		addr := start(t, e, s)
		var clients []*rawClient
		for i := 0; i < 20; i++ {
			clients = append(clients, dial(t, addr, "/"))
		}
		clients[0].echoes("before")
		done := make(chan error, 1)
		go func() { done <- s.Shutdown(context.Background()) }()
		for _, c := range clients {
			// The client answers the server's close.
			for {
				h, p, err := c.read()
				if err != nil {
					t.Fatalf("waiting for 1001: %v", err)
				}
				if h.OpCode == ws.OpClose {
					if len(p) < 2 || int(p[0])<<8|int(p[1]) != 1001 {
						t.Fatalf("close payload %x, want 1001", p)
					}
					c.send(ws.OpClose, p[:2])
					break
				}
			}
			c.expectEOF()
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := s.Len(); n != 0 {
			t.Fatalf("%d connections after Shutdown", n)
		}
	})
}

// TestShutdownDeadline: clients that never answer are dropped when the
// context ends.
func TestShutdownDeadline(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		s := &server.Server{NewHandler: handler.NewEcho, CloseTimeout: time.Hour}
		addr := start(t, e, s)
		c := dial(t, addr, "/")
		c.echoes("x")
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := s.Shutdown(ctx); err != context.DeadlineExceeded {
			t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
		}
		if n := s.Len(); n != 0 {
			t.Fatalf("%d connections after Shutdown", n)
		}
	})
}

// TestPanic: a panicking handler closes its own connection with 1011 and
// nobody else's.
func TestPanic(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		addr := start(t, e, &server.Server{NewHandler: func() handler.Handler { return panicky{} }})
		bystander := dial(t, addr, "/")
		c := dial(t, addr, "/")
		c.send(ws.OpText, []byte("panic"))
		c.expectClose(handler.CloseInternalError)
		bystander.echoes("still here")
		bystander.closeNormally()
	})
}

// TestFactoryPanic: a factory that panics (or returns nil) costs only its
// own connection, which gets 1011, on both the standalone and the
// http.Handler paths.
func TestFactoryPanic(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		routes := map[string]handler.Factory{
			"/ws":    handler.NewEcho,
			"/panic": func() handler.Handler { panic("no handler for you") },
			"/nil":   func() handler.Handler { return nil },
		}
		embedded := &server.Server{Engine: e, Routes: routes}
		hs := httptest.NewServer(embedded)
		t.Cleanup(func() {
			hs.Close()
			_ = embedded.Close()
		})
		targets := map[string]string{
			"standalone":   start(t, e, &server.Server{Routes: routes}),
			"http.Handler": hs.Listener.Addr().String(),
		}
		for path, addr := range targets {
			t.Run(path, func(t *testing.T) {
				bystander := dial(t, addr, "/ws")
				for _, p := range []string{"/panic", "/nil"} {
					c := dial(t, addr, p)
					h, payload, err := c.read()
					if err != nil || h.OpCode != ws.OpClose || len(payload) < 2 || !bytes.Equal(payload[:2], closePayload(1011, "")) {
						t.Fatalf("%s: got %v %q, %v; want close 1011", p, h.OpCode, payload, err)
					}
					c.send(ws.OpClose, payload[:2])
					c.expectEOF()
					bystander.echoes("after " + p)
				}
				bystander.closeNormally()
			})
		}
	})
}

type panicky struct{ handler.Echo }

func (p panicky) ReceivedMessage(c handler.Conn, m handler.Message) {
	if string(m.Data) == "panic" {
		panic("boom")
	}
	p.Echo.ReceivedMessage(c, m)
}

// TestHeartbeat: a silent peer is pinged, and dropped when it does not
// answer; an answering peer stays.
func TestHeartbeat(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		closed := make(chan [2]string, 2)
		addr := start(t, e, &server.Server{
			PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond,
			NewHandler: func() handler.Handler { return &recorder{closed: closed} },
		})
		c := dial(t, addr, "/")
		// Answer three pings: the connection stays.
		for i := 0; i < 3; i++ {
			h, p, err := c.read()
			if err != nil || h.OpCode != ws.OpPing {
				t.Fatalf("want a ping: %v %v", h.OpCode, err)
			}
			c.send(ws.OpPong, p)
		}
		// Then go silent: the next ping is unanswered, the server drops us.
		h, _, err := c.read()
		if err != nil || h.OpCode != ws.OpPing {
			t.Fatalf("want a ping: %v %v", h.OpCode, err)
		}
		if _, _, err := c.read(); err != io.EOF {
			t.Fatalf("silent peer: %v, want EOF", err)
		}
		if got := <-closed; got[0] != handler.CloseAbnormal.String() {
			t.Errorf("Closed%v, want 1006", got)
		}
	})
}

func TestIdleTimeout(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		addr := start(t, e, &server.Server{IdleTimeout: 100 * time.Millisecond})
		c := dial(t, addr, "/")
		p := c.readClose(handler.CloseGoingAway)
		c.send(ws.OpClose, p[:2])
		c.expectEOF()
	})
}

// TestServerClose: a handler's Close sends its code once and the server
// closes TCP after the client answers.
func TestServerClose(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		errs := make(chan error, 3)
		addr := start(t, e, &server.Server{NewHandler: func() handler.Handler {
			return &opener{f: func(c handler.Conn) {
				errs <- c.Close(4002, "going")
				errs <- c.Close(4003, "again") // idempotent: nil, nothing sent
				errs <- c.SendText("after close")
			}}
		}})
		c := dial(t, addr, "/")
		h, p, err := c.read()
		if err != nil || h.OpCode != ws.OpClose || string(p[2:]) != "going" || int(p[0])<<8|int(p[1]) != 4002 {
			t.Fatalf("want close 4002 going: %v %q %v", h.OpCode, p, err)
		}
		c.send(ws.OpClose, p)
		c.expectEOF()
		if e1, e2, e3 := <-errs, <-errs, <-errs; e1 != nil || e2 != nil || e3 != handler.ErrClosed {
			t.Errorf("Close, Close, Send after close = %v, %v, %v; want nil, nil, ErrClosed", e1, e2, e3)
		}
	})
}

func TestCloseInvalidCode(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		errs := make(chan error, 4)
		addr := start(t, e, &server.Server{NewHandler: func() handler.Handler {
			return &opener{f: func(c handler.Conn) {
				for _, code := range []handler.CloseCode{handler.CloseNoStatus, handler.CloseAbnormal, handler.CloseTLSHandshake, 999} {
					errs <- c.Close(code, "")
				}
			}}
		}})
		c := dial(t, addr, "/")
		for i := 0; i < 4; i++ {
			if err := <-errs; err == nil {
				t.Error("Close with a code that must not be sent returned nil")
			}
		}
		c.echoes("still open")
		c.closeNormally()
	})
}

// TestCloseDuringConnStart: a connection whose handshake is done (its 101
// sent) but which has not joined the connection table yet when Close drops
// every connection (here its handler factory still runs) is dropped too,
// once it joins: Close does not wait for it HandshakeTimeout, and it does
// not outlive Close.
func TestCloseDuringConnStart(t *testing.T) {
	for _, path := range []string{"listener", "http.Handler"} {
		t.Run(path, func(t *testing.T) {
			forEngine(t, func(t *testing.T, e server.Engine) {
				entered, release := make(chan struct{}), make(chan struct{})
				s := &server.Server{Engine: e, HandshakeTimeout: 3 * time.Second, PingInterval: -1,
					NewHandler: func() handler.Handler {
						close(entered)
						<-release
						return handler.Echo{}
					}}
				var addr string
				if path == "listener" {
					addr, _ = serveOwn(t, s)
				} else {
					hs := httptest.NewServer(s)
					t.Cleanup(hs.Close)
					addr = hs.Listener.Addr().String()
				}
				c := dial(t, addr, "/")
				within(t, entered, 5*time.Second, "the factory")
				done := make(chan struct{})
				go func() {
					s.Close()
					close(done)
				}()
				// Close has dropped the open connections (none) and
				// waits for the server's goroutines.
				waitStack(t, "server.(*Server).release(", "TerminateAll")
				close(release)
				t0 := time.Now()
				within(t, done, 5*time.Second, "Close")
				if d := time.Since(t0); d > time.Second {
					t.Errorf("Close returned %v after the factory did (HandshakeTimeout 3 s)", d.Round(time.Millisecond))
				}
				c.expectEOF()
			})
		})
	}
}

// waitStack waits, at most 5 s, until a goroutine's stack contains in and
// not out.
func waitStack(t *testing.T, in, out string) {
	t.Helper()
	end := time.Now().Add(5 * time.Second)
	buf := make([]byte, 1<<20)
	for time.Now().Before(end) {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, in) && !strings.Contains(g, out) {
				return
			}
		}
		runtime.Gosched()
	}
	t.Fatalf("no goroutine in %s within 5 s", in)
}
