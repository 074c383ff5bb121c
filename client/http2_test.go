package client_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
	_ "github.com/ws4go/ws4go/xconnect"
)

// h2Server is a minimal RFC 8441 echo server on net/http's HTTP/2 (not
// ws4go's): it answers an extended CONNECT with 200 and ext as
// Sec-WebSocket-Extensions, then echoes every data frame as it came
// (compressed ones too: with client_no_context_takeover each stands
// alone) and answers a close frame. conns counts its TCP connections.
type h2Server struct {
	url   string
	tls   *tls.Config
	conns atomic.Int32
	reqs  chan *http.Request // the first WebSocket requests accepted
}

func startH2Server(t *testing.T, ext string, refuse int) *h2Server {
	t.Helper()
	s := &h2Server{reqs: make(chan *http.Request, 16)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect || r.Header.Get(":protocol") != "websocket" || r.ProtoMajor != 2 ||
			r.Header.Get("Sec-WebSocket-Version") != "13" || r.Header.Get("Sec-WebSocket-Key") != "" {
			http.Error(w, "not an RFC 8441 WebSocket request", http.StatusBadRequest)
			return
		}
		if refuse != 0 {
			http.Error(w, "refused", refuse)
			return
		}
		select {
		case s.reqs <- r.Clone(context.Background()):
		default:
		}
		if ext != "" {
			w.Header().Set("Sec-WebSocket-Extensions", ext)
		}
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		for {
			f, err := ws.ReadFrame(r.Body)
			if err != nil {
				return
			}
			if !f.Header.Masked {
				return
			}
			ws.Cipher(f.Payload, f.Header.Mask, 0)
			f.Header.Masked = false
			switch f.Header.OpCode {
			case ws.OpPing:
				f.Header.OpCode = ws.OpPong
			case ws.OpClose:
				_ = ws.WriteFrame(w, ws.NewCloseFrame(f.Payload))
				http.NewResponseController(w).Flush()
				return
			}
			if err := ws.WriteFrame(w, f); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
		}
	}))
	srv.EnableHTTP2 = true
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	s.url = "wss://" + srv.Listener.Addr().String() + "/ws"
	s.tls = &tls.Config{RootCAs: pool}
	return s
}

// TestHTTP2SharedConnection opens three WebSockets with one HTTP2Pool:
// they run over HTTP/2 on one TCP connection and echo independently.
func TestHTTP2SharedConnection(t *testing.T) {
	s := startH2Server(t, "", 0)
	opts := &client.Options{TLSConfig: s.tls, HTTP2: new(client.HTTP2Pool), Compression: client.Compression{Disable: true}}
	var recs []*recorder
	var conns []*client.Conn
	for range 3 {
		r := newRecorder()
		c := dial(t, s.url, r, opts)
		if c.Proto() != "HTTP/2.0" {
			t.Fatalf("Proto %q, want HTTP/2.0", c.Proto())
		}
		recs, conns = append(recs, r), append(conns, c)
	}
	if n := s.conns.Load(); n != 1 {
		t.Fatalf("%d TCP connections, want 1", n)
	}
	if a, b := conns[0].LocalAddr().String(), conns[2].LocalAddr().String(); a != b {
		t.Fatalf("local addresses %s and %s differ", a, b)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for i, c := range conns {
		if err := c.SendText("hello"); err != nil {
			t.Fatal(err)
		}
		if err := c.SendBinary(big); err != nil {
			t.Fatal(err)
		}
		w, err := c.NewWriter(handler.Text)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte("frag"))
		_, _ = w.Write([]byte("mented"))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Ping([]byte("p")); err != nil {
			t.Fatal(err)
		}
		recs[i].expect(t, handler.Text, []byte("hello"))
		recs[i].expect(t, handler.Binary, big)
		recs[i].expect(t, handler.Text, []byte("fragmented"))
		recs[i].expectPong(t, "p")
	}
	for i, c := range conns {
		if err := c.Close(4000+handler.CloseCode(i), "bye"); err != nil {
			t.Fatal(err)
		}
		recs[i].expectClosed(t, 4000+handler.CloseCode(i), "bye")
	}
}

// TestHTTP2Compression: permessage-deflate is negotiated and checked over
// HTTP/2 as over HTTP/1.1.
func TestHTTP2Compression(t *testing.T) {
	s := startH2Server(t, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", 0)
	r := newRecorder()
	c := dial(t, s.url, r, &client.Options{TLSConfig: s.tls, HTTP2: new(client.HTTP2Pool),
		Compression: client.Compression{Threshold: 1}})
	if c.Extensions() == "" {
		t.Fatal("no extension negotiated")
	}
	msg := bytes.Repeat([]byte("compress me "), 1000)
	for range 3 {
		if err := c.SendText(string(msg)); err != nil {
			t.Fatal(err)
		}
		r.expect(t, handler.Text, msg)
	}
	_ = c.Close(handler.CloseNormal, "")
	r.expectClosed(t, handler.CloseNormal, "")
}

// TestHTTP2Refused: a non-2xx answer over HTTP/2 is a HandshakeError, and
// an extension that was not offered is refused as over HTTP/1.1.
func TestHTTP2Refused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s := startH2Server(t, "", http.StatusForbidden)
	_, err := client.Dial(ctx, s.url, newRecorder(), &client.Options{TLSConfig: s.tls, HTTP2: new(client.HTTP2Pool)})
	var he *client.HandshakeError
	if !errors.As(err, &he) || !errors.Is(err, client.ErrBadStatus) || he.StatusCode != http.StatusForbidden || string(he.Body) != "refused\n" {
		t.Fatalf("got %v, want a 403 HandshakeError", err)
	}
	s = startH2Server(t, "x-unknown", 0)
	_, err = client.Dial(ctx, s.url, newRecorder(), &client.Options{TLSConfig: s.tls, HTTP2: new(client.HTTP2Pool)})
	if !errors.Is(err, client.ErrBadExtension) {
		t.Fatalf("got %v, want ErrBadExtension", err)
	}
}

// TestHTTP2FallbackNoH2: against a TLS server that does not offer h2, Dial
// runs over HTTP/1.1.
func TestHTTP2FallbackNoH2(t *testing.T) {
	cert, pool := testutil.SelfSigned(t)
	addr := start(t, &server.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	r := newRecorder()
	c := dial(t, "wss://"+addr+"/ws", r, &client.Options{TLSConfig: &tls.Config{RootCAs: pool}, HTTP2: new(client.HTTP2Pool)})
	if c.Proto() != "HTTP/1.1" {
		t.Fatalf("Proto %q, want HTTP/1.1", c.Proto())
	}
	_ = c.SendText("over h1")
	r.expect(t, handler.Text, []byte("over h1"))
	_ = c.Close(handler.CloseNormal, "")
	r.expectClosed(t, handler.CloseNormal, "")
}

// TestHTTP2OurServer runs the client over HTTP/2 against ws4go's server:
// on the standalone TLS listener (ALPN h2) of each engine, and on the
// http.Handler path in net/http's HTTP/2 server.
func TestHTTP2OurServer(t *testing.T) {
	cert, pool := testutil.SelfSigned(t)
	srvTLS := func() *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	}
	for _, e := range []server.Engine{server.EngineGoroutine, server.EngineNetpoll} {
		t.Run(string(e), func(t *testing.T) {
			sh := &closerHandler{closed: make(chan closeEvent, 16)}
			s := &server.Server{Engine: e, Compression: true, TLSConfig: srvTLS(),
				NewHandler: func() handler.Handler { return sh }}
			http2Checks(t, "wss://"+start(t, s)+"/ws", pool)
		})
	}
	t.Run("http.Handler", func(t *testing.T) {
		sh := &closerHandler{closed: make(chan closeEvent, 16)}
		s := &server.Server{Compression: true, NewHandler: func() handler.Handler { return sh }}
		hs := httptest.NewUnstartedServer(s)
		hs.EnableHTTP2 = true
		hs.TLS = srvTLS()
		hs.StartTLS()
		t.Cleanup(hs.Close)
		http2Checks(t, "wss://"+hs.Listener.Addr().String()+"/ws", pool)
	})
}

// http2Checks runs echoChecks over HTTP/2, then opens four WebSockets
// that must share one TCP connection, negotiate permessage-deflate, and
// close as the server asks.
func http2Checks(t *testing.T, url string, pool *x509.CertPool) {
	opts := &client.Options{TLSConfig: &tls.Config{RootCAs: pool}, HTTP2: new(client.HTTP2Pool)}
	echoChecks(t, url, opts)
	var first string
	for i := range 4 {
		r := newRecorder()
		c := dial(t, url, r, opts)
		if c.Proto() != "HTTP/2.0" || c.Extensions() == "" {
			t.Fatalf("Proto %q, Extensions %q: want HTTP/2.0 and permessage-deflate", c.Proto(), c.Extensions())
		}
		if i == 0 {
			first = c.LocalAddr().String()
		} else if a := c.LocalAddr().String(); a != first {
			t.Fatalf("WebSocket %d runs on %s, the first on %s: not one TCP connection", i, a, first)
		}
		msg := strings.Repeat("squeeze ", 4096)
		_ = c.SendText(msg)
		r.expect(t, handler.Text, []byte(msg))
		_ = c.SendText("close-me 4002 going")
		r.expectClosed(t, 4002, "going")
	}
}

// TestHTTP2Shutdown: a server shutting down closes WebSockets over HTTP/2
// with 1001, on both engines.
func TestHTTP2Shutdown(t *testing.T) {
	cert, pool := testutil.SelfSigned(t)
	for _, e := range []server.Engine{server.EngineGoroutine, server.EngineNetpoll} {
		t.Run(string(e), func(t *testing.T) {
			s := &server.Server{Engine: e, NewHandler: handler.NewEcho,
				TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- s.Serve(l) }()
			opts := &client.Options{TLSConfig: &tls.Config{RootCAs: pool}, HTTP2: new(client.HTTP2Pool)}
			var recs []*recorder
			for range 3 {
				r := newRecorder()
				c := dial(t, "wss://"+l.Addr().String()+"/ws", r, opts)
				if c.Proto() != "HTTP/2.0" {
					t.Fatalf("Proto %q", c.Proto())
				}
				recs = append(recs, r)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if err := <-served; !errors.Is(err, server.ErrServerClosed) {
				t.Fatalf("Serve: %v", err)
			}
			for _, r := range recs {
				if ev := r.waitClosed(t); ev.code != handler.CloseGoingAway {
					t.Fatalf("Closed(%d, %q), want 1001", ev.code, ev.reason)
				}
			}
		})
	}
}

// TestHTTP2FallbackNoExtendedConnect: a server that speaks HTTP/2 without
// SETTINGS_ENABLE_CONNECT_PROTOCOL gets the WebSocket over HTTP/1.1 on a
// new TLS connection. The server is raw: over h2 it sends empty SETTINGS
// and reads frames; over HTTP/1.1 it echoes with gobwas/ws.
func TestHTTP2FallbackNoExtendedConnect(t *testing.T) {
	cert, pool := testutil.SelfSigned(t)
	var h2conns atomic.Int32
	addr := testutil.TCPServer(t, func(nc net.Conn, _ func(net.Conn)) {
		defer nc.Close()
		tc := tls.Server(nc, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
		if tc.Handshake() != nil {
			return
		}
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			h2conns.Add(1)
			preface := make([]byte, len(http2.ClientPreface))
			if _, err := io.ReadFull(tc, preface); err != nil || string(preface) != http2.ClientPreface {
				return
			}
			fr := http2.NewFramer(tc, tc)
			if fr.WriteSettings() != nil {
				return
			}
			for {
				f, err := fr.ReadFrame()
				if err != nil {
					return
				}
				if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
					_ = fr.WriteSettingsAck()
				}
			}
		}
		if _, err := ws.Upgrade(tc); err != nil {
			return
		}
		for {
			p, op, err := wsutil.ReadClientData(tc)
			if err != nil || wsutil.WriteServerMessage(tc, op, p) != nil {
				return
			}
		}
	})
	r := newRecorder()
	c := dial(t, "wss://"+addr+"/ws", r, &client.Options{TLSConfig: &tls.Config{RootCAs: pool}, HTTP2: new(client.HTTP2Pool)})
	if c.Proto() != "HTTP/1.1" || h2conns.Load() != 1 {
		t.Fatalf("Proto %q after %d HTTP/2 connections, want HTTP/1.1 after 1", c.Proto(), h2conns.Load())
	}
	_ = c.SendText("via h1")
	r.expect(t, handler.Text, []byte("via h1"))
}

// TestHTTP2WriteTimeout: a server that reads nothing stalls the stream's
// flow control; the write blocked on it ends after WriteTimeout, and the
// stream is reset.
func TestHTTP2WriteTimeout(t *testing.T) {
	released := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		select { // read nothing until the client gives up
		case <-r.Context().Done():
		case <-released:
		}
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(released) })
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	r := newRecorder()
	c := dial(t, "wss://"+srv.Listener.Addr().String()+"/ws", r, &client.Options{TLSConfig: &tls.Config{RootCAs: pool},
		HTTP2: new(client.HTTP2Pool), WriteTimeout: 300 * time.Millisecond, Compression: client.Compression{Disable: true}})
	start := time.Now()
	err := c.SendBinary(make([]byte, 8<<20)) // more than the server's windows
	if err == nil {
		t.Fatal("an 8 MiB message to a server reading nothing was sent")
	}
	if d := time.Since(start); d > waitTimeout {
		t.Fatalf("Send failed after %v", d)
	}
	if ev := r.waitClosed(t); ev.code != handler.CloseAbnormal {
		t.Fatalf("Closed(%d, %q), want 1006", ev.code, ev.reason)
	}
}

// openedTo is a handler that sends every connection it opens to ch.
type openedTo struct {
	handler.Base
	ch chan handler.Conn
}

func (o openedTo) Opened(c handler.Conn) { o.ch <- c }

// TestHTTP2Redial: Redial with Options.HTTP2 redials over HTTP/2, on the
// pool's connection.
func TestHTTP2Redial(t *testing.T) {
	cert, pool := testutil.SelfSigned(t)
	sh := &closerHandler{closed: make(chan closeEvent, 4)}
	addr := start(t, &server.Server{NewHandler: func() handler.Handler { return sh },
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}})
	opened := make(chan handler.Conn, 4)
	rd := client.Redial(context.Background(), "wss://"+addr+"/ws", func() handler.Handler { return openedTo{ch: opened} },
		&client.Options{TLSConfig: &tls.Config{RootCAs: pool}, HTTP2: new(client.HTTP2Pool)},
		&client.Backoff{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond})
	defer func() {
		rd.Stop()
		<-rd.Done()
	}()
	next := func() *client.Conn {
		t.Helper()
		select {
		case c := <-opened:
			if c.(*client.Conn).Proto() != "HTTP/2.0" {
				t.Fatalf("Proto %q", c.(*client.Conn).Proto())
			}
			return c.(*client.Conn)
		case <-time.After(waitTimeout):
			t.Fatal("no connection")
		}
		return nil
	}
	c1 := next()
	_ = c1.SendText("close-me 4002 again")
	c2 := next()
	if c1.LocalAddr().String() != c2.LocalAddr().String() {
		t.Fatalf("redialled on %s, first on %s: not the pool's connection", c2.LocalAddr(), c1.LocalAddr())
	}
}

// TestHTTP2Proxy: the pool's connection goes through the HTTP CONNECT
// proxy, and two WebSockets share its one tunnel.
func TestHTTP2Proxy(t *testing.T) {
	cert, pool := testutil.SelfSigned(t)
	addr := start(t, &server.Server{NewHandler: handler.NewEcho,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}})
	paddr, tunnels := connectProxy(t, false)
	purl, _ := url.Parse("http://" + paddr)
	opts := &client.Options{Proxy: http.ProxyURL(purl), TLSConfig: &tls.Config{RootCAs: pool}, HTTP2: new(client.HTTP2Pool)}
	for range 2 {
		r := newRecorder()
		c := dial(t, "wss://"+addr+"/ws", r, opts)
		if c.Proto() != "HTTP/2.0" {
			t.Fatalf("Proto %q", c.Proto())
		}
		_ = c.SendText("tunnelled")
		r.expect(t, handler.Text, []byte("tunnelled"))
	}
	if n := tunnels.Load(); n != 1 {
		t.Fatalf("%d tunnels through the proxy, want 1", n)
	}
}

// TestHTTP2Request: the extended CONNECT carries the Host override as
// :authority, Options.Header, the subprotocols and the extension offer,
// and the connection still goes to the URL's address.
func TestHTTP2Request(t *testing.T) {
	s := startH2Server(t, "", 0)
	c := dial(t, s.url+"?room=a", newRecorder(), &client.Options{TLSConfig: s.tls, HTTP2: new(client.HTTP2Pool),
		Header:       http.Header{"Host": {"chat.example"}, "Origin": {"https://chat.example"}},
		Subprotocols: []string{"chat.v2", "chat.v1"}})
	r := <-s.reqs
	if r.Host != "chat.example" || r.URL.RequestURI() != "/ws?room=a" || r.Header.Get("Origin") != "https://chat.example" ||
		r.Header.Get("Sec-WebSocket-Protocol") != "chat.v2, chat.v1" || r.Header.Get("Sec-WebSocket-Extensions") == "" {
		t.Fatalf("the server got Host %q, %q, header %v", r.Host, r.URL.RequestURI(), r.Header)
	}
	if c.Request().Proto != "HTTP/2.0" || c.Request().Method != http.MethodConnect || c.Subprotocol() != "" {
		t.Fatalf("Request %s %s, subprotocol %q", c.Request().Method, c.Request().Proto, c.Subprotocol())
	}
}

// TestHTTP2PoolKeyedByTLSConfig: Dials that share a pool share a TCP
// connection only if they share the TLS configuration and the proxy. A
// Dial with strict certificate checks never runs on a connection another
// Dial opened with InsecureSkipVerify: it makes its own, and fails on the
// certificate its configuration does not trust.
func TestHTTP2PoolKeyedByTLSConfig(t *testing.T) {
	s := startH2Server(t, "", 0)
	pool := new(client.HTTP2Pool)
	insecure := &client.Options{HTTP2: pool, TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	dial(t, s.url, newRecorder(), insecure)
	dial(t, s.url, newRecorder(), insecure)
	if n := s.conns.Load(); n != 1 {
		t.Fatalf("two Dials with one TLSConfig: %d TCP connections, want 1", n)
	}
	// The system roots do not trust the test certificate.
	strict := &client.Options{HTTP2: pool}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err := client.Dial(ctx, s.url, newRecorder(), strict)
	var uerr x509.UnknownAuthorityError
	if !errors.As(err, &uerr) {
		t.Fatalf("a strict Dial after an insecure one on the same pool: %v, want the certificate refused", err)
	}
	// Another configuration that trusts the certificate: a connection
	// of its own, then shared by the Dials that use it.
	trusting := &client.Options{HTTP2: pool, TLSConfig: s.tls}
	dial(t, s.url, newRecorder(), trusting)
	dial(t, s.url, newRecorder(), trusting)
	if n := s.conns.Load(); n != 3 { // the strict Dial's counted too
		t.Fatalf("%d TCP connections, want 3 (insecure, strict refused, trusting)", n)
	}
	// A proxy is part of the key too.
	paddr, tunnels := connectProxy(t, false)
	purl, _ := url.Parse("http://" + paddr)
	proxied := &client.Options{HTTP2: pool, TLSConfig: s.tls, Proxy: http.ProxyURL(purl)}
	dial(t, s.url, newRecorder(), proxied)
	dial(t, s.url, newRecorder(), proxied)
	if n, tn := s.conns.Load(), tunnels.Load(); n != 4 || tn != 1 {
		t.Fatalf("through a proxy: %d TCP connections, %d tunnels; want 4 and 1", n, tn)
	}
}

// TestHTTP2Idle: a WebSocket over HTTP/2 that is idle for longer than
// WriteTimeout after a send, or that only receives (and answers the
// server's heartbeat pings, sent less often than WriteTimeout), stays
// open: no write deadline is left set on its stream (a passed one resets
// the stream, whether or not anything is being written).
func TestHTTP2Idle(t *testing.T) {
	const wt = 200 * time.Millisecond
	cert, pool := testutil.SelfSigned(t)
	s := &server.Server{PingInterval: 2 * wt,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}}
	url := "wss://" + start(t, s) + "/ws"
	opts := &client.Options{TLSConfig: &tls.Config{RootCAs: pool}, HTTP2: new(client.HTTP2Pool), WriteTimeout: wt}
	sender, receiver := newRecorder(), newRecorder()
	c := dial(t, url, sender, opts)
	dial(t, url, receiver, opts)
	if c.Proto() != "HTTP/2.0" {
		t.Fatalf("Proto %q, want HTTP/2.0", c.Proto())
	}
	_ = c.SendText("one")
	sender.expect(t, handler.Text, []byte("one"))
	time.Sleep(6 * wt) // idle past WriteTimeout: not a synchronisation
	_ = c.SendText("two")
	sender.expect(t, handler.Text, []byte("two"))
	s.Broadcast(handler.Text, []byte("to all"))
	for _, r := range []*recorder{sender, receiver} {
		r.expect(t, handler.Text, []byte("to all"))
	}
}

// stalledH2Server is an HTTP/2 server (raw frames) for one WebSocket: it
// accepts the extended CONNECT on stream 1 with windows as large as
// allowed, then reads nothing more from the TCP connection (its receive
// buffer small), so the client's writes soon wait for the socket, holding
// the connection's write lock. What comes on data is sent as DATA frames
// on stream 1.
func stalledH2Server(t *testing.T) (url string, cfg *tls.Config, data chan<- []byte) {
	t.Helper()
	cert, pool := testutil.SelfSigned(t)
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
	}}
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan []byte)
	done := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		tc := tls.Server(nc, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
		if _, err := io.ReadFull(tc, make([]byte, len(http2.ClientPreface))); err != nil {
			return
		}
		fr := http2.NewFramer(tc, tc)
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
		_ = fr.WriteWindowUpdate(0, 1<<31-1-65535)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
				_ = fr.WriteSettingsAck()
			}
			if hf, ok := f.(*http2.HeadersFrame); ok && hf.StreamID == 1 {
				break
			}
		}
		var hb bytes.Buffer
		_ = hpack.NewEncoder(&hb).WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
		for {
			select {
			case p := <-ch:
				if err := fr.WriteData(1, false, p); err != nil {
					t.Logf("server: %v", err)
				}
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		l.Close()
		<-done
	})
	return "wss://" + l.Addr().String() + "/ws", &tls.Config{RootCAs: pool}, ch
}

// TestHTTP2TerminateNotHeld: Terminate drops a WebSocket over HTTP/2 at
// once, also when its TCP connection's writes wait for a server that reads
// nothing (x/net holds its write lock meanwhile, for up to its write
// timeout) and the stream holds input not read yet. The table's sweeper
// terminates client connections (CloseTimeout, PongTimeout, WriteTimeout):
// it must not wait there while the other connections' timers wait for it.
func TestHTTP2TerminateNotHeld(t *testing.T) {
	url, cfg, data := stalledH2Server(t)
	r := newRecorder()
	c := dial(t, url, r, &client.Options{TLSConfig: cfg, HTTP2: new(client.HTTP2Pool), WriteTimeout: time.Minute,
		PingInterval: -1, Compression: client.Compression{Disable: true}})
	sent := make(chan error, 1)
	go func() { sent <- c.SendBinary(make([]byte, 16<<20-1)) }()
	waitForStack(t, "[IO wait", "http2.stickyErrWriter.Write")
	// Input, more than a read takes: the reading goroutine takes 4 KiB
	// of it, then waits for x/net's write lock to give the window back.
	data <- append([]byte{0x82, 1, 'a', 0x82, 126, 0x20, 0}, make([]byte, 8<<10)...)
	waitForStack(t, "sync.(*Mutex).Lock", "http2.transportResponseBody.Read")
	begin := time.Now()
	c.Terminate()
	if d := time.Since(begin); d > time.Second {
		t.Errorf("Terminate took %v", d.Round(time.Millisecond))
	}
	<-sent
}

// waitForStack waits, at most 10 s, until a goroutine of this process has
// both a and b in its stack.
func waitForStack(t *testing.T, a, b string) {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1<<20)
	for time.Now().Before(end) {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, a) && strings.Contains(g, b) {
				return
			}
		}
		runtime.Gosched()
	}
	t.Fatalf("no goroutine in %s and %s", a, b)
}
