//go:build linux

package adversary

// Attacks on TLS and HTTP/2: half-open TLS handshakes, HTTP/2 connections
// that open no stream (silent, SETTINGS only, a header block trickled in
// CONTINUATIONs, refused requests only), and floods of RST_STREAM and
// SETTINGS frames.

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ws4go/ws4go/internal/testutil"
)

// advStartTLS runs ws4go serve over TLS with a fresh self-signed
// certificate (the binary offers h2 by ALPN); p.dial speaks TLS.
func advStartTLS(t *testing.T, engine string, args ...string) *advProc {
	t.Helper()
	cert, key, pool := testutil.WriteSelfSigned(t, t.TempDir())
	p := advStart(t, engine, append([]string{"-tls-cert", cert, "-tls-key", key, "-pprof"}, args...)...)
	p.dial.tls = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}}
	return p
}

// h2Config is p's TLS configuration offering h2 alone.
func (p *advProc) h2Config() *tls.Config {
	c := p.dial.tls.Clone()
	c.NextProtos = []string{"h2"}
	return c
}

// advTwoRounds runs attack twice on p (name is the scenario's, for the
// log). Each round must bring descriptors and goroutines back to base
// (attack checks them: the first gets the figures of the settled server,
// the second those after the first round). The RSS after the second round
// must be within 10% (or 4 MiB) of what it was after the first: what the
// Go runtime keeps once it has needed it (the heap it grew and its
// metadata, some fragmentation, the binary's code paged in: about 7 MiB
// of anonymous memory after 600 HTTP/2 connections) is kept once, and an
// attack that left memory behind would leave it again.
func advTwoRounds(t *testing.T, p *advProc, name string, attack func(round int, base advFigures)) {
	t.Helper()
	base := advSettle(t, p)
	attack(1, base)
	first := advCollected(t, p)
	attack(2, first)
	second := advCollected(t, p)
	slack := max(first.RSS/10, 4<<20)
	if second.RSS > first.RSS+slack {
		t.Errorf("RSS %.1f MiB after the second round, %.1f MiB after the first: over 10%% (or 4 MiB) more (anonymous: %.1f, %.1f MiB)",
			advMiB(second.RSS), advMiB(first.RSS), advMiB(second.Anon), advMiB(first.Anon))
	}
	t.Logf("adversary: %s rounds: rss_base=%.1fMiB rss_after_first=%.1fMiB rss_after_second=%.1fMiB anon_base=%.1fMiB anon_after_first=%.1fMiB anon_after_second=%.1fMiB",
		name, advMiB(base.RSS), advMiB(first.RSS), advMiB(second.RSS), advMiB(base.Anon), advMiB(first.Anon), advMiB(second.Anon))
}

// advCollected returns p's figures once its RSS has settled. An idle Go
// runtime collects garbage only every two minutes: a heap profile with
// gc=1 (-pprof) makes it collect now, and the scavenger then hands what is
// free back to the system; settled is when the RSS has not fallen for a
// second (at most 15 s).
func advCollected(t *testing.T, p *advProc) advFigures {
	t.Helper()
	low := p.figures(t)
	lowAt := time.Now()
	for deadline := time.Now().Add(15 * time.Second); time.Since(lowAt) < time.Second && time.Now().Before(deadline); {
		if resp, err := p.metrics.Get("http://" + p.ops + "/debug/pprof/heap?gc=1"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		<-time.After(100 * time.Millisecond)
		if f := p.figures(t); f.RSS < low.RSS {
			low, lowAt = f, time.Now()
		}
	}
	return low
}

// advH2 is a raw HTTP/2 client connection: it writes whatever frames a
// scenario asks for and reads the server's on a goroutine.
type advH2 struct {
	tc    *tls.Conn
	start time.Time
	mu    sync.Mutex // the write side of fr
	fr    *http2.Framer
	// closed is closed when a read fails (the server closed the
	// connection), at that time since start.
	closed chan struct{}
	at     time.Duration
	// answers counts the responses (HEADERS with :status) received.
	answers atomic.Int64
	// acked is closed once the server's SETTINGS are acknowledged: no
	// frame of ours may come between a header block's frames.
	acked chan struct{}
}

// advDialH2 makes a TLS connection whose ALPN chose h2 (bufs: see
// advDialOpts). With preface, it
// sends the connection preface and an empty SETTINGS, and its reader
// answers the server's SETTINGS and PINGs; without, it sends and answers
// nothing. Unless read is false, a goroutine reads (and drops) what the
// server sends.
func advDialH2(addr string, cfg *tls.Config, bufs int, preface, read bool) (*advH2, error) {
	start := time.Now()
	nc, err := advDialTCP(addr, bufs)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(nc, cfg)
	_ = tc.SetDeadline(start.Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		nc.Close()
		return nil, err
	}
	_ = tc.SetDeadline(time.Time{})
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		tc.Close()
		return nil, errors.New("ALPN chose " + p + ", not h2")
	}
	c := &advH2{tc: tc, start: start, fr: http2.NewFramer(tc, tc), closed: make(chan struct{}), acked: make(chan struct{})}
	if preface {
		if _, err := io.WriteString(tc, http2.ClientPreface); err != nil {
			tc.Close()
			return nil, err
		}
		if err := c.fr.WriteSettings(); err != nil {
			tc.Close()
			return nil, err
		}
	}
	if read {
		go c.read(preface)
	}
	return c, nil
}

func (c *advH2) read(answer bool) {
	defer close(c.closed)
	rd := http2.NewFramer(nil, c.tc)
	for {
		f, err := rd.ReadFrame()
		if err != nil {
			c.at = time.Since(c.start)
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if answer && !f.IsAck() {
				c.mu.Lock()
				_ = c.fr.WriteSettingsAck()
				c.mu.Unlock()
				select {
				case <-c.acked:
				default:
					close(c.acked)
				}
			}
		case *http2.PingFrame:
			if answer && !f.IsAck() {
				c.mu.Lock()
				_ = c.fr.WritePing(true, f.Data)
				c.mu.Unlock()
			}
		case *http2.HeadersFrame:
			c.answers.Add(1)
		}
	}
}

// advBlock is the HPACK header block of fields (name, value, ...).
func advBlock(fields ...string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for i := 0; i < len(fields); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return b.Bytes()
}

// advConnect is the header block of an extended CONNECT for a WebSocket
// at /ws of addr.
func advConnect(addr string) []byte {
	return advBlock(":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/ws",
		":authority", addr, "sec-websocket-version", "13")
}

// headers writes a HEADERS frame.
func (c *advH2) headers(p http2.HeadersFrameParam) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.tc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.fr.WriteHeaders(p)
}

// TestAdvTLSHalfOpen holds 600 TLS handshakes half open (a TCP connection
// and silence, five bytes of a record header, or a whole ClientHello and
// no answer to the server's flight): every one is dropped at
// -handshake-timeout and counted as tls_timeout, an honest client's
// echoes keep their pace, and descriptors, goroutines and RSS come back.
func TestAdvTLSHalfOpen(t *testing.T) {
	const (
		n       = 600
		timeout = time.Second
		slack   = 2 * time.Second
	)
	advEachEngine(t, func(t *testing.T, engine string) {
		p := advStartTLS(t, engine, "-handshake-timeout", timeout.String())
		advTwoRounds(t, p, "tls-half-open "+engine, func(round int, base advFigures) {
			hello := advClientHello(t, p.dial.tls)
			by, before, b := advBystanderFor(t, p)
			type result struct {
				elapsed time.Duration
				err     error
			}
			results := make([]result, n)
			var wg sync.WaitGroup
			for i := range n {
				start := time.Now()
				nc, err := advDialTCP(p.addr, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				switch i % 3 {
				case 1:
					_, err = nc.Write(hello[:5])
				case 2:
					_, err = nc.Write(hello)
				}
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = nc.SetReadDeadline(start.Add(timeout + slack + time.Second))
					_, err := io.Copy(io.Discard, nc)
					results[i] = result{time.Since(start), err}
				}()
			}
			loaded := p.figures(t)
			wg.Wait()
			during, err := b.finish()
			if err != nil {
				t.Fatalf("bystander: %v", err)
			}
			var first, last time.Duration = time.Hour, 0
			bad := 0
			for i, r := range results {
				first, last = min(first, r.elapsed), max(last, r.elapsed)
				var ne net.Error
				if errors.As(r.err, &ne) && ne.Timeout() || r.elapsed < timeout*9/10 || r.elapsed > timeout+slack {
					if bad < 5 {
						t.Errorf("half-open handshake %d (kind %d): %v after %v, want dropped at about %v", i, i%3, r.err, r.elapsed, timeout)
					}
					bad++
				}
			}
			m := p.scrape(t)
			if got := m.sum("ws4go_handshakes_rejected_total", `reason="tls_timeout"`); got < n {
				t.Errorf("tls_timeout counted %v times, want %d", got, n)
			}
			pb, pd := advCheckP99(t, before, during)
			by.Close()
			end := advBackToBaseline(t, p, base, 5*time.Second)
			t.Logf("adversary: tls-half-open %s round %d: conns=%d timeout=%v dropped_first=%v dropped_last=%v bad=%d loaded_rss=%.1fMiB loaded_goroutines=%.0f bystander_p99_before=%v bystander_p99_during=%v fds=%d goroutines=%.0f",
				engine, round, n, timeout, first.Round(time.Millisecond), last.Round(time.Millisecond), bad, advMiB(loaded.RSS), loaded.Goroutines,
				pb.Round(time.Microsecond), pd.Round(time.Microsecond), end.FDs, end.Goroutines)
		})
	})
}

// advClientHello is the first flight of a TLS handshake with cfg: a
// ClientHello, recorded once and sent as is by every half-open client.
func advClientHello(t *testing.T, cfg *tls.Config) []byte {
	t.Helper()
	var rec advRecorder
	_ = tls.Client(&rec, cfg).Handshake() // fails at its first read
	if len(rec.b) < 5 || rec.b[0] != 0x16 {
		t.Fatalf("no ClientHello recorded: % x", rec.b)
	}
	return rec.b
}

// advRecorder is a net.Conn that keeps what is written to it and has
// nothing to read.
type advRecorder struct {
	net.Conn
	b []byte
}

func (r *advRecorder) Write(p []byte) (int, error) { r.b = append(r.b, p...); return len(p), nil }
func (r *advRecorder) Read([]byte) (int, error)    { return 0, io.EOF }
func (r *advRecorder) Close() error                { return nil }

// TestAdvH2Idle holds 600 HTTP/2 connections that open no stream: silent
// after ALPN, the preface and SETTINGS only (PINGs and SETTINGS
// answered), a header block trickled a byte every 100 ms in CONTINUATION
// frames, or a refused request (a GET at the WebSocket path) every
// quarter of the timeout. Every one is closed at -handshake-timeout and
// counted as a handshake timeout, whatever it sends; what an idle one
// costs is measured; descriptors, goroutines and RSS come back.
func TestAdvH2Idle(t *testing.T) {
	const (
		n = 600
		// Long enough to dial all of them (and measure) before the
		// first is closed, even with -race on a loaded machine.
		timeout = 6 * time.Second
		slack   = 2 * time.Second
	)
	advEachEngine(t, func(t *testing.T, engine string) {
		p := advStartTLS(t, engine, "-handshake-timeout", timeout.String())
		advTwoRounds(t, p, "h2-idle "+engine, func(round int, base advFigures) {
			cfg := p.h2Config()
			conns := make([]*advH2, n)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			// attack starts what connection i does once dialled.
			attack := func(i int, c *advH2) error {
				switch i % 4 {
				case 2: // a header block that never ends
					select {
					case <-c.acked:
					case <-time.After(timeout):
						return errors.New("the server's SETTINGS did not come")
					}
					if err := c.headers(http2.HeadersFrameParam{StreamID: 1,
						BlockFragment: append(advConnect(p.addr), 0x00, 0x01, 'x', 0x7f, 0xa1, 0x1e)}); err != nil {
						return err
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						advH2Every(c, stop, 100*time.Millisecond, func() error { return c.fr.WriteContinuation(1, false, []byte{'a'}) })
					}()
				case 3: // refused requests
					id := uint32(1)
					wg.Add(1)
					go func() {
						defer wg.Done()
						advH2Every(c, stop, timeout/4, func() error {
							id += 2
							return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true, EndStream: true,
								BlockFragment: advBlock(":method", "GET", ":scheme", "https", ":path", "/ws", ":authority", p.addr)})
						})
					}()
				}
				return nil
			}
			var (
				dials sync.WaitGroup
				next  atomic.Int64
				errs  = make(chan error, n)
			)
			for range 8 {
				dials.Add(1)
				go func() {
					defer dials.Done()
					for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
						c, err := advDialH2(p.addr, cfg, 0, i%4 != 0, true)
						if err == nil {
							conns[i] = c
							err = attack(i, c)
						}
						if err != nil {
							errs <- err
						}
					}
				}()
			}
			dials.Wait()
			t.Cleanup(func() {
				for _, c := range conns {
					if c != nil {
						c.tc.Close()
					}
				}
			})
			if len(errs) > 0 {
				close(stop)
				t.Fatalf("%d dials failed: %v", len(errs), <-errs)
			}
			// What an HTTP/2 connection with no stream costs: all are
			// open (the timeout is long enough).
			loaded := p.figures(t)
			var first, last time.Duration = time.Hour, 0
			bad := 0
			for i, c := range conns {
				select {
				case <-c.closed:
				case <-time.After(time.Until(c.start.Add(timeout + slack))):
				}
				select {
				case <-c.closed:
					first, last = min(first, c.at), max(last, c.at)
					if c.at >= timeout*9/10 {
						continue
					}
				default:
				}
				if bad < 5 {
					t.Errorf("idle HTTP/2 connection %d (kind %d): closed=%v after %v, want closed at about %v", i, i%4, c.at != 0, time.Since(c.start), timeout)
				}
				bad++
			}
			close(stop)
			wg.Wait()
			var refused int64
			for i := 3; i < n; i += 4 {
				refused += conns[i].answers.Load()
				if conns[i].answers.Load() == 0 {
					t.Errorf("connection %d: none of its refused requests answered", i)
				}
			}
			m := p.scrape(t)
			if got := m.sum("ws4go_handshakes_rejected_total", `reason="timeout"`); got < n {
				t.Errorf("timeouts counted %v times, want %d", got, n)
			}
			end := advBackToBaseline(t, p, base, 5*time.Second)
			t.Logf("adversary: h2-idle %s round %d: conns=%d timeout=%v closed_first=%v closed_last=%v bad=%d refused_answered=%d rss_per_conn=%.1fKiB goroutines_per_conn=%.1f loaded_rss=%.1fMiB fds=%d goroutines=%.0f",
				engine, round, n, timeout, first.Round(time.Millisecond), last.Round(time.Millisecond), bad, refused,
				float64(loaded.RSS-base.RSS)/n/1024, (loaded.Goroutines-base.Goroutines)/n, advMiB(loaded.RSS), end.FDs, end.Goroutines)
		})
	})
}

// advH2Every calls write (with c's write side held) now and then every
// interval until stop, c closes or write fails.
func advH2Every(c *advH2, stop <-chan struct{}, interval time.Duration, write func() error) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-stop:
				return
			case <-c.closed:
				return
			case <-tk.C:
			}
		}
		c.mu.Lock()
		_ = c.tc.SetWriteDeadline(time.Now().Add(time.Second))
		err := write()
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// TestAdvH2Floods floods the server from 8 HTTP/2 connections: half open
// WebSocket streams and reset them at once (HEADERS then RST_STREAM, 5,000
// pairs each: the "rapid reset" attack), which net/http ends with
// ENHANCE_YOUR_CALM; half write 200,000 empty SETTINGS frames and read
// none of the acknowledgements, which net/http folds into one pending
// acknowledgement (nothing queues: such a connection costs CPU, and is
// dropped once its acknowledgement makes no progress for -write-timeout).
// An honest client is still served meanwhile (ws4go does not rate-limit:
// the floods take CPU from it), the RSS stays bounded, and descriptors,
// goroutines and RSS come back once the attackers are gone.
func TestAdvH2Floods(t *testing.T) {
	const (
		conns    = 8
		resets   = 5000
		settings = 200_000
		maxRSS   = 256 << 20
	)
	advEachEngine(t, func(t *testing.T, engine string) {
		p := advStartTLS(t, engine)
		advTwoRounds(t, p, "h2-floods "+engine, func(round int, base advFigures) {
			by, before, b := advBystanderFor(t, p)
			cfg := p.h2Config()
			attackers := make([]*advH2, conns)
			sent := make([]int, conns)
			var wg sync.WaitGroup
			for i := range conns {
				rst := i%2 == 0
				c, err := advDialH2(p.addr, cfg, 0, true, rst)
				if err != nil {
					t.Fatal(err)
				}
				defer c.tc.Close()
				attackers[i] = c
				wg.Add(1)
				go func() {
					defer wg.Done()
					if !rst {
						_ = c.tc.SetWriteDeadline(time.Now().Add(30 * time.Second))
						for range settings {
							if c.fr.WriteSettings() != nil {
								return
							}
							sent[i]++
						}
						return
					}
					// Frame by frame: the reader answers SETTINGS and
					// PINGs in between.
					block := advConnect(p.addr)
					for k := range resets {
						id := uint32(2*k + 1)
						c.mu.Lock()
						_ = c.tc.SetWriteDeadline(time.Now().Add(10 * time.Second))
						err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true, BlockFragment: block})
						if err == nil {
							err = c.fr.WriteRSTStream(id, http2.ErrCodeCancel)
						}
						c.mu.Unlock()
						if err != nil {
							return
						}
						sent[i]++
					}
				}()
			}
			// The RSS while the floods run, every 50 ms.
			flooded := make(chan struct{})
			go func() { wg.Wait(); close(flooded) }()
			var peak int64
			start := time.Now()
			for sampling := true; sampling; {
				peak = max(peak, p.status(t).RSS)
				select {
				case <-flooded:
					sampling = false
				case <-time.After(50 * time.Millisecond):
				}
			}
			flood := time.Since(start)
			during, err := b.finish()
			if err != nil {
				t.Fatalf("bystander: %v", err)
			}
			// The server ends every rapid-reset attacker; the SETTINGS
			// flooders it ends only if their writes stalled past
			// -write-timeout (cut[1]: their own writes failed).
			cut := [2]int{}
			for i, c := range attackers {
				if i%2 == 1 {
					if sent[i] < settings {
						cut[1]++
					}
					continue
				}
				select {
				case <-c.closed:
					cut[0]++
				case <-time.After(2 * time.Second):
				}
			}
			if cut[0] != conns/2 {
				t.Errorf("the server closed %d of %d RST_STREAM flooders, want all", cut[0], conns/2)
			}
			// The floods take both cores (the attackers and the
			// bystander share this process too): the bystander must
			// be served, not served fast.
			pb, pd := advP99(before), advP99(during)
			if len(during) < 10 || pd > 5*time.Second {
				t.Errorf("the bystander managed %d echoes during the floods, p99 %v: want at least 10, under 5 s", len(during), pd)
			}
			if peak-base.RSS > maxRSS {
				t.Errorf("RSS peaked %.1f MiB over the baseline during the floods, want at most %d MiB", advMiB(peak-base.RSS), maxRSS>>20)
			}
			for _, c := range attackers {
				c.tc.Close()
			}
			by.Close()
			end := advBackToBaseline(t, p, base, 10*time.Second)
			var rsts, sets int
			for i, n := range sent {
				if i%2 == 0 {
					rsts += n
				} else {
					sets += n
				}
			}
			t.Logf("adversary: h2-floods %s round %d: conns=%d rst_pairs_sent=%d rst_conns_closed=%d settings_sent=%d settings_conns_closed=%d flood=%v rss_peak_growth=%.1fMiB bystander_p99_before=%v bystander_p99_during=%v echoes_during=%d fds=%d goroutines=%.0f",
				engine, round, conns, rsts, cut[0], sets, cut[1], flood.Round(time.Millisecond), advMiB(peak-base.RSS),
				pb.Round(time.Microsecond), pd.Round(time.Microsecond), len(during), end.FDs, end.Goroutines)
		})
	})
}
