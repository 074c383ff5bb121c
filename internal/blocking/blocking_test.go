package blocking_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/blocking"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/internal/tlsattack"
	"github.com/ws4go/ws4go/internal/wsconn"
	"github.com/ws4go/ws4go/server"
	_ "github.com/ws4go/ws4go/xconnect"
)

// tcpPair returns both ends of a TCP connection on 127.0.0.1, closed when
// the test ends.
func tcpPair(t *testing.T) (ours, peer net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, _ := l.Accept()
		accepted <- nc
	}()
	ours, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer = <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { ours.Close(); peer.Close() })
	return ours, peer
}

// tlsPair is tcpPair with TLS on top: ours is the server's end.
func tlsPair(t *testing.T) (ours, peer net.Conn) {
	t.Helper()
	a, b := tcpPair(t)
	cert, pool := testutil.SelfSigned(t)
	s := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{cert}})
	c := tls.Client(b, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	errc := make(chan error, 1)
	go func() { errc <- s.Handshake() }()
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return s, c
}

// smallBuffer makes a TCP connection's send buffer small, so a write waits
// for its peer soon. (Not the receive buffer of the peer: a small one makes
// the kernel drop segments and back off for hundreds of milliseconds.)
func smallBuffer(nc net.Conn) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	_ = nc.(*net.TCPConn).SetWriteBuffer(16 << 10)
}

// closedWith is a handler reporting how its connection ended.
type closedWith struct {
	handler.Base
	closed chan string
}

func (h closedWith) Closed(_ handler.Conn, code handler.CloseCode, reason string) {
	h.closed <- code.String() + " " + reason
}

// start runs a Conn (a server's, or a client's) on a Transport over nc,
// with no timer table; it returns the Transport, the Conn and a channel
// closed once Run has returned.
func start(t *testing.T, nc net.Conn, cfg *blocking.Config, client bool, h handler.Handler) (*blocking.Transport, *wsconn.Conn, <-chan struct{}) {
	t.Helper()
	tr, c, _, done := startIn(t, nc, cfg, client, h, false)
	return tr, c, done
}

// startIn is start, with the Conn in a table of its own if inTable (so
// that a publish can reach it).
func startIn(t *testing.T, nc net.Conn, cfg *blocking.Config, client bool, h handler.Handler, inTable bool) (*blocking.Transport, *wsconn.Conn, *wsconn.Table, <-chan struct{}) {
	t.Helper()
	if cfg.Flushers == nil {
		cfg.Flushers = &sync.WaitGroup{}
	}
	wcfg := &wsconn.Config{Client: client, MaxMessageSize: 16 << 20, MaxWriteQueue: 4 << 20, WriteTimeout: cfg.WriteTimeout}
	var tab *wsconn.Table
	if inTable {
		tab = wsconn.NewTable(wcfg)
	}
	tr, c := blocking.New(nc, cfg, func(tr wsconn.Transport) *wsconn.Conn {
		return wsconn.New(wcfg, tr, h, "", wsconn.Request{})
	})
	c.Start(tab)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.Run(nil)
	}()
	t.Cleanup(func() {
		tr.Close()
		<-done
		cfg.Flushers.Wait()
	})
	return tr, c, tab, done
}

// readSlowly reads from nc 16 KiB at a time with a pause after each read
// (a slow but steady reader) until it has n bytes or fails.
func readSlowly(nc net.Conn, n int, pause time.Duration) error {
	buf := make([]byte, 16<<10)
	for got := 0; got < n; {
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, err := io.ReadFull(nc, buf[:min(len(buf), n-got)])
		got += k
		if err != nil {
			return err
		}
		time.Sleep(pause) // the reader's pace: not a synchronisation
	}
	return nil
}

// TestWriteTimeoutIsNoProgress: WriteTimeout bounds a write that makes no
// progress, not a long write to a slow but steady reader, on a raw socket
// (re-armed on each progress) and over TLS (per 16 KiB chunk); a peer that
// does not read fails the write with os.ErrDeadlineExceeded after it.
func TestWriteTimeoutIsNoProgress(t *testing.T) {
	for _, tc := range []struct {
		name string
		pair func(*testing.T) (net.Conn, net.Conn)
	}{{"tcp", tcpPair}, {"tls", tlsPair}} {
		t.Run(tc.name, func(t *testing.T) {
			const wt = 300 * time.Millisecond
			ours, peer := tc.pair(t)
			smallBuffer(ours)
			cfg := &blocking.Config{WriteTimeout: wt, Sync: true}
			tr, _, _ := start(t, ours, cfg, true, handler.Base{})
			msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
			read := make(chan error, 1)
			go func() { read <- readSlowly(peer, len(msg), 25*time.Millisecond) }()
			begin := time.Now()
			if n, err := tr.Write([][]byte{msg[:10], msg[10:]}); n != len(msg) || err != nil {
				t.Fatalf("Write to a slow reader: %d, %v", n, err)
			}
			took := time.Since(begin)
			if err := <-read; err != nil {
				t.Fatal(err)
			}
			if took < 2*wt {
				t.Fatalf("the write took %v, not much longer than WriteTimeout %v: the test shows nothing", took, wt)
			}
			// Now the peer reads nothing.
			begin = time.Now()
			_, err := tr.Write([][]byte{msg})
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Write to a peer that does not read: %v, want a deadline error", err)
			}
			if took := time.Since(begin); took < wt {
				t.Fatalf("failed after %v, before WriteTimeout %v", took, wt)
			}
		})
	}
}

// TestWriteRawNoWait: on a raw socket a server's Transport writes what the
// socket takes and returns (the Conn queues the rest for a flusher).
func TestWriteRawNoWait(t *testing.T) {
	ours, _ := tcpPair(t)
	smallBuffer(ours)
	tr, _, _ := start(t, ours, &blocking.Config{WriteTimeout: time.Minute}, false, handler.Base{})
	if tr.Blocking() {
		t.Fatal("a server's raw socket is not Blocking")
	}
	msg := make([]byte, 8<<20)
	n, err := tr.Write([][]byte{msg})
	if err != nil || n == 0 || n >= len(msg) {
		t.Fatalf("Write: %d of %d, %v; want part of it at once", n, len(msg), err)
	}
}

// TestFlusherLifecycle: once Run has returned, WaitWritable starts no
// flusher, so an owner's wait for Flushers cannot race a late one (the
// race detector reports an Add concurrent with a Wait).
func TestFlusherLifecycle(t *testing.T) {
	ours, peer := tcpPair(t)
	var wg sync.WaitGroup
	tr, _, done := start(t, ours, &blocking.Config{Flushers: &wg}, false, handler.Base{})
	peer.Close()
	<-done
	waited := make(chan struct{})
	go func() {
		wg.Wait()
		close(waited)
	}()
	for range 100 {
		tr.WaitWritable()
	}
	<-waited
}

// keyUpdates floods the server's end with KeyUpdates until it has stopped
// reading (c's writes stall) and its reading goroutine is stuck answering
// them, or has dropped the connection.
func keyUpdates(t *testing.T, c *tlsattack.Conn) {
	t.Helper()
	zero := func() byte { return 0 }
	_, err := c.Flood(zero, tlsattack.Stalled(tlsattack.StuckInKeyUpdate), 30*time.Second)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) { // (dropped already: the write was bounded)
		t.Fatal(err)
	}
}

// keyUpdatePair is a TLS connection whose server end runs a Transport and
// whose client end takes over to send KeyUpdates. The server end reads
// bytes that are not WebSocket frames: a raw Transport test, the Conn
// would fail it at the first byte, so its input is not read (the handler
// blocks Opened until the test ends).
func keyUpdatePair(t *testing.T, wt time.Duration) (*blocking.Transport, *tlsattack.Conn, <-chan string, <-chan struct{}) {
	t.Helper()
	cert, pool := testutil.SelfSigned(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan *tls.Conn, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		// A small send buffer fills with few answers.
		smallBuffer(nc)
		sc := tls.Server(nc, &tls.Config{Certificates: []tls.Certificate{cert}})
		if sc.Handshake() != nil {
			nc.Close()
			sc = nil
		}
		accepted <- sc
	}()
	c, err := tlsattack.Dial(l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}, 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sc := <-accepted
	if sc == nil {
		t.Fatal("the server's handshake failed")
	}
	if err := c.Take(); err != nil {
		t.Fatal(err)
	}
	// A binary frame of 8 MiB, masked: its payload is the bytes that
	// follow each KeyUpdate.
	hdr := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x80, 0, 0, 1, 2, 3, 4}
	if _, err := c.Write(c.AppendData(nil, hdr)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan string, 1)
	tr, _, done := start(t, sc, &blocking.Config{WriteTimeout: wt}, false, closedWith{closed: closed})
	return tr, c, closed, done
}

// TestTLSReaderWriteBounded: a peer that sends KeyUpdates and never reads
// blocks the reading goroutine in crypto/tls's answer; the write fails
// within twice WriteTimeout (1 s here) and the connection ends as after a
// write timeout.
func TestTLSReaderWriteBounded(t *testing.T) {
	_, c, closed, done := keyUpdatePair(t, time.Second)
	keyUpdates(t, c)
	select {
	case got := <-closed:
		if got != handler.CloseAbnormal.String()+" write timeout" {
			t.Errorf("closed with %q, want a write timeout", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the connection outlived its blocked write by 5 s")
	}
	<-done
}

// TestTLSCloseDoesNotWait: while the reading goroutine is stuck in
// crypto/tls's answer to a KeyUpdate (with a minute to go), Close returns
// at once and the reading goroutine ends.
func TestTLSCloseDoesNotWait(t *testing.T) {
	tr, c, closed, done := keyUpdatePair(t, time.Minute)
	keyUpdates(t, c)
	returned := make(chan struct{})
	go func() {
		tr.Close()
		close(returned)
	}()
	for _, ch := range []<-chan struct{}{returned, done} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("Close, or the reading goroutine, still blocked after 5 s")
		}
	}
	<-closed
}

// TestHTTP2IdleStream: a client's WebSocket over an HTTP/2 stream stays
// open while idle past WriteTimeout after a write: no write deadline is
// left set on the stream (a passed one resets it).
func TestHTTP2IdleStream(t *testing.T) {
	const wt = 200 * time.Millisecond
	cert, pool := testutil.SelfSigned(t)
	s := &server.Server{NewHandler: handler.NewEcho,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}}
	addr := testutil.Serve(t, s, nil)
	hc := testutil.DialH2(t, addr, pool)
	resp, sc := hc.Open("/", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("extended CONNECT: %s", resp.Status)
	}
	got := make(chan string, 4)
	closed := make(chan string, 1)
	h := &echoed{closedWith: closedWith{closed: closed}, got: got}
	_, c, _ := start(t, sc, &blocking.Config{WriteTimeout: wt, Sync: true, Linger: time.Second}, true, h)
	for _, m := range []string{"one", "two"} {
		if err := c.SendText(m); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-got:
			if e != m {
				t.Fatalf("echo %q, want %q", e, m)
			}
		case reason := <-closed:
			t.Fatalf("closed (%s) while idle past WriteTimeout", reason)
		case <-time.After(5 * time.Second):
			t.Fatal("no echo")
		}
		time.Sleep(3 * wt) // idle past WriteTimeout: not a synchronisation
	}
	_ = c.Close(handler.CloseNormal, "")
	select {
	case reason := <-closed:
		if reason != handler.CloseNormal.String()+" " {
			t.Errorf("closed with %q, want a normal close", reason)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the closing handshake did not end")
	}
}

type echoed struct {
	closedWith
	got chan string
}

func (e *echoed) ReceivedMessage(_ handler.Conn, m handler.Message) { e.got <- string(m.Data) }

// TestShutdownLinger: after the closing handshake the client half-closes
// and reads on until the server closes the connection, or Linger passes;
// the server (Linger 0) closes at once.
func TestShutdownLinger(t *testing.T) {
	closeFrame := func(mask bool) []byte {
		f := ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
		if mask {
			f = ws.MaskFrameInPlace(f)
		}
		b, _ := ws.CompileFrame(f)
		return b
	}
	for _, tc := range []struct {
		name     string
		client   bool
		linger   time.Duration
		peerEnds bool // the peer closes once it has the close frame
		min, max time.Duration
	}{
		{"client, server closes", true, time.Minute, true, 0, 5 * time.Second},
		{"client, server does not close", true, 500 * time.Millisecond, false, 500 * time.Millisecond, 5 * time.Second},
		{"server", false, 0, false, 0, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours, peer := tcpPair(t)
			closed := make(chan string, 1)
			_, c, done := start(t, ours, &blocking.Config{WriteTimeout: time.Minute, Sync: tc.client, Linger: tc.linger}, tc.client, closedWith{closed: closed})
			// The peer starts the closing handshake.
			if _, err := peer.Write(closeFrame(!tc.client)); err != nil {
				t.Fatal(err)
			}
			begin := time.Now()
			// Our answer, then our FIN.
			_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, err := io.ReadAll(peer)
			if err != nil || len(b) == 0 {
				t.Fatalf("read %d bytes, %v; want the close frame, then EOF", len(b), err)
			}
			if tc.peerEnds {
				peer.Close()
			}
			<-done
			if took := time.Since(begin); took < tc.min || took > tc.max {
				t.Errorf("the connection ended after %v, want %v to %v", took, tc.min, tc.max)
			}
			if got := <-closed; got != handler.CloseNormal.String()+" " {
				t.Errorf("closed with %q", got)
			}
			_ = c
		})
	}
}
