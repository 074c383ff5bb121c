package metrics_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/conformance"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/metrics"
	"github.com/ws4go/ws4go/server"
	_ "github.com/ws4go/ws4go/xconnect" // extended CONNECT for TestOpenedByHTTPVersion
)

var engines = []server.Engine{server.EngineGoroutine, server.EngineNetpoll}

// scripted is the test handler: an echo that panics on "panic" and closes
// with 1000 "done" on "close-me".
type scripted struct{ handler.Base }

func (scripted) ReceivedMessage(c handler.Conn, m handler.Message) {
	switch string(m.Data) {
	case "panic":
		panic("scripted panic")
	case "close-me":
		_ = c.Close(handler.CloseNormal, "done")
		return
	}
	_ = c.Send(m.Type, m.Data)
}

// setup serves s (with a fresh Metrics as its Observer) on 127.0.0.1 and
// returns the server's address and a function that scrapes /metrics.
func setup(t *testing.T, e server.Engine, s *server.Server) (string, func() series) {
	return setupOn(t, e, s, false)
}

// setupOn is setup; with embedded, s serves as an http.Handler of a
// net/http server instead of on a listener of its own.
func setupOn(t *testing.T, e server.Engine, s *server.Server, embedded bool) (string, func() series) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Engine, s.Observer = e, m
	m.Watch(s)
	if embedded {
		ws := httptest.NewServer(s)
		ms := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			ws.Close()
			ms.Close()
		})
		return ws.Listener.Addr().String(), func() series { return scrape(t, ms.URL) }
	}
	addr := testutil.Serve(t, s, nil)
	// Cleanups run last first: the scrape endpoint closes before Shutdown.
	hs := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	t.Cleanup(hs.Close)
	return addr, func() series { return scrape(t, hs.URL) }
}

// series is an exposition flattened to `name{label="value",...}` → value;
// a histogram gives name_count, name_sum and name_bucket{le=...}.
type series map[string]float64

func scrape(t *testing.T, url string) series {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %s %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the exposition: %v", err)
	}
	return flatten(fams)
}

func flatten(fams map[string]*dto.MetricFamily) series {
	out := series{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := func(suffix string, extra ...string) string {
				all := append(slices.Clone(ls), extra...)
				slices.Sort(all)
				if len(all) == 0 {
					return name + suffix
				}
				return name + suffix + "{" + strings.Join(all, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key("")] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key("")] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out[key("_count")] = float64(h.GetSampleCount())
				out[key("_sum")] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					out[key("_bucket", fmt.Sprintf("le=%q", fmt.Sprint(b.GetUpperBound())))] = float64(b.GetCumulativeCount())
				}
			default:
				out[key("")] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}

// expectExactly checks every ws4go_ series against want: those in want
// must have that value, all others must be 0. Keys in skip are not checked.
func (got series) expectExactly(t *testing.T, want series, skip ...string) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("missing %s (want %v)", k, v)
		} else if g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; ok || !strings.HasPrefix(k, "ws4go_") || slices.Contains(skip, k) {
			continue
		}
		if g != 0 {
			t.Errorf("%s = %v, want 0", k, g)
		}
	}
}

// waitFor scrapes until cond holds (the Closed hook runs just after the
// socket is closed, so the client may see the end a moment before).
func waitFor(t *testing.T, scrape func() series, what string, cond func(series) bool) series {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := scrape()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; have:\n%s", what, s.dump("ws4go_"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s series) dump(prefix string) string {
	var lines []string
	for k, v := range s {
		if strings.HasPrefix(k, prefix) {
			lines = append(lines, fmt.Sprintf("%s %v", k, v))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// rawClient is the conformance suite's raw client with the test's t: it
// writes any frame asked of it, each in one write (the core's counts must
// not depend on how reads split the stream: see fragments).
type rawClient struct {
	t *testing.T
	c *conformance.Client
}

func dial(t *testing.T, addr, path string) *rawClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := conformance.Dial(ctx, conformance.Target{Addr: addr, Path: path})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.Conn().SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{t: t, c: c}
}

// frame writes one masked frame.
func (c *rawClient) frame(fin bool, op ws.OpCode, p []byte) {
	c.t.Helper()
	c.write(conformance.Frame{Fin: fin, Opcode: byte(op), Payload: p})
}

// fragments writes a message as several frames in one write.
func (c *rawClient) fragments(op ws.OpCode, parts ...string) {
	c.t.Helper()
	var fs []conformance.Frame
	for i, p := range parts {
		if i > 0 {
			op = ws.OpContinuation
		}
		fs = append(fs, conformance.Frame{Fin: i == len(parts)-1, Opcode: byte(op), Payload: []byte(p)})
	}
	c.write(fs...)
}

func (c *rawClient) write(fs ...conformance.Frame) {
	c.t.Helper()
	if err := c.c.WriteFrames(fs...); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawClient) send(op ws.OpCode, p string) { c.t.Helper(); c.frame(true, op, []byte(p)) }

func (c *rawClient) closeWith(code ws.StatusCode, reason string) {
	c.t.Helper()
	c.frame(true, ws.OpClose, ws.NewCloseFrameBody(code, reason))
}

// read returns the next frame from the server.
func (c *rawClient) read() conformance.Frame {
	c.t.Helper()
	f, err := c.c.ReadFrame()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

func (c *rawClient) expect(op ws.OpCode, p string) {
	c.t.Helper()
	if f := c.read(); ws.OpCode(f.Opcode) != op || string(f.Payload) != p {
		c.t.Fatalf("got %v %q, want %v %q", ws.OpCode(f.Opcode), f.Payload, op, p)
	}
}

// expectClose reads a close frame with code and returns its payload size.
func (c *rawClient) expectClose(code ws.StatusCode) int {
	c.t.Helper()
	f := c.read()
	if f.Opcode != conformance.OpClose {
		c.t.Fatalf("got %v %q, want a close frame", ws.OpCode(f.Opcode), f.Payload)
	}
	if got, _ := ws.ParseCloseFrameData(f.Payload); got != code {
		c.t.Fatalf("close code %d, want %d (%q)", got, code, f.Payload)
	}
	return len(f.Payload)
}

// expectEOF checks that the server closes the connection cleanly, with
// nothing more sent.
func (c *rawClient) expectEOF() {
	c.t.Helper()
	if f, err := c.c.ReadFrame(); err != io.EOF {
		c.t.Fatalf("want EOF, got %v frame %q, %v", ws.OpCode(f.Opcode), f.Payload, err)
	}
	c.c.Close()
}

func upgrade(addr, path string, extra ...string) string {
	h := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	for _, e := range extra {
		h += e + "\r\n"
	}
	return h + "\r\n"
}

const key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="

// TestScriptedSession runs a fixed session — refused handshakes, messages
// of each type, a ping, a broadcast, a protocol error, a handler panic,
// closes from either side with several codes, a dropped connection — and
// checks every ws4go_ value read back from /metrics.
func TestScriptedSession(t *testing.T) {
	for _, c := range []struct {
		e        server.Engine
		embedded bool
	}{{server.EngineGoroutine, false}, {server.EngineNetpoll, false}, {server.EngineGoroutine, true}, {server.EngineNetpoll, true}} {
		name := string(c.e)
		if c.embedded {
			name += "/http.Handler"
		}
		e := c.e
		t.Run(name, func(t *testing.T) {
			s := &server.Server{
				Routes:       map[string]handler.Factory{"/ws": func() handler.Handler { return scripted{} }},
				PingInterval: -1,
				Logger:       quietLogger(),
			}
			addr, scrape := setupOn(t, e, s, c.embedded)

			// Four refused handshakes.
			for _, c := range []struct {
				head string
				want int
			}{
				{upgrade(addr, "/nowhere", key, "Sec-WebSocket-Version: 13"), 404},
				{upgrade(addr, "/ws", key, "Sec-WebSocket-Version: 8"), 426},
				{upgrade(addr, "/ws", key, "Sec-WebSocket-Version: 13", "Origin: http://evil.example"), 403},
				{upgrade(addr, "/ws", "Sec-WebSocket-Version: 13"), 400},
			} {
				if got := testutil.RawHTTP(t, addr, c.head).StatusCode; got != c.want {
					t.Fatalf("status %d, want %d", got, c.want)
				}
			}

			// A: text, binary, ping, a fragmented text, close 1000 from
			// the client.
			a := dial(t, addr, "/ws")
			a.send(ws.OpText, "hello")
			a.expect(ws.OpText, "hello")
			a.send(ws.OpBinary, "\x01\x02\x03")
			a.expect(ws.OpBinary, "\x01\x02\x03")
			a.send(ws.OpPing, "p1")
			a.expect(ws.OpPong, "p1")
			a.fragments(ws.OpText, "ab", "cd")
			a.expect(ws.OpText, "abcd")
			a.closeWith(ws.StatusNormalClosure, "bye")
			closeA := a.expectClose(ws.StatusNormalClosure)
			a.expectEOF()
			waitLen(t, s, 0)

			// B and C get a broadcast.
			b, c := dial(t, addr, "/ws"), dial(t, addr, "/ws")
			waitLen(t, s, 2)
			if n := s.Broadcast(handler.Text, []byte("news")); n != 2 {
				t.Fatalf("broadcast reached %d", n)
			}
			b.expect(ws.OpText, "news")
			c.expect(ws.OpText, "news")

			// B: a reserved opcode is a protocol error (1002).
			b.send(ws.OpCode(0x3), "")
			closeB := b.expectClose(ws.StatusProtocolError)
			b.expectEOF()

			// C: the handler panics (1011).
			c.send(ws.OpText, "panic")
			closeC := c.expectClose(ws.StatusInternalServerError)
			c.expectEOF()

			// D and E close with application codes.
			d := dial(t, addr, "/ws")
			d.closeWith(4001, "x")
			closeD := d.expectClose(4001)
			d.expectEOF()
			e := dial(t, addr, "/ws")
			e.closeWith(3000, "")
			closeE := e.expectClose(3000)
			e.expectEOF()

			// F: the server closes (1000 "done"); the client answers.
			f := dial(t, addr, "/ws")
			f.send(ws.OpText, "close-me")
			closeF := f.expectClose(ws.StatusNormalClosure)
			f.closeWith(ws.StatusNormalClosure, "")
			f.expectEOF()

			// G: the TCP connection just goes away (1006).
			g := dial(t, addr, "/ws")
			waitLen(t, s, 1)
			g.c.Close()

			got := waitFor(t, scrape, "7 closed connections", func(s series) bool {
				n := 0.0
				for k, v := range s {
					if strings.HasPrefix(k, "ws4go_connections_closed_total{") {
						n += v
					}
				}
				return n == 7
			})
			if got[`ws4go_handler_duration_seconds_sum`] <= 0 {
				t.Errorf("handler duration sum %v", got[`ws4go_handler_duration_seconds_sum`])
			}
			got.expectExactly(t, series{
				`ws4go_connections_accepted_total`:           4 + 7,
				`ws4go_connections_opened_total{http="1.1"}`: 7,
				`ws4go_connections_open`:                     0,

				`ws4go_handshakes_rejected_total{reason="not_found",status="404"}`: 1,
				`ws4go_handshakes_rejected_total{reason="version",status="426"}`:   1,
				`ws4go_handshakes_rejected_total{reason="origin",status="403"}`:    1,
				`ws4go_handshakes_rejected_total{reason="key",status="400"}`:       1,

				// A: hello, abcd; C: panic; F: close-me.
				`ws4go_received_messages_total{type="text"}`:   4,
				`ws4go_received_bytes_total{type="text"}`:      5 + 4 + 5 + 8,
				`ws4go_received_messages_total{type="binary"}`: 1,
				`ws4go_received_bytes_total{type="binary"}`:    3,
				`ws4go_received_messages_total{type="ping"}`:   1,
				`ws4go_received_bytes_total{type="ping"}`:      2,
				// A, D, E, F: their close frames' payloads.
				`ws4go_received_messages_total{type="close"}`: 4,
				`ws4go_received_bytes_total{type="close"}`:    float64(2+len("bye")) + float64(2+len("x")) + 2 + 2,

				// A's two echoes and the broadcast to B and C.
				`ws4go_sent_messages_total{type="text"}`:   4,
				`ws4go_sent_bytes_total{type="text"}`:      5 + 4 + 2*4,
				`ws4go_sent_messages_total{type="binary"}`: 1,
				`ws4go_sent_bytes_total{type="binary"}`:    3,
				`ws4go_sent_messages_total{type="pong"}`:   1,
				`ws4go_sent_bytes_total{type="pong"}`:      2,
				`ws4go_sent_messages_total{type="close"}`:  6,
				`ws4go_sent_bytes_total{type="close"}`:     float64(closeA + closeB + closeC + closeD + closeE + closeF),

				`ws4go_connections_closed_total{code="1000",initiator="peer"}`:   1,
				`ws4go_connections_closed_total{code="1002",initiator="server"}`: 1,
				`ws4go_connections_closed_total{code="1011",initiator="server"}`: 1,
				`ws4go_connections_closed_total{code="4xxx",initiator="peer"}`:   1,
				`ws4go_connections_closed_total{code="3xxx",initiator="peer"}`:   1,
				`ws4go_connections_closed_total{code="1000",initiator="server"}`: 1,
				`ws4go_connections_closed_total{code="1006",initiator="none"}`:   1,

				// Opened and Closed of each of the 7, A's 3 messages,
				// C's panic, F's close-me.
				`ws4go_handler_duration_seconds_count`: 2*7 + 3 + 1 + 1,

				`ws4go_broadcast_recipients_count`:                               1,
				`ws4go_broadcast_recipients_sum`:                                 2,
				`ws4go_broadcast_recipients_bucket{le="10"}`:                     1,
				`ws4go_broadcast_recipients_bucket{le="100"}`:                    1,
				`ws4go_broadcast_recipients_bucket{le="1000"}`:                   1,
				`ws4go_broadcast_recipients_bucket{le="10000"}`:                  1,
				`ws4go_broadcast_recipients_bucket{le="100000"}`:                 1,
				`ws4go_broadcast_recipients_bucket{le="+Inf"}`:                   1,
				`ws4go_heartbeat_timeouts_total`:                                 0,
				`ws4go_write_queue_overflows_total`:                              0,
				`ws4go_netpoll_workers_busy`:                                     0,
				`ws4go_netpoll_worker_queue_length`:                              0,
				`ws4go_handshakes_rejected_total{reason="timeout",status="408"}`: 0,
			}, handlerBuckets(got)...)
		})
	}
}

// handlerBuckets are the handler histogram's sum and buckets, whose values
// depend on timing.
func handlerBuckets(s series) []string {
	var out []string
	for k := range s {
		if strings.HasPrefix(k, "ws4go_handler_duration_seconds_") && !strings.HasSuffix(k, "_count") {
			out = append(out, k)
		}
	}
	return out
}

func waitLen(t *testing.T, s *server.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Len() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want %d", s.Len(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHeartbeatTimeout: a client that never answers the heartbeat ping is
// counted once it is dropped.
func TestHeartbeatTimeout(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			s := &server.Server{
				NewHandler:   func() handler.Handler { return scripted{} },
				PingInterval: 30 * time.Millisecond, PongTimeout: 30 * time.Millisecond,
				Logger: quietLogger(),
			}
			addr, scrape := setup(t, e, s)
			c := dial(t, addr, "/")
			c.expect(ws.OpPing, "")
			c.expectEOF() // no pong: dropped
			got := waitFor(t, scrape, "the heartbeat timeout", func(s series) bool {
				return s[`ws4go_connections_closed_total{code="1006",initiator="none"}`] == 1
			})
			got.expectExactly(t, series{
				`ws4go_connections_accepted_total`:                             1,
				`ws4go_connections_opened_total{http="1.1"}`:                   1,
				`ws4go_heartbeat_timeouts_total`:                               1,
				`ws4go_sent_messages_total{type="ping"}`:                       1,
				`ws4go_connections_closed_total{code="1006",initiator="none"}`: 1,
				`ws4go_handler_duration_seconds_count`:                         2,
			}, handlerBuckets(got)...)
		})
	}
}

// TestWriteQueueOverflow: a client that does not read while broadcasts
// pile up is closed and counted.
func TestWriteQueueOverflow(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			s := &server.Server{
				NewHandler:    func() handler.Handler { return scripted{} },
				MaxWriteQueue: 64 << 10, CloseTimeout: 100 * time.Millisecond,
				PingInterval: -1, Logger: quietLogger(),
			}
			addr, scrape := setup(t, e, s)
			c := dial(t, addr, "/")
			_ = c.c.Conn().(*net.TCPConn).SetReadBuffer(4096)
			waitLen(t, s, 1)
			chunk := make([]byte, 32<<10)
			deadline := time.Now().Add(10 * time.Second)
			for s.Broadcast(handler.Binary, chunk) == 1 {
				if time.Now().After(deadline) {
					t.Fatal("never overflowed")
				}
			}
			got := waitFor(t, scrape, "the overflow", func(s series) bool {
				return s[`ws4go_connections_closed_total{code="1008",initiator="server"}`] == 1
			})
			for _, k := range []string{`ws4go_write_queue_overflows_total`, `ws4go_sent_messages_total{type="close"}`} {
				if got[k] != 1 {
					t.Errorf("%s = %v, want 1", k, got[k])
				}
			}
		})
	}
}

// TestPublishSkipped: with SlowSkip, a subscriber that does not read has
// broadcasts skipped, counted, and stays open; the topic gauges follow its
// subscription.
func TestPublishSkipped(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			conns := make(chan handler.Conn, 1)
			s := &server.Server{
				NewHandler:    func() handler.Handler { return opened{conns} },
				MaxWriteQueue: 64 << 10, SlowSubscribers: server.SlowSkip,
				PingInterval: -1, Logger: quietLogger(),
			}
			addr, scrape := setup(t, e, s)
			dial(t, addr, "/") // and never read
			sc := <-conns
			if err := s.Subscribe(sc, "t"); err != nil {
				t.Fatal(err)
			}
			chunk := make([]byte, 32<<10)
			deadline := time.Now().Add(10 * time.Second)
			for s.Broadcast(handler.Binary, chunk) == 1 {
				if time.Now().After(deadline) {
					t.Fatal("never skipped")
				}
			}
			got := scrape()
			if got[`ws4go_publish_skipped_total`] != 1 || got[`ws4go_write_queue_overflows_total`] != 0 {
				t.Errorf("skipped %v, overflows %v; want 1, 0", got[`ws4go_publish_skipped_total`], got[`ws4go_write_queue_overflows_total`])
			}
			if got[`ws4go_topics`] != 1 || got[`ws4go_subscriptions`] != 1 {
				t.Errorf("topics %v, subscriptions %v; want 1, 1", got[`ws4go_topics`], got[`ws4go_subscriptions`])
			}
			if s.Len() != 1 {
				t.Error("the skipped subscriber was closed")
			}
		})
	}
}

// opened hands over its connection.
type opened struct{ conns chan handler.Conn }

func (o opened) Opened(c handler.Conn)                        { o.conns <- c }
func (opened) ReceivedMessage(handler.Conn, handler.Message)  {}
func (opened) Ponged(handler.Conn, []byte)                    {}
func (opened) Closed(handler.Conn, handler.CloseCode, string) {}

// quietLogger drops the server's logs (the panic's stack trace).
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestOpenedByHTTPVersion: WebSockets opened over HTTP/2 (RFC 8441 streams,
// on a TLS listener offering h2) and over HTTP/1.1 are counted apart.
func TestOpenedByHTTPVersion(t *testing.T) {
	cert, pool := testutil.SelfSigned(t)
	s := &server.Server{
		NewHandler: handler.NewEcho,
		Logger:     quietLogger(),
		TLSConfig:  &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
	}
	addr, scrape := setup(t, server.EngineNetpoll, s)
	hc := testutil.DialH2(t, addr, pool)
	for range 2 {
		if resp, _ := hc.Open("/", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("extended CONNECT: %s", resp.Status)
		}
	}
	d := ws.Dialer{TLSConfig: &tls.Config{RootCAs: pool}}
	nc, _, _, err := d.Dial(context.Background(), "wss://"+addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitFor(t, scrape, "three opened", func(s series) bool {
		return s[`ws4go_connections_opened_total{http="2"}`] == 2 && s[`ws4go_connections_opened_total{http="1.1"}`] == 1
	})
}
