package client_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

// echoChecks runs the exchanges every echo server must pass: text, UTF-8,
// binary, empty messages, 1 MiB, a fragmented message, a ping, and the
// closing handshake started by the client.
func echoChecks(t *testing.T, url string, opts *client.Options) {
	t.Helper()
	r := newRecorder()
	c := dial(t, url, r, opts)
	big := make([]byte, 1<<20)
	_, _ = rand.Read(big)
	bigText := strings.Repeat("héllo wörld ✓ 𝄞 ", 1<<16)
	for _, m := range []handler.Message{
		{Type: handler.Text, Data: []byte("hello")},
		{Type: handler.Text, Data: []byte("κόσμε 𝄞")},
		{Type: handler.Binary, Data: []byte{0, 1, 2, 255}},
		{Type: handler.Text, Data: []byte{}},
		{Type: handler.Binary, Data: []byte{}},
		{Type: handler.Binary, Data: big},
		{Type: handler.Text, Data: []byte(bigText)},
	} {
		if err := c.Send(m.Type, m.Data); err != nil {
			t.Fatalf("Send: %v", err)
		}
		r.expect(t, m.Type, m.Data)
	}

	w, err := c.NewWriter(handler.Text)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"frag", "ment", "ed ✓"} {
		if _, err := io.WriteString(w, part); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r.expect(t, handler.Text, []byte("fragmented ✓"))

	if err := c.Ping([]byte("p1")); err != nil {
		t.Fatal(err)
	}
	r.expectPong(t, "p1")

	if err := c.Close(4001, "bye now"); err != nil {
		t.Fatal(err)
	}
	r.expectClosed(t, 4001, "bye now")
	select {
	case <-c.Done():
	case <-time.After(waitTimeout):
		t.Fatal("Done not closed after Closed")
	}
	if err := c.SendText("late"); !errors.Is(err, handler.ErrClosed) {
		t.Fatalf("Send after close: %v, want ErrClosed", err)
	}
}

func TestEchoOurServer(t *testing.T) {
	for _, e := range []server.Engine{server.EngineGoroutine, server.EngineNetpoll} {
		t.Run(string(e), func(t *testing.T) {
			addr := start(t, &server.Server{NewHandler: handler.NewEcho, Engine: e})
			echoChecks(t, "ws://"+addr+"/ws", nil)
		})
	}
}

// closerHandler closes its connection when it receives "close-me CODE
// REASON", and reports the code it got back.
type closerHandler struct {
	handler.Base
	closed chan closeEvent
}

func (h *closerHandler) ReceivedMessage(c handler.Conn, m handler.Message) {
	var code int
	var reason string
	if n, _ := fmt.Sscanf(string(m.Data), "close-me %d %s", &code, &reason); n == 2 {
		_ = c.Close(handler.CloseCode(code), reason)
		return
	}
	_ = c.Send(m.Type, m.Data)
}

func (h *closerHandler) Closed(c handler.Conn, code handler.CloseCode, reason string) {
	h.closed <- closeEvent{code, reason}
}

func TestServerCloses(t *testing.T) {
	sh := &closerHandler{closed: make(chan closeEvent, 1)}
	addr := start(t, &server.Server{NewHandler: func() handler.Handler { return sh }})
	r := newRecorder()
	c := dial(t, "ws://"+addr+"/", r, nil)
	if err := c.SendText("close-me 4002 going"); err != nil {
		t.Fatal(err)
	}
	r.expectClosed(t, 4002, "going")
	// The client echoed the code, and the server saw its close frame.
	select {
	case ev := <-sh.closed:
		if ev.code != 4002 {
			t.Fatalf("server's Closed got %d %q, want the echoed 4002", ev.code, ev.reason)
		}
	case <-time.After(waitTimeout):
		t.Fatal("server's Closed not called")
	}
}

// infoHandler answers every message with what it saw of the handshake.
type infoHandler struct {
	handler.Base
	info string
}

func (h *infoHandler) Opened(c handler.Conn) {
	r := c.Request() // read once, in Opened
	h.info = fmt.Sprintf("path=%s query=%s token=%s proto=%s host=%s", r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Token"), c.Subprotocol(), r.Host)
}

func (h *infoHandler) ReceivedMessage(c handler.Conn, m handler.Message) { _ = c.SendText(h.info) }

func TestHeadersAndSubprotocol(t *testing.T) {
	addr := start(t, &server.Server{NewHandler: func() handler.Handler { return &infoHandler{} }, Subprotocols: []string{"chat.v2", "chat.v1"}})
	r := newRecorder()
	c := dial(t, "ws://"+addr+"/info?a=1&b=two", r, &client.Options{
		Header:       http.Header{"X-Token": {"s3cret"}},
		Subprotocols: []string{"chat.v1", "chat.v2"},
	})
	if c.Subprotocol() != "chat.v2" {
		t.Fatalf("Subprotocol %q, want the server's preference chat.v2", c.Subprotocol())
	}
	if got := c.Request().Header.Get("X-Token"); got != "s3cret" {
		t.Fatalf("Request().Header X-Token = %q", got)
	}
	_ = c.SendText("?")
	r.expect(t, handler.Text, []byte("path=/info query=a=1&b=two token=s3cret proto=chat.v2 host="+addr))
	_ = c.Close(handler.CloseNormal, "")
	r.expectClosed(t, handler.CloseNormal, "")
}

func TestBadOptions(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		url  string
		opts *client.Options
		want string
	}{
		"reserved header":  {"ws://127.0.0.1:1/", &client.Options{Header: http.Header{"Sec-WebSocket-Protocol": {"x"}}}, "may not be set"},
		"header injection": {"ws://127.0.0.1:1/", &client.Options{Header: http.Header{"X-A": {"a\r\nX-B: b"}}}, "bad value"},
		"bad subprotocol":  {"ws://127.0.0.1:1/", &client.Options{Subprotocols: []string{"a b"}}, "bad subprotocol"},
		"scheme":           {"http://127.0.0.1:1/", nil, "scheme must be ws, wss or ws+unix"},
		"no socket":        {"ws+unix://", nil, "no socket path"},
		"bad level":        {"ws://127.0.0.1:1/", &client.Options{Compression: client.Compression{Level: 12}}, "bad Compression.Level 12"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := client.Dial(ctx, tc.url, handler.Base{}, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ws.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, &server.Server{NewHandler: handler.NewEcho, Routes: map[string]handler.Factory{"/room/a": func() handler.Handler { return &infoHandler{} }}}, l)
	r := newRecorder()
	c := dial(t, "ws+unix://"+sock+":/room/a?x=1", r, nil)
	_ = c.SendText("?")
	r.expect(t, handler.Text, []byte("path=/room/a query=x=1 token= proto= host=localhost"))
	_ = c.Close(handler.CloseNormal, "")
	r.expectClosed(t, handler.CloseNormal, "")

	echoChecks(t, "ws+unix://"+sock, nil)
}

func TestTLS(t *testing.T) {
	cert, pool := testutil.SelfSigned(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	serve(t, &server.Server{NewHandler: handler.NewEcho}, tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}}))
	echoChecks(t, "wss://"+addr+"/", &client.Options{TLSConfig: &tls.Config{RootCAs: pool}})

	// Without trusting the certificate, the TLS handshake fails.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err = client.Dial(ctx, "wss://"+addr+"/", handler.Base{}, nil)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("untrusted certificate: %v, want an x509.UnknownAuthorityError", err)
	}
}

func TestHandshakeValidation(t *testing.T) {
	type answer func(req *http.Request) string
	ok := func(extra string) answer { return func(req *http.Request) string { return accept101(req, extra) } }
	cases := []struct {
		name     string
		answer   answer
		offer    []string
		want     error
		contains string
	}{
		{"plain 200", func(*http.Request) string { return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" }, nil, client.ErrBadStatus, `got 200 OK: "hello"`},
		{"404 with body", func(*http.Request) string {
			return "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nno handler"
		}, nil, client.ErrBadStatus, `404 Not Found: "no handler"`},
		{"redirect", func(*http.Request) string {
			return "HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\nContent-Length: 0\r\n\r\n"
		}, nil, client.ErrBadStatus, "redirect to ws://elsewhere/"},
		{"no upgrade", func(req *http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n"
		}, nil, client.ErrBadUpgrade, "Upgrade"},
		{"upgrade h2c", func(req *http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
		}, nil, client.ErrBadUpgrade, `h2c`},
		{"connection keep-alive", func(req *http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n\r\n"
		}, nil, client.ErrBadConnection, "keep-alive"},
		{"missing accept", func(req *http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
		}, nil, client.ErrMissingAccept, "Sec-WebSocket-Accept header is missing"},
		{"wrong accept", func(req *http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
		}, nil, client.ErrBadAccept, `got "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="`},
		{"two accepts", ok("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), nil, client.ErrBadAccept, "2 Sec-WebSocket-Accept headers"},
		{"subprotocol not offered", ok("Sec-WebSocket-Protocol: b\r\n"), []string{"a"}, client.ErrBadSubprotocol, `got "b", offered ["a"]`},
		{"subprotocol none offered", ok("Sec-WebSocket-Protocol: a\r\n"), nil, client.ErrBadSubprotocol, `got "a", none offered`},
		{"two subprotocols", ok("Sec-WebSocket-Protocol: a, b\r\n"), []string{"a", "b"}, client.ErrBadSubprotocol, "exactly one"},
		{"extension not offered", ok("Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n"), nil, client.ErrBadExtension, "x-webkit-deflate-frame"},
		{"garbage", func(*http.Request) string { return "hello there\r\n\r\n" }, nil, client.ErrMalformedResponse, "malformed"},
		{"hang up", func(*http.Request) string { return "" }, nil, client.ErrMalformedResponse, "closed the connection without answering"},
		{"HTTP/1.0", func(req *http.Request) string {
			return strings.Replace(accept101(req, ""), "HTTP/1.1", "HTTP/1.0", 1)
		}, nil, client.ErrMalformedResponse, "HTTP/1.0"},
		{"tokens in any case and lists", func(req *http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUPGRADE: WebSocket\r\nConnection: keep-alive, UPGRADE\r\nsec-websocket-accept: " +
				handshake.AcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
		}, nil, nil, ""},
		{"chosen subprotocol", ok("Sec-WebSocket-Protocol: b\r\n"), []string{"a", "b"}, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
				io.WriteString(nc, tc.answer(req))
				if tc.want == nil {
					_, _ = io.Copy(io.Discard, br) // until the client goes
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			c, err := client.Dial(ctx, "ws://"+addr+"/x", handler.Base{}, &client.Options{Subprotocols: tc.offer})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				c.Terminate()
				<-c.Done()
				return
			}
			if err == nil {
				c.Terminate()
				t.Fatalf("Dial succeeded, want %v", tc.want)
			}
			var he *client.HandshakeError
			if !errors.Is(err, tc.want) || !errors.As(err, &he) {
				t.Fatalf("err %v (%T), want a HandshakeError wrapping %v", err, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.contains) || !strings.Contains(err.Error(), "ws://"+addr+"/x") {
				t.Fatalf("err %q, want it to mention %q and the URL", err, tc.contains)
			}
		})
	}
}

// readFrame reads one client frame, unmasked, from br.
func readFrame(br *bufio.Reader) (ws.Header, []byte, error) {
	h, err := ws.ReadHeader(br)
	if err != nil {
		return h, nil, err
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(br, p); err != nil {
		return h, nil, err
	}
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	return h, p, nil
}

func TestMasking(t *testing.T) {
	type frame struct {
		h ws.Header
		p []byte
	}
	const frames = 8
	got := make(chan frame, frames+1)
	addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
		io.WriteString(nc, accept101(req, ""))
		for i := 0; i < frames; i++ {
			h, p, err := readFrame(br)
			if err != nil {
				return
			}
			got <- frame{h, p}
		}
		// A masked frame from the server is a protocol error.
		_ = ws.WriteHeader(nc, ws.Header{Fin: true, OpCode: ws.OpText, Length: 2, Masked: true, Mask: [4]byte{1, 2, 3, 4}})
		nc.Write([]byte{'h' ^ 1, 'i' ^ 2})
		h, p, err := readFrame(br)
		if err == nil {
			got <- frame{h, p}
		}
	})
	r := newRecorder()
	c := dial(t, "ws://"+addr+"/", r, nil)
	payload := bytes.Repeat([]byte("abcd"), 20000) // several write chunks
	_ = c.SendBinary(payload)
	_ = c.SendBinary(payload)
	_ = c.SendText("x")
	_ = c.Ping([]byte("ping"))
	w, _ := c.NewWriter(handler.Text)
	_, _ = io.WriteString(w, "frag")
	_, _ = io.WriteString(w, "ment")
	_ = w.Close()
	_ = c.SendText("")
	want := [frames][]byte{payload, payload, []byte("x"), []byte("ping"), []byte("frag"), []byte("ment"), {}, {}}
	seen := map[[4]byte]int{}
	for i := 0; i < frames; i++ {
		f := <-got
		if !f.h.Masked {
			t.Fatalf("frame %d is not masked", i)
		}
		if !bytes.Equal(f.p, want[i]) {
			t.Fatalf("frame %d unmasks to %.20q, want %.20q", i, f.p, want[i])
		}
		// A fresh random key per frame (RFC 6455 5.3): two equal
		// keys among 8 frames happen by chance about once in 150
		// million runs.
		if j, dup := seen[f.h.Mask]; dup {
			t.Fatalf("frames %d and %d have the same mask %x", j, i, f.h.Mask)
		}
		seen[f.h.Mask] = i
	}
	f := <-got
	if f.h.OpCode != ws.OpClose || len(f.p) < 2 || binary.BigEndian.Uint16(f.p) != 1002 {
		t.Fatalf("after a masked server frame: %v %q, want close 1002", f.h.OpCode, f.p)
	}
	if ev := r.waitClosed(t); ev.code != handler.CloseProtocolError {
		t.Fatalf("Closed(%d, %q), want 1002", ev.code, ev.reason)
	}
}

func TestInvalidUTF8FromServer(t *testing.T) {
	got := make(chan []byte, 1)
	addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
		io.WriteString(nc, accept101(req, ""))
		_ = ws.WriteFrame(nc, ws.NewTextFrame([]byte{'o', 'k', 0xff}))
		if _, p, err := readFrame(br); err == nil {
			got <- p
		}
	})
	r := newRecorder()
	dial(t, "ws://"+addr+"/", r, nil)
	if ev := r.waitClosed(t); ev.code != handler.CloseInvalidPayload {
		t.Fatalf("Closed(%d, %q), want 1007", ev.code, ev.reason)
	}
	if p := <-got; binary.BigEndian.Uint16(p) != 1007 {
		t.Fatalf("close frame %q, want 1007", p)
	}
}

func TestHeartbeat(t *testing.T) {
	t.Run("keeps a live connection", func(t *testing.T) {
		addr := start(t, &server.Server{NewHandler: handler.NewEcho})
		r := newRecorder()
		c := dial(t, "ws://"+addr+"/", r, &client.Options{PingInterval: 20 * time.Millisecond, PongTimeout: 2 * time.Second})
		for i := 0; i < 3; i++ {
			select {
			case <-r.pongs: // a heartbeat ping was answered
			case ev := <-r.closed:
				t.Fatalf("closed: %d %q", ev.code, ev.reason)
			case <-time.After(waitTimeout):
				t.Fatal("no heartbeat pong")
			}
		}
		_ = c.Close(handler.CloseNormal, "")
		r.expectClosed(t, handler.CloseNormal, "")
	})
	t.Run("drops a silent server", func(t *testing.T) {
		pings := make(chan struct{}, 16)
		addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
			io.WriteString(nc, accept101(req, ""))
			for { // reads, never answers
				h, _, err := readFrame(br)
				if err != nil {
					return
				}
				if h.OpCode == ws.OpPing {
					pings <- struct{}{}
				}
			}
		})
		r := newRecorder()
		start := time.Now()
		dial(t, "ws://"+addr+"/", r, &client.Options{PingInterval: 30 * time.Millisecond, PongTimeout: 60 * time.Millisecond})
		ev := r.waitClosed(t)
		if ev.code != handler.CloseAbnormal || !strings.HasPrefix(ev.reason, "heartbeat timeout") {
			t.Fatalf("Closed(%d, %q), want 1006 heartbeat timeout", ev.code, ev.reason)
		}
		if d := time.Since(start); d < 90*time.Millisecond {
			t.Fatalf("dropped after %v, before PingInterval+PongTimeout", d)
		}
		if len(pings) == 0 {
			t.Fatal("no ping was sent")
		}
	})
}

func TestCloseTimeout(t *testing.T) {
	addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
		io.WriteString(nc, accept101(req, ""))
		_, _ = io.Copy(io.Discard, br) // never answers the close
	})
	r := newRecorder()
	c := dial(t, "ws://"+addr+"/", r, &client.Options{CloseTimeout: 50 * time.Millisecond})
	_ = c.Close(handler.CloseNormal, "")
	ev := r.waitClosed(t)
	if ev.code != handler.CloseAbnormal || !strings.Contains(ev.reason, "close timeout") {
		t.Fatalf("Closed(%d, %q), want 1006 close timeout", ev.code, ev.reason)
	}
}

// TestCloseTimeoutNoBound: with a negative CloseTimeout (no bound) the
// client, after the closing handshake, half-closes and reads on until the
// server closes the TCP connection (RFC 6455 7.1.1), however long that
// takes.
func TestCloseTimeoutNoBound(t *testing.T) {
	sawFIN, hangUp := make(chan struct{}), make(chan struct{})
	addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
		io.WriteString(nc, accept101(req, ""))
		nc.Write([]byte{0x88, 2, 0x03, 0xe8}) // close 1000
		// The client's answer, then its FIN.
		_, _ = io.Copy(io.Discard, br)
		close(sawFIN)
		<-hangUp
	})
	var once sync.Once
	hangUpNow := func() { once.Do(func() { close(hangUp) }) }
	t.Cleanup(hangUpNow) // (before the server's cleanup, which waits for it)
	r := newRecorder()
	c := dial(t, "ws://"+addr+"/", r, &client.Options{CloseTimeout: -1})
	within := func(d time.Duration) bool {
		select {
		case <-c.Done():
			return true
		case <-time.After(d):
			return false
		}
	}
	select {
	case <-sawFIN:
	case <-time.After(waitTimeout):
		t.Fatal("no close answer and FIN from the client")
	}
	if within(500 * time.Millisecond) {
		t.Fatal("the client closed the connection before the server did (CloseTimeout -1: no bound)")
	}
	hangUpNow()
	if !within(waitTimeout) {
		t.Fatal("the client did not end once the server closed")
	}
	r.expectClosed(t, handler.CloseNormal, "")
}

func TestDialContext(t *testing.T) {
	addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
		_, _ = io.Copy(io.Discard, br) // never answers
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := client.Dial(ctx, "ws://"+addr+"/", handler.Base{}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v, want DeadlineExceeded", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	go cancel()
	_, err = client.Dial(ctx, "ws://"+addr+"/", handler.Base{}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial: %v, want Canceled", err)
	}
}

// panicker panics in ReceivedMessage.
type panicker struct{ *recorder }

func (p panicker) ReceivedMessage(handler.Conn, handler.Message) { panic("boom") }

func TestHandlerPanic(t *testing.T) {
	addr := start(t, &server.Server{NewHandler: handler.NewEcho})
	r := newRecorder()
	c := dial(t, "ws://"+addr+"/", panicker{r}, &client.Options{Logger: discardLogger()})
	_ = c.SendText("hi")
	r.expectClosed(t, handler.CloseInternalError, "internal error")
}
