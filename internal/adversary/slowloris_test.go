//go:build linux

package adversary

import (
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// advP99 is the 99th percentile of ds.
func advP99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)*99/100]
}

// advBystander is an honest client echoing small messages back to back
// while an attack runs, timing each round trip.
type advBystander struct {
	c    *advConn
	stop chan struct{}
	done chan error
	rtts []time.Duration
}

// advMeasure times n echoes on c.
func advMeasure(c *advConn, n int) ([]time.Duration, error) {
	rtts := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := c.echo([]byte("bystander"), 5*time.Second); err != nil {
			return rtts, err
		}
		rtts = append(rtts, time.Since(start))
	}
	return rtts, nil
}

// startBystander echoes on c until stop is called.
func advStartBystander(c *advConn) *advBystander {
	b := &advBystander{c: c, stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		for {
			select {
			case <-b.stop:
				b.done <- nil
				return
			default:
			}
			start := time.Now()
			if err := c.echo([]byte("bystander"), 5*time.Second); err != nil {
				b.done <- err
				return
			}
			b.rtts = append(b.rtts, time.Since(start))
		}
	}()
	return b
}

// advBystanderFor connects an honest client to p, times 400 echoes on it
// (returned: the figures before the attack) and starts it echoing as a
// bystander; the test closes c.
func advBystanderFor(t *testing.T, p *advProc) (c *advConn, before []time.Duration, b *advBystander) {
	t.Helper()
	c, err := advDial(p.addr, p.dial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if before, err = advMeasure(c, 400); err != nil {
		t.Fatal(err)
	}
	return c, before, advStartBystander(c)
}

// finish stops the bystander and returns its round trips.
func (b *advBystander) finish() ([]time.Duration, error) {
	close(b.stop)
	err := <-b.done
	return b.rtts, err
}

// advCheckP99 asserts that the bystander's p99 during an attack stays
// within a loose bound of its p99 before: ten times, or 50 ms, whichever
// is larger (the machine is shared and noisy; a server that stalls on an
// attacker misses either by far).
func advCheckP99(t *testing.T, before, during []time.Duration) (time.Duration, time.Duration) {
	t.Helper()
	pb, pd := advP99(before), advP99(during)
	if len(during) < 10 {
		t.Errorf("the bystander managed only %d echoes during the attack", len(during))
	}
	if limit := max(10*pb, 50*time.Millisecond); pd > limit {
		t.Errorf("bystander p99 %v during the attack, %v before: over %v", pd, pb, limit)
	}
	return pb, pd
}

// advTrickle writes one byte of each connection's remaining bytes every
// interval until stop, a write fails or the bytes run out.
func advTrickle(conns []net.Conn, rest [][]byte, interval time.Duration, stop chan struct{}) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
		}
		alive := 0
		for i, c := range conns {
			if c == nil || len(rest[i]) == 0 {
				continue
			}
			_ = c.SetWriteDeadline(time.Now().Add(interval))
			if _, err := c.Write(rest[i][:1]); err != nil {
				conns[i] = nil
				continue
			}
			rest[i] = rest[i][1:]
			alive++
		}
		if alive == 0 {
			return
		}
	}
}

// TestAdvSlowlorisHandshake holds 1,000 handshakes open (half a request
// head and silence, a byte every 100 ms, or nothing at all): every one is
// dropped at -handshake-timeout (a 408 or a bare close), however it
// trickles, while an honest client's echoes keep their pace.
func TestAdvSlowlorisHandshake(t *testing.T) {
	const (
		n       = 1000
		timeout = time.Second
		slack   = 2 * time.Second
	)
	advEachEngine(t, func(t *testing.T, engine string) {
		p := advStart(t, engine, "-handshake-timeout", timeout.String())
		base := advSettle(t, p)
		by, before, b := advBystanderFor(t, p)

		head := advRequest(p.addr, false)
		half := head[:len(head)/2]
		type result struct {
			elapsed time.Duration
			closed  bool
			reply   string
			err     error
		}
		results := make([]result, n)
		trickled := make([]net.Conn, n)
		rest := make([][]byte, n)
		var wg sync.WaitGroup
		var dialErrs atomic.Int32
		for i := range n {
			start := time.Now()
			nc, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
			if err != nil {
				dialErrs.Add(1)
				continue
			}
			defer nc.Close()
			switch i % 5 {
			case 0, 1, 2: // half a head, then silence
				_, err = io.WriteString(nc, half)
			case 3: // a byte every 100 ms
				trickled[i], rest[i] = nc, []byte(head)
			}
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = nc.SetReadDeadline(start.Add(timeout + slack + time.Second))
				reply, err := io.ReadAll(io.LimitReader(nc, 512))
				r := result{elapsed: time.Since(start), reply: string(reply), err: err}
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					r.closed = true
				}
				results[i] = r
			}()
		}
		stop := make(chan struct{})
		trickleDone := make(chan struct{})
		go func() { defer close(trickleDone); advTrickle(trickled, rest, 100*time.Millisecond, stop) }()
		wg.Wait()
		close(stop)
		<-trickleDone
		during, err := b.finish()
		if err != nil {
			t.Fatalf("bystander: %v", err)
		}
		if d := dialErrs.Load(); d > 0 {
			t.Fatalf("%d dials failed", d)
		}

		var worst, best time.Duration = 0, time.Hour
		replies := map[string]int{}
		bad := 0
		for i, r := range results {
			worst, best = max(worst, r.elapsed), min(best, r.elapsed)
			kind := "close"
			if r.reply != "" {
				kind = fmt.Sprintf("%.12s", r.reply)
			}
			replies[kind]++
			ok := r.closed && r.elapsed >= timeout*9/10 && r.elapsed <= timeout+slack &&
				(r.reply == "" || kind == "HTTP/1.1 408")
			if !ok {
				if bad < 5 {
					t.Errorf("slowloris %d (kind %d): closed=%v after %v, reply %q, %v", i, i%5, r.closed, r.elapsed, r.reply, r.err)
				}
				bad++
			}
		}
		pb, pd := advCheckP99(t, before, during)
		by.Close()
		end := advBackToBaseline(t, p, base, 5*time.Second)
		t.Logf("adversary: slowloris-handshake %s: conns=%d timeout=%v dropped_first=%v dropped_last=%v replies=%v bad=%d bystander_p99_before=%v bystander_p99_during=%v echoes_during=%d fds=%d",
			engine, n, timeout, best.Round(time.Millisecond), worst.Round(time.Millisecond), replies, bad,
			pb.Round(time.Microsecond), pd.Round(time.Microsecond), len(during), end.FDs)
	})
}

// TestAdvSlowlorisFrames opens 300 connections that start a message and
// never finish it (a 1 MiB frame trickled a byte every 100 ms, a
// fragmented message whose continuations trickle in one byte each, or a
// frame header promising 64 KiB and silence): each is closed with 1008 at -message-timeout,
// counted under ws4go_limit_closes_total{limit="message_timeout"}, while
// an honest client's echoes keep their pace.
func TestAdvSlowlorisFrames(t *testing.T) {
	if !advHasFlag("message-timeout") {
		t.Skip("needs -message-timeout")
	}
	const (
		n       = 300
		timeout = time.Second
		slack   = 2 * time.Second
	)
	advEachEngine(t, func(t *testing.T, engine string) {
		p := advStart(t, engine, "-message-timeout", timeout.String(), "-close-timeout", "1s")
		base := advSettle(t, p)
		conns := advDialMany(t, p.addr, n, advDialOpts{})
		by, before, b := advBystanderFor(t, p)

		// One byte at a time: a continuation frame of one byte each.
		var contTrickle []byte
		for range 100 {
			contTrickle = append(contTrickle, advFrame(advOpCont, false, []byte("x"))...)
		}
		trickled := make([]net.Conn, n)
		rest := make([][]byte, n)
		type result struct {
			elapsed time.Duration
			code    int
			err     error
		}
		results := make([]result, n)
		var wg sync.WaitGroup
		for i, c := range conns {
			var first []byte
			switch i % 3 {
			case 0: // a 1 MiB frame, trickled
				first = advHeader(advOpBinary, true, false, 1<<20)
				trickled[i], rest[i] = c, advMasked(make([]byte, 100), 0)
			case 1: // a fragmented message, trickled a frame of one byte at a time
				first = advFrame(advOpBinary, false, []byte("start"))
				trickled[i] = c
				// Whole frames, a byte at a time: each arrives complete
				// only now and then; the message never does.
				rest[i] = contTrickle
			case 2: // a header promising 64 KiB, then silence
				first = advHeader(advOpText, true, false, 64<<10)
			}
			start := time.Now()
			if _, err := c.Write(first); err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, _, _, err := c.readClose(timeout + slack + time.Second)
				results[i] = result{time.Since(start), code, err}
			}()
		}
		stop := make(chan struct{})
		trickleDone := make(chan struct{})
		go func() { defer close(trickleDone); advTrickle(trickled, rest, 100*time.Millisecond, stop) }()
		loaded := p.figures(t)
		wg.Wait()
		close(stop)
		<-trickleDone
		during, err := b.finish()
		if err != nil {
			t.Fatalf("bystander: %v", err)
		}
		var worst time.Duration
		codes := map[int]int{}
		bad := 0
		for i, r := range results {
			worst = max(worst, r.elapsed)
			codes[r.code]++
			// The timers run on the table's coarse clock (a tick is a
			// quarter of the shortest timeout), so the message's
			// start may be stamped up to a tick early.
			if r.err != nil || r.code != 1008 || r.elapsed < timeout*3/4-10*time.Millisecond || r.elapsed > timeout+slack {
				if bad < 5 {
					t.Errorf("slow frame %d (kind %d): close %d after %v, %v", i, i%3, r.code, r.elapsed, r.err)
				}
				bad++
			}
		}
		for _, c := range conns {
			c.Close()
		}
		pb, pd := advCheckP99(t, before, during)
		by.Close()
		end := advBackToBaseline(t, p, base, 5*time.Second)
		m := p.scrape(t)
		limited := m.sum("ws4go_limit_closes_total", `limit="message_timeout"`)
		if limited < n {
			t.Errorf("ws4go_limit_closes_total{limit=\"message_timeout\"} = %v, want %d", limited, n)
		}
		t.Logf("adversary: slowloris-frames %s: conns=%d timeout=%v closed_last=%v codes=%v bad=%d limit_closes=%v loaded_rss=%.1fMiB rss_growth=%.1fMiB loaded_buffered=%.0f bystander_p99_before=%v bystander_p99_during=%v fds=%d",
			engine, n, timeout, worst.Round(time.Millisecond), codes, bad, limited, advMiB(loaded.RSS), advMiB(loaded.RSS-base.RSS), loaded.Buffered,
			pb.Round(time.Microsecond), pd.Round(time.Microsecond), end.FDs)
	})
}
