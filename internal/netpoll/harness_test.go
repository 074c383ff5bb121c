//go:build linux

package netpoll

// A WebSocket server on the engine, as package server builds it but with
// nothing else: Decide answers with the handshake package and makes a
// wsconn.Conn running testHandler. The clients are raw sockets that speak
// frames with gobwas/ws, so every byte the engine writes is checked.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/wsconn"
)

// waitFor is how long a test waits for something that takes microseconds
// when it works.
const waitFor = 10 * time.Second

// closedEv is a Closed callback.
type closedEv struct {
	code   handler.CloseCode
	reason string
}

// testHandler echoes every message (or calls onMsg) and reports its
// connection's Opened and Closed.
type testHandler struct {
	handler.Base
	opened chan handler.Conn
	closed chan closedEv
	onMsg  func(handler.Conn, handler.Message)
}

func newTestHandler() *testHandler {
	return &testHandler{opened: make(chan handler.Conn, 64), closed: make(chan closedEv, 64)}
}

func (h *testHandler) Opened(c handler.Conn) { h.opened <- c }

func (h *testHandler) ReceivedMessage(c handler.Conn, m handler.Message) {
	if h.onMsg != nil {
		h.onMsg(c, m)
		return
	}
	_ = c.Send(m.Type, m.Data)
}

func (h *testHandler) Closed(_ handler.Conn, code handler.CloseCode, reason string) {
	h.closed <- closedEv{code, reason}
}

// nextOpened is the next connection the server opened.
func (h *testHandler) nextOpened(t *testing.T) handler.Conn {
	t.Helper()
	select {
	case c := <-h.opened:
		return c
	case <-time.After(waitFor):
		t.Fatal("no connection opened")
		return nil
	}
}

// nextClosed is the next Closed callback.
func (h *testHandler) nextClosed(t *testing.T) closedEv {
	t.Helper()
	select {
	case ev := <-h.closed:
		return ev
	case <-time.After(waitFor):
		t.Fatal("Closed not called")
		return closedEv{}
	}
}

// wsServer is an engine serving WebSockets on a listener.
type wsServer struct {
	e    *Engine
	tab  *wsconn.Table
	h    *testHandler
	addr string
	// conns receives the engine's connection of each accepted
	// handshake.
	conns chan *conn
}

// serverOpts adjusts a wsServer's settings before it starts.
type serverOpts struct {
	network, address string // default tcp 127.0.0.1:0
	engine           func(*Config)
	ws               func(*wsconn.Config)
	// onMsg, if set, is the handler's ReceivedMessage (default: echo).
	onMsg func(handler.Conn, handler.Message)
	// decide, if set, answers heads instead of the WebSocket handshake;
	// upgrade is the handshake's answer.
	decide func(head []byte, p Peer, upgrade func() Decision) Decision
}

// startServer starts an engine serving WebSockets; the test's end closes
// it and checks that it let go of every connection.
func startServer(t *testing.T, o serverOpts) *wsServer {
	t.Helper()
	wcfg := &wsconn.Config{MaxMessageSize: 1 << 20, MaxWriteQueue: 4 << 20, Logger: slog.New(slog.DiscardHandler)}
	if o.ws != nil {
		o.ws(wcfg)
	}
	s := &wsServer{tab: wsconn.NewTable(wcfg), h: newTestHandler(), conns: make(chan *conn, 64)}
	s.h.onMsg = o.onMsg
	upgrade := func(head []byte) Decision {
		res, rej := handshake.CheckHead(head, &handshake.Config{})
		if rej != nil {
			return Decision{Response: handshake.AppendRejection(nil, rej)}
		}
		req := wsconn.Request{Head: string(head)}
		return Decision{Response: handshake.AppendResponse(nil, res), Accept: func(tr wsconn.Transport) *wsconn.Conn {
			s.conns <- tr.(*conn)
			return wsconn.New(wcfg, tr, s.h, "", req)
		}}
	}
	cfg := Config{
		Workers: 4, HeadEnd: refusingHeadEnd, Table: s.tab,
		Decide: func(head []byte, p Peer) Decision {
			if o.decide != nil {
				return o.decide(head, p, func() Decision { return upgrade(head) })
			}
			return upgrade(head)
		},
	}
	if o.engine != nil {
		o.engine(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.e = e
	network, address := o.network, o.address
	if network == "" {
		network, address = "tcp", "127.0.0.1:0"
	}
	l, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- e.ServeListener(l) }()
	t.Cleanup(func() {
		e.Close()
		if err := <-served; !errors.Is(err, net.ErrClosed) {
			t.Errorf("ServeListener: %v", err)
		}
		l.Close()
		e.mu.Lock()
		live, hs := e.live, len(e.handshake)
		e.mu.Unlock()
		if live != 0 || hs != 0 || s.tab.Len() != 0 {
			t.Errorf("after Close: %d live, %d in handshake, %d in the table", live, hs, s.tab.Len())
		}
	})
	return s
}

// nextConn is the engine's connection of the next accepted handshake.
func (s *wsServer) nextConn(t *testing.T) *conn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(waitFor):
		t.Fatal("no handshake accepted")
		return nil
	}
}

// released checks that the engine let go of c: out of the table of
// descriptors and of the handshakes, closed.
func (s *wsServer) released(t *testing.T, c *conn) {
	t.Helper()
	if !c.closed.Load() {
		t.Fatal("the connection's descriptor is not closed")
	}
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	if tab := s.e.tab.Load(); int(c.fd) < len(tab.slots) && tab.slots[c.fd].Load() == c {
		t.Fatal("the connection still holds its descriptor's slot")
	}
	if _, ok := s.e.handshake[c]; ok {
		t.Fatal("the connection is still in its handshake")
	}
}

// upgradeHead is a client's opening handshake for host.
func upgradeHead(host string) string {
	return "GET /ws HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
}

// wsClient is a raw client socket that speaks frames.
type wsClient struct {
	net.Conn
	br *bufio.Reader
}

// dial connects to the server without a handshake.
func (s *wsServer) dial(t *testing.T) *wsClient {
	t.Helper()
	network := "tcp"
	if s.addr != "" && s.addr[0] == '/' {
		network = "unix"
	}
	nc, err := net.Dial(network, s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &wsClient{Conn: nc, br: bufio.NewReader(nc)}
}

// dialWS connects and completes the opening handshake; extra is sent
// right after the head, in the same write.
func (s *wsServer) dialWS(t *testing.T, extra ...byte) *wsClient {
	t.Helper()
	c := s.dial(t)
	if _, err := c.Write(append([]byte(upgradeHead("example.com")), extra...)); err != nil {
		t.Fatal(err)
	}
	resp := c.response(t)
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake: %s %v", resp.Status, resp.Header)
	}
	return c
}

// response reads an HTTP response.
func (c *wsClient) response(t *testing.T) *http.Response {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	return resp
}

// frame is a masked client frame.
func frame(op ws.OpCode, fin bool, p []byte) []byte {
	f := ws.MaskFrameInPlace(ws.NewFrame(op, fin, bytes.Clone(p)))
	b, err := ws.CompileFrame(f)
	if err != nil {
		panic(err)
	}
	return b
}

// closeBody is a close frame's payload.
func closeBody(code handler.CloseCode, reason string) []byte {
	return ws.NewCloseFrameBody(ws.StatusCode(code), reason)
}

// send writes a masked frame.
func (c *wsClient) send(t *testing.T, op ws.OpCode, p []byte) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := c.Write(frame(op, true, p)); err != nil {
		t.Fatalf("sending: %v", err)
	}
}

// next reads the server's next frame, which must be unmasked.
func (c *wsClient) next(t *testing.T) ws.Frame {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	f, err := ws.ReadFrame(c.br)
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	if f.Header.Masked {
		t.Fatal("the server masked a frame")
	}
	return f
}

// expect reads the next frame and checks its opcode and payload.
func (c *wsClient) expect(t *testing.T, op ws.OpCode, p []byte) {
	t.Helper()
	f := c.next(t)
	if f.Header.OpCode != op || !f.Header.Fin || !bytes.Equal(f.Payload, p) {
		t.Fatalf("got %v fin %v %.40q, want %v %.40q", f.Header.OpCode, f.Header.Fin, f.Payload, op, p)
	}
}

// expectEOF reads to the end of the stream, which must come with nothing
// before it.
func (c *wsClient) expectEOF(t *testing.T) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	b, err := io.ReadAll(c.br)
	if err != nil || len(b) != 0 {
		t.Fatalf("read %q, %v; want EOF", b, err)
	}
}

// expectDropped reads to the end of the stream, which must come with
// nothing before it: EOF, or a reset if the server closed before it read
// what the client sent last.
func (c *wsClient) expectDropped(t *testing.T) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	b, err := io.ReadAll(c.br)
	if len(b) != 0 || err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read %q, %v; want EOF or a reset", b, err)
	}
}

// expectClosedFd checks that the server's descriptor is closed, not just
// shut down: a closed socket answers a write with a reset. (A descriptor
// leaked after shutdown(2) would take the byte silently.)
func (c *wsClient) expectClosedFd(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(waitFor); ; runtime.Gosched() {
		_ = c.SetWriteDeadline(deadline)
		if _, err := c.Write([]byte{0}); err != nil {
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("write after the server closed: %v, want a reset", err)
			}
			return
		}
	}
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(waitFor); !cond(); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, waitFor)
		}
	}
}

// live is the engine's count of connections not finished yet.
func (s *wsServer) live() int {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	return s.e.live
}

// mustCloseCode checks a close frame's code.
func mustCloseCode(t *testing.T, f ws.Frame, code handler.CloseCode) {
	t.Helper()
	if f.Header.OpCode != ws.OpClose || len(f.Payload) < 2 {
		t.Fatalf("got %v %q, want a close frame", f.Header.OpCode, f.Payload)
	}
	if got := handler.CloseCode(uint16(f.Payload[0])<<8 | uint16(f.Payload[1])); got != code {
		t.Fatalf("close code %d %q, want %d", got, f.Payload[2:], code)
	}
}
