package server_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// BenchmarkBroadcastSockets broadcasts 64-byte messages to 4,000 clients
// over loopback (raw sockets, each read by a goroutine into a 64 KiB
// buffer). closed: one message in flight, the next once every client has
// the last (nothing to coalesce); burst: b.N messages back to back, then
// the wait for all of them (as under a publish rate above what the
// server writes one by one). It reports deliveries per second and the
// process's CPU per delivery, the clients' reads included (the same for
// every server, so ratios between runs are what to read).
func BenchmarkBroadcastSockets(b *testing.B) {
	const n, size = 4000, 64
	frameLen := int64(2 + size)
	for _, e := range engines {
		for _, mode := range []string{"closed", "burst"} {
			b.Run(fmt.Sprintf("%s/%s", e, mode), func(b *testing.B) {
				s := &server.Server{PingInterval: -1, WriteTimeout: time.Minute}
				addr := start(b, e, s)
				var got, want atomic.Int64
				reached := make(chan struct{}, 1)
				for range n {
					c := dial(b, addr, "/")
					_ = c.nc.SetDeadline(time.Time{})
					go func(nc net.Conn) {
						buf := make([]byte, 64<<10)
						for {
							k, err := nc.Read(buf)
							if g := got.Add(int64(k)); g >= want.Load() && want.Load() > 0 {
								select {
								case reached <- struct{}{}:
								default:
								}
							}
							if err != nil {
								return
							}
						}
					}(c.nc)
				}
				for s.Len() < n {
					time.Sleep(time.Millisecond)
				}
				msg := make([]byte, size)
				wait := func(total int64) {
					want.Store(total)
					for got.Load() < total {
						select {
						case <-reached:
						case <-time.After(30 * time.Second):
							b.Fatalf("%d of %d bytes arrived", got.Load(), total)
						}
					}
				}
				var r0, r1 syscall.Rusage
				_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if k := s.Broadcast(handler.Binary, msg); k != n {
						b.Fatalf("broadcast queued for %d of %d", k, n)
					}
					if mode == "closed" {
						wait(int64(i+1) * n * frameLen)
					}
				}
				wait(int64(b.N) * n * frameLen)
				b.StopTimer()
				_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
				deliveries := float64(b.N) * n
				cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
				b.ReportMetric(deliveries/b.Elapsed().Seconds(), "deliveries/s")
				b.ReportMetric(float64(cpu.Nanoseconds())/deliveries/1000, "cpu-µs/delivery")
				want.Store(0)
			})
		}
	}
}

// BenchmarkSlowSubscriberLatency publishes b.N timestamped messages at a
// fixed rate (100 per second, 64 bytes) to a topic of 500 subscribers
// that read, alone ("none") and with one more subscriber that never reads
// (its queue, made half full of other messages first, fills: then SlowSkip
// skips it, SlowClose closes it), on the netpoll engine. It reports the readers' delivery latency p50 and p99:
// a slow subscriber must not delay the others.
func BenchmarkSlowSubscriberLatency(b *testing.B) {
	for _, slow := range []string{"none", "skip", "close"} {
		b.Run(slow, func(b *testing.B) {
			const n, rate = 500, 100
			s := &server.Server{PingInterval: -1, MaxWriteQueue: 64 << 10, CloseTimeout: 100 * time.Millisecond}
			if slow == "skip" {
				s.SlowSubscribers = server.SlowSkip
			}
			closed := topicServer(s)
			addr := start(b, server.EngineNetpoll, s)
			lat := make([][]time.Duration, n)
			var wg sync.WaitGroup
			for i := range n {
				c := dial(b, addr, "/")
				c.command("sub t")
				_ = c.nc.SetDeadline(time.Time{})
				wg.Go(func() {
					for {
						h, err := ws.ReadHeader(c.br)
						if err != nil || h.OpCode != ws.OpBinary {
							return
						}
						p := make([]byte, h.Length)
						if _, err := io.ReadFull(c.br, p); err != nil {
							return
						}
						if p[0] == 1 { // the last
							return
						}
						lat[i] = append(lat[i], time.Duration(time.Now().UnixNano()-int64(binary.BigEndian.Uint64(p[8:]))))
					}
				})
			}
			if slow != "none" {
				c := dial(b, addr, "/")
				c.command("sub t") // and never reads again:
				// its queue is half full before the first publish.
				c.send(ws.OpText, []byte("fill 32768"))
			}
			msg := make([]byte, 64)
			tick := time.NewTicker(time.Second / rate)
			defer tick.Stop()
			b.ResetTimer()
			for range b.N {
				<-tick.C
				binary.BigEndian.PutUint64(msg[8:], uint64(time.Now().UnixNano()))
				if _, err := s.Publish("t", handler.Binary, msg); err != nil {
					b.Fatal(err)
				}
			}
			msg[0] = 1
			_, _ = s.Publish("t", handler.Binary, msg)
			wg.Wait()
			b.StopTimer()
			var all []time.Duration
			for _, l := range lat {
				if len(l) != b.N {
					b.Fatalf("a reader got %d of %d", len(l), b.N)
				}
				all = append(all, l...)
			}
			slices.Sort(all)
			b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
			if slow == "close" {
				within(b, closed, 10*time.Second, "the slow subscriber's end")
			}
		})
	}
}
