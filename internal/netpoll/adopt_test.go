//go:build linux

package netpoll

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/testcert"
	"github.com/ws4go/ws4go/internal/wsconn"
)

// handshakeOff answers the opening handshake on nc itself, blocking, as the
// server does off the engine (an accept hook, the http.Handler path, TLS):
// it returns the Conn maker and what was read past the head.
func handshakeOff(t *testing.T, nc net.Conn, h *testHandler) (func(wsconn.Transport) *wsconn.Conn, []byte) {
	t.Helper()
	_ = nc.SetDeadline(time.Now().Add(waitFor))
	defer nc.SetDeadline(time.Time{})
	br := bufio.NewReader(nc)
	var head []byte
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		line, err := br.ReadSlice('\n')
		if err != nil {
			t.Fatalf("reading the head: %v", err)
		}
		head = append(head, line...)
	}
	res, rej := handshake.CheckHead(head, &handshake.Config{})
	if rej != nil {
		t.Fatal(rej)
	}
	if _, err := nc.Write(handshake.AppendResponse(nil, res)); err != nil {
		t.Fatal(err)
	}
	rest, _ := br.Peek(br.Buffered())
	cfg := &wsconn.Config{MaxMessageSize: 4 << 20, MaxWriteQueue: 16 << 20, Logger: slog.New(slog.DiscardHandler)}
	return func(tr wsconn.Transport) *wsconn.Conn {
		return wsconn.New(cfg, tr, h, "", wsconn.Request{Head: string(head)})
	}, bytes.Clone(rest)
}

// acceptOne accepts one connection on a new loopback listener that the
// returned client dials; the client has sent its opening handshake and,
// in the same write, extra.
func acceptOne(t *testing.T, extra []byte, wrap func(net.Conn) net.Conn) (server net.Conn, client *wsClient) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type accepted struct {
		nc  net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		nc, err := l.Accept()
		ch <- accepted{nc, err}
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if wrap != nil {
		nc = wrap(nc)
	}
	a := <-ch
	if a.err != nil {
		t.Fatal(a.err)
	}
	t.Cleanup(func() { a.nc.Close() })
	go func() {
		_ = nc.SetWriteDeadline(time.Now().Add(waitFor))
		_, _ = nc.Write(append([]byte(upgradeHead("example.com")), extra...))
	}()
	return a.nc, &wsClient{Conn: nc, br: bufio.NewReader(nc)}
}

// acceptTLS is acceptOne over TLS: the server's end is a TLSServer
// connection whose TLS handshake is done, with a send buffer of a fixed
// size (no autotuning: a message larger than the buffers on the way is
// sure to fill them).
func acceptTLS(t *testing.T, extra []byte) (*tls.Conn, *wsClient) {
	t.Helper()
	cert, pool, err := testcert.New(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	snc, c := acceptOne(t, extra, func(nc net.Conn) net.Conn {
		return tls.Client(nc, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	})
	_ = snc.(*net.TCPConn).SetWriteBuffer(64 << 10)
	tc := TLSServer(snc, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return tc, c
}

// TestAdopt: a connection whose handshake ran elsewhere runs on the engine
// from Adopt on: Opened has run when Adopt returns, the bytes read past the
// head are fed first, the engine keeps a descriptor of its own (the one
// given is closed) and serves the connection to its end.
func TestAdopt(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, nil)
	h := newTestHandler()
	snc, c := acceptOne(t, frame(ws.OpText, true, []byte("early")), nil)
	mk, rest := handshakeOff(t, snc, h)
	if resp := c.response(t); resp.StatusCode != 101 {
		t.Fatal(resp.Status)
	}
	if err := e.Adopt(snc, mk, rest); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.opened:
	default:
		t.Fatal("Adopt returned before Opened ran")
	}
	if _, err := snc.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the adopted net.Conn: %v, want it closed", err)
	}
	c.expect(t, ws.OpText, []byte("early"))
	c.send(t, ws.OpBinary, []byte("later"))
	c.expect(t, ws.OpBinary, []byte("later"))
	c.send(t, ws.OpClose, closeBody(1000, ""))
	c.expect(t, ws.OpClose, closeBody(1000, ""))
	c.expectEOF(t)
	if ev := h.nextClosed(t); ev.code != 1000 {
		t.Fatalf("Closed %d", ev.code)
	}
}

// TestAdoptRefused: a connection the engine cannot take (no descriptor,
// or the engine closing) is left as it was, for the caller to serve.
func TestAdoptRefused(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, nil)
	mk := func(tr wsconn.Transport) *wsconn.Conn {
		t.Error("a Conn was made for a refused adoption")
		return wsconn.New(&wsconn.Config{}, tr, newTestHandler(), "", wsconn.Request{})
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := e.Adopt(a, mk, nil); err == nil {
		t.Fatal("Adopt took a connection without a descriptor")
	}
	go func() { _, _ = a.Write([]byte("x")) }()
	if _, err := io.ReadFull(b, make([]byte, 1)); err != nil {
		t.Fatalf("the refused connection no longer works: %v", err)
	}

	snc, _ := acceptOne(t, nil, nil)
	e.Close()
	if err := e.Adopt(snc, mk, nil); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Adopt on a closed engine: %v, want net.ErrClosed", err)
	}
	// Still the caller's: it reads the head the client sent.
	_ = snc.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := io.ReadFull(snc, make([]byte, 3)); err != nil {
		t.Fatalf("the refused connection no longer works: %v", err)
	}
}

// TestAdoptTLS: a TLS connection whose TLS and opening handshakes ran
// blocking (TLSServer) runs on the engine from AdoptTLS on: records
// crypto/tls read past the head are fed at once, large messages go both
// ways through the engine's non-blocking TLS writes (ciphertext waiting
// for a socket that is full), and the closing handshake ends with the
// close frame and close_notify delivered before the socket closes.
func TestAdoptTLS(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, nil)
	h := newTestHandler()
	tc, c := acceptTLS(t, frame(ws.OpText, true, []byte("early")))
	mk, rest := handshakeOff(t, tc, h)
	var tio *tlsIO
	adopted := func(tr wsconn.Transport) *wsconn.Conn {
		tio = tr.(*conn).tlsIO()
		return mk(tr)
	}
	if err := e.AdoptTLS(tc, adopted, rest); err != nil {
		t.Fatal(err)
	}
	if err := e.AdoptTLS(tc, mk, rest); err == nil {
		t.Fatal("AdoptTLS took a connection twice")
	}
	if resp := c.response(t); resp.StatusCode != 101 {
		t.Fatal(resp.Status)
	}
	c.expect(t, ws.OpText, []byte("early"))
	// A message larger than the buffers on the way, echoed to a client
	// that reads only once the server's ciphertext waits for the socket.
	big := pattern(2<<20, 9)
	go func() {
		_ = c.SetWriteDeadline(time.Now().Add(waitFor))
		_, _ = c.Write(frame(ws.OpBinary, true, big))
	}()
	eventually(t, "ciphertext waiting for the socket", func() bool { return tio.Pending() > 0 })
	c.expect(t, ws.OpBinary, big)
	c.send(t, ws.OpClose, closeBody(1000, "tls"))
	c.expect(t, ws.OpClose, closeBody(1000, "tls"))
	c.expectEOF(t) // close_notify: a clean end of the TLS stream
	if ev := h.nextClosed(t); ev.code != 1000 || ev.reason != "tls" {
		t.Fatalf("Closed %d %q", ev.code, ev.reason)
	}
}

// TestAdoptTLSRefused: AdoptTLS takes only connections TLSServer made, and
// none once the engine is closing; a refused one is still the caller's,
// blocking as before.
func TestAdoptTLSRefused(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, nil)
	mk := func(tr wsconn.Transport) *wsconn.Conn {
		t.Error("a Conn was made for a refused adoption")
		return nil
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := e.AdoptTLS(tls.Server(a, &tls.Config{}), mk, nil); err == nil {
		t.Fatal("AdoptTLS took a tls.Conn TLSServer did not make")
	}
	tc, _ := acceptTLS(t, nil)
	snc := tc.NetConn()
	e.Close()
	if err := e.AdoptTLS(tc, mk, nil); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("AdoptTLS on a closed engine: %v, want net.ErrClosed", err)
	}
	// Still the caller's, blocking: it reads the client's head.
	_ = tc.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := io.ReadFull(tc, make([]byte, 3)); err != nil {
		t.Fatalf("the refused connection no longer works: %v", err)
	}
	if tc.LocalAddr().String() != snc.LocalAddr().String() || tc.RemoteAddr().String() != snc.RemoteAddr().String() {
		t.Fatal("the refused connection's addresses changed")
	}
}

// TestAdoptTLSFailure: a connection that fails while a large message waits
// for a TLS peer that does not read (a handler panic: 1011) delivers the
// message whole, then the close frame, then close_notify, before its socket
// closes: the graceful close waits for the ciphertext the socket has not
// taken.
func TestAdoptTLSFailure(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, nil)
	big := pattern(2<<20, 5)
	h := newTestHandler()
	h.onMsg = func(c handler.Conn, m handler.Message) {
		_ = c.SendBinary(big)
		panic("after a large send")
	}
	tc, c := acceptTLS(t, frame(ws.OpText, true, []byte("go")))
	mk, rest := handshakeOff(t, tc, h)
	if err := e.AdoptTLS(tc, mk, rest); err != nil {
		t.Fatal(err)
	}
	if resp := c.response(t); resp.StatusCode != 101 {
		t.Fatal(resp.Status)
	}
	c.expect(t, ws.OpBinary, big)
	mustCloseCode(t, c.next(t), handler.CloseInternalError)
	c.expectEOF(t)
	if ev := h.nextClosed(t); ev.code != handler.CloseInternalError {
		t.Fatalf("Closed %d %q, want 1011", ev.code, ev.reason)
	}
}
