package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

// burstToReader sends n messages of size from this goroutine (as a handler's
// own goroutine would, e.g. a snapshot pushed after Opened) while c reads
// them all as fast as it can; it fails on any send error.
func burstToReader(t *testing.T, s *server.Server, c *rawClient, n int) {
	t.Helper()
	var conn handler.Conn
	s.Range(func(hc handler.Conn) bool { conn = hc; return false })
	const size = 64 << 10
	got := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			h, p, err := c.read()
			if err != nil {
				got <- err
				return
			}
			if h.OpCode != ws.OpBinary || len(p) != size {
				got <- fmt.Errorf("got op %d %q", h.OpCode, p[:min(len(p), 40)])
				return
			}
		}
		got <- nil
	}()
	for i := 0; i < n; i++ {
		if err := conn.SendBinary(make([]byte, size)); err != nil {
			t.Fatalf("send %d of %d (64 KiB each) to a peer that reads: %v", i, n, err)
		}
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("timeout")
	}
}

// TestTLSBurstToReader: before defersWrites a Send on the
// goroutine engine's TLS blocked until written (backpressure); now every
// Send only queues, so a burst passes MaxWriteQueue and the connection is
// closed with 1008 "write queue overflow" although the peer reads at full
// speed. (netpoll passes: its Sends write what the socket takes.)
func TestTLSBurstToReader(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		s := &server.Server{MaxWriteQueue: 1 << 20}
		addr, pool := startTLS(t, e, s)
		c, _ := dialTLS(t, addr, pool)
		c.echoes("ready")
		burstToReader(t, s, c, 64)
	})
}

// TestH2BurstToReader: the same over an HTTP/2 stream (both
// engines run streams on the goroutine engine's blockingTransport), with
// the default settings (MaxWriteQueue 4 MiB): 16 MiB in 64 KiB messages.
func TestH2BurstToReader(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		s := &server.Server{}
		addr, pool := startH2(t, e, s)
		hc := testutil.DialH2(t, addr, pool)
		_, c := openH2(t, hc, "/", nil)
		c.echoes("ready")
		burstToReader(t, s, c, 256)
	})
}
