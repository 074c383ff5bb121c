package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/observe"
	"github.com/ws4go/ws4go/server"
)

// startTLS serves s over TLS (Server.TLSConfig) with a fresh self-signed
// certificate; it returns the address and a pool trusting the certificate.
func startTLS(t *testing.T, e server.Engine, s *server.Server) (string, *x509.CertPool) {
	t.Helper()
	cert, pool := testutil.SelfSigned(t)
	if s.TLSConfig == nil {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	return start(t, e, s), pool
}

// holdConn is a TCP connection whose writes can be held back, so a test
// can send a TLS record in pieces.
type holdConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	held []byte
}

func (h *holdConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hold {
		h.held = append(h.held, p...)
		return len(p), nil
	}
	return h.Conn.Write(p)
}

// take returns what was held and stops holding.
func (h *holdConn) take() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.held
	h.held, h.hold = nil, false
	return b
}

// dialTLS opens a WebSocket connection over TLS to addr+path; the returned
// holdConn is its TCP connection.
func dialTLS(t testing.TB, addr string, pool *x509.CertPool) (*rawClient, *holdConn) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	hc := &holdConn{Conn: raw}
	tc := tls.Client(hc, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	t.Cleanup(func() { tc.Close() })
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Errorf("ALPN %q, want http/1.1", p)
	}
	if _, err := io.WriteString(tc, upgradeRequest(addr, "/")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(tc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading handshake response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	return &rawClient{t: t, nc: tc, br: br}, hc
}

// TestTLSEcho: over TLS (Server.TLSConfig) both engines echo small and large
// messages, pipelined, and close cleanly (close frame, close_notify, FIN).
func TestTLSEcho(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		addr, pool := startTLS(t, e, &server.Server{MaxMessageSize: 8 << 20})
		c, _ := dialTLS(t, addr, pool)
		c.echoes("hello")
		big := bytes.Repeat([]byte("0123456789abcdef"), 4<<16) // 4 MiB: many records, a full socket
		c.send(ws.OpBinary, big)
		c.expect(ws.OpBinary, big)
		var all []byte
		for i := range 200 {
			all = append(all, frame(true, 0, ws.OpText, []byte(fmt.Sprint("m", i)))...)
		}
		c.writeRaw(all)
		for i := range 200 {
			c.expect(ws.OpText, []byte(fmt.Sprint("m", i)))
		}
		c.closeNormally()
	})
}

// TestTLSNetpollIdle: idle TLS connections on the netpoll engine hold no
// goroutine once their handshake is done.
func TestTLSNetpollIdle(t *testing.T) {
	addr, pool := startTLS(t, server.EngineNetpoll, &server.Server{})
	before := runtime.NumGoroutine()
	const n = 50
	clients := make([]*rawClient, n)
	for i := range clients {
		clients[i], _ = dialTLS(t, addr, pool)
		clients[i].echoes("hi")
	}
	// The handshake goroutines end just after the 101.
	deadline := time.Now().Add(5 * time.Second)
	var extra int
	for {
		// The clients' own crypto/tls hold no goroutine either.
		if extra = runtime.NumGoroutine() - before; extra < n/5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if extra >= n/5 {
		t.Errorf("%d more goroutines with %d idle TLS connections", extra, n)
	}
	for _, c := range clients {
		c.echoes("still")
	}
}

// TestTLSSlowloris: a client that stalls in the middle of a TLS record
// holds no worker (the one worker serves the others meanwhile), and its
// message arrives whole once the rest of the record does; a client that
// stalls in the middle of the TLS handshake is dropped after
// HandshakeTimeout and counted as tls_timeout.
func TestTLSSlowloris(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		o := &acObserver{}
		addr, pool := startTLS(t, e, &server.Server{Workers: 1, HandshakeTimeout: 300 * time.Millisecond, Observer: o})
		stalled, hc := dialTLS(t, addr, pool)
		stalled.echoes("first")
		hc.mu.Lock()
		hc.hold = true
		hc.mu.Unlock()
		stalled.send(ws.OpText, []byte("split across the stall"))
		rec := hc.take()
		if _, err := hc.Conn.Write(rec[:len(rec)/2]); err != nil {
			t.Fatal(err)
		}
		// Mid-handshake: half a ClientHello's record header and body.
		hs, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer hs.Close()
		if _, err := hs.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		for range 5 {
			c, _ := dialTLS(t, addr, pool)
			c.echoes("others are served")
		}
		if _, err := hc.Conn.Write(rec[len(rec)/2:]); err != nil {
			t.Fatal(err)
		}
		stalled.expect(ws.OpText, []byte("split across the stall"))
		_ = hs.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := io.Copy(io.Discard, hs); n != 0 || err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
			t.Errorf("the stalled handshake: %d bytes, %v; want it dropped", n, err)
		}
		for deadline := time.Now().Add(2 * time.Second); o.rejected[observe.RejectTLSTimeout].Load() != 1; {
			if time.Now().After(deadline) {
				t.Fatalf("tls_timeout counted %d times, want 1", o.rejected[observe.RejectTLSTimeout].Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
		stalled.closeNormally()
	})
}

// TestTLSHandshakeFailures: failed TLS handshakes are counted by reason.
func TestTLSHandshakeFailures(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		o := &acObserver{}
		addr, pool := startTLS(t, e, &server.Server{Observer: o})
		wait := func(r observe.Reason) {
			t.Helper()
			for deadline := time.Now().Add(5 * time.Second); o.rejected[r].Load() != 1; {
				if time.Now().After(deadline) {
					t.Fatalf("%v counted %d times, want 1", r, o.rejected[r].Load())
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		// Plain HTTP to the TLS port.
		if nc, err := net.Dial("tcp", addr); err == nil {
			_, _ = io.WriteString(nc, upgradeRequest(addr, "/"))
			wait(observe.RejectTLSNotTLS)
			nc.Close()
		}
		// A client that does not trust the certificate.
		try := func(cfg *tls.Config) {
			nc, err := tls.Dial("tcp", addr, cfg)
			if err == nil {
				err = nc.Handshake()
				nc.Close()
			}
			if err == nil {
				t.Errorf("handshake with %+v succeeded", cfg)
			}
		}
		try(&tls.Config{ServerName: "127.0.0.1"})
		wait(observe.RejectTLSCertificate)
		// TLS 1.1 at most: below the minimum.
		try(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		wait(observe.RejectTLSUnsupported)
		// Gone in the middle of the handshake.
		if nc, err := net.Dial("tcp", addr); err == nil {
			_, _ = nc.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00})
			nc.Close()
			wait(observe.RejectTLSClosed)
		}
		// And the server still serves.
		c, _ := dialTLS(t, addr, pool)
		c.echoes("fine")
	})
}

// TestTLSReload: a certificate replaced through GetCertificate is what new
// connections get, while the connections made with the old one keep
// working.
func TestTLSReload(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		certA, poolA := testutil.SelfSigned(t)
		certB, poolB := testutil.SelfSigned(t)
		var cur atomic.Pointer[tls.Certificate]
		cur.Store(&certA)
		addr := start(t, e, &server.Server{TLSConfig: &tls.Config{
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cur.Load(), nil },
		}})
		old, _ := dialTLS(t, addr, poolA)
		old.echoes("with A")
		cur.Store(&certB)
		if _, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: poolA, ServerName: "127.0.0.1"}); err == nil {
			t.Error("a new connection still gets the old certificate")
		}
		c, _ := dialTLS(t, addr, poolB)
		c.echoes("with B")
		old.echoes("still with A")
		old.closeNormally()
		c.closeNormally()
	})
}

// TestTLSWriteQueueBound: over TLS on the netpoll engine a peer that does
// not read still meets MaxWriteQueue (the ciphertext the socket did not take
// is held by the transport, one record's worth, not queued without bound).
// (On the goroutine engine a data Send waits for room instead, while the
// flusher's writes make progress, each bounded by WriteTimeout.)
func TestTLSWriteQueueBound(t *testing.T) {
	t.Run("netpoll", func(t *testing.T) {
		e := server.EngineNetpoll
		closed := make(chan [2]string, 1)
		s := &server.Server{
			MaxWriteQueue: 1 << 20, WriteQueueCloseCode: handler.CloseTryAgainLater,
			WriteTimeout: time.Hour, CloseTimeout: 200 * time.Millisecond,
			NewHandler: func() handler.Handler { return &recorder{closed: closed} },
		}
		addr, pool := startTLS(t, e, s)
		c, hc := dialTLS(t, addr, pool) // and it stops reading
		_ = hc.Conn.(*net.TCPConn).SetReadBuffer(4096)
		c.echoes("ready")
		var conn handler.Conn
		s.Range(func(hc handler.Conn) bool { conn = hc; return false })
		var err error
		for range 64 {
			if err = conn.SendBinary(make([]byte, 256<<10)); err != nil {
				break
			}
		}
		if !errors.Is(err, handler.ErrWriteQueueFull) {
			t.Fatalf("sends to a peer that does not read: %v, want ErrWriteQueueFull", err)
		}
		got := within(t, closed, 10*time.Second, "Closed")
		if got != [2]string{handler.CloseTryAgainLater.String(), "write queue overflow"} {
			t.Fatalf("closed with %v", got)
		}
	})
}

// TestTLSShutdown: Shutdown sends 1001 to TLS connections on both engines
// and waits for them.
func TestTLSShutdown(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		cert, pool := testutil.SelfSigned(t)
		s := &server.Server{Engine: e, NewHandler: handler.NewEcho, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
		addr, errc := serveOwn(t, s)
		c, _ := dialTLS(t, addr, pool)
		c.echoes("hi")
		shutdownAnswered(t, s, errc, c)
	})
}

// TestTLSResumption: session tickets are on by default, TLS 1.3 is
// negotiated, and a second connection resumes the session.
func TestTLSResumption(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		addr, pool := startTLS(t, e, &server.Server{})
		cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		for i, want := range []bool{false, true} {
			nc, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.WriteString(nc, upgradeRequest(addr, "/"))
			br := bufio.NewReader(nc)
			resp, err := http.ReadResponse(br, nil) // reads the tickets too
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("handshake %d: %v %v", i, resp, err)
			}
			c := &rawClient{t: t, nc: nc, br: br}
			c.echoes("hi")
			st := nc.ConnectionState()
			if st.Version != tls.VersionTLS13 || st.DidResume != want {
				t.Errorf("connection %d: version %x, resumed %v; want TLS 1.3, resumed %v", i, st.Version, st.DidResume, want)
			}
			c.closeNormally()
		}
	})
}

// acceptObserver is an acObserver that also says when a connection is
// accepted.
type acceptObserver struct {
	acObserver
	accepted chan struct{}
}

func (o *acceptObserver) Accepted() { o.accepted <- struct{}{} }

// A TLS handshake that Shutdown drops is the server's doing, not a client
// that closed: it is not counted as a TLS failure (a plain handshake
// dropped the same way is not counted either).
func TestTLSShutdownDropNotCounted(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		cert, _ := testutil.SelfSigned(t)
		o := &acceptObserver{accepted: make(chan struct{}, 1)}
		s := &server.Server{Engine: e, Observer: o, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
		addr, served := serveOwn(t, s)
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		within(t, o.accepted, 5*time.Second, "the connection accepted") // its handshake waits for a ClientHello
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		within(t, served, 5*time.Second, "Serve to return")
		for r := observe.Reason(0); r < observe.NumReasons; r++ {
			if n := o.rejected[r].Load(); n != 0 {
				t.Errorf("a handshake dropped by Shutdown counted %d times as %v", n, r)
			}
		}
	})
}

// TestTLSAddr: over TLS RemoteAddr and LocalAddr are right, in Opened's
// handler and after the close (on netpoll the engine keeps them: Go's
// net.Conn is closed once the connection is adopted).
func TestTLSAddr(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		h := &addrKeeper{closed: make(chan [2]string, 1)}
		addr, pool := startTLS(t, e, &server.Server{NewHandler: func() handler.Handler { return h }})
		c, hc := dialTLS(t, addr, pool)
		want := [2]string{hc.LocalAddr().String(), addr}
		c.echoes("x")
		c.closeNormally()
		if got := within(t, h.closed, 5*time.Second, "Closed"); got != want {
			t.Fatalf("in Closed: RemoteAddr, LocalAddr = %q, want %q", got, want)
		}
	})
}

// TestTLSPlainHTTP: a plain HTTPS request on the standalone TLS listener
// reaches Server.HTTP with its TLS state (r.TLS), as net/http gives it,
// although the connection was read ahead to tell it from an upgrade.
func TestTLSPlainHTTP(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		s := &server.Server{HTTP: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS == nil || !r.TLS.HandshakeComplete {
				http.Error(w, "no TLS state", http.StatusInternalServerError)
				return
			}
			_, _ = io.WriteString(w, tls.VersionName(r.TLS.Version))
		})}
		addr, pool := startTLS(t, e, s)
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
		defer c.CloseIdleConnections()
		for range 2 { // the first request, and one on the kept-alive connection
			resp, err := c.Get("https://" + addr + "/page")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "TLS 1.3" {
				t.Fatalf("%s %q, want 200 TLS 1.3", resp.Status, body)
			}
		}
	})
}

// TestTLSPlainHTTPLongResponse: the first plain HTTPS request on a
// connection of the standalone TLS listener may take longer to answer than
// HandshakeTimeout (a slow stream of events, a long download): the
// handshake's deadline bounds the handshake only, not the response.
func TestTLSPlainHTTPLongResponse(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		const parts = 3
		s := &server.Server{HandshakeTimeout: 500 * time.Millisecond, HTTP: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for i := range parts {
				if i > 0 {
					time.Sleep(400 * time.Millisecond) // the events' pace: not a synchronisation
				}
				fmt.Fprintf(w, "part %d\n", i)
				w.(http.Flusher).Flush()
			}
		})}
		addr, pool := startTLS(t, e, s)
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
		defer c.CloseIdleConnections()
		resp, err := c.Get("https://" + addr + "/events")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "part 0\npart 1\npart 2\n"; err != nil || string(body) != want {
			t.Fatalf("got %q, %v; want %q (HandshakeTimeout 0.5 s, the response 0.8 s)", body, err, want)
		}
	})
}

// BenchmarkEchoTLS measures echo round trips over TLS (one client, 64-byte
// messages) per engine.
func BenchmarkEchoTLS(b *testing.B) {
	for _, e := range engines {
		b.Run(string(e), func(b *testing.B) {
			cert, pool := testutil.SelfSigned(b)
			s := &server.Server{PingInterval: -1, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
			addr := start(b, e, s)
			c, _ := dialTLS(b, addr, pool)
			_ = c.nc.SetDeadline(time.Time{})
			benchEcho(b, c)
		})
	}
}
