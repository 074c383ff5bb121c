//go:build linux

package adversary

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// advSettle waits for a server with no client to be back at rest and
// returns its figures, the baseline the scenarios compare with.
func advSettle(t *testing.T, p *advProc) advFigures {
	t.Helper()
	c, err := advDial(p.addr, p.dial)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.echo([]byte("warm up"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	c.Close()
	f, ok := p.waitFigures(t, 5*time.Second, func(f advFigures) bool { return f.Open == 0 })
	if !ok {
		t.Fatalf("the warm-up connection is still open: %v", f)
	}
	return f
}

// advBackToBaseline waits until the connections, descriptors, goroutines
// and buffered bytes are back to base (goroutines within a little slack:
// the runtime's own come and go) and fails the test if they are not.
func advBackToBaseline(t *testing.T, p *advProc, base advFigures, within time.Duration) advFigures {
	t.Helper()
	f, ok := p.waitFigures(t, within, func(f advFigures) bool {
		return f.Open == 0 && f.FDs <= base.FDs && f.Goroutines <= base.Goroutines+2 && f.Buffered <= base.Buffered
	})
	if !ok {
		t.Errorf("not back to baseline after %v:\n  now      %v\n  baseline %v", within, f, base)
	}
	return f
}

// TestAdvIdleBaseline measures what 2,000 idle connections cost: the
// context for every other figure.
func TestAdvIdleBaseline(t *testing.T) {
	const n = 2000
	// The bound is generous; it catches a per-connection buffer that
	// someone made large or eager.
	const maxPerConn = 64 << 10
	advEachEngine(t, func(t *testing.T, engine string) {
		p := advStart(t, engine)
		base := advSettle(t, p)
		conns := advDialMany(t, p.addr, n, advDialOpts{})
		// A message each, so that whatever a connection allocates on its
		// first read is counted.
		for _, c := range conns {
			if err := c.echo([]byte("hello"), 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		f, ok := p.waitFigures(t, 10*time.Second, func(f advFigures) bool { return f.Open == n })
		if !ok {
			t.Fatalf("open=%v, want %d", f.Open, n)
		}
		perConn := (f.RSS - base.RSS) / n
		t.Logf("adversary: idle %s: conns=%d rss_base=%.1fMiB rss=%.1fMiB rss_per_conn=%.1fKiB threads=%d fds=%d goroutines=%.0f",
			engine, n, advMiB(base.RSS), advMiB(f.RSS), float64(perConn)/1024, f.Threads, f.FDs, f.Goroutines)
		if perConn > maxPerConn {
			t.Errorf("%.1f KiB of RSS per idle connection, want at most %d KiB", float64(perConn)/1024, maxPerConn>>10)
		}
		for _, c := range conns {
			c.Close()
		}
		advBackToBaseline(t, p, base, 10*time.Second)
	})
}

// TestAdvAbruptCuts opens 3,000 connections (a tenth of them in the middle
// of a message), resets half of them (SO_LINGER 0), closes a quarter
// without a closing handshake and ends the last quarter properly, while
// plain HTTP requests hit the same port: every request gets its own
// answer, every survivor nothing but its close frame, and every
// descriptor, goroutine, table slot and buffered byte comes back.
func TestAdvAbruptCuts(t *testing.T) {
	const n = 3000
	advEachEngine(t, func(t *testing.T, engine string) {
		p := advStart(t, engine)
		base := advSettle(t, p)
		conns := advDialMany(t, p.addr, n, advDialOpts{})
		// Half a 32 KiB message on every tenth connection: the server
		// holds it until the connection goes.
		partial := append(advHeader(advOpBinary, true, false, 32<<10), advMasked(make([]byte, 16<<10), 0)...)
		for i := 0; i < n; i += 10 {
			if _, err := conns[i].Write(partial); err != nil {
				t.Fatal(err)
			}
		}
		loaded, ok := p.waitFigures(t, 10*time.Second, func(f advFigures) bool { return f.Open == n })
		if !ok {
			t.Fatalf("open=%v, want %d", loaded.Open, n)
		}
		// Plain HTTP on the same port throughout the cuts (netpoll hands
		// those to net/http): each must get its own answer, whatever
		// descriptors are being closed and reused meanwhile.
		httpDone := make(chan error, 1)
		go func() {
			hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			for k := range 300 {
				resp, err := hc.Get("http://" + p.addr + "/healthz")
				if err != nil {
					httpDone <- fmt.Errorf("GET /healthz %d: %w", k, err)
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || string(body) != "ok\n" {
					httpDone <- fmt.Errorf("GET /healthz %d: %d %q %v", k, resp.StatusCode, body, err)
					return
				}
			}
			httpDone <- nil
		}()
		var resets, fins, clean int
		var keep []*advConn
		for i, c := range conns {
			switch i % 4 {
			case 0, 1:
				if err := c.abort(); err != nil {
					t.Fatal(err)
				}
				resets++
			case 2:
				c.Close()
				fins++
			default:
				keep = append(keep, c)
			}
		}
		cut, ok := p.waitFigures(t, 10*time.Second, func(f advFigures) bool { return f.Open == float64(len(keep)) })
		if !ok {
			t.Errorf("after the cuts open=%v, want %d", cut.Open, len(keep))
		}
		// The rest close properly: a close frame each, and its answer.
		for _, c := range keep {
			if _, err := c.Write(advCloseFrame(1000)); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-httpDone; err != nil {
			t.Error(err)
		}
		for _, c := range keep {
			code, data, pongs, err := c.readClose(5 * time.Second)
			if err != nil || code != 1000 || data != 0 || pongs != 0 {
				t.Fatalf("closing handshake: code %d after %d data frames and %d pongs, %v", code, data, pongs, err)
			}
			c.Close()
			clean++
		}
		start := time.Now()
		end := advBackToBaseline(t, p, base, 10*time.Second)
		m := p.scrape(t)
		t.Logf("adversary: cuts %s: conns=%d http_gets=300 resets=%d fins=%d clean=%d loaded_fds=%d loaded_goroutines=%.0f loaded_buffered=%.0f loaded_rss=%.1fMiB settle=%v fds=%d/%d goroutines=%.0f/%.0f open=%.0f buffered=%.0f closed_1006=%.0f closed_1000=%.0f",
			engine, n, resets, fins, clean, loaded.FDs, loaded.Goroutines, loaded.Buffered, advMiB(loaded.RSS),
			time.Since(start).Round(time.Millisecond), end.FDs, base.FDs, end.Goroutines, base.Goroutines, end.Open, end.Buffered,
			m.sum("ws4go_connections_closed_total", `code="1006"`), m.sum("ws4go_connections_closed_total", `code="1000"`))
	})
}
