package server_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// badHandshakes is a table of refused handshakes and their status codes. %s
// is the server's host:port.
var badHandshakes = []struct {
	name, req string
	status    int
}{
	{"POST", "POST /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
	{"HTTP/1.0", "GET /ws HTTP/1.0\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
	{"no Host", "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n%.0s", 400},
	{"no Upgrade", "GET /ws HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
	{"Upgrade h2c", "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
	{"no Connection", "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
	{"Connection close", "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: close\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
	{"no key", "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
	{"key not base64", "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!!=\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
	{"key of 15 bytes", "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
	{"key of 17 bytes", "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
	{"no version", "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 400},
	{"version 8", "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", 426},
	{"foreign origin", "GET /ws HTTP/1.1\r\nHost: %s\r\nOrigin: http://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 403},
	{"origin on another port", "GET /ws HTTP/1.1\r\nHost: %s\r\nOrigin: http://127.0.0.1:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 403},
}

// goodHandshakes must all be accepted.
var goodHandshakes = []struct{ name, req string }{
	{"token lists, mixed case", "GET /ws?x=1 HTTP/1.1\r\nhost: %s\r\nupgrade: WebSocket, foo\r\nconnection: keep-alive, UPGRADE\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n"},
	{"same origin", "GET /ws HTTP/1.1\r\nHost: %[1]s\r\nOrigin: http://%[1]s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"},
	{"allowed origin", "GET /ws HTTP/1.1\r\nHost: %s\r\nOrigin: https://app.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"},
	{"HTTP/1.2", "GET /ws HTTP/1.2\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"},
}

// handshakeTargets serves the same Server both ways: standalone and
// mounted on an http.ServeMux.
func handshakeTargets(t *testing.T, e server.Engine, s func() *server.Server) map[string]string {
	standalone := start(t, e, s())
	embedded := s()
	embedded.Engine = e
	mux := http.NewServeMux()
	mux.Handle("/ws", embedded)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		_ = embedded.Close()
	})
	return map[string]string{"standalone": standalone, "http.Handler": hs.Listener.Addr().String()}
}

func TestHandshake(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		targets := handshakeTargets(t, e, func() *server.Server {
			return &server.Server{NewHandler: handler.NewEcho, OriginPatterns: []string{"*.example.com"}}
		})
		for path, addr := range targets {
			t.Run(path, func(t *testing.T) {
				// A client connected all along keeps echoing.
				bystander := dial(t, addr, "/ws")
				for _, tc := range badHandshakes {
					resp, c := rawRequest(t, addr, fmt.Sprintf(tc.req, addr))
					body, _ := io.ReadAll(resp.Body)
					if resp.StatusCode != tc.status {
						t.Errorf("%s: %s %q, want %d", tc.name, resp.Status, body, tc.status)
					}
					if len(strings.TrimSpace(string(body))) == 0 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
						t.Errorf("%s: want a plain-text body saying why, got %q (%s)", tc.name, body, resp.Header.Get("Content-Type"))
					}
					if tc.status == 426 && resp.Header.Get("Sec-WebSocket-Version") != "13" {
						t.Errorf("%s: 426 without Sec-WebSocket-Version: 13", tc.name)
					}
					c.nc.Close()
					bystander.echoes("after " + tc.name)
				}
				bystander.closeNormally()
				for _, tc := range goodHandshakes {
					resp, c := rawRequest(t, addr, fmt.Sprintf(tc.req, addr))
					if resp.StatusCode != 101 {
						t.Errorf("%s: %s, want 101", tc.name, resp.Status)
						continue
					}
					if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
						t.Errorf("%s: accept %q", tc.name, got)
					}
					c.echoes(tc.name)
					c.closeNormally()
				}
			})
		}
	})
}

func TestSubprotocol(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		chosen := make(chan string, 1)
		targets := handshakeTargets(t, e, func() *server.Server {
			return &server.Server{
				Subprotocols: []string{"v2.chat", "v1.chat"},
				NewHandler: func() handler.Handler {
					return &opener{f: func(c handler.Conn) { chosen <- c.Subprotocol() }}
				},
			}
		})
		for path, addr := range targets {
			for offer, want := range map[string]string{
				"v1.chat, v2.chat": "v2.chat", // the server's preference wins
				"v1.chat":          "v1.chat",
				"mqtt":             "",
			} {
				resp, c := rawRequest(t, addr, upgradeRequest(addr, "/ws", "Sec-WebSocket-Protocol: "+offer))
				if resp.StatusCode != 101 {
					t.Fatalf("%s: %s", path, resp.Status)
				}
				if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != want {
					t.Errorf("%s: offered %q, answered %q, want %q", path, offer, got, want)
				}
				if got := <-chosen; got != want {
					t.Errorf("%s: Conn.Subprotocol() = %q, want %q", path, got, want)
				}
				c.closeNormally()
			}
		}
	})
}

type opener struct {
	handler.Echo
	f func(handler.Conn)
}

func (o *opener) Opened(c handler.Conn) { o.f(c) }

// TestHandshakeTimeout: a client that never finishes its request is
// dropped, and a head that is too large is refused.
func TestHandshakeTimeout(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		addr := start(t, e, &server.Server{HandshakeTimeout: 200 * time.Millisecond})
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_, _ = io.WriteString(nc, "GET /ws HTTP/1.1\r\nHost: x\r\n")
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := io.Copy(io.Discard, nc); err != nil || n != 0 {
			t.Fatalf("stalled handshake: read %d bytes, %v; want the server to close it", n, err)
		}

		resp, _ := rawRequest(t, addr, upgradeRequest(addr, "/ws", "X-Big: "+strings.Repeat("a", 9000)))
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("huge head: %s, want 431", resp.Status)
		}
	})
}

func TestRequestInfo(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		got := make(chan string, 1)
		targets := handshakeTargets(t, e, func() *server.Server {
			return &server.Server{NewHandler: func() handler.Handler {
				return &opener{f: func(c handler.Conn) {
					r := c.Request()
					c.SetData(r.URL.Query().Get("room"))
					got <- fmt.Sprintf("%s %s %s %v %v", r.URL.Path, c.Data(), r.Header.Get("X-Test"), c.RemoteAddr() != nil, c.LocalAddr() != nil)
				}}
			}}
		})
		for path, addr := range targets {
			c := dial(t, addr, "/ws?room=blue", "X-Test: yes")
			if g, want := <-got, "/ws blue yes true true"; g != want {
				t.Errorf("%s: %q, want %q", path, g, want)
			}
			c.closeNormally()
		}
	})
}

// TestCheckOrigin: a CheckOrigin function replaces the default origin check;
// it sees the request's headers, and a refusal is 403.
func TestCheckOrigin(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		targets := handshakeTargets(t, e, func() *server.Server {
			return &server.Server{NewHandler: handler.NewEcho, CheckOrigin: func(r *http.Request) bool {
				return r.Header.Get("Origin") == "https://trusted.example" && r.URL.Path == "/ws"
			}}
		})
		for path, addr := range targets {
			t.Run(path, func(t *testing.T) {
				for origin, want := range map[string]int{
					"https://trusted.example": 101,
					"http://" + addr:          403, // the default would allow it
					"https://evil.example":    403,
				} {
					resp, c := rawRequest(t, addr, upgradeRequest(addr, "/ws", "Origin: "+origin))
					if resp.StatusCode != want {
						t.Errorf("Origin %s: %s, want %d", origin, resp.Status, want)
					}
					if want == 101 {
						c.echoes("trusted")
						c.closeNormally()
					}
				}
			})
		}
	})
}

// TestUpgradeAfterPlainRequest: on the standalone listener, a client that
// fetched a page first may upgrade the same keep-alive connection.
func TestUpgradeAfterPlainRequest(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "page") })
		addr := start(t, e, &server.Server{Routes: map[string]handler.Factory{"/ws": handler.NewEcho}, HTTP: page})
		resp, c := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "page" {
			t.Fatalf("GET /: %s %q", resp.Status, body)
		}
		c.writeRaw([]byte(upgradeRequest(addr, "/ws")))
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 101 {
			t.Fatalf("upgrade after GET /: %s", resp.Status)
		}
		c.echoes("same connection")
		c.closeNormally()
	})
}
