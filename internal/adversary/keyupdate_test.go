//go:build linux

package adversary

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/internal/tlsattack"
)

// advKUProc is a `ws4go serve` speaking TLS, with /debug/pprof on its
// operations listener (to see where its goroutines wait).
type advKUProc struct {
	*advProc
	pool  *x509.CertPool
	conns []*tlsattack.Conn // the attacking clients
}

// advKUStart runs ws4go serve with a fresh certificate, the heartbeat off
// (it would bound the stuck answers on its own) and the given flags.
func advKUStart(t *testing.T, engine string, args ...string) *advKUProc {
	t.Helper()
	cert, key, pool := testutil.WriteSelfSigned(t, t.TempDir())
	all := append([]string{"-tls-cert", cert, "-tls-key", key, "-ping-interval", "0", "-pprof"}, args...)
	return &advKUProc{advProc: advStart(t, engine, all...), pool: pool}
}

// upgrade opens a WebSocket over TLS 1.3 (ALPN http/1.1) through crypto/tls
// and returns the connection and what it read past the 101.
func (p *advKUProc) upgrade(t *testing.T) (*tlsattack.Conn, *bufio.Reader) {
	t.Helper()
	// A small send buffer: the client's writes soon stall once the
	// server stops reading.
	c, err := tlsattack.Dial(p.addr, &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}}, 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, advRequest(p.addr, false)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c.Conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	return c, br
}

// settle echoes a message on one connection, closes it and returns the
// figures once the server has let it go: the baseline.
func (p *advKUProc) settle(t *testing.T) advFigures {
	t.Helper()
	c, br := p.upgrade(t)
	if _, err := c.Write(advFrame(advOpText, true, []byte("warm up"))); err != nil {
		t.Fatal(err)
	}
	if f, err := (&advConn{Conn: c.Conn, br: br}).readFrame(); err != nil || string(f.payload) != "warm up" {
		t.Fatalf("echo: %q, %v", f.payload, err)
	}
	c.Close()
	f, ok := p.waitFigures(t, 5*time.Second, func(f advFigures) bool { return f.Open == 0 })
	if !ok {
		t.Fatalf("the warm-up connection is still open: %v", f)
	}
	return f
}

// stall opens a WebSocket and floods it with "KeyUpdate(update_requested)
// + one byte of an 8 MiB frame's payload" until the server has stopped
// reading it and, on the goroutine engine, its reading goroutine waits in
// crypto/tls's answer (seen in /debug/pprof). It returns the KeyUpdates
// sent, and whether the server reset the connection first (with a short
// write timeout, the stuck answer may fail before the client sees it).
func (p *advKUProc) stall(t *testing.T, engine string) (int, bool) {
	t.Helper()
	c, _ := p.upgrade(t)
	p.conns = append(p.conns, c)
	if err := c.Take(); err != nil {
		t.Fatal(err)
	}
	hdr := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x80, 0, 0, 1, 2, 3, 4}
	if _, err := c.Write(c.AppendData(nil, hdr)); err != nil {
		t.Fatal(err)
	}
	x := func() byte { return 'x' }
	before := p.stuckAnswers(t)
	n, err := c.Flood(x, tlsattack.Stalled(func() bool {
		return engine == "netpoll" || p.stuckAnswers(t) > before
	}), time.Minute)
	if errors.Is(err, syscall.ECONNRESET) {
		return n, true
	}
	if err != nil {
		t.Fatal(err)
	}
	return n, false
}

// round attacks n connections until each is stuck; on the goroutine engine
// their stuck answers must fail within twice writeTO and the connections
// be dropped as write timeouts (the netpoll engine holds them); then the
// clients close. It returns the KeyUpdates sent, how many connections the
// server reset before the client saw them stuck, the figures while they
// were, and whether they were "dropped" or "held".
func (p *advKUProc) round(t *testing.T, engine string, n int, writeTO time.Duration) (int, int, advFigures, string) {
	t.Helper()
	before := p.scrape(t).sum("ws4go_limit_closes_total", `limit="write_timeout"`)
	p.conns = nil
	sent, reset := 0, 0
	for range n {
		k, r := p.stall(t, engine)
		sent += k
		if r {
			reset++
		}
	}
	if engine == "netpoll" && reset > 0 {
		t.Errorf("the netpoll engine reset %d connections that it holds", reset)
	}
	stuck := p.figures(t)
	dropped := "held"
	if engine == "goroutine" {
		within := 2*writeTO + 3*time.Second
		if m, ok := p.waitMetric(t, within, "ws4go_limit_closes_total", before+float64(n), `limit="write_timeout"`); !ok {
			t.Errorf("write timeouts %v after %v, want %v", m.sum("ws4go_limit_closes_total", `limit="write_timeout"`), within, before+float64(n))
		}
		if f, ok := p.waitFigures(t, within, func(f advFigures) bool { return f.Open == 0 }); !ok {
			t.Errorf("%v connections open %v after their answers got stuck", f.Open, within)
		}
		dropped = "dropped"
	}
	for _, c := range p.conns {
		c.Close()
	}
	return sent, reset, stuck, dropped
}

// anonRSS is the process's anonymous resident memory (heap, stacks), not
// the pages of its binary that the attack's code paths (and pprof's) map
// in for the first time.
func (p *advKUProc) anonRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			var kb int64
			_, _ = fmt.Sscan(v, &kb)
			return kb << 10
		}
	}
	t.Fatal("no RssAnon in /proc/PID/status")
	return 0
}

// settledRSS has the server collect its garbage (the attack's records and
// ciphers: crypto/tls makes new ones for each KeyUpdate) and waits until
// its anonymous RSS is within bound, or within passes; it returns the last
// one.
func (p *advKUProc) settledRSS(t *testing.T, bound int64, within time.Duration) int64 {
	t.Helper()
	resp, err := p.metrics.Get("http://" + p.ops + "/debug/pprof/heap?gc=1")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	end := time.Now().Add(within)
	tk := time.NewTicker(50 * time.Millisecond)
	defer tk.Stop()
	for {
		rss := p.anonRSS(t)
		if rss <= bound || time.Now().After(end) {
			return rss
		}
		<-tk.C
	}
}

// stuckAnswers counts the server's goroutines that wait for their socket in
// crypto/tls's answer to a KeyUpdate.
func (p *advKUProc) stuckAnswers(t *testing.T) int {
	t.Helper()
	resp, err := p.metrics.Get("http://" + p.ops + "/debug/pprof/goroutine?debug=2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range strings.Split(string(body), "\n\n") {
		if strings.Contains(g, "[IO wait") && strings.Contains(g, "crypto/tls.(*Conn).handleKeyUpdate") {
			n++
		}
	}
	return n
}

// TestAdvKeyUpdateStall: TLS 1.3 clients that stop reading and repeat
// "KeyUpdate(update_requested) + one byte of a large frame's payload" make
// crypto/tls answer from inside the server's tls.Conn.Read until the
// socket is full (the goroutine engine's reading goroutine then waits in
// that write; the netpoll engine holds their input instead):
//
//   - bounded: with -write-timeout 1s (and no heartbeat), the stuck answers
//     fail within twice it and their connections are dropped as write
//     timeouts (goroutine engine; the netpoll engine holds them, as it
//     holds any peer that does not read); once the clients are gone,
//     descriptors and goroutines are back to the baseline and anonymous
//     RSS within 10% (or 4 MiB) of what it was after a first round on
//     one connection (which grows the runtime once: its heap goal, the
//     GC's metadata; the binary's own pages that the attack's code paths
//     map in are not counted either).
//   - shutdown: with -write-timeout 1m, SIGTERM with -shutdown-timeout 1s
//     ends the process within it (plus slack), exit code 0.
//   - drop: the same with -shutdown-timeout 1ms: every connection is
//     dropped at once, one stuck connection after another. (Server.Close,
//     which the binary does not call, is checked in package server.)
func TestAdvKeyUpdateStall(t *testing.T) {
	const n = 3
	advEachEngine(t, func(t *testing.T, engine string) {
		t.Run("bounded", func(t *testing.T) {
			const writeTO = time.Second
			p := advKUStart(t, engine, "-write-timeout", writeTO.String())
			fresh := p.settle(t)
			// A first round, on one connection, then the baseline for
			// memory: the attack grows the runtime once (its heap goal,
			// the GC's metadata), which is not what a connection holds.
			p.round(t, engine, 1, writeTO)
			base := advBackToBaseline(t, p.advProc, fresh, 10*time.Second)
			baseAnon := p.settledRSS(t, 0, time.Second)
			sent, reset, stuck, dropped := p.round(t, engine, n, writeTO)
			end := advBackToBaseline(t, p.advProc, base, 10*time.Second)
			bound := baseAnon + max(baseAnon/10, 4<<20)
			anon := p.settledRSS(t, bound, 10*time.Second)
			if anon > bound {
				t.Errorf("anonymous RSS %.1f MiB after the attack, baseline %.1f MiB, bound %.1f MiB", advMiB(anon), advMiB(baseAnon), advMiB(bound))
			}
			t.Logf("adversary: keyupdate-stall %s: clients=%d keyupdates=%d reset_before_seen=%d write_timeout=%v %s rss_stuck=%.1fMiB anon_rss_after=%.1fMiB anon_rss_base=%.1fMiB rss_after=%.1fMiB rss_base=%.1fMiB fds_after=%d fds_base=%d goroutines_after=%.0f goroutines_base=%.0f",
				engine, n, sent, reset, writeTO, dropped, advMiB(stuck.RSS), advMiB(anon), advMiB(baseAnon), advMiB(p.status(t).RSS), advMiB(base.RSS),
				end.FDs, base.FDs, end.Goroutines, base.Goroutines)
		})
		for _, tc := range []struct {
			name, shutdownTO string
			bound            time.Duration
		}{{"shutdown", "1s", 6 * time.Second}, {"drop", "1ms", 5 * time.Second}} {
			t.Run(tc.name, func(t *testing.T) {
				p := advKUStart(t, engine, "-write-timeout", "1m", "-shutdown-timeout", tc.shutdownTO)
				p.settle(t)
				for range n {
					if _, reset := p.stall(t, engine); reset {
						t.Fatal("the server reset a connection with a minute of write timeout to go")
					}
				}
				stuck := p.stuckAnswers(t)
				start := time.Now()
				if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				code := p.exitCode(tc.bound)
				took := time.Since(start)
				if code != 0 {
					t.Errorf("exit code %d (-1: still running %v after SIGTERM with %d stuck answers); stderr:\n%s", code, tc.bound, stuck, p.stderr)
				}
				t.Logf("adversary: keyupdate-%s %s: clients=%d stuck_goroutines=%d shutdown_timeout=%s exited_in=%v",
					tc.name, engine, n, stuck, tc.shutdownTO, took.Round(time.Millisecond))
			})
		}
	})
}
