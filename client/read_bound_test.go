package client_test

// Tests of Read's bound: what a Conn's unread messages hold (see
// export_test.go) while a server floods a client that does not read.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// awaitHeld waits until c's input is held (a poll: the client's reading
// goroutine tells no one).
func awaitHeld(t *testing.T, c *client.Conn) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for _, _, _, held := client.Unread(c); !held; _, _, _, held = client.Unread(c) {
		if time.Now().After(deadline) {
			t.Fatal("the client's input was never held")
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
}

// checkPeak fails the test if c's unread messages of size bytes ever held
// more than the bound allows, and returns what they held at most.
func checkPeak(t *testing.T, c *client.Conn, size int) int {
	t.Helper()
	_, peak, _, _ := client.Unread(c)
	if peak > client.UnreadBound(size) {
		t.Fatalf("unread messages held %d bytes at most, want %d at most", peak, client.UnreadBound(size))
	}
	return peak
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// indexed is a payload of size bytes whose first 4 are i.
func indexed(size, i int) []byte {
	p := make([]byte, size)
	binary.BigEndian.PutUint32(p, uint32(i))
	return p
}

// readNumbered reads n binary messages of size bytes numbered 0..n-1,
// then the end, which must be a close with code and reason.
func readNumbered(t *testing.T, c *client.Conn, n, size int, code handler.CloseCode, reason string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*waitTimeout)
	defer cancel()
	for i := range n {
		typ, p, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if typ != handler.Binary || len(p) != size || binary.BigEndian.Uint32(p) != uint32(i) {
			t.Fatalf("message %d: %v of %d bytes numbered %d", i, typ, len(p), binary.BigEndian.Uint32(p))
		}
	}
	readClose(t, c, code, reason)
}

// awaitClose reads the client's frames until its close frame: the raw
// server closes the TCP connection then, as a server should.
func awaitClose(br *bufio.Reader) {
	for {
		h, _, err := readFrame(br)
		if err != nil || h.OpCode == ws.OpClose {
			return
		}
	}
}

// closeFrame is a server's close frame.
func closeFrame(reason string) []byte {
	var b bytes.Buffer
	_ = ws.WriteFrame(&b, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, reason)))
	return b.Bytes()
}

// TestReadFloodStopsReading: a server floods 64 MiB of 256 KiB messages
// with blocking writes while the application reads none. Its writes stall
// (no progress for 300 ms) after a few MiB, what the kernel's buffers
// take: the client stopped reading its socket. The client holds one
// message: the unread bound plus that message at most, and its heap grows
// by about that much. Then Read gets every message, in order, and the
// close.
func TestReadFloodStopsReading(t *testing.T) {
	const size, n = 256 << 10, 256
	const stall = 300 * time.Millisecond
	payload := make([]byte, size)
	backedUp := make(chan int64, 1) // the bytes written when the writes stalled
	addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
		io.WriteString(nc, accept101(req, ""))
		var written int64
		stalled := false
		write := func(p []byte) bool {
			for len(p) > 0 {
				if !stalled {
					_ = nc.SetWriteDeadline(time.Now().Add(stall))
				}
				k, err := nc.Write(p)
				written += int64(k)
				p = p[k:]
				var ne net.Error
				switch {
				case err == nil:
				case !stalled && errors.As(err, &ne) && ne.Timeout():
					stalled = true
					backedUp <- written
					_ = nc.SetWriteDeadline(time.Time{})
				default:
					return false
				}
			}
			return true
		}
		var hdr bytes.Buffer
		for i := range n {
			hdr.Reset()
			_ = ws.WriteHeader(&hdr, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: size})
			binary.BigEndian.PutUint32(payload, uint32(i))
			if !write(hdr.Bytes()) || !write(payload) {
				return
			}
		}
		if !stalled {
			backedUp <- written // it never stalled: the test fails
		}
		write(closeFrame("flood over"))
		awaitClose(br)
	})
	before := liveHeap()
	c := dial(t, "ws://"+addr+"/", nil, nil)
	var w int64
	select {
	case w = <-backedUp:
	case <-time.After(4 * waitTimeout):
		t.Fatal("the flood did not end")
	}
	grown := int64(liveHeap()) - int64(before)
	mem, peak, k, held := client.Unread(c)
	t.Logf("the server's writes stalled after %d KiB of %d MiB; the client holds %d messages, %d KiB unread (at most %d KiB), held %v; its heap grew by %d KiB",
		w>>10, n*size>>20, k, mem>>10, peak>>10, held, grown>>10)
	if w >= n*size {
		t.Fatalf("the server wrote all %d MiB without stalling: the client read them without Read", n*size>>20)
	}
	if !held {
		t.Fatal("the client's input is not held")
	}
	checkPeak(t, c, size)
	if grown > 2<<20 {
		t.Fatalf("the client's heap grew by %d bytes during a flood it did not read", grown)
	}
	readNumbered(t, c, n, size, handler.CloseNormal, "flood over")
	checkPeak(t, c, size)
}

// flooder sends n numbered messages of size bytes when its connection
// opens, then, with close set, a close 1000 "flood over", and reports when
// all are queued.
type flooder struct {
	handler.Base
	n, size int
	close   bool
	queued  chan handler.Conn
}

func (f flooder) Opened(c handler.Conn) {
	go func() {
		for i := range f.n {
			if err := c.SendBinary(indexed(f.size, i)); err != nil {
				return
			}
		}
		if f.close {
			_ = c.Close(handler.CloseNormal, "flood over")
		}
		f.queued <- c
	}()
}

// TestReadFloodRealServer: a ws4go server (both engines) queues 32 MiB of
// 256 KiB messages for a client that reads none: the backlog stays in the
// server's write queue (BufferedAmount), not in the client, which holds at
// most the unread bound plus one message; Read then gets them all, in
// order, and the close.
func TestReadFloodRealServer(t *testing.T) {
	const size, n = 256 << 10, 128
	for _, e := range []server.Engine{server.EngineGoroutine, server.EngineNetpoll} {
		t.Run(string(e), func(t *testing.T) {
			f := flooder{n: n, size: size, close: true, queued: make(chan handler.Conn, 1)}
			s := &server.Server{Engine: e, MaxWriteQueue: 2 * n * size, MaxMessageSize: 2 * size,
				NewHandler: func() handler.Handler { return f }}
			c := dial(t, "ws://"+start(t, s)+"/", nil, nil)
			var sc handler.Conn
			select {
			case sc = <-f.queued:
			case <-time.After(waitTimeout):
				t.Fatal("the server did not queue the flood")
			}
			awaitHeld(t, c)
			buffered := s.BufferedAmount(sc)
			t.Logf("the server's queue holds %d KiB of %d MiB; the client %d KiB at most",
				buffered>>10, n*size>>20, checkPeak(t, c, size)>>10)
			if buffered < n*size/2 {
				t.Errorf("the server's queue holds %d bytes of %d: the client read them without Read", buffered, n*size)
			}
			readNumbered(t, c, n, size, handler.CloseNormal, "flood over")
			checkPeak(t, c, size)
		})
	}
}

// TestReadCompressedBurst: a server sends, in one write, 64 KiB of
// compressed messages that each inflate to 64 KiB (about 800 times their
// size). The client stops right after the first (it reaches the bound),
// leaving the rest of what it read unfed: its unread messages hold one
// message, not the MiBs that one 4 KiB read of the burst inflates to.
func TestReadCompressedBurst(t *testing.T) {
	const size = 64 << 10
	var zb bytes.Buffer
	zw, _ := flate.NewWriter(&zb, flate.BestCompression)
	_, _ = zw.Write(make([]byte, size))
	_ = zw.Flush()
	z := bytes.TrimSuffix(zb.Bytes(), []byte{0, 0, 0xff, 0xff})
	var frame bytes.Buffer
	_ = ws.WriteHeader(&frame, ws.Header{Fin: true, Rsv: ws.Rsv(true, false, false), OpCode: ws.OpBinary, Length: int64(len(z))})
	frame.Write(z)
	n := (64 << 10) / frame.Len()
	addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
		io.WriteString(nc, accept101(req, extensionsHeader("permessage-deflate; server_no_context_takeover")))
		// After the client's go, so that the burst arrives in the
		// reading goroutine's reads.
		if _, _, err := readFrame(br); err != nil {
			return
		}
		nc.Write(append(bytes.Repeat(frame.Bytes(), n), closeFrame("burst over")...))
		awaitClose(br)
	})
	c := dial(t, "ws://"+addr+"/", nil, nil)
	if c.Extensions() == "" {
		t.Fatal("permessage-deflate not negotiated")
	}
	if err := c.SendText("go"); err != nil {
		t.Fatal(err)
	}
	awaitHeld(t, c)
	t.Logf("%d messages of %d compressed bytes, %d KiB inflated in all: the client holds %d KiB unread at most",
		n, len(z), n*size>>10, checkPeak(t, c, size)>>10)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i := range n {
		if _, p, err := c.Read(ctx); err != nil || len(p) != size {
			t.Fatalf("message %d: %d bytes, %v", i, len(p), err)
		}
	}
	readClose(t, c, handler.CloseNormal, "burst over")
	checkPeak(t, c, size)
}

// TestReadAfterOwnEnd: the client closes, or drops, the connection while
// messages wait unread and its input is held: the hold ends (the closing
// handshake needs the server's answer, which is behind the flood; a
// dropped connection's reading goroutine must find its socket closed), the
// messages received before the end are still returned, then the end.
func TestReadAfterOwnEnd(t *testing.T) {
	const size, n = 256 << 10, 64
	for _, end := range []struct {
		name   string
		f      func(c *client.Conn)
		code   handler.CloseCode
		reason string
	}{
		{"Close", func(c *client.Conn) { _ = c.Close(4000, "enough") }, 4000, "enough"},
		{"Terminate", func(c *client.Conn) { c.Terminate() }, handler.CloseAbnormal, "terminated"},
	} {
		t.Run(end.name, func(t *testing.T) {
			f := flooder{n: n, size: size, queued: make(chan handler.Conn, 1)}
			s := &server.Server{MaxWriteQueue: 2 * n * size, MaxMessageSize: 2 * size, NewHandler: func() handler.Handler { return f }}
			c := dial(t, "ws://"+start(t, s)+"/", nil, nil)
			awaitHeld(t, c)
			_, _, waiting, _ := client.Unread(c)
			end.f(c)
			select {
			case <-c.Done():
			case <-time.After(waitTimeout):
				t.Fatal("the connection did not end: the hold was not lifted")
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			got := 0
			for {
				_, p, err := c.Read(ctx)
				if err != nil {
					var ce *client.CloseError
					if !errors.As(err, &ce) || ce.Code != end.code || ce.Reason != end.reason {
						t.Fatalf("after %d messages: %v, want the close %d %q", got, err, end.code, end.reason)
					}
					break
				}
				if binary.BigEndian.Uint32(p) != uint32(got) {
					t.Fatalf("message %d numbered %d", got, binary.BigEndian.Uint32(p))
				}
				got++
			}
			if got < waiting {
				t.Fatalf("%d messages read after the end, %d waited before it", got, waiting)
			}
		})
	}
}
