package client_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
)

// TestLengthOverflowFromServer: a malicious server sends a 1-byte fragment,
// then a continuation frame of 2^63-1 bytes, and streams on: the client
// must fail with 1009 at the header, as the limit says, rather than let the
// wrapped sum remove the limit and buffer without bound.
func TestLengthOverflowFromServer(t *testing.T) {
	got := make(chan []byte, 1)
	addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
		io.WriteString(nc, accept101(req, ""))
		_ = ws.WriteFrame(nc, ws.Frame{Header: ws.Header{OpCode: ws.OpBinary, Length: 1}, Payload: []byte("a")})
		hdr := []byte{0x00, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint64(hdr[2:], math.MaxInt64)
		nc.Write(hdr)
		go func() { // stream on until the client gives up
			junk := make([]byte, 64<<10)
			for {
				if _, err := nc.Write(junk); err != nil {
					return
				}
			}
		}()
		if _, p, err := readFrame(br); err == nil {
			got <- p
		}
	})
	r := newRecorder()
	dial(t, "ws://"+addr+"/", r, &client.Options{MaxMessageSize: 1 << 20})
	if ev := r.waitClosed(t); ev.code != handler.CloseMessageTooBig {
		t.Fatalf("Closed(%d, %q), want 1009", ev.code, ev.reason)
	}
	if p := <-got; len(p) < 2 || binary.BigEndian.Uint16(p) != 1009 {
		t.Fatalf("close frame %q, want 1009", p)
	}
}

// TestTrickledMessage: a hostile server begins a message and trickles it,
// a byte at a time or a fragment at a time, while answering the heartbeat,
// so that the client would hold the partial message for ever. The client
// must fail the connection with 1008 "message timeout" once
// MessageTimeout has passed since the message's first byte.
func TestTrickledMessage(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name  string
		first []byte          // what begins the message
		next  func(i int) any // what each tick sends: a byte, or a frame
	}{
		{"bytes of a frame",
			ws.MustCompileFrame(ws.Frame{Header: ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 1 << 20}})[:10],
			func(int) any { return []byte{'x'} }},
		{"fragments", ws.MustCompileFrame(ws.NewFrame(ws.OpText, false, []byte("start"))),
			func(i int) any {
				if i%4 == 3 { // pings interleaved do not extend the time
					return ws.NewPingFrame([]byte("p"))
				}
				return ws.NewFrame(ws.OpContinuation, false, []byte("more"))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan []byte, 1)
			addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
				io.WriteString(nc, accept101(req, ""))
				nc.Write(tc.first)
				closed := make(chan []byte, 1)
				go func() {
					for {
						h, p, err := readFrame(br)
						if err != nil {
							close(closed)
							return
						}
						if h.OpCode == ws.OpPing {
							continue // answered by the trickle itself
						}
						if h.OpCode == ws.OpClose {
							closed <- p
							return
						}
					}
				}()
				tick := time.NewTicker(timeout / 20)
				defer tick.Stop()
				for i := 0; ; i++ {
					select {
					case p := <-closed:
						got <- p
						return
					case <-tick.C:
					}
					switch x := tc.next(i).(type) {
					case []byte:
						nc.Write(x)
					case ws.Frame:
						_ = ws.WriteFrame(nc, x)
					}
				}
			})
			r := newRecorder()
			start := time.Now()
			dial(t, "ws://"+addr+"/", r, &client.Options{MessageTimeout: timeout, PingInterval: timeout / 4})
			r.expectClosed(t, handler.ClosePolicyViolation, "message timeout")
			if d := time.Since(start); d < timeout {
				t.Fatalf("closed after %v, before MessageTimeout", d)
			}
			if p := <-got; len(p) < 2 || binary.BigEndian.Uint16(p) != 1008 {
				t.Fatalf("close frame %q, want 1008", p)
			}
		})
	}
}

// TestPingFlood: a hostile server floods the client with pings and reads
// nothing. The client answers each with a pong, written by its reading
// goroutine, which therefore stops reading once the socket's buffers are
// full: no pong is queued in memory. The stalled write ends the
// connection at WriteTimeout.
func TestPingFlood(t *testing.T) {
	addr := rawServer(t, func(nc net.Conn, _ *bufio.Reader, req *http.Request) {
		io.WriteString(nc, accept101(req, ""))
		ping := ws.MustCompileFrame(ws.NewPingFrame(bytes.Repeat([]byte("p"), 125)))
		// Until the client drops the connection (or the test ends).
		flood(nc, "", string(ping), math.MaxInt64)
	})
	r := newRecorder()
	var ev closeEvent
	alloc := allocated(func() {
		dial(t, "ws://"+addr+"/", r, &client.Options{WriteTimeout: 300 * time.Millisecond, PingInterval: -1, Logger: discardLogger()})
		ev = r.waitClosed(t)
	})
	if ev.code != handler.CloseAbnormal || !strings.Contains(ev.reason, "timeout") {
		t.Fatalf("Closed(%d, %q), want 1006 after a write timeout", ev.code, ev.reason)
	}
	// Pongs queued rather than written would grow by the megabyte per
	// millisecond the flood lasts; each pong written allocates a little.
	if alloc > 8<<20 {
		t.Fatalf("the client allocated %d bytes during the flood", alloc)
	}
}

// TestCompressionBombMemory: a server sends one compressed message that
// inflates to 64 MiB (64 KiB on the wire). With MaxMessageSize 1 MiB the
// client fails it with 1009, having allocated a bounded amount: the
// inflater stops at the limit.
func TestCompressionBombMemory(t *testing.T) {
	bomb := deflateMessage(make([]byte, 64<<20))
	addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
		io.WriteString(nc, accept101(req, extensionsHeader("permessage-deflate")))
		_ = ws.WriteHeader(nc, ws.Header{Fin: true, Rsv: 0x4, OpCode: ws.OpBinary, Length: int64(len(bomb))})
		nc.Write(bomb)
		_, _ = io.Copy(io.Discard, br)
	})
	r := newRecorder()
	var ev closeEvent
	alloc := allocated(func() {
		dial(t, "ws://"+addr+"/", r, &client.Options{MaxMessageSize: 1 << 20})
		ev = r.waitClosed(t)
	})
	if ev.code != handler.CloseMessageTooBig {
		t.Fatalf("Closed(%d, %q), want 1009", ev.code, ev.reason)
	}
	if alloc > 8<<20 {
		t.Fatalf("the client allocated %d bytes for a 1 MiB limit", alloc)
	}
}
