package wsconn

import (
	"net"
	"strconv"
	"testing"

	"github.com/ws4go/ws4go/handler"
)

// sink is a Transport whose socket takes everything at once, on a
// fakeEngine.
type sink struct {
	e *fakeEngine
	c *Conn
}

func (s *sink) Write(bufs [][]byte) (int, error) {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n, nil
}
func (s *sink) FlushSoon()           { s.e.mu.Lock(); s.e.due = append(s.e.due, s.c); s.e.mu.Unlock() }
func (s *sink) Blocking() bool       { return false }
func (s *sink) WaitWritable()        {}
func (s *sink) Shutdown()            {}
func (s *sink) Close()               {}
func (s *sink) LocalAddr() net.Addr  { return nil }
func (s *sink) RemoteAddr() net.Addr { return nil }

// BenchmarkPublish is what a publish costs its caller per subscriber (10,000
// of them): the enqueues and the hand-off to the engine, whose flushes run
// between the publishes, outside the timer. frames: messages published
// before the engine flushes (1: every publish finds empty queues; 8: it
// finds frames waiting, as under load).
func BenchmarkPublish(b *testing.B) {
	for _, frames := range []int{1, 8} {
		b.Run("frames="+strconv.Itoa(frames), func(b *testing.B) {
			const n = 10000
			cfg := &Config{MaxMessageSize: 1 << 20, MaxWriteQueue: 4 << 20, Budget: &Budget{Max: 1 << 30}}
			tab := NewTable(cfg)
			e := &fakeEngine{}
			for range n {
				s := &sink{e: e}
				c := New(cfg, s, handler.Base{}, "", Request{})
				s.c = c
				c.Start(tab)
				if err := tab.Subscribe(c, "t"); err != nil {
					b.Fatal(err)
				}
			}
			m := prepared(b, handler.Binary, string(make([]byte, 64)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if got, _ := tab.Publish("t", m); got != n {
					b.Fatalf("published to %d", got)
				}
				if (i+1)%frames == 0 {
					b.StopTimer()
					e.run()
					b.StartTimer()
				}
			}
			b.StopTimer()
			e.run()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/subscriber")
		})
	}
}
