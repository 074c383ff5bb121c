package blocking_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ws4go/ws4go/internal/blocking"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/internal/tlsattack"
)

// boundPair is a TCP connection whose server end is TLS over BoundWrites
// (d), with a small send buffer; the client end is tlsattack's, not taken
// over yet.
func boundPair(t *testing.T, d time.Duration) (*tls.Conn, *tlsattack.Conn) {
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
		smallBuffer(nc)
		sc := tls.Server(blocking.BoundWrites(nc, d), &tls.Config{Certificates: []tls.Certificate{cert}})
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
	t.Cleanup(func() { blocking.Abort(sc) })
	return sc, c
}

// TestBoundWritesKeyUpdate: a reader that is not a Transport (net/http's,
// on a connection the fallback server holds) sets no write deadline; a
// peer that sends KeyUpdates and never reads blocks it in crypto/tls's
// answer, which BoundWrites fails within its bound (1 s here), and the
// Read returns.
func TestBoundWritesKeyUpdate(t *testing.T) {
	sc, c := boundPair(t, time.Second)
	if err := c.Take(); err != nil {
		t.Fatal(err)
	}
	read := make(chan error, 1)
	go func() {
		buf := make([]byte, 4<<10)
		for {
			if _, err := sc.Read(buf); err != nil {
				read <- err
				return
			}
		}
	}()
	keyUpdates(t, c)
	select {
	case err := <-read:
		t.Logf("Read: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the reader is still blocked 5 s after the peer stopped reading")
	}
}

// TestBoundWritesNoProgress: the bound is per write crypto/tls makes (a
// record): a long write to a slow but steady reader is not cut, one to a
// peer that reads nothing fails after the bound, and a deadline set
// through the connection applies as set.
func TestBoundWritesNoProgress(t *testing.T) {
	const d = 300 * time.Millisecond
	sc, c := boundPair(t, d)
	msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	read := make(chan error, 1)
	go func() { read <- readSlowly(c.Conn, len(msg), 25*time.Millisecond) }()
	begin := time.Now()
	if n, err := sc.Write(msg); n != len(msg) || err != nil {
		t.Fatalf("Write to a slow reader: %d, %v", n, err)
	}
	took := time.Since(begin)
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	if took < 2*d {
		t.Fatalf("the write took %v, not much longer than the bound %v: the test shows nothing", took, d)
	}
	// A deadline of the holder's own, longer than the bound, applies.
	_ = sc.SetWriteDeadline(time.Now().Add(3 * d))
	begin = time.Now()
	_, err := sc.Write(msg)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a peer that does not read: %v, want a deadline error", err)
	}
	if took := time.Since(begin); took < 2*d {
		t.Fatalf("failed after %v, before the deadline set (%v)", took, 3*d)
	}
}
