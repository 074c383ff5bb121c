//go:build linux

package netpoll

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/wsconn"
)

// TestServeEcho: a connection's life on the engine over a real socket: the
// 101, messages both ways (small, large, fragmented), a ping answered, the
// peer's close echoed, then EOF; Closed gets the peer's code and the
// descriptor is closed and its slot freed.
func TestServeEcho(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.dialWS(t)
	nc := s.nextConn(t)
	c.send(t, ws.OpText, []byte("hello"))
	c.expect(t, ws.OpText, []byte("hello"))
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB: many reads, and writevs
	c.send(t, ws.OpBinary, big)
	c.expect(t, ws.OpBinary, big)
	// A message in three fragments, a ping between them.
	for _, b := range [][]byte{
		frame(ws.OpText, false, []byte("fr")),
		frame(ws.OpPing, true, []byte("p")),
		frame(ws.OpContinuation, false, []byte("ag")),
		frame(ws.OpContinuation, true, []byte("ments")),
	} {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	c.expect(t, ws.OpPong, []byte("p"))
	c.expect(t, ws.OpText, []byte("fragments"))
	c.send(t, ws.OpClose, closeBody(4000, "bye"))
	c.expect(t, ws.OpClose, closeBody(4000, "bye"))
	c.expectEOF(t)
	if ev := s.h.nextClosed(t); ev.code != 4000 || ev.reason != "bye" {
		t.Fatalf("Closed %d %q, want 4000 bye", ev.code, ev.reason)
	}
	s.released(t, nc)
	c.expectClosedFd(t)
	eventually(t, "the connection counted out", func() bool { return s.live() == 0 })
}

// TestServeBytesAfterHead: frames sent in the same segment as the request
// head are the start of the stream, not lost with the head's buffer.
func TestServeBytesAfterHead(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.dialWS(t, append(frame(ws.OpText, true, []byte("early")), frame(ws.OpBinary, true, []byte{1, 2})...)...)
	c.expect(t, ws.OpText, []byte("early"))
	c.expect(t, ws.OpBinary, []byte{1, 2})
}

// TestServeHeadInPieces: a head that arrives a byte per segment is put
// together across reads (edge-triggered: each read takes what is there).
func TestServeHeadInPieces(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.dial(t)
	head := upgradeHead("example.com")
	for i := range len(head) {
		if _, err := c.Write([]byte{head[i]}); err != nil {
			t.Fatal(err)
		}
	}
	if resp := c.response(t); resp.StatusCode != 101 {
		t.Fatalf("%s, want 101", resp.Status)
	}
	c.send(t, ws.OpText, []byte("ok"))
	c.expect(t, ws.OpText, []byte("ok"))
}

// TestServeRefusals: a refused head gets its response, then the
// connection ends (gracefully: the response is not cut by a reset), and
// the engine lets go of it; so does a head that grows past MaxHeadSize.
func TestServeRefusals(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	for _, c := range []struct {
		send   string
		status int
	}{
		{strings.Replace(upgradeHead("example.com"), "Version: 13", "Version: 8", 1), 426},
		{"GET /ws HTTP/1.1\r\nHost: example.com\r\n\r\n", 400},
		{"GET /ws HTTP/1.1\r\n" + strings.Repeat("X-Pad: 0123456789\r\n", 600), 431},
	} {
		cl := s.dial(t)
		if _, err := cl.Write([]byte(c.send)); err != nil {
			t.Fatal(err)
		}
		resp := cl.response(t)
		if resp.StatusCode != c.status {
			t.Errorf("%.30q: %s, want %d", c.send, resp.Status, c.status)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || len(body) == 0 {
			t.Errorf("%.30q: body %q, %v", c.send, body, err)
		}
		cl.expectEOF(t)
		cl.expectClosedFd(t)
	}
	eventually(t, "the refused connections counted out", func() bool { return s.live() == 0 })
	if n := len(s.h.opened); n != 0 {
		t.Fatalf("%d connections opened", n)
	}
}

// TestServeServerCloses: the server's Close sends its close frame; data the
// peer sends before answering is discarded; the peer's answer ends the
// connection with the code the server sent.
func TestServeServerCloses(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.dialWS(t)
	wc := s.h.nextOpened(t)
	if err := wc.Close(4001, "going"); err != nil {
		t.Fatal(err)
	}
	c.expect(t, ws.OpClose, closeBody(4001, "going"))
	c.send(t, ws.OpText, []byte("too late"))
	c.send(t, ws.OpClose, closeBody(4001, "going"))
	c.expectEOF(t)
	if ev := s.h.nextClosed(t); ev.code != 4001 {
		t.Fatalf("Closed %d %q, want 4001", ev.code, ev.reason)
	}
}

// TestServeProtocolError: a frame the server must refuse (an unmasked one)
// fails the connection with 1002, whose descriptor is then closed without
// waiting for the peer.
func TestServeProtocolError(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.dialWS(t)
	nc := s.nextConn(t)
	unmasked, _ := ws.CompileFrame(ws.NewTextFrame([]byte("x")))
	if _, err := c.Write(unmasked); err != nil {
		t.Fatal(err)
	}
	mustCloseCode(t, c.next(t), handler.CloseProtocolError)
	c.expectEOF(t)
	if ev := s.h.nextClosed(t); ev.code != handler.CloseProtocolError {
		t.Fatalf("Closed %d %q, want 1002", ev.code, ev.reason)
	}
	s.released(t, nc)
}

// TestServePeerVanishes: a peer that goes without a close frame, with a
// FIN or a reset, ends its connection with 1006 and frees its descriptor.
func TestServePeerVanishes(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	for _, reset := range []bool{false, true} {
		c := s.dialWS(t)
		nc := s.nextConn(t)
		c.send(t, ws.OpText, []byte("x")) // the server has read from it
		c.expect(t, ws.OpText, []byte("x"))
		if reset {
			_ = c.Conn.(*net.TCPConn).SetLinger(0)
		}
		c.Close()
		ev := s.h.nextClosed(t)
		if ev.code != handler.CloseAbnormal {
			t.Fatalf("reset %v: Closed %d %q, want 1006", reset, ev.code, ev.reason)
		}
		if reset && !strings.Contains(ev.reason, "reset") {
			t.Errorf("after a reset: reason %q", ev.reason)
		}
		s.released(t, nc)
	}
}

// TestServeEngineClose: Close ends every open connection (Closed runs for
// each before it returns) and the peers see their sockets closed.
func TestServeEngineClose(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	var clients []*wsClient
	for range 3 {
		c := s.dialWS(t)
		s.h.nextOpened(t)
		clients = append(clients, c)
	}
	s.e.Close()
	if n := len(s.h.closed); n != 3 {
		t.Fatalf("Close returned with %d of 3 Closed calls made", n)
	}
	for _, c := range clients {
		c.expectEOF(t)
	}
	// The listener has left the engine (ServeListener returned).
	s.e.lmu.RLock()
	n := len(s.e.listeners)
	s.e.lmu.RUnlock()
	if n != 0 {
		t.Fatalf("%d listeners still served", n)
	}
}

// TestServeHandshakeTimeout: a head that does not arrive whole within
// HandshakeTimeout costs its connection, and the engine says so.
func TestServeHandshakeTimeout(t *testing.T) {
	t.Parallel()
	var accepted, timedOut atomic.Int32
	s := startServer(t, serverOpts{engine: func(c *Config) {
		c.HandshakeTimeout = 50 * time.Millisecond
		c.Accepted = func() { accepted.Add(1) }
		c.TimedOut = func() { timedOut.Add(1) }
	}})
	c := s.dial(t)
	if _, err := c.Write([]byte("GET /ws HTTP/1.1\r\nHost: a\r\n")); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	c.expectDropped(t)
	if took := time.Since(begin); took > 5*time.Second {
		t.Fatalf("dropped after %v", took)
	}
	if accepted.Load() != 1 || timedOut.Load() != 1 {
		t.Fatalf("Accepted %d, TimedOut %d; want 1, 1", accepted.Load(), timedOut.Load())
	}
	// The sweeper stops once no handshake is left.
	eventually(t, "the handshake sweeper stopped", func() bool {
		s.e.mu.Lock()
		defer s.e.mu.Unlock()
		return s.e.hsStop == nil && len(s.e.handshake) == 0
	})
}

// TestServeDropHandshakes: DropHandshakes ends the connections still in
// their handshake, and only those.
func TestServeDropHandshakes(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	open := s.dialWS(t)
	pending := s.dial(t) // (sends nothing: a dropped connection with unread input would be reset)
	eventually(t, "the handshake reached the engine", func() bool {
		s.e.mu.Lock()
		defer s.e.mu.Unlock()
		return len(s.e.handshake) == 1
	})
	s.e.DropHandshakes()
	pending.expectEOF(t)
	open.send(t, ws.OpText, []byte("still here"))
	open.expect(t, ws.OpText, []byte("still here"))
}

// TestServeFallback: a head that Decide gives to a fallback leaves the
// engine: the fallback gets a connection of its own with the bytes read so
// far, and the engine no longer reads the socket (what the client sends
// next reaches the fallback whole).
func TestServeFallback(t *testing.T) {
	t.Parallel()
	got := make(chan []byte, 1)
	s := startServer(t, serverOpts{decide: func(head []byte, p Peer, upgrade func() Decision) Decision {
		if bytes.Contains(head, []byte("Upgrade: websocket")) {
			return upgrade()
		}
		return Decision{Fallback: func(nc net.Conn, read []byte) {
			got <- read
			go func() {
				defer nc.Close()
				_, _ = nc.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
				// Echo the rest of the connection.
				_, _ = io.Copy(nc, nc)
			}()
		}}
	}})
	c := s.dial(t)
	req := "GET /plain HTTP/1.1\r\nHost: a\r\n\r\n"
	if _, err := c.Write([]byte(req + "early")); err != nil {
		t.Fatal(err)
	}
	select {
	case read := <-got:
		if !bytes.HasPrefix(read, []byte(req)) {
			t.Fatalf("the fallback got %q", read)
		}
	case <-time.After(waitFor):
		t.Fatal("no fallback")
	}
	if resp := c.response(t); resp.StatusCode != 200 {
		t.Fatalf("%s", resp.Status)
	}
	msg := bytes.Repeat([]byte("m"), 100<<10)
	go func() { _, _ = c.Write(msg) }()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	echo := make([]byte, len(msg))
	if _, err := io.ReadFull(c.br, echo); err != nil || !bytes.Equal(echo, msg) {
		t.Fatalf("the fallback's connection lost bytes: %v", err)
	}
	eventually(t, "the handed-off connection counted out", func() bool { return s.live() == 0 })
}

// TestServeAddrs: a connection's addresses are the socket's, over TCP, on
// a listener on every address (the socket's own local address, not the
// wildcard), IPv6 and Unix sockets; the remote address stays right once
// the connection has closed.
func TestServeAddrs(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "np")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, c := range []struct {
		name, network, address string
	}{
		{"tcp4", "tcp", "127.0.0.1:0"},
		{"wildcard", "tcp", "0.0.0.0:0"},
		{"tcp6", "tcp", "[::1]:0"},
		{"unix", "unix", filepath.Join(dir, "s")},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "tcp6" {
				l, err := net.Listen("tcp", "[::1]:0")
				if err != nil {
					t.Skip("no IPv6 loopback:", err)
				}
				l.Close()
			}
			s := startServer(t, serverOpts{network: c.network, address: c.address})
			if c.name == "wildcard" {
				_, port, _ := net.SplitHostPort(s.addr)
				s.addr = net.JoinHostPort("127.0.0.1", port)
			}
			cl := s.dialWS(t)
			wc := s.h.nextOpened(t)
			wantLocal, wantRemote := cl.RemoteAddr().String(), cl.LocalAddr().String()
			if c.network == "unix" {
				wantRemote = "" // an unnamed client socket
			}
			if got := wc.LocalAddr().String(); got != wantLocal {
				t.Errorf("LocalAddr %q, want %q", got, wantLocal)
			}
			if got := wc.RemoteAddr(); got.String() != wantRemote || got.Network() != c.network {
				t.Errorf("RemoteAddr %s %q, want %s %q", got.Network(), got, c.network, wantRemote)
			}
			cl.Close()
			s.h.nextClosed(t)
			if got := wc.RemoteAddr().String(); got != wantRemote {
				t.Errorf("RemoteAddr after the close %q, want %q", got, wantRemote)
			}
		})
	}
}

// TestServeListenerKinds: only listeners with a raw descriptor can be
// served; others are refused at once, leaving them to the caller.
func TestServeListenerKinds(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tl := tls.NewListener(l, &tls.Config{})
	if CanServe(tl) || !CanServe(l) {
		t.Fatalf("CanServe: TLS wrapper %v, TCP %v", CanServe(tl), CanServe(l))
	}
	if err := e.ServeListener(tl); err == nil {
		t.Fatal("ServeListener took a listener without a descriptor")
	}
	e.lmu.RLock()
	n := len(e.listeners)
	e.lmu.RUnlock()
	if n != 0 {
		t.Fatalf("%d listeners registered", n)
	}
	e.StopListener(l) // never served: nothing to do
}

// TestNewDefaults: zero settings get the documented defaults.
func TestNewDefaults(t *testing.T) {
	t.Parallel()
	e, err := New(Config{HeadEnd: refusingHeadEnd})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.cfg.Workers <= 0 || e.cfg.ReadBufferSize != 32<<10 || e.cfg.HandshakeTimeout != 10*time.Second || e.cfg.Logger == nil {
		t.Fatalf("defaults: %+v", e.cfg)
	}
	if busy, queued := e.Stats(); busy < 0 || queued != 0 {
		t.Fatalf("Stats of an idle engine: %d busy, %d queued", busy, queued)
	}
}

// TestServeBroadcast: a broadcast only queues (the caller makes no system
// call for any connection) and the workers write it: every connection gets
// every message, in the one order, between its own echoes.
func TestServeBroadcast(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	var clients []*wsClient
	for range 5 {
		clients = append(clients, s.dialWS(t))
		s.h.nextOpened(t)
	}
	for i := range 20 {
		m, err := wsconn.NewPrepared(handler.Text, []byte{'n', byte('a' + i)})
		if err != nil {
			t.Fatal(err)
		}
		if n := s.tab.Broadcast(m); n != len(clients) {
			t.Fatalf("broadcast queued for %d of %d connections", n, len(clients))
		}
	}
	for _, c := range clients {
		for i := range 20 {
			c.expect(t, ws.OpText, []byte{'n', byte('a' + i)})
		}
		c.send(t, ws.OpText, []byte("mine"))
		c.expect(t, ws.OpText, []byte("mine"))
	}
}
