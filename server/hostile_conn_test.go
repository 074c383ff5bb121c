package server_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/observe"
	"github.com/ws4go/ws4go/server"
)

// hcObserver counts the events the hostile-connection tests look at.
type hcObserver struct {
	observe.Base
	pings     atomic.Int64
	overflows atomic.Int64
	limited   [observe.NumLimits]atomic.Int64
}

func (o *hcObserver) WriteQueueOverflow()     { o.overflows.Add(1) }
func (o *hcObserver) Limited(l observe.Limit) { o.limited[l].Add(1) }
func (o *hcObserver) Received(k observe.Kind, _ int) {
	if k == observe.KindPing {
		o.pings.Add(1)
	}
}

// hcEventually polls cond until it holds or d passes.
func hcEventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
}

// hcHeld returns the memory the server's only connection holds.
func hcHeld(s *server.Server) int {
	n := -1
	s.Range(func(c handler.Conn) bool {
		n = c.(interface{ Held() int }).Held()
		return false
	})
	return n
}

func hcLiveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestHcPingFlood: a client that sends a flood of empty pings and reads
// nothing costs the server at most one queued pong: the heap does not grow
// with the flood, and once the client reads, the last pong answers the last
// ping.
func TestHcPingFlood(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		obs := &hcObserver{}
		// A queue bound far above what is queued, so input is never
		// paused: every ping is read and answered.
		s := &server.Server{Observer: obs, MaxWriteQueue: 64 << 20, MaxMessageSize: 32 << 20}
		addr := start(t, e, s)
		c := dial(t, addr, "/")
		c.echoes("ready")
		// An echo larger than the socket buffers (a few MiB each way),
		// left unread, so that the pongs have to be queued.
		big := make([]byte, 24<<20)
		c.send(ws.OpBinary, big)
		hcEventually(t, 10*time.Second, "echo queued", func() bool { return hcHeld(s) > 0 })
		before := hcLiveHeap()
		const pings, per = 1 << 18, 1 << 14
		batch := bytes.Repeat(frame(true, 0, ws.OpPing, nil), per)
		_ = c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		for i := 0; i < pings/per; i++ {
			c.writeRaw(batch)
		}
		c.send(ws.OpPing, []byte("last"))
		hcEventually(t, 30*time.Second, "pings processed", func() bool { return obs.pings.Load() == pings+1 })
		grown := int64(hcLiveHeap()) - int64(before)
		held := hcHeld(s)
		t.Logf("%d pings: heap %+d bytes, connection holds %d, budget %d", pings, grown, held, s.Stats().Buffered)
		if held > 25<<20 {
			t.Errorf("the connection holds %d bytes after a ping flood", held)
		}
		if grown > 2<<20 {
			t.Errorf("heap grew by %d bytes during a ping flood", grown)
		}
		// Now read: pongs are coalesced, the last answers the last ping.
		c.expect(ws.OpBinary, big)
		pongs, last := 0, ""
		for last != "last" {
			h, p, err := c.read()
			if err != nil {
				t.Fatalf("after %d pongs: %v", pongs, err)
			}
			if h.OpCode != ws.OpPong {
				t.Fatalf("got %v frame, want pongs", h.OpCode)
			}
			pongs++
			last = string(p)
		}
		t.Logf("%d pongs for %d pings", pongs, pings+1)
		// One pong partly on the wire, one handed to a write in
		// flight, one waiting (whose payload each ping replaces).
		if pongs > 3 {
			t.Errorf("%d pongs for %d pings: not coalesced", pongs, pings+1)
		}
		c.echoes("still serving")
		c.closeNormally()
	})
}

// TestHcOverflowDuringFlush: a handler sends to a peer that does not read
// until the queue overflows, while the socket holds part of a frame; what
// the peer then receives is a prefix of the messages sent, each whole, then
// the close frame, then EOF: the frame partly on the wire is finished
// before the close frame, not cut.
func TestHcOverflowDuringFlush(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		for round := 0; round < 3; round++ {
			obs := &hcObserver{}
			s := &server.Server{
				Observer:      obs,
				MaxWriteQueue: 256 << 10, CloseTimeout: 5 * time.Second,
				NewHandler: func() handler.Handler {
					return &opener{f: func(c handler.Conn) {
						go func() {
							// An odd size, so the socket fills in
							// the middle of a frame.
							msg := make([]byte, 4093)
							for i := 0; ; i++ {
								binary.BigEndian.PutUint32(msg, uint32(i))
								if c.SendBinary(msg) != nil {
									return
								}
							}
						}()
					}}
				},
			}
			addr := start(t, e, s)
			c := dial(t, addr, "/")
			hcEventually(t, 10*time.Second, "overflow", func() bool { return obs.overflows.Load() > 0 })
			for i := 0; ; i++ {
				h, p, err := c.read()
				if err != nil {
					t.Fatalf("round %d: after %d messages: %v", round, i, err)
				}
				if h.OpCode == ws.OpClose {
					if code := binary.BigEndian.Uint16(p); code != uint16(handler.ClosePolicyViolation) {
						t.Fatalf("close code %d after %d messages", code, i)
					}
					if i == 0 {
						t.Fatal("no message before the close frame")
					}
					break
				}
				if h.OpCode != ws.OpBinary || !h.Fin || len(p) != 4093 || binary.BigEndian.Uint32(p) != uint32(i) {
					t.Fatalf("round %d: message %d: %v fin %v len %d seq %d", round, i, h.OpCode, h.Fin, len(p), binary.BigEndian.Uint32(p))
				}
			}
			c.expectEOF()
		}
	})
}

// TestHcHandOffFdReuse: plain HTTP requests handed to the fallback server
// while others arrive (so descriptor numbers are reused at once) each get
// their own answer: the engine never reads a descriptor it handed off. Each
// client half-closes after its request, so the engine sees a hang-up and
// would read on.
func TestHcHandOffFdReuse(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		s := &server.Server{HTTP: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, r.URL.Query().Get("id"))
		})}
		addr := start(t, e, s)
		const workers, each = 8, 40
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					id := strconv.Itoa(w*each + i)
					if err := hcGet(addr, id); err != nil {
						errs <- fmt.Errorf("request %s: %w", id, err)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		dial(t, addr, "/").echoes("still serving")
	})
}

func hcGet(addr, id string) error {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(nc, "GET /?id=%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", id, addr); err != nil {
		return err
	}
	_ = nc.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if string(body) != id {
		return fmt.Errorf("answer %q", body)
	}
	return nil
}

// slowEcho echoes each message after working on it for d.
type slowEcho struct {
	handler.Base
	d time.Duration
}

func (e slowEcho) ReceivedMessage(c handler.Conn, m handler.Message) {
	time.Sleep(e.d) // the work, not a synchronisation
	_ = c.Send(m.Type, m.Data)
}

// TestHcMessageTimeout: a message whose first byte arrived must arrive whole
// within MessageTimeout, however it trickles and whatever control frames
// come between its fragments; whole messages, however many, never time out.
func TestHcMessageTimeout(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		const timeout = 300 * time.Millisecond
		for _, tc := range []struct {
			name string
			step func(i int) []byte // written every 50 ms
		}{
			{"trickled frame", func(i int) []byte {
				if i == 0 { // the header, the mask and 4 bytes of 100
					return frame(true, 0, ws.OpBinary, make([]byte, 100))[:10]
				}
				return []byte{0} // one more byte of the payload
			}},
			{"fragments and pings", func(i int) []byte {
				if i == 0 {
					return frame(false, 0, ws.OpText, []byte("first"))
				}
				return frame(true, 0, ws.OpPing, []byte("p"))
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				obs := &hcObserver{}
				closed := make(chan [2]string, 1)
				s := &server.Server{MessageTimeout: timeout, Observer: obs,
					NewHandler: func() handler.Handler { return &recorder{closed: closed} }}
				addr := start(t, e, s)
				c := dial(t, addr, "/")
				t0 := time.Now()
				done := make(chan struct{})
				go func() {
					tk := time.NewTicker(50 * time.Millisecond)
					defer tk.Stop()
					for i := 0; ; i++ {
						select {
						case <-done:
							return
						case <-tk.C:
						}
						if _, err := c.nc.Write(tc.step(i)); err != nil {
							return
						}
					}
				}()
				reason := c.expectClose(handler.ClosePolicyViolation)
				close(done)
				if reason != "message timeout" {
					t.Errorf("close reason %q", reason)
				}
				if d := time.Since(t0); d < timeout || d > 10*timeout {
					t.Errorf("closed after %v, timeout %v", d, timeout)
				}
				got := within(t, closed, 5*time.Second, "Closed")
				if got != [2]string{handler.ClosePolicyViolation.String(), "message timeout"} {
					t.Errorf("Closed got %v", got)
				}
				if n := obs.limited[observe.LimitMessageTimeout].Load(); n != 1 {
					t.Errorf("Limited(LimitMessageTimeout) %d times", n)
				}
			})
		}
		t.Run("slow handler", func(t *testing.T) {
			// The time a callback takes is the handler's, not the
			// peer's: two whole messages sent at once are both
			// answered although each callback outlasts the timeout.
			obs := &hcObserver{}
			addr := start(t, e, &server.Server{MessageTimeout: timeout, Observer: obs,
				NewHandler: func() handler.Handler { return slowEcho{d: 3 * timeout} }})
			c := dial(t, addr, "/")
			_, err := c.nc.Write(append(frame(true, 0, ws.OpText, []byte("one")), frame(true, 0, ws.OpText, []byte("two"))...))
			if err != nil {
				t.Fatal(err)
			}
			c.expect(ws.OpText, []byte("one"))
			c.expect(ws.OpText, []byte("two"))
			c.closeNormally()
			if n := obs.limited[observe.LimitMessageTimeout].Load(); n != 0 {
				t.Errorf("Limited(LimitMessageTimeout) %d times", n)
			}
		})
		t.Run("whole messages", func(t *testing.T) {
			addr := start(t, e, &server.Server{MessageTimeout: timeout})
			c := dial(t, addr, "/")
			for end := time.Now().Add(3 * timeout); time.Now().Before(end); {
				c.echoes("whole")
			}
			c.closeNormally()
		})
	})
}

// hcSender sends n messages of size bytes from Opened and records Closed.
type hcSender struct {
	recorder
	n, size int
}

func (h *hcSender) Opened(c handler.Conn) {
	go func() {
		msg := make([]byte, h.size)
		for i := 0; i < h.n && c.SendBinary(msg) == nil; i++ {
		}
	}()
}

// TestHcWriteTimeout: on both engines, a peer that stops reading while
// frames are queued for it is dropped WriteTimeout after the socket last
// took a byte.
func TestHcWriteTimeout(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		obs := &hcObserver{}
		closed := make(chan [2]string, 1)
		s := &server.Server{
			WriteTimeout: 300 * time.Millisecond, MaxWriteQueue: 64 << 20, Observer: obs,
			NewHandler: func() handler.Handler {
				// 32 MiB: more than the socket buffers take, under
				// the queue's bound.
				return &hcSender{recorder: recorder{closed: closed}, n: 512, size: 64 << 10}
			},
		}
		addr := start(t, e, s)
		c := dial(t, addr, "/") // and never read
		_ = c.nc.(*net.TCPConn).SetReadBuffer(4096)
		got := within(t, closed, 10*time.Second, "Closed")
		if got != [2]string{handler.CloseAbnormal.String(), "write timeout"} {
			t.Errorf("Closed got %v", got)
		}
		if n := obs.limited[observe.LimitWriteTimeout].Load(); n != 1 {
			t.Errorf("Limited(LimitWriteTimeout) %d times", n)
		}
		hcEventually(t, 5*time.Second, "connection gone", func() bool { return s.Len() == 0 })
	})
}

// TestHcFloodNoRead: a client that floods and never reads is not read (and
// answered or discarded) at full speed: once its queue holds our close frame
// or half its bound, the server stops reading it and TCP holds it back.
func TestHcFloodNoRead(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		closed := make(chan [2]string, 1)
		s := &server.Server{
			MaxWriteQueue: 256 << 10, CloseTimeout: 3 * time.Second, WriteTimeout: time.Second,
			NewHandler: func() handler.Handler { return &recorder{closed: closed} },
		}
		addr := start(t, e, s)
		c := dial(t, addr, "/")
		_ = c.nc.(*net.TCPConn).SetReadBuffer(4096)
		msg := frame(true, 0, ws.OpBinary, make([]byte, 64<<10))
		written := 0
		var err error
		for written < 1<<30 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
			var n int
			n, err = c.nc.Write(msg)
			written += n
			if err != nil {
				break
			}
		}
		t.Logf("the client wrote %d bytes before %v", written, err)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("the flood ended with %v, want a write that blocks", err)
		}
		if written > 32<<20 {
			t.Errorf("the server took %d bytes from a client that does not read", written)
		}
		within(t, closed, 10*time.Second, "Closed")
		c.nc.Close()
		dial(t, addr, "/").echoes("still serving")
	})
}

// TestHcBudget: partial messages held across connections are bounded by
// MaxBufferedBytes: the connection that would pass it is closed with 1013,
// the others keep theirs, and once every connection is cut the count is
// back to exactly zero.
func TestHcBudget(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		obs := &hcObserver{}
		s := &server.Server{MaxBufferedBytes: 1 << 20, Observer: obs}
		addr := start(t, e, s)
		part := frame(false, 0, ws.OpBinary, make([]byte, 300<<10))
		var kept []*rawClient
		refused := 0
		for i := 0; i < 6; i++ {
			c := dial(t, addr, "/")
			// The budget is counted after each step of the reader, so
			// the first ping may be answered by a connection that fails
			// in the same read; one that is kept answers the second.
			// One write: a refused connection may be gone before a
			// second one.
			c.writeRaw(append(append(append([]byte(nil), part...), frame(true, 0, ws.OpPing, []byte("1"))...), frame(true, 0, ws.OpPing, []byte("2"))...))
		frames:
			for {
				h, p, err := c.read()
				switch {
				case err != nil:
					t.Fatalf("client %d: %v", i, err)
				case h.OpCode == ws.OpPong && string(p) == "2":
					kept = append(kept, c)
					break frames
				case h.OpCode == ws.OpPong:
				case h.OpCode == ws.OpClose && binary.BigEndian.Uint16(p) == uint16(handler.CloseTryAgainLater):
					if string(p[2:]) != "try again later" {
						t.Errorf("close reason %q", p[2:])
					}
					refused++
					c.expectEOF()
					break frames
				default:
					t.Fatalf("client %d: %v frame %q", i, h.OpCode, p)
				}
			}
		}
		hcEventually(t, 5*time.Second, "refused connections gone", func() bool { return s.Len() == len(kept) })
		b := s.Stats().Buffered
		t.Logf("%d connections hold partial messages, %d refused, %d bytes buffered", len(kept), refused, b)
		if refused == 0 || len(kept) < 2 {
			t.Fatalf("%d kept, %d refused", len(kept), refused)
		}
		if b > 1<<20+64<<10 || b < int64(len(kept))*300<<10 {
			t.Errorf("%d bytes buffered for %d partial messages of 300 KiB, bound 1 MiB", b, len(kept))
		}
		if n := obs.limited[observe.LimitBudget].Load(); n != int64(refused) {
			t.Errorf("Limited(LimitBudget) %d times, %d refused", n, refused)
		}
		dial(t, addr, "/").echoes("still serving")
		for _, c := range kept {
			c.nc.Close() // abruptly, mid-message
		}
		hcEventually(t, 10*time.Second, "buffered bytes back to 0", func() bool {
			return s.Stats().Buffered == 0 && s.Len() <= 1
		})
	})
}
