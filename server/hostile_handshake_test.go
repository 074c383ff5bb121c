package server_test

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// hsExpect sends req and checks the refusal's status and safe headers.
func hsExpect(t *testing.T, addr, req string, status int) {
	t.Helper()
	resp, c := rawRequest(t, addr, req)
	body, _ := io.ReadAll(resp.Body)
	c.nc.Close()
	if resp.StatusCode != status {
		t.Fatalf("%.200q: %s %q, want %d", req, resp.Status, body, status)
	}
	if status != 101 && (resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8") {
		t.Fatalf("%.200q: refusal headers %v", req, resp.Header)
	}
}

// TestHsHostileHeads: heads net/http refuses get 400 before CheckOrigin
// runs (it would panic on a nil request), a panicking CheckOrigin costs only
// its handshake (500), and a bystander keeps echoing: the process lives.
func TestHsHostileHeads(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		targets := handshakeTargets(t, e, func() *server.Server {
			return &server.Server{NewHandler: handler.NewEcho, CheckOrigin: func(r *http.Request) bool {
				if r.Header.Get("X-Panic") != "" {
					panic("CheckOrigin panicked on purpose")
				}
				return r.Header.Get("Origin") != "x" // dereferences r
			}}
		})
		for path, addr := range targets {
			t.Run(path, func(t *testing.T) {
				bystander := dial(t, addr, "/ws")
				for _, extra := range []string{"X-Panic: 1"} {
					hsExpect(t, addr, upgradeRequest(addr, "/ws", extra), 500)
					bystander.echoes("after a CheckOrigin panic")
				}
				if path != "standalone" {
					return // net/http parses the head on the http.Handler path
				}
				for _, req := range []string{
					upgradeRequest(addr, "/ws", "X-A: a\x00b"),
					upgradeRequest(addr, "/ws%zz"),
					upgradeRequest(addr, "/ws", "X-A: a", " folded"),
					upgradeRequest(addr, "/ws", "Host: again"),
					upgradeRequest(addr, "/ws", "X-A : b"),
					strings.Replace(upgradeRequest(addr, "/ws"), "\r\nUpgrade", "\nUpgrade", 1),
				} {
					hsExpect(t, addr, req, 400)
					bystander.echoes("after a hostile head")
				}
				bystander.closeNormally()
			})
		}
	})
}

// TestHsAllowedHosts: a Host outside AllowedHosts gets 403 on every path
// (DNS rebinding); a loopback Host is served.
func TestHsAllowedHosts(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		targets := handshakeTargets(t, e, func() *server.Server {
			return &server.Server{NewHandler: handler.NewEcho, AllowedHosts: server.LoopbackHosts}
		})
		for path, addr := range targets {
			t.Run(path, func(t *testing.T) {
				bad := strings.Replace(upgradeRequest(addr, "/ws", "Origin: http://rebound.example:1"), "Host: "+addr, "Host: rebound.example:1", 1)
				hsExpect(t, addr, bad, 403)
				c := dial(t, addr, "/ws")
				c.echoes("loopback host")
				c.closeNormally()
			})
		}
		// The plain-HTTP fallback (a demo page) too.
		s := &server.Server{NewHandler: handler.NewEcho, AllowedHosts: server.LoopbackHosts, HTTP: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "page") })}
		addr := start(t, e, s)
		hsExpect(t, addr, "GET / HTTP/1.1\r\nHost: rebound.example\r\n\r\n", 403)
		resp, c := rawRequest(t, addr, fmt.Sprintf("GET / HTTP/1.1\r\nHost: %s\r\n\r\n", addr))
		if resp.StatusCode != 200 {
			t.Fatalf("page: %s", resp.Status)
		}
		c.nc.Close()
	})
}

// TestHsExtensionFlood: 36,000 Sec-WebSocket-Extensions lines (within
// net/http's default header limit) are answered with bounded allocation on
// the http.Handler path, and refused by the fallback server's header limit.
func TestHsExtensionFlood(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		targets := handshakeTargets(t, e, func() *server.Server {
			return &server.Server{NewHandler: handler.NewEcho, Compression: true}
		})
		addr := targets["http.Handler"]
		req := upgradeRequest(addr, "/ws", strings.Repeat("Sec-WebSocket-Extensions: x\r\n", 36000))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		hsExpect(t, addr, req, 431)
		runtime.ReadMemStats(&after)
		// net/http itself holds the ~1.7 MB header; the quadratic join
		// allocated 3.9 GiB.
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
			t.Fatalf("%d bytes allocated for one request", n)
		}
		// The fallback server (a keep-alive upgrade after a plain request).
		s := &server.Server{NewHandler: handler.NewEcho, HTTP: http.NotFoundHandler()}
		fa := start(t, e, s)
		resp, c := rawRequest(t, fa, "GET /page HTTP/1.1\r\nHost: a\r\n\r\n"+upgradeRequest(fa, "/ws", strings.Repeat("Sec-WebSocket-Extensions: permessage-deflate\r\n", 36000)))
		_, _ = io.Copy(io.Discard, resp.Body)
		resp2, err := http.ReadResponse(c.br, nil)
		if err != nil || resp2.StatusCode != 431 {
			t.Fatalf("keep-alive upgrade with a huge head: %v %v", resp2, err)
		}
	})
}
