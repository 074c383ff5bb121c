package metrics_test

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/metrics"
	"github.com/ws4go/ws4go/observe"
	"github.com/ws4go/ws4go/server"
)

// BenchmarkHooks is what one echoed message costs in hooks: Received, the
// handler's HandlerDone and Sent; serially, and from every core at once on
// the same counters (the worst case for cache-line contention). "clock" is
// the two clock readings the core makes around each handler callback when
// an Observer is set.
func BenchmarkHooks(b *testing.B) {
	m, err := metrics.New(prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		for range b.N {
			m.Received(observe.KindText, 64)
			m.HandlerDone(3 * time.Microsecond)
			m.Sent(observe.KindText, 64)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Received(observe.KindText, 64)
				m.HandlerDone(3 * time.Microsecond)
				m.Sent(observe.KindText, 64)
			}
		})
	})
	b.Run("clock", func(b *testing.B) {
		var d time.Duration
		for range b.N {
			start := time.Now()
			d += time.Since(start)
		}
		_ = d
	})
}

// BenchmarkEcho echoes 64-byte text messages through a real server on
// 127.0.0.1, with metrics off (Observer nil) and on: b.N round trips spread
// over 2×GOMAXPROCS connections. cpu-ns/op is the process's CPU time
// (client and server) per message.
//
//	go test -run XXX -bench Echo -count 10 ./metrics | benchstat -col /metrics -
func BenchmarkEcho(b *testing.B) {
	for _, e := range engines {
		for _, on := range []bool{false, true} {
			name := "engine=" + string(e) + "/metrics=off"
			if on {
				name = "engine=" + string(e) + "/metrics=on"
			}
			b.Run(name, func(b *testing.B) { benchEcho(b, e, on) })
		}
	}
}

func benchEcho(b *testing.B, e server.Engine, on bool) {
	s := &server.Server{NewHandler: handler.NewEcho, Engine: e}
	if on {
		m, err := metrics.New(prometheus.NewRegistry(), nil)
		if err != nil {
			b.Fatal(err)
		}
		s.Observer = m
		m.Watch(s)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()
	url := "ws://" + l.Addr().String() + "/"
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = 'a' + byte(i%26)
	}
	b.SetBytes(int64(len(msg)))
	b.SetParallelism(2) // 2×GOMAXPROCS connections
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		nc, _, _, err := ws.Dial(context.Background(), url)
		if err != nil {
			b.Error(err)
			return
		}
		defer nc.Close()
		for pb.Next() {
			if err := wsutil.WriteClientText(nc, msg); err != nil {
				b.Error(err)
				return
			}
			if _, err := wsutil.ReadServerText(nc); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	// CPU time of the whole process (client and server) per message:
	// less sensitive than wall time to other load on the machine.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
