//go:build linux

package bench

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// startWS4Go serves echo at /ws, broadcast at /broadcast and topics at
// /topics in this process.
func startWS4Go(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{PingInterval: -1}
	srv.Routes = map[string]handler.Factory{"/ws": handler.NewEcho, "/broadcast": broadcastHandler(srv), "/topics": topicsHandler(srv)}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return l.Addr().String()
}

func newTestGen(t *testing.T, addr, path string) *generator {
	t.Helper()
	g, err := newGenerator(clientConfig{loadTarget: loadTarget{Addr: addr, Path: path}, Sources: defaultSources(3, 0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func TestGeneratorEcho(t *testing.T) {
	addr := startWS4Go(t)
	g := newTestGen(t, addr, "/ws")
	ctx := context.Background()
	cr, err := g.Connect(ctx, connectSpec{Conns: 50})
	if err != nil || cr.Opened != 50 || cr.Failed != 0 {
		t.Fatalf("connect: %+v %v", cr, err)
	}
	r, err := g.Run(ctx, runSpec{Scenario: Echo, Duration: time.Second, Warmup: 100 * time.Millisecond, Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	h := hdrhistogram.Import(r.Latency)
	t.Logf("closed loop: sent %d received %d errors %d p50 %dµs p99 %dµs cpu %v", r.Sent, r.Received, r.Errors, h.ValueAtQuantile(50), h.ValueAtQuantile(99), r.CPU)
	if r.Received < 1000 || r.Errors != 0 || r.Open != 50 {
		t.Fatalf("closed loop: %+v", r)
	}
	r, err = g.Run(ctx, runSpec{Scenario: Echo, Duration: time.Second, Size: 64, Rate: 2000})
	if err != nil {
		t.Fatal(err)
	}
	h = hdrhistogram.Import(r.Latency)
	t.Logf("fixed rate: sent %d received %d p50 %dµs p99 %dµs", r.Sent, r.Received, h.ValueAtQuantile(50), h.ValueAtQuantile(99))
	if r.Sent < 1500 || r.Sent > 2500 || r.Received < 1500 {
		t.Fatalf("fixed rate 2000/s: %+v", r)
	}
}

func TestGeneratorBroadcast(t *testing.T) {
	addr := startWS4Go(t)
	g := newTestGen(t, addr, "/broadcast")
	ctx := context.Background()
	if cr, err := g.Connect(ctx, connectSpec{Conns: 50, Rate: 1000}); err != nil || cr.Opened != 50 {
		t.Fatalf("connect: %+v %v", cr, err)
	}
	// A server adds a connection to its broadcast set after it has sent
	// the 101: give the last ones time to get there.
	time.Sleep(200 * time.Millisecond)
	r, err := g.Run(ctx, runSpec{Scenario: Broadcast, Duration: time.Second, Size: 64, Publisher: true})
	if err != nil {
		t.Fatal(err)
	}
	c := hdrhistogram.Import(r.Completion)
	t.Logf("broadcast: sent %d deliveries %d completed %d incomplete %d completion p50 %dµs", r.Sent, r.Received, r.Completed, r.Incomplete, c.ValueAtQuantile(50))
	if r.Completed < 10 || r.Received < 50*(r.Completed-1) || r.Errors != 0 || r.Incomplete != 0 {
		t.Fatalf("broadcast: %+v", r)
	}
}

func TestGeneratorChurn(t *testing.T) {
	addr := startWS4Go(t)
	g := newTestGen(t, addr, "/ws")
	r, err := g.Run(context.Background(), runSpec{Scenario: Churn, Duration: time.Second, Size: 64, Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	h := hdrhistogram.Import(r.Latency)
	t.Logf("churn: cycles %d errors %d (%s) p50 %dµs", r.Completed, r.Errors, r.FirstError, h.ValueAtQuantile(50))
	if r.Completed < 50 || r.Errors != 0 {
		t.Fatalf("churn: %+v", r)
	}
}

// startRaw serves plain TCP: an echo, or the broadcast of
// bench/peers/cmd/rawtcp -mode broadcast (whatever a connection sends
// goes, as read, to every connection).
func startRaw(t *testing.T, broadcast bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			go func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				b := make([]byte, 64<<10)
				for {
					n, err := c.Read(b)
					if err != nil {
						return
					}
					if !broadcast {
						if _, err := c.Write(b[:n]); err != nil {
							return
						}
						continue
					}
					mu.Lock()
					for d := range conns {
						_, _ = d.Write(b[:n])
					}
					mu.Unlock()
				}
			}()
		}
	}()
	return l.Addr().String()
}

// connectRaw opens 20 connections to a raw server with target's options.
func connectRaw(t *testing.T, target loadTarget) *generator {
	t.Helper()
	g, err := newGenerator(clientConfig{loadTarget: target})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if cr, err := g.Connect(context.Background(), connectSpec{Conns: 20}); err != nil || cr.Opened != 20 {
		t.Fatalf("connect: %+v %v", cr, err)
	}
	return g
}

func TestGeneratorRaw(t *testing.T) {
	g := connectRaw(t, loadTarget{Addr: startRaw(t, false), Raw: true, RawHandshake: true})
	ctx := context.Background()
	r, err := g.Run(ctx, runSpec{Scenario: Echo, Duration: 500 * time.Millisecond, Size: 100})
	if err != nil || r.Received < 100 || r.Errors != 0 {
		t.Fatalf("raw echo: %+v %v", r, err)
	}
	r, err = g.Run(ctx, runSpec{Scenario: Churn, Duration: 500 * time.Millisecond, Size: 100, Concurrency: 4})
	if err != nil || r.Completed < 20 || r.Errors != 0 {
		t.Fatalf("raw churn: %+v %v", r, err)
	}
}

// TestGeneratorTopics: the publishers do not subscribe, every subscriber
// is answered, and each publish reaches the topic's subscribers.
func TestGeneratorTopics(t *testing.T) {
	addr := startWS4Go(t)
	r := runTopics(t, newTestGen(t, addr, "/topics"))
	if r.Busy <= 0 || r.Busy >= 1 {
		t.Errorf("loop busy %v", r.Busy)
	}
}

// runTopics runs the topics scenario on c, connected to a server's
// /topics: 40 subscribers on 3 of 20 topics (topicsOf gives each topic 6)
// and 2 publishers at 200 msgs/s for a second; it checks the figures and
// returns the publishing phase's.
func runTopics(t *testing.T, c loadClient) runResult {
	t.Helper()
	ctx := context.Background()
	if cr, err := c.Connect(ctx, connectSpec{Conns: 42}); err != nil || cr.Opened != 42 {
		t.Fatalf("connect: %+v %v", cr, err)
	}
	shape := runSpec{Topics: 20, PerConn: 3, Publishers: 2}
	sub := shape
	sub.Scenario, sub.Duration = topicsSubscribe, 10*time.Second
	if r, err := c.Run(ctx, sub); err != nil || r.Completed != 40 || r.Errors != 0 || r.Received != 0 {
		t.Fatalf("subscribe: %+v %v", r, err)
	}
	pub := shape
	pub.Scenario, pub.Duration, pub.Size, pub.Rate = Topics, time.Second, 64, 200
	r, err := c.Run(ctx, pub)
	if err != nil {
		t.Fatal(err)
	}
	h := hdrhistogram.Import(r.Latency)
	t.Logf("topics: published %d, deliveries %d, p99 %dµs, lag %v, busy %.2f", r.Sent, r.Received, h.ValueAtQuantile(99), r.Lag, r.Busy)
	// Each message published in the measured second reaches 6
	// subscribers; those published last may arrive after it (more of
	// them on a busy machine).
	if r.Sent < 150 || r.Sent > 220 || r.Received > 6*r.Sent || r.Received < 6*r.Sent/2 || r.Errors != 0 || r.Open != 42 {
		t.Fatalf("topics: %d deliveries of %d publishes to 6 subscribers each: %+v", r.Received, r.Sent, r)
	}
	return r
}

// TestGeneratorRawFrames is the generator scenario's load: the publisher
// writes Batch unmasked frames at a time over plain TCP, which the server
// passes on as written, and every connection parses them as frames.
func TestGeneratorRawFrames(t *testing.T) {
	g := connectRaw(t, loadTarget{Addr: startRaw(t, true), Raw: true, RawFrames: true})
	ctx := context.Background()
	// The server counts a connection once it has accepted it, after the
	// client saw it open: once a broadcast reached all 20, all are in.
	for {
		r, err := g.Run(ctx, runSpec{Scenario: Broadcast, Duration: 200 * time.Millisecond, Size: 64, Publisher: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Completed > 0 {
			break
		}
	}
	r, err := g.Run(ctx, runSpec{Scenario: Broadcast, Duration: 500 * time.Millisecond, Size: 64, Publisher: true, Batch: 4, Window: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("raw frames: sent %d, deliveries %d, completed %d", r.Sent, r.Received, r.Completed)
	if r.Completed < 40 || r.Sent%4 != 0 || r.Received < 20*(r.Completed-8) || r.Errors != 0 || r.Incomplete != 0 {
		t.Fatalf("raw frames: %+v", r)
	}
}

// TestWaitMillisPastEnd: a loop that finds its phase over before its
// housekeeping does (a gather nap crossed the end) waits for nothing, not
// for the next event, which may never come.
func TestWaitMillisPastEnd(t *testing.T) {
	now := time.Now().UnixNano()
	l := &loop{rp: &runPhase{end: now - 1}}
	if w := l.waitMillis(now); w != 0 {
		t.Fatalf("past the end: epoll_wait timeout %d ms, want 0", w)
	}
	l.rp.end = now + 1500e6
	if w := l.waitMillis(now); w != 1500 {
		t.Fatalf("1.5 s before the end: timeout %d ms", w)
	}
	if w := (&loop{}).waitMillis(now); w != -1 {
		t.Fatalf("no phase: timeout %d ms, want -1", w)
	}
}
