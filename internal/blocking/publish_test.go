package blocking_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/blocking"
	"github.com/ws4go/ws4go/internal/wsconn"
)

// readText reads the next frame from r and checks that it is the text
// message want, unmasked.
func readText(t *testing.T, nc net.Conn, r *bufio.Reader, want string) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := ws.ReadFrame(r)
	if err != nil || f.Header.OpCode != ws.OpText || f.Header.Masked || string(f.Payload) != want {
		t.Fatalf("read %v %q masked %v (%v), want the text %q", f.Header.OpCode, f.Payload, f.Header.Masked, err, want)
	}
}

// TestPublishFlushSoon: a publish only queues; the right to write goes to
// the owner's shared flushers (Config.Soon) on a raw socket, and to a
// flusher of the connection's own on a socket without a descriptor (TLS).
// Either way the message arrives.
func TestPublishFlushSoon(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		pair func(*testing.T) (net.Conn, net.Conn)
		soon bool // Config.Soon is used
	}{{"tcp", tcpPair, true}, {"tls", tlsPair, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ours, peer := tc.pair(t)
			var mu sync.Mutex
			var soon []*wsconn.Conn
			cfg := &blocking.Config{Soon: func(c *wsconn.Conn) {
				mu.Lock()
				soon = append(soon, c)
				mu.Unlock()
				c.Flush() // as the owner's shared flusher does
			}}
			_, c, tab, _ := startIn(t, ours, cfg, false, handler.Base{}, true)
			m, err := wsconn.NewPrepared(handler.Text, []byte("news"))
			if err != nil {
				t.Fatal(err)
			}
			if n := tab.Broadcast(m); n != 1 {
				t.Fatalf("queued for %d connections", n)
			}
			readText(t, peer, bufio.NewReader(peer), "news")
			mu.Lock()
			defer mu.Unlock()
			if tc.soon && (len(soon) != 1 || soon[0] != c) || !tc.soon && len(soon) != 0 {
				t.Fatalf("Config.Soon got %d connections, want it used: %v", len(soon), tc.soon)
			}
		})
	}
}

// TestPublishAfterEnd: once the reading goroutine has ended, a publish
// starts nothing (no Soon, no flusher): the connection is gone.
func TestPublishAfterEnd(t *testing.T) {
	t.Parallel()
	ours, peer := tcpPair(t)
	called := make(chan struct{}, 1)
	var wg sync.WaitGroup
	cfg := &blocking.Config{Flushers: &wg, Soon: func(*wsconn.Conn) { called <- struct{}{} }}
	tr, _, _, done := startIn(t, ours, cfg, false, handler.Base{}, true)
	peer.Close()
	<-done
	tr.FlushSoon()
	wg.Wait() // no flusher either
	select {
	case <-called:
		t.Fatal("Soon called for a connection that has ended")
	default:
	}
}

// TestAbortTLS: Abort closes a TLS connection's socket without sending
// close_notify (which would wait for crypto/tls's write lock): the peer's
// socket gets no byte more, only the end of the stream.
func TestAbortTLS(t *testing.T) {
	t.Parallel()
	ours, peer := tlsPair(t)
	blocking.Abort(ours)
	raw := peer.(*tls.Conn).NetConn()
	_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(raw); len(b) != 0 || err != nil {
		t.Fatalf("the peer's socket read %d bytes, %v; want EOF and no alert", len(b), err)
	}
	if _, err := ours.(*tls.Conn).NetConn().Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the socket under it: %v, want it closed", err)
	}
}

// TestTransportAddrs: the Transport's addresses are its connection's.
func TestTransportAddrs(t *testing.T) {
	t.Parallel()
	ours, _ := tcpPair(t)
	tr, c, _, _ := startIn(t, ours, &blocking.Config{}, false, handler.Base{}, true)
	if tr.LocalAddr() != ours.LocalAddr() || tr.RemoteAddr() != ours.RemoteAddr() || c.RemoteAddr() != ours.RemoteAddr() {
		t.Fatalf("addresses %v %v, want %v %v", tr.LocalAddr(), tr.RemoteAddr(), ours.LocalAddr(), ours.RemoteAddr())
	}
}
