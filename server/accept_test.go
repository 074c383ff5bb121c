package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/goleak"

	wsclient "github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/observe"
	"github.com/ws4go/ws4go/server"
)

// acPath is one way a Server is reached: standalone on an engine, or
// mounted as an http.Handler (its connections adopted by the engine).
type acPath struct {
	name   string
	engine server.Engine
	http   bool
}

var acPaths = []acPath{
	{"goroutine", server.EngineGoroutine, false},
	{"netpoll", server.EngineNetpoll, false},
	{"http.Handler-goroutine", server.EngineGoroutine, true},
	{"http.Handler-netpoll", server.EngineNetpoll, true},
}

// forAcPath runs f as a subtest per path; serve starts s on the path and
// returns its address. Every server is shut down, its connections gone,
// and no goroutine left when the subtest ends.
func forAcPath(t *testing.T, f func(t *testing.T, serve func(s *server.Server) string)) {
	for _, p := range acPaths {
		t.Run(p.name, func(t *testing.T) {
			opt := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, opt) }) // runs last
			f(t, func(s *server.Server) string {
				if s.Logger == nil {
					s.Logger = slog.New(slog.DiscardHandler)
				}
				if !p.http {
					return start(t, p.engine, s)
				}
				s.Engine = p.engine
				if s.NewHandler == nil && s.Routes == nil {
					s.NewHandler = handler.NewEcho
				}
				return serveHTTP(t, s, s)
			})
		})
	}
}

// acObserver counts refusals and panics.
type acObserver struct {
	observe.Base
	rejected [observe.NumReasons]atomic.Int64
	panicked [observe.NumSites]atomic.Int64
}

func (o *acObserver) Rejected(r observe.Reason) { o.rejected[r].Add(1) }
func (o *acObserver) Panicked(s observe.Site)   { o.panicked[s].Add(1) }

// authHook accepts a request carrying the token "good" in the query
// (?token=), an Authorization header (Bearer) or a cookie (session), and
// refuses any other with 401 and a header and body of its own.
func authHook(r *http.Request) (server.Accepted, error) {
	token := r.URL.Query().Get("token")
	if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = a
	}
	if c, err := r.Cookie("session"); err == nil {
		token = c.Value
	}
	if r.RemoteAddr == "" {
		return server.Accepted{}, &server.Refusal{Status: 500, Body: "no RemoteAddr"}
	}
	switch token {
	case "good":
		return server.Accepted{Data: "user:" + token}, nil
	case "":
		return server.Accepted{}, &server.Refusal{
			Status: http.StatusUnauthorized,
			Header: http.Header{
				"Www-Authenticate": {`Bearer realm="ws"`},
				"X-Split":          {"a\r\nX-Injected: yes"},
				"Content-Length":   {"1"},
				"Bad Name":         {"x"},
			},
			Body: "who are you?",
		}
	}
	return server.Accepted{}, errors.New("secret reason")
}

// TestAcceptRefusal: the hook's refusal reaches the client with its own
// status, header and body, on every path; an error that is not a Refusal
// gets 403 without its text; header fields cannot split the response.
func TestAcceptRefusal(t *testing.T) {
	forAcPath(t, func(t *testing.T, serve func(*server.Server) string) {
		o := &acObserver{}
		addr := serve(&server.Server{Accept: authHook, Observer: o})

		resp, _ := rawRequest(t, addr, upgradeRequest(addr, "/ws"))
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 401 || string(body) != "who are you?" {
			t.Errorf("no token: %s %q, want 401 %q", resp.Status, body, "who are you?")
		}
		if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="ws"` {
			t.Errorf("WWW-Authenticate %q", got)
		}
		if resp.Header.Get("X-Injected") != "" || resp.Header.Get("Bad Name") != "" {
			t.Errorf("header fields split or invalid names passed: %v", resp.Header)
		}
		if got := resp.Header.Get("X-Split"); got != "a  X-Injected: yes" {
			t.Errorf("X-Split %q, want CR LF as spaces", got)
		}
		if resp.ContentLength != int64(len(body)) {
			t.Errorf("Content-Length %d for %d bytes", resp.ContentLength, len(body))
		}

		resp, _ = rawRequest(t, addr, upgradeRequest(addr, "/ws?token=bad"))
		body, _ = io.ReadAll(resp.Body)
		if resp.StatusCode != 403 || strings.Contains(string(body), "secret") {
			t.Errorf("bad token: %s %q, want 403 without the error's text", resp.Status, body)
		}

		// The ws4go client sees the refusal as a typed error.
		_, err := wsclient.Dial(context.Background(), "ws://"+addr+"/ws", handler.Base{}, nil)
		var he *wsclient.HandshakeError
		if !errors.As(err, &he) || he.StatusCode != 401 || he.Header.Get("Www-Authenticate") == "" {
			t.Errorf("client: %v, want a 401 HandshakeError", err)
		}
		if got := o.rejected[observe.RejectAccept].Load(); got != 3 {
			t.Errorf("Rejected(RejectAccept) %d times, want 3", got)
		}
	})
}

// dataEcho sends, when opened, its connection's Data and subprotocol, then
// echoes.
type dataEcho struct{ handler.Echo }

func (dataEcho) Opened(c handler.Conn) {
	_ = c.SendText("data=" + toString(c.Data()) + " sub=" + c.Subprotocol())
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return "<nil>"
}

// TestAcceptToken: a token in the query, a header or a cookie is accepted,
// and the Data the hook gave is there in Opened.
func TestAcceptToken(t *testing.T) {
	forAcPath(t, func(t *testing.T, serve func(*server.Server) string) {
		addr := serve(&server.Server{Accept: authHook, NewHandler: func() handler.Handler { return dataEcho{} }})
		for _, how := range []struct {
			path  string
			extra []string
		}{
			{"/ws?token=good", nil},
			{"/ws", []string{"Authorization: Bearer good"}},
			{"/ws", []string{"Cookie: theme=dark; session=good"}},
		} {
			c := dial(t, addr, how.path, how.extra...)
			c.expect(ws.OpText, []byte("data=user:good sub="))
			c.echoes("hi")
			c.closeNormally()
		}
		// The real client, with its header.
		got := make(chan string, 1)
		cc, err := wsclient.Dial(context.Background(), "ws://"+addr+"/ws", &firstMessage{got: got},
			&wsclient.Options{Header: http.Header{"Authorization": {"Bearer good"}}})
		if err != nil {
			t.Fatal(err)
		}
		if m := within(t, got, 5*time.Second, "first message"); m != "data=user:good sub=" {
			t.Errorf("client got %q", m)
		}
		_ = cc.Close(handler.CloseNormal, "")
		<-cc.Done()
	})
}

type firstMessage struct {
	handler.Base
	got chan string
}

func (f *firstMessage) ReceivedMessage(_ handler.Conn, m handler.Message) {
	select {
	case f.got <- string(m.Data):
	default:
	}
}

// TestAcceptChooses: the hook picks the handler and the subprotocol (one
// the client offered; another is refused with 500).
func TestAcceptChooses(t *testing.T) {
	forAcPath(t, func(t *testing.T, serve func(*server.Server) string) {
		o := &acObserver{}
		addr := serve(&server.Server{
			Observer:     o,
			Subprotocols: []string{"chat.v1"},
			NewHandler:   handler.NewEcho,
			Accept: func(r *http.Request) (server.Accepted, error) {
				offered := server.OfferedSubprotocols(r)
				switch r.URL.Query().Get("want") {
				case "v2":
					return server.Accepted{NewHandler: func() handler.Handler { return dataEcho{} }, Subprotocol: offered[len(offered)-1], Data: "v2"}, nil
				case "unoffered":
					return server.Accepted{Subprotocol: "nope"}, nil
				}
				return server.Accepted{}, nil
			},
		})
		offer := "Sec-WebSocket-Protocol: chat.v1, chat.v2"

		resp, c := rawRequest(t, addr, upgradeRequest(addr, "/ws", offer))
		if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Protocol") != "chat.v1" {
			t.Fatalf("default: %s, subprotocol %q", resp.Status, resp.Header.Get("Sec-WebSocket-Protocol"))
		}
		c.echoes("plain echo") // the route's handler
		c.closeNormally()

		resp, c = rawRequest(t, addr, upgradeRequest(addr, "/ws?want=v2", offer))
		if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Protocol") != "chat.v2" {
			t.Fatalf("chosen: %s, subprotocol %q", resp.Status, resp.Header.Get("Sec-WebSocket-Protocol"))
		}
		c.expect(ws.OpText, []byte("data=v2 sub=chat.v2")) // the hook's handler
		c.closeNormally()

		resp, _ = rawRequest(t, addr, upgradeRequest(addr, "/ws?want=unoffered", offer))
		if resp.StatusCode != 500 {
			t.Errorf("unoffered subprotocol: %s, want 500", resp.Status)
		}
		if got := o.rejected[observe.RejectInternal].Load(); got != 1 {
			t.Errorf("Rejected(RejectInternal) %d times, want 1", got)
		}
	})
}

// TestAcceptPanic: a hook that panics costs only that handshake (500,
// counted), and the server keeps serving, bystanders included.
func TestAcceptPanic(t *testing.T) {
	forAcPath(t, func(t *testing.T, serve func(*server.Server) string) {
		o := &acObserver{}
		addr := serve(&server.Server{Observer: o, Accept: func(r *http.Request) (server.Accepted, error) {
			if r.URL.Path == "/panic" {
				panic("hook bug")
			}
			return server.Accepted{}, nil
		}})
		bystander := dial(t, addr, "/ws")
		for range 3 {
			resp, _ := rawRequest(t, addr, upgradeRequest(addr, "/panic"))
			if resp.StatusCode != 500 {
				t.Fatalf("panicking hook: %s, want 500", resp.Status)
			}
			bystander.echoes("still here")
		}
		c := dial(t, addr, "/ws")
		c.echoes("new connection")
		c.closeNormally()
		bystander.closeNormally()
		if p, r := o.panicked[observe.SiteAccept].Load(), o.rejected[observe.RejectPanic].Load(); p != 3 || r != 3 {
			t.Errorf("Panicked(SiteAccept) %d, Rejected(RejectPanic) %d; want 3, 3", p, r)
		}
	})
}

// TestAcceptNotForMalformed: the hook sees only handshakes that passed the
// protocol, Host and Origin checks.
func TestAcceptNotForMalformed(t *testing.T) {
	forAcPath(t, func(t *testing.T, serve func(*server.Server) string) {
		var calls atomic.Int64
		addr := serve(&server.Server{
			AllowedHosts: []string{"127.0.0.1"},
			Accept: func(*http.Request) (server.Accepted, error) {
				calls.Add(1)
				return server.Accepted{}, nil
			},
		})
		good := upgradeRequest(addr, "/ws")
		for name, req := range map[string]string{
			"POST":       strings.Replace(good, "GET", "POST", 1),
			"no key":     strings.Replace(good, "Sec-WebSocket-Key: "+testKey+"\r\n", "", 1),
			"version 8":  strings.Replace(good, "Version: 13", "Version: 8", 1),
			"no upgrade": strings.Replace(good, "Upgrade: websocket\r\n", "", 1),
			"origin":     upgradeRequest(addr, "/ws", "Origin: https://evil.example"),
			"host":       strings.Replace(good, "Host: "+addr, "Host: evil.example", 1),
		} {
			resp, _ := rawRequest(t, addr, req)
			if resp.StatusCode < 400 {
				t.Errorf("%s: %s, want a refusal", name, resp.Status)
			}
		}
		if n := calls.Load(); n != 0 {
			t.Errorf("the hook ran %d times for malformed or refused handshakes", n)
		}
		c := dial(t, addr, "/ws")
		c.closeNormally()
		if n := calls.Load(); n != 1 {
			t.Errorf("the hook ran %d times for one good handshake", n)
		}
	})
}

// TestAcceptContext: the hook's request context ends with the server: a
// hook that waits on it is released by Close.
func TestAcceptContext(t *testing.T) {
	forAcPath(t, func(t *testing.T, serve func(*server.Server) string) {
		waiting := make(chan struct{})
		s := &server.Server{HandshakeTimeout: time.Minute, Accept: func(r *http.Request) (server.Accepted, error) {
			close(waiting)
			<-r.Context().Done()
			return server.Accepted{}, r.Context().Err()
		}}
		addr := serve(s)
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(nc, upgradeRequest(addr, "/ws")); err != nil {
			t.Fatal(err)
		}
		within(t, waiting, 5*time.Second, "the hook")
		_ = s.Close()
		// Standalone, the connection is dropped; behind an
		// http.Handler the hook's error is answered (403) and the
		// embedding server keeps the connection.
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			t.Errorf("the hook was not released by Close")
		case err == nil && resp.StatusCode != http.StatusForbidden:
			t.Errorf("after Close: %s, want 403 or the connection's end", resp.Status)
		}
	})
}

// ctxHandler reports, by message, when its connection's context ends and
// whether it had ended by the time Closed ran.
type ctxHandler struct {
	handler.Base
	opened    chan handler.Conn
	cancelled chan struct{}
	closed    chan bool // ctx.Err() != nil in Closed
}

func newCtxHandler() *ctxHandler {
	return &ctxHandler{opened: make(chan handler.Conn, 1), cancelled: make(chan struct{}), closed: make(chan bool, 2)}
}

func (h *ctxHandler) Opened(c handler.Conn) {
	ctx := c.Context()
	go func() {
		<-ctx.Done()
		close(h.cancelled)
	}()
	h.opened <- c
}

func (h *ctxHandler) ReceivedMessage(c handler.Conn, m handler.Message) {
	switch string(m.Data) {
	case "close":
		_ = c.Close(handler.CloseNormal, "bye")
	case "terminate":
		c.Terminate()
	}
}

func (h *ctxHandler) Closed(c handler.Conn, _ handler.CloseCode, _ string) {
	h.closed <- c.Context().Err() != nil
}

// TestConnContext: the connection's context is cancelled when the
// connection closes, however it closes (peer close, Close, Terminate,
// Shutdown), before Closed; asked for after the end, it is already
// cancelled.
func TestConnContext(t *testing.T) {
	forAcPath(t, func(t *testing.T, serve func(*server.Server) string) {
		var next atomic.Value // hbox
		s := &server.Server{NewHandler: func() handler.Handler { return next.Load().(hbox).h }}
		addr := serve(s)
		check := func(name string, h *ctxHandler) {
			t.Helper()
			within(t, h.cancelled, 5*time.Second, name+": context cancelled")
			if !within(t, h.closed, 5*time.Second, name+": Closed") {
				t.Errorf("%s: the context was not cancelled when Closed ran", name)
			}
		}
		for _, how := range []string{"peer close", "close", "terminate"} {
			h := newCtxHandler()
			next.Store(hbox{h})
			c := dial(t, addr, "/ws")
			conn := within(t, h.opened, 5*time.Second, how+": Opened")
			if conn.Context().Err() != nil {
				t.Fatalf("%s: context cancelled while open", how)
			}
			switch how {
			case "peer close":
				c.closeNormally()
			case "close":
				c.send(ws.OpText, []byte("close"))
				if hd, _, err := c.read(); err != nil || hd.OpCode != ws.OpClose {
					t.Fatalf("close: got %v, %v; want a close frame", hd.OpCode, err)
				}
				c.send(ws.OpClose, closePayload(1000, ""))
				c.expectEOF()
			case "terminate":
				c.send(ws.OpText, []byte("terminate"))
				c.expectEOF()
			}
			check(how, h)
			if conn.Context().Err() == nil {
				t.Errorf("%s: Context after the end is not cancelled", how)
			}
		}

		// A context first asked for in Closed is already cancelled.
		late := &lateCtx{closed: make(chan bool, 1)}
		next.Store(hbox{late})
		c := dial(t, addr, "/ws")
		c.closeNormally()
		if !within(t, late.closed, 5*time.Second, "late: Closed") {
			t.Errorf("a context first asked for in Closed is not cancelled")
		}

		// Shutdown cancels the contexts of the connections it ends.
		h := newCtxHandler()
		next.Store(hbox{h})
		c = dial(t, addr, "/ws")
		within(t, h.opened, 5*time.Second, "shutdown: Opened")
		answered := make(chan struct{})
		go func() {
			defer close(answered)
			// Answer the server's 1001 (no t.Fatal off the test's
			// goroutine).
			if hd, _, err := c.read(); err == nil && hd.OpCode == ws.OpClose {
				_, _ = c.nc.Write(frame(true, 0, ws.OpClose, closePayload(1001, "")))
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		check("shutdown", h)
		<-answered
	})
}

type lateCtx struct {
	handler.Base
	closed chan bool
}

func (l *lateCtx) Closed(c handler.Conn, _ handler.CloseCode, _ string) {
	l.closed <- c.Context().Err() != nil
}

// hbox holds a handler in an atomic.Value (which wants one concrete type).
type hbox struct{ h handler.Handler }

// TestClientConnContext: the client's Conn has the same context: cancelled
// when the connection is gone, before Closed, however it ends.
func TestClientConnContext(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
	addr := start(t, server.EngineGoroutine, &server.Server{NewHandler: func() handler.Handler {
		return &ctxHandler{
			opened: make(chan handler.Conn, 1), cancelled: make(chan struct{}), closed: make(chan bool, 1),
		}
	}})
	for _, how := range []string{"client close", "server close", "terminate"} {
		h := newCtxHandler()
		cc, err := wsclient.Dial(context.Background(), "ws://"+addr+"/ws", h, nil)
		if err != nil {
			t.Fatal(err)
		}
		within(t, h.opened, 5*time.Second, how+": Opened")
		switch how {
		case "client close":
			_ = cc.Close(handler.CloseNormal, "")
		case "server close":
			_ = cc.SendText("close")
		case "terminate":
			cc.Terminate()
		}
		within(t, h.cancelled, 5*time.Second, how+": context cancelled")
		if !within(t, h.closed, 5*time.Second, how+": Closed") {
			t.Errorf("%s: the context was not cancelled when Closed ran", how)
		}
		<-cc.Done()
		if cc.Context().Err() == nil {
			t.Errorf("%s: Context after the end is not cancelled", how)
		}
	}
}

// TestAcceptTLS: over TLS (the goroutine engine, on either setting) the
// hook's request has TLS and RemoteAddr set, as net/http's would.
func TestAcceptTLS(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		cert, pool := testutil.SelfSigned(t)
		got := make(chan string, 1)
		s := &server.Server{Engine: e, NewHandler: handler.NewEcho, Accept: func(r *http.Request) (server.Accepted, error) {
			if r.TLS == nil || r.RemoteAddr == "" {
				got <- "no TLS or RemoteAddr"
				return server.Accepted{}, &server.Refusal{Status: 400}
			}
			got <- "ok"
			return server.Accepted{}, nil
		}}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- s.Serve(tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}})) }()
		defer func() {
			_ = s.Close()
			<-errc
		}()
		cc, err := wsclient.Dial(context.Background(), "wss://"+l.Addr().String()+"/ws", handler.Base{},
			&wsclient.Options{TLSConfig: &tls.Config{RootCAs: pool}})
		if err != nil {
			t.Fatal(err)
		}
		if g := within(t, got, 5*time.Second, "the hook"); g != "ok" {
			t.Error(g)
		}
		_ = cc.Close(handler.CloseNormal, "")
		<-cc.Done()
	})
}
