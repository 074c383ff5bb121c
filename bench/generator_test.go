//go:build linux

package bench

import (
	"context"
	"net"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// startWS4Go serves echo at /ws and broadcast at /broadcast in this process.
func startWS4Go(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{PingInterval: -1}
	srv.Routes = map[string]handler.Factory{"/ws": handler.Echo, "/broadcast": broadcastHandler(srv)}
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

// startRawEcho serves a plain TCP echo.
func startRawEcho(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b := make([]byte, 4096)
				for {
					n, err := c.Read(b)
					if err != nil {
						return
					}
					if _, err := c.Write(b[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

func TestGeneratorRaw(t *testing.T) {
	addr := startRawEcho(t)
	g, err := newGenerator(clientConfig{loadTarget: loadTarget{Addr: addr, Raw: true, RawHandshake: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx := context.Background()
	if cr, err := g.Connect(ctx, connectSpec{Conns: 20}); err != nil || cr.Opened != 20 {
		t.Fatalf("connect: %+v %v", cr, err)
	}
	r, err := g.Run(ctx, runSpec{Scenario: Echo, Duration: 500 * time.Millisecond, Size: 100})
	if err != nil || r.Received < 100 || r.Errors != 0 {
		t.Fatalf("raw echo: %+v %v", r, err)
	}
	r, err = g.Run(ctx, runSpec{Scenario: Churn, Duration: 500 * time.Millisecond, Size: 100, Concurrency: 4})
	if err != nil || r.Completed < 20 || r.Errors != 0 {
		t.Fatalf("raw churn: %+v %v", r, err)
	}
}
