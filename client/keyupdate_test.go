package client_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/internal/tlsattack"
	"github.com/ws4go/ws4go/server"
)

// keyUpdateServer is a wss:// server for one connection: it answers the
// handshake, then stops reading and repeats "KeyUpdate(update_requested) +
// one byte of a large frame's payload": crypto/tls answers each KeyUpdate
// from inside the client's tls.Conn.Read, so once the socket is full the
// client's reading goroutine blocks in that write, holding crypto/tls's
// write lock. stuck is closed once it does; the server holds the
// connection until the test ends.
func keyUpdateServer(t *testing.T) (addr string, cfg *tls.Config, stuck <-chan struct{}) {
	t.Helper()
	cert, pool := testutil.SelfSigned(t)
	// Small socket buffers, from the start: the client's answers fill
	// them, and its own send buffer, with a few thousand KeyUpdates.
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 16<<10)
		})
	}}
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st := make(chan struct{})
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		c, err := tlsattack.Server(nc, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
		if err != nil {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(c.Conn))
		if err != nil {
			return
		}
		if _, err := io.WriteString(c, accept101(req, "")); err != nil || c.Take() != nil {
			return
		}
		// An unmasked binary frame of 8 MiB, its payload a byte per
		// KeyUpdate.
		if _, err := c.Write(c.AppendData(nil, []byte{0x82, 127, 0, 0, 0, 0, 0, 0x80, 0, 0})); err != nil {
			return
		}
		x := func() byte { return 'x' }
		if _, err := c.Flood(x, tlsattack.Stalled(tlsattack.StuckInKeyUpdate), time.Minute); err != nil {
			return
		}
		close(st)
		<-release
	}()
	t.Cleanup(func() {
		close(release)
		l.Close()
		<-done
	})
	return l.Addr().String(), &tls.Config{RootCAs: pool}, st
}

// stuckConn dials a keyUpdateServer with opts and returns once the
// client's reading goroutine is stuck in crypto/tls's answer, holding the
// write lock its next write needs.
func stuckConn(t *testing.T, opts client.Options) {
	t.Helper()
	addr, cfg, stuck := keyUpdateServer(t)
	opts.TLSConfig = cfg
	dial(t, "wss://"+addr+"/", newRecorder(), &opts)
	begin := time.Now()
	select {
	case <-stuck:
		t.Logf("stuck in %v", time.Since(begin).Round(time.Millisecond))
	case <-time.After(time.Minute):
		t.Fatal("the client's reading goroutine is not stuck after a minute")
	}
}

// TestHeartbeatNotHeldByOneConn: client connections with the same timer
// settings share one timer (a sweeper); one whose server blocks its socket
// (its reading goroutine stuck answering KeyUpdates, holding crypto/tls's
// write lock, so its heartbeat ping cannot be written for up to twice
// WriteTimeout) must not hold up the others: another connection's pings
// go out and are answered at the usual pace. (That the sweeper leaves a
// client's 1008 at MessageTimeout to a flusher too is checked in
// internal/wsconn.)
func TestHeartbeatNotHeldByOneConn(t *testing.T) {
	// Timer settings of this test only: a sweeper of its own.
	opts := client.Options{PingInterval: 110 * time.Millisecond, PongTimeout: 61 * time.Second,
		MessageTimeout: -1, WriteTimeout: time.Minute}
	stuckConn(t, opts)
	r := newRecorder()
	dial(t, "ws://"+start(t, &server.Server{})+"/", r, &opts)
	end := time.After(3 * time.Second)
	for i := range 3 {
		select {
		case <-r.pongs:
		case <-end:
			t.Fatalf("%d pongs in 3 s with pings every %v: the heartbeat is held up", i, opts.PingInterval)
		}
	}
}
