//go:build linux

package netpoll

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/wsconn"
)

// pattern is n bytes that differ from one offset to the next, so a byte
// lost, repeated or out of order shows.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ byte(i>>8) ^ seed
	}
	return b
}

// drainPeer reads what the socket pair holds for peer, without waiting
// for more.
func drainPeer(t *testing.T, peer *os.File) []byte {
	t.Helper()
	fd := int(peer.Fd())
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if n > 0 {
			out = append(out, buf[:n]...)
		}
		if err != nil || n <= 0 {
			if err != nil && !errors.Is(err, unix.EAGAIN) {
				t.Fatal(err)
			}
			return out
		}
	}
}

// TestWriteFrame: a frame goes out whole when the socket has room (a small
// one from a copy, a large one with writev); into a full socket only a
// prefix goes, and the count says how long, whether it ends in the header
// or the payload. The rest, written later as wsconn does, completes the
// frame byte for byte.
func TestWriteFrame(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 10, smallFrame - 2, smallFrame, 100 << 10, 1 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			fd, peer := socketPair(t)
			p := pattern(size, 1)
			var hdr [ws.MaxHeaderSize]byte
			hn := putHeader(&hdr, len(p))
			want := append(append([]byte(nil), hdr[:hn]...), p...)
			n, err := writeFrame(fd, &hdr, hn, p)
			if err != nil || n < 0 || n > len(want) {
				t.Fatalf("writeFrame: %d, %v", n, err)
			}
			got := drainPeer(t, peer)
			if !bytes.Equal(got, want[:n]) {
				t.Fatalf("the peer got %d bytes, not the %d-byte prefix written", len(got), n)
			}
			if size <= 64<<10 && n != len(want) {
				t.Fatalf("an empty socket took %d of %d bytes", n, len(want))
			}
			// The rest, as wsconn queues it, each time the socket
			// has room.
			rest := [][]byte{want[n:]}
			for written := n; written < len(want); {
				k, err := writeBufs(fd, rest)
				if err != nil {
					t.Fatal(err)
				}
				written += k
				rest = [][]byte{want[written:]}
				got = append(got, drainPeer(t, peer)...)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("the frame arrived altered")
			}
		})
	}
}

// TestWriteFrameFullSocket: into a full socket a frame, small or large,
// goes nowhere and that is no error: the caller queues it.
func TestWriteFrameFullSocket(t *testing.T) {
	t.Parallel()
	fd, peer := socketPair(t)
	filled := fillSocket(t, fd)
	for _, size := range []int{10, 64 << 10} {
		var hdr [ws.MaxHeaderSize]byte
		hn := putHeader(&hdr, size)
		if n, err := writeFrame(fd, &hdr, hn, pattern(size, 3)); n != 0 || err != nil {
			t.Fatalf("writeFrame of %d bytes into a full socket: %d, %v; want 0, nil", size, n, err)
		}
	}
	if n, err := writeBufs(fd, [][]byte{{1}, {2, 3}}); n != 0 || err != nil {
		t.Fatalf("writeBufs into a full socket: %d, %v; want 0, nil", n, err)
	}
	if got := len(drainPeer(t, peer)); got != filled {
		t.Fatalf("the peer got %d bytes, want the %d of the filler alone", got, filled)
	}
}

// TestWriteBufs: many buffers (more than one writev takes, empty ones
// among them) reach the peer in order, however often the socket fills; a
// closed peer is an error, not a short count.
func TestWriteBufs(t *testing.T) {
	t.Parallel()
	fd, peer := socketPair(t)
	var bufs [][]byte
	var want []byte
	for i := range 3 * maxIovecs {
		b := pattern(i*97%5000, byte(i))
		if i%10 == 0 {
			b = nil
		}
		bufs = append(bufs, b)
		want = append(want, b...)
	}
	var got []byte
	written := 0
	for rounds := 0; written < len(want); rounds++ {
		n, err := writeBufs(fd, bufs)
		if err != nil {
			t.Fatal(err)
		}
		written += n
		bufs = skip(bufs, n)
		got = append(got, drainPeer(t, peer)...)
		if rounds > 1000 {
			t.Fatal("no progress")
		}
	}
	if n, err := writeBufs(fd, nil); n != 0 || err != nil {
		t.Fatalf("writeBufs of nothing: %d, %v", n, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the peer got %d bytes, other than the %d written", len(got), len(want))
	}
	peer.Close()
	if _, err := writeBufs(fd, [][]byte{{1}, {2}}); !errors.Is(err, unix.EPIPE) {
		t.Fatalf("writeBufs to a closed peer: %v, want EPIPE", err)
	}
	if _, err := writeSome(fd, []byte{1}); !errors.Is(err, unix.EPIPE) {
		t.Fatalf("writeSome to a closed peer: %v, want EPIPE", err)
	}
}

// skip drops the first n bytes of bufs.
func skip(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n < len(bufs[0]) {
			bufs[0] = bufs[0][n:]
			return bufs
		}
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	return bufs
}

// putHeader is a server frame's header for a binary message of n bytes.
func putHeader(hdr *[ws.MaxHeaderSize]byte, n int) int {
	h := ws.Header{Fin: true, OpCode: ws.OpBinary, Length: int64(n)}
	var b bytes.Buffer
	if err := ws.WriteHeader(&b, h); err != nil {
		panic(err)
	}
	return copy(hdr[:], b.Bytes())
}

// fillSocket writes to fd until its socket takes no more.
func fillSocket(t *testing.T, fd int) int {
	t.Helper()
	total := 0
	for {
		n, err := unix.Write(fd, make([]byte, 4096))
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	for {
		n, err := unix.Write(fd, make([]byte, 1))
		if errors.Is(err, unix.EAGAIN) {
			return total
		}
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
}

// TestBackpressure: a peer that sends and does not read fills the
// server's output; past half MaxWriteQueue the engine stops reading the
// connection (TCP then holds the peer back) instead of queueing without
// bound; once the peer reads, every echo arrives, in order, and the
// connection carries on.
func TestBackpressure(t *testing.T) {
	t.Parallel()
	const msgSize = 16 << 10
	s := startServer(t, serverOpts{ws: func(c *wsconn.Config) { c.MaxWriteQueue = 256 << 10 }})
	c := s.dialWS(t)
	wc := s.h.nextOpened(t).(*wsconn.Conn)
	// The peer sends until the server has stopped reading (then its
	// writes block until it reads), then marks the end.
	var stop atomic.Bool
	sent := make(chan int, 1)
	go func() {
		n := 0
		for ; !stop.Load() && n < 1<<12; n++ {
			if _, err := c.Write(frame(ws.OpBinary, true, pattern(msgSize, byte(n)))); err != nil {
				break
			}
		}
		_, _ = c.Write(frame(ws.OpText, true, []byte("end")))
		sent <- n
	}()
	eventually(t, "the server stopped reading", wc.ReadPaused)
	stop.Store(true)
	if held := wc.Held(); held > 256<<10+2*msgSize {
		t.Fatalf("the server holds %d bytes for a peer that does not read (MaxWriteQueue 256 KiB)", held)
	}
	n := 0
	for ; ; n++ {
		f := c.next(t)
		if f.Header.OpCode == ws.OpText {
			break
		}
		if !bytes.Equal(f.Payload, pattern(msgSize, byte(n))) {
			t.Fatalf("echo %d altered or out of order", n)
		}
	}
	if want := <-sent; n != want {
		t.Fatalf("%d echoes of %d messages", n, want)
	}
	c.send(t, ws.OpText, []byte("after"))
	c.expect(t, ws.OpText, []byte("after"))
	if wc.ReadPaused() || wc.BufferedAmount() != 0 {
		t.Fatalf("after the peer read everything: paused %v, %d bytes buffered", wc.ReadPaused(), wc.BufferedAmount())
	}
	c.send(t, ws.OpClose, closeBody(handler.CloseNormal, ""))
	c.expect(t, ws.OpClose, closeBody(handler.CloseNormal, ""))
	c.expectEOF(t)
}
