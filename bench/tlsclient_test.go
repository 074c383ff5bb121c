//go:build linux

package bench

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

// TestTLSClient drives a ws4go wss:// server through every phase of the
// wss:// client, then checks that the idle phase counts connections the
// server dropped.
func TestTLSClient(t *testing.T) {
	cert, _ := testutil.SelfSigned(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Engine: server.EngineNetpoll, PingInterval: -1, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	srv.Routes = map[string]handler.Factory{"/ws": handler.NewEcho}
	go srv.Serve(l)
	defer srv.Close()
	c, err := newTLSClient(loadTarget{Addr: l.Addr().String(), Path: "/ws"}, defaultSources(3, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	cr, err := c.Connect(ctx, connectSpec{Conns: 20, MaxPending: 4})
	if err != nil || cr.Opened != 20 || cr.Failed != 0 || c.Opened() != 20 {
		t.Fatalf("connect: %+v %v", cr, err)
	}
	if n := c.Negotiated(); !strings.HasPrefix(n, "TLS 1.3, X25519MLKEM768") {
		t.Errorf("negotiated %q, want TLS 1.3 with Go's default key exchange", n)
	}
	r, err := c.Run(ctx, runSpec{Scenario: Echo, Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond, Size: 64})
	if err != nil || r.Received < 100 || r.Errors != 0 || r.Open != 20 || r.Latency == nil {
		t.Fatalf("echo: %+v %v", r, err)
	}
	r, err = c.Run(ctx, runSpec{Scenario: HandshakeWSS, Duration: 300 * time.Millisecond, Concurrency: 4})
	if err != nil || r.Completed < 5 || r.Errors != 0 {
		t.Fatalf("handshakes: %+v %v", r, err)
	}
	r, err = c.Run(ctx, runSpec{Scenario: Idle, Duration: 50 * time.Millisecond})
	if err != nil || r.Open != 20 || r.Errors != 0 {
		t.Fatalf("idle: %+v %v", r, err)
	}
	// Close drops the connections on the engine's workers: each is
	// counted lost once, in the phase that finds it closed.
	srv.Close()
	expectAllLost(t, c, 20)
}

// TestTLSClientH2 drives a ws4go server through the HTTP/2 client's
// phases: 20 WebSockets, 8 streams per TLS connection, so 3 connections
// (the server counts those it accepts); then the idle phase counts the
// streams the server dropped.
func TestTLSClientH2(t *testing.T) {
	cert, _ := testutil.SelfSigned(t)
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &countingListener{Listener: tl}
	srv := &server.Server{Engine: server.EngineGoroutine, PingInterval: -1,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}}
	srv.Routes = map[string]handler.Factory{"/ws": handler.NewEcho}
	go srv.Serve(l)
	defer srv.Close()
	c, err := newTLSClient(loadTarget{Addr: l.Addr().String(), Path: "/ws"}, defaultSources(3, 0), 8)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	cr, err := c.Connect(ctx, connectSpec{Conns: 20, MaxPending: 4})
	if err != nil || cr.Opened != 20 || cr.Failed != 0 || c.Opened() != 20 {
		t.Fatalf("connect: %+v %v", cr, err)
	}
	if n := c.Negotiated(); !strings.HasPrefix(n, "TLS 1.3, X25519MLKEM768") || !strings.HasSuffix(n, "ALPN "+http2.NextProtoTLS) {
		t.Errorf("negotiated %q, want TLS 1.3 with Go's default key exchange and h2", n)
	}
	if n := l.accepted.Load(); n != 3 || c.tcpConns() != 3 {
		t.Fatalf("20 WebSockets on %d TCP connections (the client counts %d), want 3", n, c.tcpConns())
	}
	r, err := c.Run(ctx, runSpec{Scenario: Echo, Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond, Size: 64})
	if err != nil || r.Received < 100 || r.Errors != 0 || r.Open != 20 || r.Latency == nil {
		t.Fatalf("echo: %+v %v", r, err)
	}
	r, err = c.Run(ctx, runSpec{Scenario: Idle, Duration: 50 * time.Millisecond})
	if err != nil || r.Open != 20 || r.Errors != 0 {
		t.Fatalf("idle: %+v %v", r, err)
	}
	srv.Close()
	expectAllLost(t, c, 20)
}

// expectAllLost runs idle phases until c holds no connection, at most 5 s,
// and checks that each of its n was counted lost once.
func expectAllLost(t *testing.T, c *tlsClient, n int64) {
	t.Helper()
	lost := int64(0)
	for deadline := time.Now().Add(5 * time.Second); ; {
		r, err := c.Run(context.Background(), runSpec{Scenario: Idle, Duration: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		lost += r.Errors
		if r.Open == 0 || time.Now().After(deadline) {
			if r.Open != 0 || lost != n {
				t.Fatalf("idle after the server closed: %d open, %d lost, want 0 and %d", r.Open, lost, n)
			}
			return
		}
	}
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}
