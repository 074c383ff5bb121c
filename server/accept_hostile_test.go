package server_test

// Regression tests for what a hostile review of the accept hook found: each
// performs its case through a real socket on every path.

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/handlertest"
	"github.com/ws4go/ws4go/server"
)

// A hook returning a typed nil *Refusal (`var ref *Refusal; return
// Accepted{}, ref`) is a non-nil error: a plain refusal (403), never a
// crash of the server.
func TestAcceptTypedNilRefusal(t *testing.T) {
	forAcPath(t, func(t *testing.T, serve func(*server.Server) string) {
		addr := serve(&server.Server{Accept: func(r *http.Request) (server.Accepted, error) {
			if r.URL.Path == "/ok" {
				return server.Accepted{}, nil
			}
			var ref *server.Refusal
			return server.Accepted{}, ref
		}})
		resp, _ := rawRequest(t, addr, upgradeRequest(addr, "/ws"))
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("typed nil *Refusal: %s, want 403", resp.Status)
		}
		c := dial(t, addr, "/ok")
		c.echoes("still serving")
		c.closeNormally()
	})
}

// Refusal headers go out once each, under their canonical names, on every
// path: a lower-case Content-Type replaces the default one instead of
// doubling it, an empty name is dropped, and 304 (which has no body) is
// not a refusal status.
func TestAcceptRefusalHeaderNames(t *testing.T) {
	forAcPath(t, func(t *testing.T, serve func(*server.Server) string) {
		addr := serve(&server.Server{Accept: func(r *http.Request) (server.Accepted, error) {
			switch r.URL.Path {
			case "/ct":
				return server.Accepted{}, &server.Refusal{Status: 401, Header: http.Header{"content-type": {"application/json"}}, Body: "{}"}
			case "/empty":
				return server.Accepted{}, &server.Refusal{Status: 401, Header: http.Header{"": {"x"}}, Body: "e"}
			case "/304":
				return server.Accepted{}, &server.Refusal{Status: 304, Body: "body"}
			}
			return server.Accepted{}, nil
		}})
		want := map[string]struct {
			status int
			ct     string
		}{
			"/ct":    {401, "application/json"},
			"/empty": {401, "text/plain; charset=utf-8"},
			"/304":   {403, "text/plain; charset=utf-8"},
		}
		for path, w := range want {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(nc, upgradeRequest(addr, path))
			// The response as it comes, not up to EOF: behind
			// net/http a refusal keeps the connection alive.
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				nc.Close()
				t.Fatalf("%s: malformed response: %v", path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			nc.Close()
			if cts := resp.Header.Values("Content-Type"); resp.StatusCode != w.status || len(cts) != 1 || cts[0] != w.ct {
				t.Errorf("%s: %s with Content-Type %q, want %d with %q\n%v %q", path, resp.Status, cts, w.status, w.ct, resp.Header, body)
			}
		}
	})
}

// reqAddr reports the RemoteAddr of its request.
type reqAddr struct {
	handler.Base
	got chan string
}

func (h reqAddr) Opened(c handler.Conn) { h.got <- c.Request().RemoteAddr }

// Conn.Request().RemoteAddr is the peer's on every path, hook or not.
func TestRequestRemoteAddr(t *testing.T) {
	forAcPath(t, func(t *testing.T, serve func(*server.Server) string) {
		for _, hook := range []bool{false, true} {
			got := make(chan string, 1)
			s := &server.Server{NewHandler: func() handler.Handler { return reqAddr{got: got} }}
			if hook {
				s.Accept = func(*http.Request) (server.Accepted, error) { return server.Accepted{}, nil }
			}
			addr := serve(s)
			c := dial(t, addr, "/ws")
			if ra := within(t, got, 5*time.Second, "Opened"); !strings.HasPrefix(ra, "127.0.0.1:") {
				t.Errorf("hook %v: Request().RemoteAddr %q, want the peer's", hook, ra)
			}
			c.closeNormally()
		}
	})
}

// A negative HandshakeTimeout means none: the hook's context is live.
func TestAcceptNegativeHandshakeTimeout(t *testing.T) {
	forAcPath(t, func(t *testing.T, serve func(*server.Server) string) {
		addr := serve(&server.Server{HandshakeTimeout: -1, Accept: func(r *http.Request) (server.Accepted, error) {
			if err := r.Context().Err(); err != nil {
				return server.Accepted{}, &server.Refusal{Status: 503, Body: err.Error()}
			}
			return server.Accepted{}, nil
		}})
		resp, _ := rawRequest(t, addr, upgradeRequest(addr, "/ws"))
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("HandshakeTimeout -1: %s, want 101", resp.Status)
		}
	})
}

// On netpoll, hooks that wait (a slow authentication backend) hold no
// worker: with every worker's worth of hooks waiting, a connection already
// open still echoes and a new handshake still completes.
func TestAcceptSlowHooksHoldNoWorker(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	s := &server.Server{Workers: 2, Accept: func(r *http.Request) (server.Accepted, error) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		return server.Accepted{}, nil
	}}
	addr := start(t, server.EngineNetpoll, s)
	by := dial(t, addr, "/ws")
	by.echoes("warm")
	var slow []net.Conn
	for range 4 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		slow = append(slow, nc)
		_, _ = io.WriteString(nc, upgradeRequest(addr, "/slow"))
	}
	for range 4 {
		within(t, entered, 5*time.Second, "a slow hook")
	}
	// Four hooks wait, twice the workers: the others go on.
	by.echoes("bystander")
	c := dial(t, addr, "/ws")
	c.echoes("new")
	close(release)
	for _, nc := range slow {
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("a slow hook's handshake: %v %v, want 101", resp, err)
		}
		nc.Close()
	}
	c.closeNormally()
	by.closeNormally()
}

// Shutdown returns when its context ends, even while a hook that ignores
// its context runs; the handshake is then refused, not opened.
func TestAcceptShutdownDoesNotWaitForHook(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		in, out := make(chan struct{}), make(chan struct{})
		s := &server.Server{Engine: e, Accept: func(r *http.Request) (server.Accepted, error) {
			close(in)
			<-out // ignores r.Context()
			return server.Accepted{}, nil
		}}
		addr := start(t, e, s)
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_, _ = io.WriteString(nc, upgradeRequest(addr, "/ws"))
		<-in
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown with a hook still running: %v, want the context's error", err)
		}
		close(out)
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
			t.Fatal("a hook that returned after Shutdown opened its connection")
		}
	})
}

// A hook that accepts after Shutdown has started opens no connection, on
// any path: behind an http.Handler the answer is 503; on the standalone
// listener Shutdown has dropped the handshakes in progress (EOF).
func TestAcceptAfterShutdownStarted(t *testing.T) {
	forAcPath(t, func(t *testing.T, serve func(*server.Server) string) {
		in := make(chan struct{})
		s := &server.Server{Accept: func(r *http.Request) (server.Accepted, error) {
			close(in)
			<-r.Context().Done() // Shutdown has started
			return server.Accepted{}, nil
		}}
		addr := serve(s)
		done := make(chan *http.Response, 1)
		go func() {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				done <- nil
				return
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.WriteString(nc, upgradeRequest(addr, "/ws"))
			resp, _ := http.ReadResponse(bufio.NewReader(nc), nil)
			done <- resp
		}()
		<-in
		shut := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			shut <- s.Shutdown(ctx)
		}()
		if resp := within(t, done, 10*time.Second, "the answer"); resp != nil && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("a hook accepting after Shutdown started: %s, want 503 or none", resp.Status)
		}
		if err := within(t, shut, 10*time.Second, "Shutdown"); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	})
}

// termWait terminates its connection from a callback and reports whether
// the connection's context ends meanwhile.
type termWait struct {
	handler.Base
	got chan bool
}

func (h termWait) ReceivedMessage(c handler.Conn, _ handler.Message) {
	c.Terminate()
	select {
	case <-c.Context().Done():
		h.got <- true
	case <-time.After(5 * time.Second):
		h.got <- false
	}
}

// Terminate ends the connection's context at once, on the real
// connections as on handlertest's fake: a callback may wait for it.
func TestContextEndsAtTerminate(t *testing.T) {
	got := make(chan bool, 1)
	termWait{got: got}.ReceivedMessage(handlertest.NewConn(nil), handler.Message{})
	if !<-got {
		t.Fatal("handlertest.Conn: Context not cancelled by Terminate")
	}
	forEngine(t, func(t *testing.T, e server.Engine) {
		addr := start(t, e, &server.Server{NewHandler: func() handler.Handler { return termWait{got: got} }})
		c := dial(t, addr, "/ws")
		c.send(1, []byte("x"))
		if !within(t, got, 10*time.Second, "the callback") {
			t.Fatalf("%s: Context not cancelled by Terminate", e)
		}
	})
}

// TestAcceptShutdownRace: Shutdown while handshakes are handed to their
// goroutines (on netpoll, with an accept hook, by the engine's workers):
// each goroutine is counted before it starts, so Shutdown waits for every
// one that took its handshake and none starts after it returned (the
// engine once started it first, and counted it from inside: a race with
// Shutdown's Wait that -race reports). The hook never runs after Shutdown
// returned.
func TestAcceptShutdownRace(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		const rounds, clients = 20, 16
		for range rounds {
			var after atomic.Bool
			var late atomic.Int64
			s := &server.Server{Engine: e, NewHandler: handler.NewEcho, Accept: func(*http.Request) (server.Accepted, error) {
				if after.Load() {
					late.Add(1)
				}
				return server.Accepted{}, nil
			}}
			addr, errc := serveOwn(t, s)
			var wg sync.WaitGroup
			go1 := make(chan struct{})
			for range clients {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-go1
					_, _ = io.WriteString(nc, upgradeRequest(addr, "/"))
					// The answer (101, 503 or none), then gone: the
					// 1001 of an accepted one needs no answer.
					_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
					_, _ = nc.Read(make([]byte, 512))
					nc.Close()
				}()
			}
			close(go1)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			cancel()
			after.Store(true)
			wg.Wait()
			if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
			if n := late.Load(); n > 0 {
				t.Fatalf("the accept hook ran %d times after Shutdown returned", n)
			}
		}
	})
}

// TestAcceptHandshakeWindow: with an accept hook the client's part of the
// handshake still has one HandshakeTimeout from the connect (on netpoll
// the hand-over to the hook's goroutine does not restart it): a head that
// never ends is dropped then. The hook's own wait has a HandshakeTimeout
// of its own from when it starts (its context): a head sent late whose
// hook waits out its context is answered (403) about HandshakeTimeout
// after the head, so within twice HandshakeTimeout of the connect, never
// later. Both engines.
func TestAcceptHandshakeWindow(t *testing.T) {
	const window = 400 * time.Millisecond
	forEngine(t, func(t *testing.T, e server.Engine) {
		s := &server.Server{HandshakeTimeout: window, Accept: func(r *http.Request) (server.Accepted, error) {
			<-r.Context().Done()
			return server.Accepted{}, r.Context().Err()
		}}
		addr := start(t, e, s)
		answer := func(nc net.Conn, start time.Time) (string, time.Duration) {
			_ = nc.SetReadDeadline(start.Add(3 * window))
			b, _ := io.ReadAll(nc)
			return string(b), time.Since(start)
		}
		dial := func() (net.Conn, time.Time) {
			start := time.Now()
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nc.Close() })
			return nc, start
		}
		// Half a head, the rest never.
		nc, start := dial()
		head := upgradeRequest(addr, "/ws")
		_, _ = io.WriteString(nc, head[:len(head)/2])
		if got, d := answer(nc, start); d < window*8/10 || d > window+time.Second || strings.Contains(got, " 101 ") {
			t.Errorf("half a head: %q after %v, want dropped at about %v", got, d, window)
		}
		// The whole head late, a hook that waits for its context.
		nc, start = dial()
		_, _ = io.WriteString(nc, head[:len(head)/2])
		<-time.After(window * 6 / 10)
		sent := time.Now()
		_, _ = io.WriteString(nc, head[len(head)/2:])
		got, d := answer(nc, start)
		if !strings.HasPrefix(got, "HTTP/1.1 403") {
			t.Errorf("a hook that waits out its context: %q, want 403", got)
		}
		if sinceHead := time.Since(sent); sinceHead < window*8/10 || d > 2*window+time.Second {
			t.Errorf("answered %v after the head, %v after the connect: want about %v after the head, within %v of the connect", sinceHead, d, window, 2*window)
		}
	})
}
