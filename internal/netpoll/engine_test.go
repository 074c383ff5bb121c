//go:build linux

package netpoll

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/wsconn"
)

// refusingHeadEnd is handshake.HeadEnd as a Config.HeadEnd: a head that
// can never be complete is refused with its rejection.
func refusingHeadEnd(b []byte) (int, []byte) {
	n, rej := handshake.HeadEnd(b)
	if rej != nil {
		return 0, handshake.AppendRejection(nil, rej)
	}
	return n, nil
}

// newTestEngine starts an engine whose HeadEnd is headEnd (refusingHeadEnd
// if nil) and whose Decide refuses everything with 404.
func newTestEngine(t *testing.T, headEnd func([]byte) (int, []byte)) *Engine {
	t.Helper()
	if headEnd == nil {
		headEnd = refusingHeadEnd
	}
	e, err := New(Config{
		Workers: 2, HeadEnd: headEnd,
		Decide: func([]byte, Peer) Decision { return Decision{Response: []byte("HTTP/1.1 404 Not Found\r\n\r\n")} },
		Table:  wsconn.NewTable(&wsconn.Config{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// socketPair returns a connected pair: the engine's raw descriptor and the
// peer as an *os.File.
func socketPair(t *testing.T) (int, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = unix.SetNonblock(fds[1], false)
	peer := os.NewFile(uintptr(fds[1]), "peer")
	t.Cleanup(func() { peer.Close() })
	return fds[0], peer
}

// expectEOF checks that the engine closed its end of the pair.
func expectEOF(t *testing.T, peer *os.File) []byte {
	t.Helper()
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(peer)
	if err != nil {
		t.Fatalf("want the engine to close its end: %v", err)
	}
	return got
}

// TestAcceptAfterClose: a descriptor accepted while Close runs (a worker
// can be inside accept4) is closed at once, and no handshake sweeper is
// started for it.
func TestAcceptAfterClose(t *testing.T) {
	e := newTestEngine(t, nil)
	// Close's first step; a worker may still be accepting.
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	fd, peer := socketPair(t)
	e.accept(fd, nil, nil)
	expectEOF(t, peer)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hsStop != nil || len(e.handshake) != 0 || e.live != 0 {
		t.Fatalf("after Close: sweeper %v, %d handshakes, %d live", e.hsStop != nil, len(e.handshake), e.live)
	}
}

// TestNoHandshakeTimeout: with a negative HandshakeTimeout (the server's
// "no bound") a connection in its handshake starts no sweeper, so nothing
// drops it for being slow; zero is the 10 s default, and starts one.
func TestNoHandshakeTimeout(t *testing.T) {
	for _, c := range []struct {
		timeout time.Duration
		sweeper bool
	}{{-1, false}, {0, true}} {
		e, err := New(Config{Workers: 1, HandshakeTimeout: c.timeout, HeadEnd: refusingHeadEnd, Table: wsconn.NewTable(&wsconn.Config{})})
		if err != nil {
			t.Fatal(err)
		}
		fd, _ := socketPair(t)
		conn := registered(t, e, fd)
		e.mu.Lock()
		running := e.hsStop != nil
		e.mu.Unlock()
		conn.requestClose(false)
		conn.run(nil) // end the test's turn: the close runs
		e.Close()
		if running != c.sweeper {
			t.Errorf("HandshakeTimeout %v: sweeper running %v, want %v", c.timeout, running, c.sweeper)
		}
	}
}

// registered makes a connection of fd in its handshake, in the table but
// not in the epoll set (so no worker runs it unless it is scheduled), and
// gives the test its turn.
func registered(t *testing.T, e *Engine, fd int) *conn {
	t.Helper()
	c := &conn{e: e, fd: int32(fd)}
	if !e.register(c, true) {
		t.Fatal("the engine refused the descriptor")
	}
	if c.pend.Add(1) != 1 {
		t.Fatal("no turn")
	}
	return c
}

// TestHandshakeScanLinear: a head sent a byte at a time is scanned once
// per byte, not from the start on every read, and HeadEnd is consulted only
// once the head is complete.
func TestHandshakeScanLinear(t *testing.T) {
	calls, scanned := 0, 0
	e := newTestEngine(t, func(b []byte) (int, []byte) {
		calls++
		scanned += len(b)
		n, _ := handshake.HeadEnd(b)
		return n, nil
	})
	fd, peer := socketPair(t)
	c := registered(t, e, fd)
	head := []byte("GET /ws HTTP/1.1\r\nHost: x\r\nX-Pad: " + string(bytes.Repeat([]byte("a"), 4000)) + "\r\n\r\n")
	for i := range head {
		c.handshakeBytes(head[i : i+1])
	}
	c.run(nil) // the rest of the turn: the close the 404 asked for
	if calls != 1 || scanned != len(head) {
		t.Fatalf("HeadEnd called %d times over %d bytes for a %d-byte head", calls, scanned, len(head))
	}
	if got := expectEOF(t, peer); !bytes.HasPrefix(got, []byte("HTTP/1.1 404")) {
		t.Fatalf("response %q", got)
	}
}

// TestHandshakeHeadBounded: a head without an end is refused as soon as it
// reaches the limit, and never grows past it, however much one read brings.
func TestHandshakeHeadBounded(t *testing.T) {
	longest := 0
	e := newTestEngine(t, func(b []byte) (int, []byte) {
		longest = max(longest, len(b))
		return refusingHeadEnd(b)
	})
	fd, peer := socketPair(t)
	c := registered(t, e, fd)
	c.handshakeBytes(bytes.Repeat([]byte("a"), 32<<10))
	c.run(nil)
	if longest > handshake.MaxHeadSize {
		t.Fatalf("the head grew to %d bytes (limit %d)", longest, handshake.MaxHeadSize)
	}
	if got := expectEOF(t, peer); !bytes.HasPrefix(got, []byte("HTTP/1.1 431")) {
		t.Fatalf("response %.40q, want 431", got)
	}
}

// TestWaitWritableNoLostEdge: the descriptors are edge-triggered, so an
// EPOLLOUT that came before WaitWritable is not repeated; WaitWritable on a
// socket that has room already must get a worker to take the right to
// write at once. (This connection is not even in the epoll set: no event
// will ever come for it.)
func TestWaitWritableNoLostEdge(t *testing.T) {
	e := newTestEngine(t, nil)
	fd, _ := socketPair(t)
	c := registered(t, e, fd)
	c.run(nil) // end the test's turn
	c.WaitWritable()
	for deadline := time.Now().Add(5 * time.Second); c.writeWait.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("the right to write is still waiting for an EPOLLOUT that will never come")
		}
		runtime.Gosched()
	}
	c.requestClose(false)
}

// TestCloseLeavesNothing: Close ends every connection (one mid-handshake
// here, so the handshake sweeper runs) and every goroutine of the engine:
// workers, monitor, sweeper and the listener's ServeListener.
func TestCloseLeavesNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	e, err := New(Config{
		HeadEnd: func(b []byte) (int, []byte) { n, _ := handshake.HeadEnd(b); return n, nil },
		Decide:  func([]byte, Peer) Decision { return Decision{Response: []byte("HTTP/1.1 404 Not Found\r\n\r\n")} },
		Table:   wsconn.NewTable(&wsconn.Config{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	served := make(chan error, 1)
	go func() { served <- e.ServeListener(l) }()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; runtime.Gosched() {
		e.mu.Lock()
		n := len(e.handshake)
		e.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection never reached the engine")
		}
	}
	e.Close()
	if err := <-served; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ServeListener: %v", err)
	}
	// Dropped: EOF, or a reset if the engine had not read the request.
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := io.Copy(io.Discard, nc); n != 0 || (err != nil && !errors.Is(err, unix.ECONNRESET)) {
		t.Fatalf("client: %d bytes, %v; want the connection closed", n, err)
	}
}
