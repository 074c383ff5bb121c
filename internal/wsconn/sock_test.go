package wsconn

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
)

// A Conn on a real loopback socket, where what is tested depends on a
// write that waits for the peer: the blocking transport of a server path
// that defers its writes to a flusher (TLS, an HTTP/2 stream).

// sockTransport is a blocking Transport on a net.Conn: Write writes
// everything or fails, WaitWritable flushes on a goroutine of its own.
type sockTransport struct {
	nc       net.Conn
	c        *Conn
	flushers sync.WaitGroup
}

func (s *sockTransport) Write(bufs [][]byte) (int, error) {
	n := 0
	for _, b := range bufs {
		k, err := s.nc.Write(b)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (s *sockTransport) Blocking() bool { return true }

func (s *sockTransport) WaitWritable() {
	s.flushers.Add(1)
	go func() {
		defer s.flushers.Done()
		s.c.Flush()
	}()
}

func (s *sockTransport) Shutdown()            { s.nc.Close() }
func (s *sockTransport) Close()               { s.nc.Close() }
func (s *sockTransport) LocalAddr() net.Addr  { return s.nc.LocalAddr() }
func (s *sockTransport) RemoteAddr() net.Addr { return s.nc.RemoteAddr() }

// tcpPair is both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (ours, peer net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		nc, _ := l.Accept()
		ch <- nc
	}()
	ours, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if peer = <-ch; peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { ours.Close(); peer.Close() })
	return ours, peer
}

// newSockConn is a server Conn on a sockTransport over a TCP pair; it
// returns the peer's end.
func newSockConn(t *testing.T, cfg Config) (*Conn, *sockTransport, net.Conn) {
	t.Helper()
	ours, peer := tcpPair(t)
	tr := &sockTransport{nc: ours}
	c := New(&cfg, tr, &recorder{}, "", Request{})
	tr.c = c
	c.Start(nil)
	t.Cleanup(func() {
		c.Terminate()
		tr.flushers.Wait()
		c.Finish()
	})
	return c, tr, peer
}

// eventually polls cond until it holds, failing after ten seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10 s", what)
		}
	}
}

// TestDeferredSendsWait: on a transport whose writes wait for the peer, a
// burst of sends to a peer that reads slowly is held back as a blocking
// write would hold its sender: the queue stays within MaxWriteQueue (no
// overflow, no 1008), and every message arrives in order once the peer
// reads.
func TestDeferredSendsWait(t *testing.T) {
	t.Parallel()
	const max, size = 64 << 10, 16 << 10
	c, _, peer := newSockConn(t, Config{MaxMessageSize: 1 << 20, MaxWriteQueue: max})
	msg := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, size) }
	// The sender sends until it has been held back (then its send
	// waits until the peer reads), then marks the end.
	var stop atomic.Bool
	sent := make(chan error, 1)
	count := 0
	go func() {
		for ; !stop.Load() && count < 1<<12; count++ {
			if err := c.SendBinary(msg(count)); err != nil {
				sent <- err
				return
			}
		}
		sent <- c.SendText("end")
	}()
	// The peer reads nothing until a sender waits for room.
	eventually(t, "a sender held back", c.ReadPaused)
	stop.Store(true)
	if held := c.Held(); held > max+size+4096 {
		t.Fatalf("the queue holds %d bytes, MaxWriteQueue %d", held, max)
	}
	br := bufio.NewReader(peer)
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	n := 0
	for ; ; n++ {
		f, err := ws.ReadFrame(br)
		if err != nil {
			t.Fatalf("message %d: %v", n, err)
		}
		if f.Header.OpCode == ws.OpText {
			break
		}
		if !bytes.Equal(f.Payload, msg(n)) {
			t.Fatalf("message %d altered or out of order", n)
		}
	}
	if err := <-sent; err != nil {
		t.Fatalf("a send of the burst: %v", err)
	}
	if n != count {
		t.Fatalf("%d messages arrived of %d sent", n, count)
	}
}

// TestDeferredSendEndsWithConn: a sender waiting for room is released
// with ErrClosed when the connection ends meanwhile, not left waiting.
func TestDeferredSendEndsWithConn(t *testing.T) {
	t.Parallel()
	c, tr, _ := newSockConn(t, Config{MaxMessageSize: 1 << 20, MaxWriteQueue: 64 << 10})
	sent := make(chan error, 1)
	go func() {
		for {
			if err := c.SendBinary(make([]byte, 16<<10)); err != nil {
				sent <- err
				return
			}
		}
	}()
	eventually(t, "a sender held back", c.ReadPaused)
	c.Terminate()
	select {
	case err := <-sent:
		if !errors.Is(err, handler.ErrClosed) {
			t.Fatalf("the waiting send: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting send was not released")
	}
	tr.flushers.Wait()
}
