package server_test

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/deflate"
	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/server"
)

// budgetReadSlack is what one read may add before the budget counts it:
// the larger of the engines' read buffers (see docs/budgets.md).
const budgetReadSlack = 32 << 10

// TestBudgetTable checks the memory-budget table of docs/budgets.md: the
// defaults it names are the code's, and on both engines the attacks each
// row is about make the server hold no more than the row says.
func TestBudgetTable(t *testing.T) {
	doc, err := os.ReadFile("../docs/budgets.md")
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(doc, []byte("<!-- budget table"))
	if at < 0 {
		t.Fatal("docs/budgets.md has no budget table")
	}
	table := string(doc[at:])
	table = table[:strings.Index(table, "\n\n")]
	want := map[string]string{
		"MaxMessageSize":        size(server.DefaultMaxMessageSize),
		"MaxWriteQueue":         size(server.DefaultMaxWriteQueue),
		"MaxBufferedBytes":      size(server.DefaultMaxBufferedBytes),
		"HandshakeTimeout":      dur(server.DefaultHandshakeTimeout),
		"MessageTimeout":        dur(server.DefaultMessageTimeout),
		"WriteTimeout":          dur(server.DefaultWriteTimeout),
		"CloseTimeout":          dur(server.DefaultCloseTimeout),
		"H2StreamWindow":        size(server.H2StreamWindow),
		"H2ConnWindow":          size(server.H2ConnWindow),
		"MaxConnections":        count(server.DefaultMaxConnections),
		"MaxH2Connections":      count(server.DefaultMaxH2Connections),
		"MaxSubscriptions":      count(server.DefaultMaxSubscriptions),
		"MaxTotalSubscriptions": count(server.DefaultMaxTotalSubscriptions),
		"MaxTopicLength":        fmt.Sprint(server.MaxTopicLength, " B"),
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile("`(\\w+)` \\(([^);]+)").FindAllStringSubmatch(table, -1) {
		name, val := m[1], m[2]
		w, ok := want[name]
		if !ok {
			t.Errorf("budget table names %s, which this test does not know", name)
			continue
		}
		seen[name] = true
		if val != w {
			t.Errorf("budget table: %s (%s), the code's default is %s", name, val, w)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("budget table does not name %s", name)
		}
	}
	if !strings.Contains(table, size(handshake.MaxHeadSize)+" (`handshake.MaxHeadSize`") {
		t.Errorf("budget table: the head limit is %s", size(handshake.MaxHeadSize))
	}

	forEngine(t, func(t *testing.T, e server.Engine) {
		const limit, queue = 256 << 10, 128 << 10
		s := &server.Server{
			MaxMessageSize: limit, MaxWriteQueue: queue, Compression: true,
			MessageTimeout: 500 * time.Millisecond,
			WriteTimeout:   500 * time.Millisecond, CloseTimeout: 500 * time.Millisecond,
			Routes: map[string]handler.Factory{"/flood": func() handler.Handler {
				return &opener{f: func(c handler.Conn) {
					go func() {
						msg := make([]byte, 16<<10)
						for c.SendBinary(msg) == nil {
						}
					}()
				}}
			}},
			NewHandler: handler.NewEcho,
		}
		addr := start(t, e, s)
		most := budgetSampler(t, s)

		// A message in progress: one frame announcing the limit, then
		// all but a byte of it.
		c := dial(t, addr, "/")
		payload := frame(true, 0, ws.OpBinary, make([]byte, limit))
		c.writeRaw(payload[:len(payload)-1])
		c.expectClose(1008) // the message timeout
		if m := most(); m < limit/2 || m > limit+budgetReadSlack {
			t.Errorf("a message in progress: %d bytes held, the table says at most %d + a read (and the attack must reach half of it)", m, limit)
		}

		// The same in many fragments.
		c = dial(t, addr, "/")
		var frags []byte
		frag := make([]byte, 999)
		for i := 0; i < limit/len(frag); i++ {
			op := ws.OpContinuation
			if i == 0 {
				op = ws.OpBinary
			}
			frags = append(frags, frame(false, 0, op, frag)...)
		}
		c.writeRaw(frags)
		c.expectClose(1008)
		if m := most(); m < limit/2 || m > limit+budgetReadSlack {
			t.Errorf("a fragmented message in progress: %d bytes held, the table says at most %d + a read (and the attack must reach half of it)", m, limit)
		}

		// A compressed message in progress: all of it that inflates to
		// just under the limit, not its end.
		c = dial(t, addr, "/", "Sec-WebSocket-Extensions: permessage-deflate")
		z := deflate.Deflate(nil, bytes.Repeat([]byte("budget "), (limit-1)/7), 15)
		c.write(false, 4, ws.OpBinary, z)
		c.expectClose(1008)
		if m := most(); m < limit/2 || m > limit+259+budgetReadSlack {
			t.Errorf("a compressed message in progress: %d bytes held, the table says at most %d + 259 + a read", m, limit)
		}

		// The write queue of a peer that does not read, while the
		// handler sends as fast as it can: the queue plus one frame,
		// until the overflow's close frame, which the peer never reads,
		// times out.
		dial(t, addr, "/flood")
		// (The queue fills and overflows between two samples, and on
		// the goroutine engine the sender may block in its write
		// instead: only the upper bound is checked here.)
		if m := most(); m > queue+(16<<10+64)+budgetReadSlack {
			t.Errorf("the write queue: %d bytes held, the table says at most %d + a frame", m, queue)
		}
	})
}

// budgetSampler samples s.Stats().Buffered until the test ends; most
// returns the largest value since its last call, once the connections
// sampled have all gone (Buffered back to 0).
func budgetSampler(t *testing.T, s *server.Server) (most func() int64) {
	var peak atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tk := time.NewTicker(200 * time.Microsecond)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
			}
			if b := s.Stats().Buffered; b > peak.Load() {
				peak.Store(b)
			}
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
	return func() int64 {
		t.Helper()
		hcEventually(t, 5*time.Second, "buffered bytes back to 0", func() bool { return s.Stats().Buffered == 0 })
		return peak.Swap(0)
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// count writes n with thousands separators, as docs/budgets.md does.
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func dur(d time.Duration) string { return fmt.Sprintf("%d s", int(d.Seconds())) }
