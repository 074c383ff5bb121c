package server_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/goleak"
	"golang.org/x/net/http2"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/observe"
	"github.com/ws4go/ws4go/server"
	_ "github.com/ws4go/ws4go/xconnect" // extended CONNECT in net/http and x/net/http2
)

// startH2 serves s over TLS offering h2 and http/1.1 by ALPN.
func startH2(t *testing.T, e server.Engine, s *server.Server) (string, *x509.CertPool) {
	t.Helper()
	cert, pool := testutil.SelfSigned(t)
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	return start(t, e, s), pool
}

// openH2 opens a WebSocket stream at path on c and checks the 200.
func openH2(t *testing.T, c *testutil.H2Conn, path string, h http.Header) (*http.Response, *rawClient) {
	t.Helper()
	resp, st := c.Open(path, h)
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("extended CONNECT: %s %q", resp.Status, body)
	}
	if a := resp.Header.Get("Sec-WebSocket-Accept"); a != "" {
		t.Fatalf("Sec-WebSocket-Accept %q over HTTP/2 (RFC 8441 section 5 has none)", a)
	}
	return resp, &rawClient{t: t, nc: st, br: bufio.NewReader(st)}
}

// protoRecorder records the HTTP version each connection's request has (-1:
// its Body is the stream's, which the connection alone may read).
type protoRecorder struct {
	handler.Echo
	majors chan int
}

func (p protoRecorder) Opened(c handler.Conn) {
	switch r := c.Request(); {
	case r == nil:
		p.majors <- 0
	case r.Body != http.NoBody:
		p.majors <- -1
	default:
		p.majors <- r.ProtoMajor
	}
}

// closer closes with the code a text message names ("close 4001").
type closer struct{ handler.Echo }

func (closer) ReceivedMessage(c handler.Conn, m handler.Message) {
	var code int
	if _, err := fmt.Sscanf(string(m.Data), "close %d", &code); err == nil {
		_ = c.Close(handler.CloseCode(code), "asked")
		return
	}
	_ = c.Send(m.Type, m.Data)
}

// TestH2Echo: on the standalone TLS listener offering h2, both engines run
// WebSockets over HTTP/2 streams (the request says HTTP/2): text, binary,
// 1 MiB, fragmented and pipelined messages echo, and the closing handshake
// ends the stream cleanly with the code, started by either side.
func TestH2Echo(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		majors := make(chan int, 10)
		s := &server.Server{Routes: map[string]handler.Factory{
			"/echo":  func() handler.Handler { return protoRecorder{majors: majors} },
			"/close": func() handler.Handler { return closer{} },
		}}
		addr, pool := startH2(t, e, s)
		hc := testutil.DialH2(t, addr, pool)
		_, c := openH2(t, hc, "/echo", nil)
		if m := <-majors; m != 2 {
			t.Fatalf("Request().ProtoMajor = %d, want 2", m)
		}
		c.echoes("hello")
		c.send(ws.OpBinary, []byte{0, 1, 2, 255})
		c.expect(ws.OpBinary, []byte{0, 1, 2, 255})
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		c.send(ws.OpBinary, big)
		c.expect(ws.OpBinary, big)
		c.write(false, 0, ws.OpText, []byte("frag"))
		c.send(ws.OpPing, []byte("p"))
		c.expect(ws.OpPong, []byte("p"))
		c.write(true, 0, ws.OpContinuation, []byte("mented"))
		c.expect(ws.OpText, []byte("fragmented"))
		var all []byte
		for i := range 100 {
			all = append(all, frame(true, 0, ws.OpText, []byte(fmt.Sprint("m", i)))...)
		}
		c.writeRaw(all)
		for i := range 100 {
			c.expect(ws.OpText, []byte(fmt.Sprint("m", i)))
		}
		c.send(ws.OpClose, closePayload(4000, "client"))
		c.expectClose(4000)

		_, c = openH2(t, hc, "/close", nil)
		c.send(ws.OpText, []byte("close 4001"))
		h, p, err := c.read()
		if err != nil || h.OpCode != ws.OpClose || !bytes.Equal(p, closePayload(4001, "asked")) {
			t.Fatalf("got %v %q %v, want close 4001", h.OpCode, p, err)
		}
		c.send(ws.OpClose, closePayload(4001, ""))
		c.expectEOF()
	})
}

// TestH2Handshake: an extended CONNECT gets the HTTP/1.1 handshake's
// checks: the subprotocol and permessage-deflate are negotiated (and a
// compressed message inflates), a foreign Origin gets 403, a version other
// than 13 gets 426 with Sec-WebSocket-Version, a :protocol other than
// websocket and a plain GET at a WebSocket path get 400, an unknown path
// 404; each refusal costs only its stream.
func TestH2Handshake(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		s := &server.Server{
			Routes:       map[string]handler.Factory{"/ws": handler.NewEcho},
			Subprotocols: []string{"chat.v2", "chat.v1"},
			Compression:  true,
		}
		addr, pool := startH2(t, e, s)
		hc := testutil.DialH2(t, addr, pool)
		resp, c := openH2(t, hc, "/ws", http.Header{
			"Sec-Websocket-Protocol":   {"chat.v1, chat.v2"},
			"Sec-Websocket-Extensions": {"permessage-deflate; client_max_window_bits"},
			"Origin":                   {"https://" + addr},
		})
		if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "chat.v2" {
			t.Errorf("subprotocol %q, want chat.v2", p)
		}
		if x := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(x, "permessage-deflate") {
			t.Errorf("extensions %q, want permessage-deflate", x)
		}
		var z bytes.Buffer
		w, _ := flate.NewWriter(&z, flate.BestSpeed)
		_, _ = w.Write([]byte("squeezed"))
		_ = w.Flush()
		c.write(true, 4, ws.OpText, bytes.TrimSuffix(z.Bytes(), []byte{0, 0, 0xff, 0xff}))
		c.expect(ws.OpText, []byte("squeezed")) // short: sent uncompressed

		refused := func(path string, h http.Header, status int) *http.Response {
			t.Helper()
			resp, _ := hc.Open(path, h)
			if resp.StatusCode != status {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("%s %v: %s %q, want %d", path, h, resp.Status, body, status)
			}
			return resp
		}
		refused("/ws", http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden)
		resp = refused("/ws", http.Header{"Sec-Websocket-Version": {"8"}}, http.StatusUpgradeRequired)
		if v := resp.Header.Get("Sec-WebSocket-Version"); v != "13" {
			t.Errorf("426 says Sec-WebSocket-Version %q, want 13", v)
		}
		refused("/ws", http.Header{"Sec-Websocket-Version": {}}, http.StatusBadRequest)
		refused("/nowhere", nil, http.StatusNotFound)
		refused("/ws", http.Header{":protocol": {"webtransport"}}, http.StatusBadRequest)
		get, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/ws", nil)
		resp, err := hc.Do(get)
		if err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("GET /ws over HTTP/2: %v %v, want 400", resp, err)
		}
		resp.Body.Close()
		c.echoes("still open")
		c.closeNormally()
	})
}

// h2Observer counts accepted TCP connections and opened WebSockets by
// HTTP version.
type h2Observer struct {
	observe.Base
	accepted atomic.Int64
	byHTTP   [3]atomic.Int64
}

func (o *h2Observer) Accepted()            { o.accepted.Add(1) }
func (o *h2Observer) OpenedHTTP(major int) { o.byHTTP[min(major, 2)].Add(1) }

// TestH2SharedConnection: several WebSockets on one HTTP/2 connection
// (one accepted TCP connection, one RemoteAddr) are independent: a handler
// panic closes its own stream with 1011 and no other; an HTTP/1.1 client
// is served on the same TLS listener (ALPN http/1.1); the Observer tells
// the versions apart; and Shutdown ends with no goroutine left.
func TestH2SharedConnection(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		opt := goleak.IgnoreCurrent()
		t.Cleanup(func() { goleak.VerifyNone(t, opt) }) // runs last
		o := &h2Observer{}
		addrs := make(chan string, 10)
		s := &server.Server{Observer: o, NewHandler: func() handler.Handler { return addrRecorder{addrs: addrs} }}
		addr, pool := startH2(t, e, s)
		hc := testutil.DialH2(t, addr, pool)
		var cs []*rawClient
		for range 5 {
			_, c := openH2(t, hc, "/", nil)
			cs = append(cs, c)
		}
		want := hc.LocalAddr().String()
		for range 5 {
			if a := <-addrs; a != want {
				t.Fatalf("RemoteAddr %s, want %s (the one TCP connection)", a, want)
			}
		}
		cs[2].send(ws.OpText, []byte("panic"))
		cs[2].expectClose(handler.CloseInternalError)
		for i, c := range cs {
			if i != 2 {
				c.echoes(fmt.Sprint("stream ", i))
			}
		}
		h1, _ := dialTLS(t, addr, pool) // ALPN http/1.1
		<-addrs
		h1.echoes("over HTTP/1.1")
		if n := o.accepted.Load(); n != 2 {
			t.Errorf("%d TCP connections accepted, want 2", n)
		}
		if h1n, h2n := o.byHTTP[1].Load(), o.byHTTP[2].Load(); h1n != 1 || h2n != 5 {
			t.Errorf("opened over HTTP/1.1: %d, HTTP/2: %d; want 1, 5", h1n, h2n)
		}
		for i, c := range cs {
			if i != 2 {
				c.closeNormally()
			}
		}
		h1.closeNormally()
	})
}

// addrRecorder is an echo handler (that panics on "panic") recording its
// connections' RemoteAddr.
type addrRecorder struct {
	panicky
	addrs chan string
}

func (a addrRecorder) Opened(c handler.Conn) { a.addrs <- c.RemoteAddr().String() }

// TestH2Shutdown: Shutdown sends every stream 1001, waits for the
// closing handshakes, then ends the HTTP/2 connection; no goroutine is
// left on either engine.
func TestH2Shutdown(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		opt := goleak.IgnoreCurrent()
		t.Cleanup(func() { goleak.VerifyNone(t, opt) })
		cert, pool := testutil.SelfSigned(t)
		s := &server.Server{Engine: e, NewHandler: handler.NewEcho,
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}}
		addr, errc := serveOwn(t, s)
		hc := testutil.DialH2(t, addr, pool)
		var cs []*rawClient
		for range 3 {
			_, c := openH2(t, hc, "/", nil)
			c.echoes("hi")
			cs = append(cs, c)
		}
		shutdownAnswered(t, s, errc, cs...)
		if n := s.Len(); n != 0 {
			t.Errorf("%d connections left", n)
		}
	})
}

// TestH2HTTPHandler: mounted on the embedder's own http.Server (TLS, h2,
// with ReadTimeout and WriteTimeout shorter than the test), a Server runs
// WebSockets on HTTP/2 streams that outlive those per-request timeouts,
// next to plain HTTP/2 requests.
func TestH2HTTPHandler(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		majors := make(chan int, 1)
		s := &server.Server{Engine: e}
		mux := http.NewServeMux()
		mux.Handle("/ws", s.HTTPHandler(func() handler.Handler { return protoRecorder{majors: majors} }))
		mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Proto) })
		cert, pool := testutil.SelfSigned(t)
		hs := &http.Server{
			Handler:      mux,
			TLSConfig:    &tls.Config{Certificates: []tls.Certificate{cert}},
			ReadTimeout:  200 * time.Millisecond,
			WriteTimeout: 200 * time.Millisecond,
			HTTP2: &http.HTTP2Config{
				MaxReceiveBufferPerStream:     server.H2StreamWindow,
				MaxReceiveBufferPerConnection: server.H2ConnWindow,
				MaxConcurrentStreams:          server.H2MaxStreams,
			},
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = hs.ServeTLS(l, "", "") }()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			hs.Close()
		})
		addr := l.Addr().String()
		hc := testutil.DialH2(t, addr, pool)
		_, c := openH2(t, hc, "/ws", nil)
		if m := <-majors; m != 2 {
			t.Fatalf("ProtoMajor %d, want 2", m)
		}
		c.echoes("one")
		// Not a synchronisation: time passing the http.Server's
		// timeouts, which bound requests, not WebSockets.
		time.Sleep(400 * time.Millisecond)
		c.echoes("two")
		big := bytes.Repeat([]byte("x"), 1<<20)
		c.send(ws.OpBinary, big)
		c.expect(ws.OpBinary, big)
		get, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/page", nil)
		resp, err := hc.Do(get)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "HTTP/2.0" {
			t.Errorf("plain request: %q", body)
		}
		c.closeNormally()
	})
}

// closedCodes is a handler that reports the code its connection closed
// with; "flood" makes it send 16 MiB to a peer that reads none of it.
type closedCodes struct {
	handler.Echo
	codes chan handler.CloseCode
}

func (h closedCodes) ReceivedMessage(c handler.Conn, m handler.Message) {
	if string(m.Data) != "flood" {
		h.Echo.ReceivedMessage(c, m)
		return
	}
	// From a goroutine of its own, as an application pushing data
	// would: Send blocks while the stream's window is shut.
	go func() {
		p := make([]byte, 1<<20)
		for range 16 {
			if c.Send(handler.Binary, p) != nil {
				return
			}
		}
	}()
}

func (h closedCodes) Closed(_ handler.Conn, code handler.CloseCode, _ string) { h.codes <- code }

// TestH2Hostile: a stream whose peer reads nothing is held back by HTTP/2
// flow control (the client's window) and dropped after WriteTimeout (1006); a stream that stops
// in the middle of a frame is closed with 1008 after MessageTimeout; the
// other streams of the same connection are served throughout.
func TestH2Hostile(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		codes := make(chan handler.CloseCode, 4)
		s := &server.Server{
			WriteTimeout:   300 * time.Millisecond,
			MessageTimeout: 300 * time.Millisecond,
			MaxWriteQueue:  64 << 20, // past what the flood queues: the write timeout is what ends it
			NewHandler:     func() handler.Handler { return closedCodes{codes: codes} },
		}
		addr, pool := startH2(t, e, s)
		hc := testutil.DialH2(t, addr, pool)
		_, bystander := openH2(t, hc, "/", nil)

		_, deaf := openH2(t, hc, "/", nil)
		deaf.send(ws.OpText, []byte("flood"))
		if code := <-codes; code != handler.CloseAbnormal {
			t.Fatalf("deaf stream closed with %d, want 1006", code)
		}
		bystander.echoes("after the deaf one")

		_, stall := openH2(t, hc, "/", nil)
		stall.writeRaw(frame(true, 0, ws.OpText, []byte("half a frame"))[:8])
		stall.expectClose(handler.ClosePolicyViolation)
		if code := <-codes; code != handler.ClosePolicyViolation {
			t.Fatalf("stalled stream closed with %d, want 1008", code)
		}
		bystander.echoes("after the stalled one")
		bystander.closeNormally()
		<-codes
	})
}

// TestH2MaxStreams: one connection runs H2MaxStreams WebSockets at once;
// the next waits (the client sees SETTINGS_MAX_CONCURRENT_STREAMS) until
// one ends.
func TestH2MaxStreams(t *testing.T) {
	addr, pool := startH2(t, server.EngineGoroutine, &server.Server{})
	hc := testutil.DialH2(t, addr, pool)
	cs := make([]*rawClient, server.H2MaxStreams)
	for i := range cs {
		_, cs[i] = openH2(t, hc, "/", nil)
	}
	for i, c := range cs {
		c.echoes(fmt.Sprint(i))
	}
	type result struct {
		resp *http.Response
		st   *testutil.H2Stream
		err  error
	}
	opened := make(chan result, 1)
	go func() {
		resp, st, err := hc.OpenErr("/", nil)
		opened <- result{resp, st, err}
	}()
	select {
	case <-opened:
		t.Fatal("a stream past MaxConcurrentStreams opened")
	case <-time.After(200 * time.Millisecond): // (the absence of an event)
	}
	cs[0].closeNormally()
	r := <-opened
	if r.err != nil || r.resp.StatusCode != http.StatusOK {
		t.Fatalf("the stream waiting for a slot: %v %v", r.resp, r.err)
	}
	last := &rawClient{t: t, nc: r.st, br: bufio.NewReader(r.st)}
	last.echoes("in the freed slot")
	last.closeNormally()
	for _, c := range cs[1:] {
		c.closeNormally()
	}
}

// heartbeatObserver counts heartbeat timeouts.
type heartbeatObserver struct {
	observe.Base
	timeouts chan struct{}
}

func (o heartbeatObserver) HeartbeatTimeout() { o.timeouts <- struct{}{} }

// TestH2Heartbeat: a stream whose peer answers no ping is dropped by the
// heartbeat (1006), as a TCP connection is.
func TestH2Heartbeat(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		codes := make(chan handler.CloseCode, 1)
		o := heartbeatObserver{timeouts: make(chan struct{}, 1)}
		s := &server.Server{
			PingInterval: 100 * time.Millisecond,
			PongTimeout:  200 * time.Millisecond,
			Observer:     o,
			NewHandler:   func() handler.Handler { return closedCodes{codes: codes} },
		}
		addr, pool := startH2(t, e, s)
		hc := testutil.DialH2(t, addr, pool)
		openH2(t, hc, "/", nil) // then silent
		<-o.timeouts
		if code := <-codes; code != handler.CloseAbnormal {
			t.Fatalf("silent stream closed with %d, want 1006", code)
		}
	})
}

// TestH2AcceptAndClose: the accept hook decides on extended CONNECTs as on
// upgrades (its refusal's status and header reach the client; its Data
// reaches the connection), and Close drops open streams at once, leaving
// no goroutine behind.
func TestH2AcceptAndClose(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		opt := goleak.IgnoreCurrent()
		t.Cleanup(func() { goleak.VerifyNone(t, opt) })
		cert, pool := testutil.SelfSigned(t)
		s := &server.Server{
			Engine: e,
			NewHandler: func() handler.Handler {
				return &opener{f: func(c handler.Conn) { _ = c.SendText(fmt.Sprint(c.Data())) }}
			},
			Accept: func(r *http.Request) (server.Accepted, error) {
				if r.Header.Get("X-Token") != "secret" {
					return server.Accepted{}, &server.Refusal{Status: http.StatusUnauthorized, Header: http.Header{"Www-Authenticate": {"Token"}}}
				}
				return server.Accepted{Data: "user " + r.Proto}, nil
			},
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		}
		addr, errc := serveOwn(t, s)
		hc := testutil.DialH2(t, addr, pool)
		resp, _ := hc.Open("/", nil)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "Token" {
			t.Fatalf("no token: %s %v, want 401 with WWW-Authenticate", resp.Status, resp.Header)
		}
		_, c := openH2(t, hc, "/", http.Header{"X-Token": {"secret"}})
		c.expect(ws.OpText, []byte("user HTTP/2.0"))
		_, c2 := openH2(t, hc, "/", http.Header{"X-Token": {"secret"}})
		c2.expect(ws.OpText, []byte("user HTTP/2.0"))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		for _, c := range []*rawClient{c, c2} {
			if _, _, err := c.read(); err == nil {
				t.Error("a frame after Close, want the stream ended")
			}
		}
		if n := s.Len(); n != 0 {
			t.Errorf("%d connections left", n)
		}
	})
}

// TestH2Settings: the standalone listener's HTTP/2 bounds are what the
// server announces: SETTINGS with extended CONNECT on, H2StreamWindow,
// H2MaxStreams and 16 KiB frames, and a connection window raised to
// H2ConnWindow.
func TestH2Settings(t *testing.T) {
	addr, pool := startH2(t, server.EngineNetpoll, &server.Server{})
	tc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(tc, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(tc, tc)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	want := map[http2.SettingID]uint32{
		http2.SettingEnableConnectProtocol: 1,
		http2.SettingInitialWindowSize:     server.H2StreamWindow,
		http2.SettingMaxConcurrentStreams:  server.H2MaxStreams,
		http2.SettingMaxFrameSize:          16 << 10,
	}
	connWindow := uint32(65535) // the protocol's initial window
	for got := 0; got < 2; {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			for id, v := range want {
				if s, ok := f.Value(id); !ok || s != v {
					t.Errorf("SETTINGS %v = %d (sent: %v), want %d", id, s, ok, v)
				}
			}
			got++
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				connWindow += f.Increment
				got++
			}
		}
	}
	if connWindow != server.H2ConnWindow {
		t.Errorf("connection window %d, want %d", connWindow, server.H2ConnWindow)
	}
}

// TestH2ShutdownUnanswered: a stream that never answers the 1001 is dropped
// when Shutdown's context ends (CloseTimeout applies without a deadline),
// and its HTTP/2 connection with it; no goroutine is left.
func TestH2ShutdownUnanswered(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
	cert, pool := testutil.SelfSigned(t)
	s := &server.Server{NewHandler: handler.NewEcho, CloseTimeout: time.Minute,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}}
	addr, errc := serveOwn(t, s)
	hc := testutil.DialH2(t, addr, pool)
	_, c := openH2(t, hc, "/", nil)
	c.echoes("hi")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want the context's deadline", err)
	}
	if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	c.readClose(handler.CloseGoingAway)
	if _, _, err := c.read(); err == nil {
		t.Fatal("the stream outlived Shutdown")
	}
	hc.Close()
}

// TestH2ShutdownPlainRequest: a plain HTTP/2 request that does not end
// (a long poll on Server.HTTP) holds Shutdown at most CloseTimeout past its
// WebSockets, even without a deadline.
func TestH2ShutdownPlainRequest(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
	cert, pool := testutil.SelfSigned(t)
	entered := make(chan struct{})
	s := &server.Server{NewHandler: handler.NewEcho, CloseTimeout: 300 * time.Millisecond,
		HTTP: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-r.Context().Done() // until the connection is closed
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}}
	addr, errc := serveOwn(t, s)
	hc := testutil.DialH2(t, addr, pool)
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/poll", nil)
		resp, err := hc.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	<-entered
	start := time.Now()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	if err := <-done; err == nil {
		t.Error("the long poll ended normally, want it cut off")
	}
}
