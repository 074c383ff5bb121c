package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/internal/tlsattack"
	"github.com/ws4go/ws4go/server"
)

// keyUpdater is a TLS 1.3 client that stops reading and repeats
// "KeyUpdate(update_requested) + one byte of payload" (tlsattack's Flood):
// crypto/tls answers each KeyUpdate from inside the server's
// tls.Conn.Read, so once the socket is full the reading goroutine blocks in
// that write, holding crypto/tls's write lock.
type keyUpdater struct {
	t       *testing.T
	c       *tlsattack.Conn
	payload func() byte // the application data: a request's, a frame's
}

// endless is a payload of 'x' bytes.
func endless() byte { return 'x' }

// dialKeyUpdater opens a TLS 1.3 connection to addr offering alpn.
func dialKeyUpdater(t *testing.T, addr string, pool *x509.CertPool, alpn string) *keyUpdater {
	t.Helper()
	c, err := tlsattack.Dial(addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{alpn}}, 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &keyUpdater{t: t, c: c}
}

// roundTrip sends an HTTP/1.1 request and reads its response's head.
func (k *keyUpdater) roundTrip(req string, br *bufio.Reader) *http.Response {
	k.t.Helper()
	if _, err := io.WriteString(k.c, req); err != nil {
		k.t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		k.t.Fatal(err)
	}
	return resp
}

// take hands the connection to the attack.
func (k *keyUpdater) take() {
	k.t.Helper()
	if err := k.c.Take(); err != nil {
		k.t.Fatal(err)
	}
}

// keyUpdateWS opens a WebSocket at addr+path for the attack (after the
// plain GETs of before, on the same connection) and sends the header of an
// 8 MiB binary frame, whose payload then comes a byte per KeyUpdate.
func keyUpdateWS(t *testing.T, addr, path string, pool *x509.CertPool, before ...string) *keyUpdater {
	t.Helper()
	k := dialKeyUpdater(t, addr, pool, "http/1.1")
	br := bufio.NewReader(k.c.Conn)
	for _, p := range before {
		resp := k.roundTrip("GET "+p+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\n", br)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if resp := k.roundTrip(upgradeRequest(addr, path), br); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	k.take()
	hdr := frame(false, 0, ws.OpBinary, nil)[:2]
	hdr[1] |= 127
	var n [8]byte
	n[5] = 0x80 // 8 MiB: the payload never ends during the test
	hdr = append(append(hdr, n[:]...), 1, 2, 3, 4)
	if _, err := k.c.Write(k.c.AppendData(nil, hdr)); err != nil {
		t.Fatal(err)
	}
	k.payload = endless
	return k
}

// keyUpdateHTTP starts an 8 MiB upload to Server.HTTP (which reads it) on
// an HTTP/1.1 connection; its body then comes a byte per KeyUpdate.
func keyUpdateHTTP(t *testing.T, addr string, pool *x509.CertPool) *keyUpdater {
	t.Helper()
	k := dialKeyUpdater(t, addr, pool, "http/1.1")
	if _, err := io.WriteString(k.c, "POST /upload HTTP/1.1\r\nHost: "+addr+"\r\nContent-Length: 8388608\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	k.take()
	k.payload = endless
	return k
}

// keyUpdateH2 starts an upload to Server.HTTP on an HTTP/2 connection; its
// DATA frames then come a byte per KeyUpdate.
func keyUpdateH2(t *testing.T, addr string, pool *x509.CertPool) *keyUpdater {
	t.Helper()
	k := dialKeyUpdater(t, addr, pool, "h2")
	if p := k.c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	var b, hb bytes.Buffer
	b.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&b, nil)
	he := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "https"}, {":authority", addr}, {":path", "/upload"}} {
		_ = he.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	_ = fr.WriteSettings()
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	if _, err := k.c.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	k.take()
	// DATA frames of 16 KiB on stream 1, one after the other.
	data := []byte{0, 0x40, 0, 0, 0, 0, 0, 0, 1}
	i := 0
	k.payload = func() byte {
		j := i % (len(data) + 16<<10)
		i++
		if j < len(data) {
			return data[j]
		}
		return 'x'
	}
	return k
}

// stall floods the server with KeyUpdates until blocked reports true, and
// returns nil; or the error of a write (the server dropped the
// connection). It fails the test after 30 s.
func (k *keyUpdater) stall(blocked func(stalled bool) bool) error {
	k.t.Helper()
	begin := time.Now()
	n, err := k.c.Flood(k.payload, blocked, 30*time.Second)
	if err == nil {
		k.t.Logf("blocked after %d KeyUpdates in %v", n, time.Since(begin).Round(time.Millisecond))
	}
	return err
}

// mustStall is stall, failing the test if the server drops the connection.
func (k *keyUpdater) mustStall(blocked func(stalled bool) bool) {
	k.t.Helper()
	if err := k.stall(blocked); err != nil {
		k.t.Fatal(err)
	}
}

// readerInKeyUpdate is how a test knows the server's reading goroutine is
// stuck in crypto/tls's answer to a KeyUpdate: the client's writes stall
// and a goroutine of this process (the server's) keeps waiting there.
func readerInKeyUpdate() func(bool) bool { return tlsattack.Stalled(tlsattack.StuckInKeyUpdate) }

// serverStopsReading is the blocked test of an engine that reads no more
// once its answers wait for the socket (netpoll): the client's writes
// stall.
func serverStopsReading() func(bool) bool {
	return tlsattack.Stalled(func() bool { return true })
}

// blockedOn is how a test knows the attack has taken hold on engine e.
func blockedOn(e server.Engine) func(bool) bool {
	if e == server.EngineNetpoll {
		return serverStopsReading()
	}
	return readerInKeyUpdate()
}

// closeWithin runs s.Close and fails the test unless it returns within d.
func closeWithin(t *testing.T, s *server.Server, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		s.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Errorf("Close still blocked after %v", d)
	}
}

// keyUpdatePath is a way a WebSocket over TLS reaches a server.
type keyUpdatePath struct {
	name string
	// serve serves s over TLS and returns its address, the pool
	// trusting its certificate and Serve's error (nil: not Serve).
	serve func(t *testing.T, s *server.Server) (string, *x509.CertPool, <-chan error)
	// dial opens the attacked WebSocket.
	dial func(t *testing.T, addr string, pool *x509.CertPool) *keyUpdater
}

// keyUpdatePaths are the paths a TLS WebSocket takes to a blocking
// transport: the goroutine engine's own TLS listener (the netpoll engine
// runs its TLS itself), an upgrade that comes after a plain request on the
// same connection (the fallback server hijacks it; on both engines), and
// the http.Handler path behind net/http's TLS server (both engines: the
// netpoll engine cannot adopt a *tls.Conn).
var keyUpdatePaths = []keyUpdatePath{
	{"listener", serveKeyUpdateTLS, func(t *testing.T, addr string, pool *x509.CertPool) *keyUpdater {
		return keyUpdateWS(t, addr, "/", pool)
	}},
	{"keep-alive", serveKeyUpdateTLS, func(t *testing.T, addr string, pool *x509.CertPool) *keyUpdater {
		return keyUpdateWS(t, addr, "/", pool, "/page")
	}},
	{"http.Handler", serveKeyUpdateHandler, func(t *testing.T, addr string, pool *x509.CertPool) *keyUpdater {
		return keyUpdateWS(t, addr, "/ws", pool)
	}},
}

// smallSendListener listens on 127.0.0.1 with a small send buffer, which
// the connections it accepts inherit (on Linux): the attack fills it with
// few KeyUpdates (the kernel would grow one to 4 MiB).
func smallSendListener(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if rc, err := l.(*net.TCPListener).SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 16<<10)
		})
	}
	return l
}

// serveSmall serves s on a smallSendListener; Serve's error comes on the
// channel.
func serveSmall(t *testing.T, s *server.Server) (string, <-chan error) {
	t.Helper()
	l := smallSendListener(t)
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	return l.Addr().String(), errc
}

// serveKeyUpdateTLS serves s on its own listener with Server.TLSConfig
// (HTTP/1.1 only) and a plain page on s.HTTP.
func serveKeyUpdateTLS(t *testing.T, s *server.Server) (string, *x509.CertPool, <-chan error) {
	cert, pool := testutil.SelfSigned(t)
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.HTTP = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "page") })
	addr, errc := serveSmall(t, s)
	return addr, pool, errc
}

// serveKeyUpdateHandler serves s.HTTPHandler at /ws behind net/http's TLS
// server (HTTP/1.1 only).
func serveKeyUpdateHandler(t *testing.T, s *server.Server) (string, *x509.CertPool, <-chan error) {
	cert, pool := testutil.SelfSigned(t)
	mux := http.NewServeMux()
	mux.Handle("/ws", s.HTTPHandler(s.NewHandler))
	hs := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}}
	l := smallSendListener(t)
	go func() { _ = hs.ServeTLS(l, "", "") }()
	t.Cleanup(func() { hs.Close() })
	return l.Addr().String(), pool, nil
}

// forKeyUpdatePath runs f for each path on each engine.
func forKeyUpdatePath(t *testing.T, f func(t *testing.T, e server.Engine, p keyUpdatePath)) {
	for _, p := range keyUpdatePaths {
		t.Run(p.name, func(t *testing.T) {
			forEngine(t, func(t *testing.T, e server.Engine) { f(t, e, p) })
		})
	}
}

// blockedOnPath is how a test knows the attack on path p has taken hold:
// the netpoll engine's own TLS holds its input instead of blocking.
func blockedOnPath(e server.Engine, p keyUpdatePath) func(bool) bool {
	if p.name == "listener" {
		return blockedOn(e)
	}
	return readerInKeyUpdate()
}

// attacked is a server under the KeyUpdate attack on one path: closed
// gets how its connection ended, errc Serve's error (nil: not Serve).
type attacked struct {
	s      *server.Server
	k      *keyUpdater
	closed chan [2]string
	errc   <-chan error
}

// attack serves a server with WriteTimeout wt (and no heartbeat, which
// would bound the stuck answer on its own) on path p with engine e, and
// opens the attacked WebSocket.
func attack(t *testing.T, e server.Engine, p keyUpdatePath, wt time.Duration) *attacked {
	t.Helper()
	a := &attacked{closed: make(chan [2]string, 1)}
	a.s = &server.Server{
		Engine: e, WriteTimeout: wt, PingInterval: -1,
		NewHandler: func() handler.Handler { return &recorder{closed: a.closed} },
	}
	var addr string
	var pool *x509.CertPool
	addr, pool, a.errc = p.serve(t, a.s)
	a.k = p.dial(t, addr, pool)
	return a
}

// TestTLSKeyUpdateClose: a TLS 1.3 client blocks the server's reading
// goroutine in crypto/tls's answer to its KeyUpdates, on every path that
// ends on a blocking transport; Close returns at once, well before
// WriteTimeout, and the connection is closed.
func TestTLSKeyUpdateClose(t *testing.T) {
	forKeyUpdatePath(t, func(t *testing.T, e server.Engine, p keyUpdatePath) {
		a := attack(t, e, p, time.Minute)
		a.k.mustStall(blockedOnPath(e, p))
		closeWithin(t, a.s, 5*time.Second)
		within(t, a.closed, 5*time.Second, "Closed")
		if a.errc != nil {
			if err := <-a.errc; !errors.Is(err, server.ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
		}
	})
}

// TestTLSKeyUpdateShutdown: the same attack, and Shutdown, whose context
// ends first, returns within its deadline, the connection dropped.
func TestTLSKeyUpdateShutdown(t *testing.T) {
	forKeyUpdatePath(t, func(t *testing.T, e server.Engine, p keyUpdatePath) {
		a := attack(t, e, p, time.Minute)
		a.k.mustStall(blockedOnPath(e, p))
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- a.s.Shutdown(ctx) }()
		if err := within(t, done, 5*time.Second, "Shutdown"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want its deadline", err)
		}
		within(t, a.closed, 5*time.Second, "Closed")
	})
}

// TestTLSKeyUpdateBounded: without Close, crypto/tls's blocked answer
// fails within twice WriteTimeout (here 1 s), and the connection is dropped
// as after any write that timed out.
func TestTLSKeyUpdateBounded(t *testing.T) {
	forKeyUpdatePath(t, func(t *testing.T, e server.Engine, p keyUpdatePath) {
		if e == server.EngineNetpoll && p.name == "listener" {
			t.Skip("the netpoll engine's own TLS holds the input of a peer that does not read")
		}
		a := attack(t, e, p, time.Second)
		t.Cleanup(func() { a.s.Close() })
		// The server may drop the connection before the client sees
		// that it stopped reading.
		if err := a.k.stall(blockedOnPath(e, p)); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatal(err)
		}
		if got := within(t, a.closed, 5*time.Second, "Closed"); got != [2]string{handler.CloseAbnormal.String(), "write timeout"} {
			t.Errorf("closed with %v, want 1006 write timeout", got)
		}
	})
}

// TestTLSKeyUpdateFallbackClose: the same attack on connections the
// fallback server holds (a plain HTTP/1.1 keep-alive, an HTTP/2
// connection): Close still returns at once.
func TestTLSKeyUpdateFallbackClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		dial func(t *testing.T, addr string, pool *x509.CertPool) *keyUpdater
	}{{"http1", keyUpdateHTTP}, {"h2", keyUpdateH2}} {
		t.Run(tc.name, func(t *testing.T) {
			forEngine(t, func(t *testing.T, e server.Engine) {
				cert, pool := testutil.SelfSigned(t)
				s := &server.Server{
					Engine: e, WriteTimeout: time.Minute, NewHandler: handler.NewEcho,
					TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
					HTTP: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
						_, _ = io.Copy(io.Discard, r.Body)
					}),
				}
				addr, errc := serveSmall(t, s)
				k := tc.dial(t, addr, pool)
				k.mustStall(readerInKeyUpdate())
				closeWithin(t, s, 5*time.Second)
				if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
					t.Errorf("Serve: %v", err)
				}
			})
		})
	}
}

// keyUpdateH2WS opens a WebSocket on stream 1 of an HTTP/2 connection and
// starts an 8 MiB binary frame on it; the frame's payload then comes, in
// DATA frames of 16 KiB, a byte per KeyUpdate. opened gets the server's
// connection once it is open.
func keyUpdateH2WS(t *testing.T, addr string, pool *x509.CertPool, opened <-chan handler.Conn) *keyUpdater {
	t.Helper()
	k := dialKeyUpdater(t, addr, pool, "h2")
	if p := k.c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	var b, hb bytes.Buffer
	b.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&b, nil)
	he := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "https"},
		{":authority", addr}, {":path", "/"}, {"sec-websocket-version", "13"}} {
		_ = he.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	_ = fr.WriteSettings()
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	if _, err := k.c.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	within(t, opened, 5*time.Second, "Opened")
	k.take()
	// The header of a masked 8 MiB binary frame, then its payload.
	ws := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x80, 0, 0, 1, 2, 3, 4}
	i := 0
	k.payload = func() byte {
		j := i % (9 + 16<<10)
		i++
		switch {
		case j < 9:
			return []byte{0, 0x40, 0, 0, 0, 0, 0, 0, 1}[j] // DATA, 16 KiB, stream 1
		case i <= 9+len(ws):
			return ws[j-9]
		}
		return 'x'
	}
	return k
}

// TestTLSKeyUpdateH2Shutdown: the KeyUpdate attack on an HTTP/2 connection
// that carries a WebSocket stream: net/http's own reading goroutine is
// stuck in crypto/tls's answer, holding its write lock, so nothing more
// is written on the connection. Shutdown without a deadline still ends
// within about WriteTimeout+CloseTimeout (here 1 s): its 1001 cannot be
// written, and the stream is dropped.
func TestTLSKeyUpdateH2Shutdown(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		cert, pool := testutil.SelfSigned(t)
		opened := make(chan handler.Conn, 1)
		s := &server.Server{
			Engine: e, WriteTimeout: 500 * time.Millisecond, CloseTimeout: 500 * time.Millisecond, PingInterval: -1,
			NewHandler: func() handler.Handler { return openedNotifier{ch: opened} },
			TLSConfig:  &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		}
		addr, errc := serveSmall(t, s)
		k := keyUpdateH2WS(t, addr, pool, opened)
		k.mustStall(readerInKeyUpdate())
		done := make(chan error, 1)
		t0 := time.Now()
		go func() { done <- s.Shutdown(context.Background()) }()
		select {
		case err := <-done:
			t.Logf("Shutdown: %v after %v", err, time.Since(t0).Round(time.Millisecond))
		case <-time.After(10 * time.Second):
			t.Fatalf("Shutdown still blocked after 10 s (WriteTimeout and CloseTimeout 0.5 s)")
		}
		if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
}

// TestTLSKeyUpdateFallbackBounded: the KeyUpdate attack on a plain HTTPS
// request the fallback server reads (an upload to Server.HTTP), which
// net/http reads with no write deadline: its reading goroutine, stuck in
// crypto/tls's answer, is freed within about WriteTimeout (here 1 s), as a
// WebSocket's is, and the request ends. (It was held for as long as the
// peer liked.)
func TestTLSKeyUpdateFallbackBounded(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		cert, pool := testutil.SelfSigned(t)
		ended := make(chan error, 1)
		s := &server.Server{
			Engine: e, WriteTimeout: time.Second, NewHandler: handler.NewEcho,
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}},
			HTTP: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				_, err := io.Copy(io.Discard, r.Body)
				ended <- err
			}),
		}
		addr, _ := serveSmall(t, s)
		t.Cleanup(func() { s.Close() })
		k := keyUpdateHTTP(t, addr, pool)
		k.mustStall(readerInKeyUpdate())
		t0 := time.Now()
		err := within(t, ended, 5*time.Second, "the upload's end")
		t.Logf("the upload ended after %v: %v", time.Since(t0).Round(time.Millisecond), err)
	})
}
