package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/observe"
	"github.com/ws4go/ws4go/server"
)

// expectMaxConnections checks a refusal for Server.MaxConnections: 503 with
// a Retry-After.
func expectMaxConnections(t *testing.T, resp *http.Response, what string) {
	t.Helper()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s past MaxConnections: %s %q, Retry-After %q; want 503 with a Retry-After", what, resp.Status, body, resp.Header.Get("Retry-After"))
	}
}

// tlsUpgrade sends a WebSocket upgrade over HTTP/1.1 TLS and returns the
// response, and the connection if it was accepted.
func tlsUpgrade(t *testing.T, addr string, pool *x509.CertPool) (*http.Response, *rawClient) {
	t.Helper()
	return tlsUpgradeALPN(t, addr, pool, "http/1.1")
}

// tlsUpgradeALPN is tlsUpgrade with the client offering protos by ALPN
// (the server must choose HTTP/1.1).
func tlsUpgradeALPN(t *testing.T, addr string, pool *x509.CertPool, protos ...string) (*http.Response, *rawClient) {
	t.Helper()
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: protos})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	if p := tc.ConnectionState().NegotiatedProtocol; p == "h2" {
		t.Fatalf("ALPN chose %q offered %q, want HTTP/1.1", p, protos)
	}
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(tc, upgradeRequest(addr, "/")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(tc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading handshake response: %v", err)
	}
	return resp, &rawClient{t: t, nc: tc, br: br}
}

// TestMaxConnections: past Server.MaxConnections WebSockets a handshake
// gets 503 and a Retry-After, counted as observe.RejectMaxConnections, on
// every path of both engines (the raw HTTP/1.1 path, with and without an
// accept hook; HTTP/1.1 over TLS; RFC 8441 streams; the http.Handler
// path); once a connection ends its place is free again.
func TestMaxConnections(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		for _, hook := range []bool{false, true} {
			name := "raw"
			if hook {
				name = "accept-hook"
			}
			t.Run(name, func(t *testing.T) {
				o := &acObserver{}
				s := &server.Server{MaxConnections: 2, Observer: o}
				if hook {
					s.Accept = func(*http.Request) (server.Accepted, error) { return server.Accepted{}, nil }
				}
				addr := start(t, e, s)
				a, b := dial(t, addr, "/"), dial(t, addr, "/")
				resp, _ := rawRequest(t, addr, upgradeRequest(addr, "/"))
				expectMaxConnections(t, resp, "an HTTP/1.1 upgrade")
				if n := o.rejected[observe.RejectMaxConnections].Load(); n != 1 {
					t.Errorf("Rejected(RejectMaxConnections) %d times, want 1", n)
				}
				a.echoes("still served")
				a.closeNormally()
				hcEventually(t, 5*time.Second, "the closed connection gone", func() bool { return s.Stats().Connections == 1 })
				c := dial(t, addr, "/")
				c.echoes("in the freed place")
				b.echoes("still served")
				if n := s.Stats().Connections; n != 2 {
					t.Errorf("%d connections, want 2", n)
				}
			})
		}

		t.Run("h2", func(t *testing.T) {
			o := &acObserver{}
			s := &server.Server{MaxConnections: 3, Observer: o}
			addr, pool := startH2(t, e, s)
			hc := testutil.DialH2(t, addr, pool)
			_, s1 := openH2(t, hc, "/", nil)
			_, s2 := openH2(t, hc, "/", nil)
			resp, h1 := tlsUpgrade(t, addr, pool)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("HTTP/1.1 over TLS: %s", resp.Status)
			}
			// Full: a stream, on the same TCP connection or a new
			// one, and an HTTP/1.1 upgrade are refused.
			resp, _ = hc.Open("/", nil)
			expectMaxConnections(t, resp, "an HTTP/2 stream")
			resp, _ = testutil.DialH2(t, addr, pool).Open("/", nil)
			expectMaxConnections(t, resp, "an HTTP/2 stream on another connection")
			resp, _ = tlsUpgrade(t, addr, pool)
			expectMaxConnections(t, resp, "an HTTP/1.1 upgrade over TLS")
			if n := o.rejected[observe.RejectMaxConnections].Load(); n != 3 {
				t.Errorf("Rejected(RejectMaxConnections) %d times, want 3", n)
			}
			s1.echoes("still served")
			h1.echoes("still served")
			s1.closeNormally()
			hcEventually(t, 5*time.Second, "the closed stream gone", func() bool { return s.Stats().Connections == 2 })
			_, s3 := openH2(t, hc, "/", nil)
			s3.echoes("in the freed place")
			h1.closeNormally()
			hcEventually(t, 5*time.Second, "the closed connection gone", func() bool { return s.Stats().Connections == 2 })
			_, s4 := openH2(t, hc, "/", nil)
			s4.echoes("in the freed place")
			s2.echoes("still served")
		})

		t.Run("http-handler", func(t *testing.T) {
			o := &acObserver{}
			s := &server.Server{Engine: e, MaxConnections: 1, Observer: o, NewHandler: handler.NewEcho}
			hs := httptest.NewServer(s)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := s.Shutdown(ctx); err != nil {
					t.Errorf("Shutdown: %v", err)
				}
				hs.Close()
			})
			addr := hs.Listener.Addr().String()
			a := dial(t, addr, "/")
			resp, _ := rawRequest(t, addr, upgradeRequest(addr, "/"))
			expectMaxConnections(t, resp, "an upgrade on the http.Handler path")
			if n := o.rejected[observe.RejectMaxConnections].Load(); n != 1 {
				t.Errorf("Rejected(RejectMaxConnections) %d times, want 1", n)
			}
			a.closeNormally()
			hcEventually(t, 5*time.Second, "the closed connection gone", func() bool { return s.Stats().Connections == 0 })
			dial(t, addr, "/").echoes("in the freed place")
		})
	})
}

// TestH2StreamsBoundedByMaxConnections is the review's attack (its
// TestRevH2StreamsMultiplyConnections): raw HTTP/2 clients that grant the
// server no window each open H2MaxStreams WebSocket streams at once, which
// once held H2MaxStreams WebSockets per descriptor with nothing bounding
// the total. Past MaxConnections every stream gets 503, on both engines,
// and the server never holds more than MaxConnections.
func TestH2StreamsBoundedByMaxConnections(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		const conns, most = 3, 2*server.H2MaxStreams + server.H2MaxStreams/2
		s := &server.Server{MaxConnections: most, PingInterval: -1}
		addr, pool := startH2(t, e, s)
		var cs []*rawH2
		for range conns {
			c := dialRawH2(t, addr, pool, 0)
			for i := range server.H2MaxStreams {
				c.open(uint32(2*i+1), "/ws")
			}
			cs = append(cs, c)
		}
		statuses := map[string]int{}
		for _, c := range cs {
			for range server.H2MaxStreams {
				select {
				case st := <-c.status:
					statuses[st[1]]++
				case <-time.After(10 * time.Second):
					t.Fatalf("statuses so far %v: no answer in 10 s", statuses)
				}
				if n := s.Stats().Connections; n > most {
					t.Fatalf("%d WebSockets held, MaxConnections %d", n, most)
				}
			}
		}
		if statuses["200"] != most || statuses["503"] != conns*server.H2MaxStreams-most {
			t.Errorf("statuses %v, want %d × 200 and %d × 503", statuses, most, conns*server.H2MaxStreams-most)
		}
		// (The 200 goes out before the table has the connection.)
		hcEventually(t, 5*time.Second, "every accepted stream in the table", func() bool { return s.Stats().Connections == most })
	})
}
