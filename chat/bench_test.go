package chat_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ws4go/ws4go/chat"
	"github.com/ws4go/ws4go/server"
)

// latency sends b.N messages from one member, one at a time, and measures
// how long each takes to reach the other member (client to client: the
// sender's write, its node, the transport, the receiver's node, the
// receiver's read and JSON decoding). It reports the median and the 99th
// percentile.
func latency(b *testing.B, from, to *member) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		start := time.Now()
		from.say(fmt.Sprintf("%s %d", from.name, i))
		to.waitFor(func(ev chat.Event) bool { return ev.Type == chat.TypeMessage && ev.ID == from.id })
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkCrossNodeLatency: sender on node A, receiver on node B, rooms on
// an in-process NATS server; all on 127.0.0.1.
func BenchmarkCrossNodeLatency(b *testing.B) {
	ns := natsServer(b, 0)
	addrA, _ := natsNode(b, ns.ClientURL(), server.EngineGoroutine)
	addrB, _ := natsNode(b, ns.ClientURL(), server.EngineGoroutine)
	a := join(b, addrA, "/ws?room=bench&name=a")
	rb := join(b, addrB, "/ws?room=bench&name=b")
	latency(b, a, rb)
}

// BenchmarkSameNodeLatency is the baseline: both members on one node, rooms
// in memory.
func BenchmarkSameNodeLatency(b *testing.B) {
	addr := serveChat(b, chat.New(chat.Options{Logger: quietLogger()}), nil, nil, nil)
	a := join(b, addr, "/ws?room=bench&name=a")
	rb := join(b, addr, "/ws?room=bench&name=b")
	latency(b, a, rb)
}
