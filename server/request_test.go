package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

// requestTeller answers every message with what Conn.Request says then, and
// tells the same at Closed. It never looks at the request during Opened:
// what is kept afterwards is what it sees.
type requestTeller struct {
	handler.Base
	closed chan string
}

func (h requestTeller) ReceivedMessage(c handler.Conn, _ handler.Message) {
	_ = c.SendText(tellRequest(c.Request()))
}

func (h requestTeller) Closed(c handler.Conn, _ handler.CloseCode, _ string) {
	h.closed <- tellRequest(c.Request())
}

func tellRequest(r *http.Request) string {
	if r == nil {
		return "nil"
	}
	return fmt.Sprintf("%s %s room=%s token=%s value=%s tls=%v remote=%v", r.Method, r.URL.Path,
		r.URL.Query().Get("room"), r.Header.Get("X-Token"), r.PathValue("room"), r.TLS != nil,
		strings.HasPrefix(r.RemoteAddr, "127.0.0.1:"))
}

// serveHTTP serves h (a mux holding s, or s itself) on an httptest server
// and, when the test ends, shuts s down and checks that no connection is
// left.
func serveHTTP(t *testing.T, s *server.Server, h http.Handler) string {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if n := s.Len(); n != 0 {
			t.Errorf("%d connections left after Shutdown", n)
		}
	})
	return hs.Listener.Addr().String()
}

// TestRequestAfterOpened: a handler that never asked for the request during
// Opened still gets it, whole, in ReceivedMessage and in Closed, on every
// path of both engines: the standalone listener (with and without an accept
// hook), the Server mounted as an http.Handler, HTTPHandler on a mux with a
// path pattern (its path value kept), and an HTTP/2 stream.
func TestRequestAfterOpened(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		const token = "X-Token: t1"
		newServer := func(closed chan string) *server.Server {
			return &server.Server{Engine: e, NewHandler: func() handler.Handler { return requestTeller{closed: closed} }}
		}
		for _, p := range []struct {
			name string
			// open serves s and returns a connection to it, the
			// upgrade request having room=r1 and the token.
			open func(t *testing.T, s *server.Server) *rawClient
			want string
		}{
			{"standalone", func(t *testing.T, s *server.Server) *rawClient {
				return dial(t, start(t, e, s), "/ws?room=r1", token)
			}, "GET /ws room=r1 token=t1 value= tls=false remote=true"},
			{"standalone with accept hook", func(t *testing.T, s *server.Server) *rawClient {
				s.Accept = func(*http.Request) (server.Accepted, error) { return server.Accepted{}, nil }
				return dial(t, start(t, e, s), "/ws?room=r1", token)
			}, "GET /ws room=r1 token=t1 value= tls=false remote=true"},
			{"Server as http.Handler", func(t *testing.T, s *server.Server) *rawClient {
				return dial(t, serveHTTP(t, s, s), "/ws?room=r1", token)
			}, "GET /ws room=r1 token=t1 value= tls=false remote=true"},
			{"HTTPHandler on a mux", func(t *testing.T, s *server.Server) *rawClient {
				mux := http.NewServeMux()
				mux.Handle("/rooms/{room}", s.HTTPHandler(s.NewHandler))
				return dial(t, serveHTTP(t, s, mux), "/rooms/r1?room=r1", token)
			}, "GET /rooms/r1 room=r1 token=t1 value=r1 tls=false remote=true"},
			{"HTTP/2 stream", func(t *testing.T, s *server.Server) *rawClient {
				addr, pool := startH2(t, e, s)
				_, c := openH2(t, testutil.DialH2(t, addr, pool), "/ws?room=r1", http.Header{"X-Token": {"t1"}})
				return c
			}, "CONNECT /ws room=r1 token=t1 value= tls=true remote=true"},
		} {
			t.Run(p.name, func(t *testing.T) {
				closed := make(chan string, 1)
				c := p.open(t, newServer(closed))
				for range 2 {
					c.send(ws.OpText, []byte("?"))
					c.expect(ws.OpText, []byte(p.want))
				}
				c.closeNormally()
				if got := within(t, closed, 5*time.Second, "Closed"); got != p.want {
					t.Fatalf("Request in Closed: %q, want %q", got, p.want)
				}
			})
		}
	})
}

// requestLater reads the request only after Opened.
type requestLater struct{ handler.Echo }

func (requestLater) ReceivedMessage(c handler.Conn, m handler.Message) {
	_ = c.SendText(c.Request().URL.Path)
}

// TestDropRequest: with DropRequest, a handler that reads the request after
// Opened fails loudly, on both engines and both paths: its connection
// closes with 1011 and the log names ErrRequestDropped, not a nil
// dereference.
func TestDropRequest(t *testing.T) {
	forAcPath(t, func(t *testing.T, serve func(*server.Server) string) {
		logged := make(chan string, 1)
		s := &server.Server{DropRequest: true, NewHandler: func() handler.Handler { return requestLater{} },
			Logger: slog.New(slog.NewTextHandler(&matchWriter{want: handler.ErrRequestDropped.Error(), c: logged}, nil))}
		c := dial(t, serve(s), "/ws")
		c.send(ws.OpText, []byte("path?"))
		c.readClose(handler.CloseInternalError)
		within(t, logged, 5*time.Second, "a log line naming ErrRequestDropped")
	})
}

// matchWriter hands the first log line that contains want to c; the
// logger serializes its writes, and the line is copied, so the test reads
// nothing a logging goroutine still writes.
type matchWriter struct {
	want string
	c    chan string
}

func (m *matchWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), m.want) {
		select {
		case m.c <- string(p):
		default:
		}
	}
	return len(p), nil
}

// TestRequestHeadBound: the http.Handler path over HTTP/1.1 keeps the
// request's fields for the connection's life, so it bounds them as the
// standalone listener bounds a head: an upgrade with 9 KiB of them is
// refused with 431 on every path of both engines (net/http alone would take
// 1 MiB), unless DropRequest is set (nothing kept then).
func TestRequestHeadBound(t *testing.T) {
	big := "X-Big: " + strings.Repeat("b", 9<<10)
	forAcPath(t, func(t *testing.T, serve func(*server.Server) string) {
		addr := serve(&server.Server{})
		resp, _ := rawRequest(t, addr, upgradeRequest(addr, "/ws", big))
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("9 KiB of fields: %s, want 431", resp.Status)
		}
		dial(t, addr, "/ws", "X-Big: "+strings.Repeat("b", 7<<10)).closeNormally()
	})
	forEngine(t, func(t *testing.T, e server.Engine) {
		s := &server.Server{Engine: e, DropRequest: true, NewHandler: handler.NewEcho}
		c := dial(t, serveHTTP(t, s, s), "/ws", big)
		c.echoes("kept nothing")
		c.closeNormally()
	})
}
