//go:build linux

package adversary

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// advSysctlMax is the largest value of a tcp_rmem or tcp_wmem sysctl (the
// most a socket buffer can autotune to).
func advSysctlMax(t *testing.T, name string) int64 {
	b, err := os.ReadFile("/proc/sys/net/ipv4/" + name)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// advWriteUntilBlocked writes batch over and over until a write makes no
// progress for stall (the peer stopped reading), fails (the peer went) or
// limit bytes are written, and returns the bytes written and whether it
// ended blocked.
func advWriteUntilBlocked(c net.Conn, batch []byte, stall time.Duration, limit int64) (int64, bool, error) {
	var total int64
	for total < limit {
		_ = c.SetWriteDeadline(time.Now().Add(stall))
		n, err := c.Write(batch)
		total += int64(n)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			_ = c.SetWriteDeadline(time.Time{})
			return total, true, nil
		}
		if err != nil {
			return total, false, err
		}
	}
	return total, false, nil
}

// TestAdvSlowConsumers has 8 clients (small socket buffers) send 1 KiB
// messages to the echo handler as fast as they can and never read. The
// server stops reading a connection while its write queue is more than
// half full (backpressure: the echoes have nowhere to go), so a client's
// writes soon block; the queue then makes no progress, and the connection
// is dropped at the write timeout (ws4go_limit_closes_total{limit=
// "write_timeout"}). Meanwhile the server holds at most about its queue
// bound per client, and reads next to nothing once the writes have
// blocked: the bytes a client manages to write are bounded by the queue
// and the socket buffers on the way, and the server's own reads (rchar in
// /proc/PID/io) after that are its scrapes and what was in flight.
func TestAdvSlowConsumers(t *testing.T) {
	const (
		n        = 8
		queue    = 256 << 10
		bufs     = 32 << 10
		writeTO  = time.Second
		writeCap = 128 << 20
	)
	// Stated bounds: RSS growth at most twice the queues (the Go heap's
	// GOGC headroom) plus 1 MiB a client and 16 MiB for the runtime;
	// bytes written at most the queue, the largest buffers the kernel may
	// give the server's socket both ways, the client's own (the kernel
	// doubles SO_SNDBUF and SO_RCVBUF) and 1 MiB in flight.
	rssBound := int64(n*(2*queue+1<<20) + 16<<20)
	// Bytes the server reads once every client is blocked: its scrapes'
	// requests, and at most 256 KiB a client left in its buffers.
	const readAfterBound = n*256<<10 + 1<<20
	writtenBound := int64(queue) + advSysctlMax(t, "tcp_rmem") + advSysctlMax(t, "tcp_wmem") + 4*bufs + 1<<20
	advEachEngine(t, func(t *testing.T, engine string) {
		p := advStart(t, engine, "-max-write-queue", strconv.Itoa(queue), "-write-timeout", writeTO.String())
		base := advSettle(t, p)
		conns := advDialMany(t, p.addr, n, advDialOpts{bufs: bufs})
		var batch []byte
		msg := make([]byte, 1024)
		for i := range msg {
			msg[i] = 'a' + byte(i%26)
		}
		for range 64 {
			batch = append(batch, advFrame(advOpText, true, msg)...)
		}
		type result struct {
			written  int64
			blocked  bool
			writeErr error
		}
		results := make([]result, n)
		var wg sync.WaitGroup
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := &results[i]
				r.written, r.blocked, r.writeErr = advWriteUntilBlocked(c, batch, 300*time.Millisecond, writeCap)
			}()
		}
		wg.Wait()
		blocked := p.status(t)
		loaded := p.figures(t)
		within := writeTO + 3*time.Second
		if m, ok := p.waitMetric(t, within, "ws4go_limit_closes_total", n, `limit="write_timeout"`); !ok {
			t.Errorf("ws4go_limit_closes_total{limit=\"write_timeout\"} = %v, want %d", m.sum("ws4go_limit_closes_total", `limit="write_timeout"`), n)
		}
		end, ok := p.waitFigures(t, within, func(f advFigures) bool { return f.Open == 0 })
		if !ok {
			t.Errorf("%v connections still open %v after the writes blocked", end.Open, within)
		}
		readAfter := end.Rchar - blocked.Rchar
		if readAfter > readAfterBound {
			t.Errorf("the server read %.1f MiB from clients whose writes had blocked, bound %.1f MiB", advMiB(readAfter), advMiB(readAfterBound))
		}
		var maxWritten, sumWritten int64
		for i, r := range results {
			maxWritten = max(maxWritten, r.written)
			sumWritten += r.written
			if r.written > writtenBound { // blocked, or reset at the write timeout
				t.Errorf("client %d wrote %.1f MiB (blocked=%v, %v): the server kept reading it; bound %.1f MiB",
					i, advMiB(r.written), r.blocked, r.writeErr, advMiB(writtenBound))
			}
		}
		growth := loaded.RSS - base.RSS
		if growth > rssBound {
			t.Errorf("RSS grew %.1f MiB with %d slow consumers, bound %.1f MiB", advMiB(growth), n, advMiB(rssBound))
		}
		for _, c := range conns {
			c.Close()
		}
		advBackToBaseline(t, p, base, 5*time.Second)
		m := p.scrape(t)
		t.Logf("adversary: slow-consumers %s: clients=%d queue=%dKiB rss_growth=%.1fMiB rss_bound=%.1fMiB hwm_growth=%.1fMiB written_max=%.1fMiB written_total=%.1fMiB written_bound=%.1fMiB read_after_blocked=%.1fMiB read_after_bound=%.1fMiB write_timeouts=%v overflows=%v",
			engine, n, queue>>10, advMiB(growth), advMiB(rssBound), advMiB(loaded.HWM-base.HWM),
			advMiB(maxWritten), advMiB(sumWritten), advMiB(writtenBound), advMiB(readAfter), advMiB(readAfterBound),
			m.sum("ws4go_limit_closes_total", `limit="write_timeout"`), m.sum("ws4go_write_queue_overflows_total"))
	})
}

// TestAdvPingFlood sends 2,000,000 one-byte pings on one connection without
// reading, then a text message: the server's RSS stays within 8 MiB of
// where it was, the connection keeps working (the echo comes back), and,
// once pongs are coalesced (RFC 6455 §5.5.3 lets a server answer only the
// latest ping), far fewer pongs than pings come back.
func TestAdvPingFlood(t *testing.T) {
	const (
		pings    = 2_000_000
		rssBound = 8 << 20
	)
	advEachEngine(t, func(t *testing.T, engine string) {
		p := advStart(t, engine)
		base := advSettle(t, p)
		c, err := advDial(p.addr, advDialOpts{bufs: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// One byte of payload: the pongs outgrow the kernel's socket
		// buffers (about 4 MiB) well before 2 M of them, and still fit in
		// the write queue's 4 MiB as it counts them (3 bytes each).
		ping := advFrame(advOpPing, true, []byte("p"))
		flood := make([]byte, 0, pings*len(ping))
		for range pings {
			flood = append(flood, ping...)
		}
		start := time.Now()
		_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(flood); err != nil {
			t.Fatalf("flood: %v", err)
		}
		sent := time.Since(start)
		m, ok := p.waitMetric(t, 20*time.Second, "ws4go_received_messages_total", pings, `type="ping"`)
		if !ok {
			t.Fatalf("the server read %v pings of %d", m.sum("ws4go_received_messages_total", `type="ping"`), pings)
		}
		loaded := p.figures(t)
		growth := loaded.RSS - base.RSS
		if growth > rssBound {
			t.Errorf("RSS grew %.1f MiB under %d unread pings, bound %.1f MiB", advMiB(growth), pings, advMiB(rssBound))
		}
		// Now read: the pongs, then the echo.
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(advFrame(advOpText, true, []byte("after"))); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		pongs := 0
		for {
			f, err := c.readFrame()
			if err != nil {
				t.Fatalf("after %d pongs: %v", pongs, err)
			}
			if f.op == advOpPong {
				pongs++
				continue
			}
			if f.op != advOpText || string(f.payload) != "after" {
				t.Fatalf("after %d pongs: opcode %d %q (close %d), want the echo", pongs, f.op, f.payload, f.closeCode())
			}
			break
		}
		// The kernel's socket buffers take every pong they can hold (a
		// 3-byte pong each, megabytes of buffer): only those that find
		// the socket full are queued, and those are coalesced to one.
		// So the pongs that come back are at most what the buffers
		// hold, plus the few the queue keeps.
		coalesced := pongs < pings
		if most := (advSysctlMax(t, "tcp_rmem") + advSysctlMax(t, "tcp_wmem") + 1<<20) / 3; int64(pongs) > most {
			t.Errorf("%d pongs for %d pings: more than the socket buffers hold (%d): not coalesced", pongs, pings, most)
		}
		c.Close()
		advBackToBaseline(t, p, base, 5*time.Second)
		t.Logf("adversary: ping-flood %s: pings=%d sent_in=%v rss_growth=%.1fMiB rss_bound=%.1fMiB hwm_growth=%.1fMiB pongs=%d coalesced=%v pongs_queued=%v",
			engine, pings, sent.Round(time.Millisecond), advMiB(growth), advMiB(rssBound), advMiB(loaded.HWM-base.HWM),
			pongs, coalesced, m.sum("ws4go_sent_messages_total", `type="pong"`))
	})
}
