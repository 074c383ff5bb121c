package wsconn

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"unsafe"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/handshake"
)

// requestAsker calls Request twice during Opened.
type requestAsker struct {
	handler.Base
	first, second *http.Request
}

func (a *requestAsker) Opened(c handler.Conn) { a.first, a.second = c.Request(), c.Request() }

const rawHead = "GET /chat?room=r1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Token: t1\r\n\r\n"

// checkRequest checks that r is rawHead's request.
func checkRequest(t *testing.T, when string, r *http.Request) {
	t.Helper()
	if r == nil {
		t.Fatalf("%s: Request is nil", when)
	}
	if r.URL.Path != "/chat" || r.URL.Query().Get("room") != "r1" || r.Host != "example.com" ||
		r.Header.Get("X-Token") != "t1" || r.Method != http.MethodGet {
		t.Fatalf("%s: Request is %s %s Host %q X-Token %q", when, r.Method, r.URL, r.Host, r.Header.Get("X-Token"))
	}
}

// The standalone path keeps the raw head and nothing else: during Opened
// Request is one parsed request; afterwards a new one each call.
func TestRequestRawHeadKept(t *testing.T) {
	a := &requestAsker{}
	c := New(&Config{}, &pipe{room: -1}, a, "", Request{Head: rawHead})
	c.Start(nil)
	checkRequest(t, "Opened", a.first)
	if a.second != a.first {
		t.Fatal("two calls during Opened gave two requests")
	}
	if c.x != nil || c.head != rawHead {
		t.Fatalf("idle: rare part %v and head %q kept, want the head alone", c.x, c.head)
	}
	r := c.Request()
	checkRequest(t, "after Opened", r)
	if r == a.first || r == c.Request() {
		t.Fatal("after Opened, Request returns a kept request instead of a new one")
	}
	if c.x != nil {
		t.Fatal("a call after Opened made the connection keep a parsed request")
	}
}

// The accept hook's request comes with the raw head: it is Request during
// Opened, then only its TLS state is kept beside the head.
func TestRequestHookRequestWithRawHead(t *testing.T) {
	hook, err := handshake.ParseRequest(rawHead)
	if err != nil {
		t.Fatal(err)
	}
	hook.TLS = &tls.ConnectionState{ServerName: "example.com"}
	a := &requestAsker{}
	c := New(&Config{}, &pipe{room: -1}, a, "", Request{Head: rawHead, Req: hook})
	c.Start(nil)
	if a.first != hook || a.second != hook {
		t.Fatal("during Opened, Request is not the hook's request")
	}
	if c.x == nil || c.x.req != nil || c.x.tls != hook.TLS || c.head != rawHead {
		t.Fatalf("idle: keeps %+v and head %q, want the head and the TLS state", c.x, c.head)
	}
	r := c.Request()
	checkRequest(t, "after Opened", r)
	if r.TLS != hook.TLS {
		t.Fatal("after Opened, Request lost the TLS state")
	}
}

// A request given with its fields (the http.Handler path over HTTP/1.1,
// the accept hook's) is returned as it is during Opened, then kept without
// its Header and context: later requests have its header back, and keep
// what bytes would not carry (the mux's path values, TLS, RemoteAddr).
func TestRequestFieldsKept(t *testing.T) {
	type key struct{}
	r := httptest.NewRequest(http.MethodGet, "http://example.com/chat?room=r1", nil)
	r.Header.Set("X-Token", "t1")
	r.SetPathValue("room", "r1")
	r.RemoteAddr = "203.0.113.9:4000" // as a proxy-header middleware sets it
	r.TLS = &tls.ConnectionState{ServerName: "example.com"}
	r = r.WithContext(context.WithValue(context.Background(), key{}, "v"))
	a := &requestAsker{}
	c := New(&Config{}, &pipe{room: -1}, a, "", Request{Req: r, Fields: handshake.Fields(r.Header)})
	c.Start(nil)
	if a.first != r || a.second != r {
		t.Fatal("during Opened, Request is not the request given")
	}
	if k := c.x.req; k == nil || k.Header != nil || k.Context() != context.Background() || c.x.ctx != nil {
		t.Fatalf("idle: kept %+v and context %v, want the request without Header or context", k, c.x.ctx)
	}
	got := c.Request()
	checkRequest(t, "after Opened", got)
	if got == r || got.PathValue("room") != "r1" || got.TLS != r.TLS || got.RemoteAddr != r.RemoteAddr {
		t.Fatalf("after Opened: path value %q, TLS %v, RemoteAddr %q", got.PathValue("room"), got.TLS, got.RemoteAddr)
	}
	if got.Context().Value(key{}) != nil {
		t.Fatal("after Opened, Request's context carries the upgrade's values")
	}
	got.Header.Set("X-Token", "changed")
	checkRequest(t, "after a caller changed an earlier one", c.Request())
}

// A request given alone (over HTTP/2, the client's) is kept whole.
func TestRequestKeptWhole(t *testing.T) {
	r := httptest.NewRequest(http.MethodConnect, "http://example.com/chat", nil)
	c := New(&Config{}, &pipe{room: -1}, handler.Base{}, "", Request{Req: r})
	c.Start(nil)
	if c.Request() != r {
		t.Fatal("a request given alone is not kept whole")
	}
}

// With DropRequest nothing is kept after Opened, on every path, and Request
// then panics with handler.ErrRequestDropped, not a nil.
func TestRequestDropped(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/chat?room=r1", nil)
	r.Header.Set("X-Token", "t1")
	for name, mk := range map[string]func(*Config, handler.Handler) *Conn{
		"raw head": func(cfg *Config, h handler.Handler) *Conn {
			return New(cfg, &pipe{room: -1}, h, "", Request{Head: rawHead})
		},
		"fields": func(cfg *Config, h handler.Handler) *Conn {
			return New(cfg, &pipe{room: -1}, h, "", Request{Req: r, Fields: handshake.Fields(r.Header)})
		},
		"whole": func(cfg *Config, h handler.Handler) *Conn { return New(cfg, &pipe{room: -1}, h, "", Request{Req: r}) },
		"raw head and the hook's request": func(cfg *Config, h handler.Handler) *Conn {
			return New(cfg, &pipe{room: -1}, h, "", Request{Head: rawHead, Req: r})
		},
	} {
		a := &requestAsker{}
		c := mk(&Config{DropRequest: true}, a)
		c.Start(nil)
		if a.first == nil || a.first.URL.Path != "/chat" {
			t.Fatalf("%s: Request during Opened is %v", name, a.first)
		}
		if c.x != nil || c.head != "" {
			t.Fatalf("%s: idle connection keeps %v, head %q", name, c.x, c.head)
		}
		func() {
			defer func() {
				if v := recover(); v != handler.ErrRequestDropped {
					t.Fatalf("%s: Request after Opened: panic %v, want ErrRequestDropped", name, v)
				}
			}()
			c.Request()
		}()
	}
}

// The context chain of a request from the http.Handler path is not kept,
// unless Context was made during Opened: it then carries the request's
// values.
func TestRequestContextValues(t *testing.T) {
	type key struct{}
	r := httptest.NewRequest(http.MethodGet, "http://x/", nil)
	r = r.WithContext(context.WithoutCancel(context.WithValue(context.Background(), key{}, "v")))
	asked := New(&Config{}, &pipe{room: -1}, &contextAsker{}, "", Request{Req: r, Fields: handshake.Fields(r.Header)})
	asked.Start(nil)
	if v := asked.Context().Value(key{}); v != "v" {
		t.Fatalf("Context made during Opened carries %v, want the request's value", v)
	}
	asked.Terminate()
	if asked.Context().Err() == nil {
		t.Fatal("Context not cancelled by Terminate")
	}
	later := New(&Config{}, &pipe{room: -1}, handler.Base{}, "", Request{Req: r, Fields: handshake.Fields(r.Header)})
	later.Start(nil)
	if later.x.ctx != nil || later.Context().Value(key{}) != nil {
		t.Fatal("an idle connection keeps the request's context chain")
	}
}

// contextAsker asks for its Context during Opened.
type contextAsker struct{ handler.Base }

func (contextAsker) Opened(c handler.Conn) { _ = c.Context() }

// Conn stays in its size class (see its doc): a field more costs every
// idle connection 16 bytes.
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 240 {
		t.Fatalf("Conn is %d bytes, past its 240-byte size class", n)
	}
}
