//go:build linux

package netpoll

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/ws4go/ws4go/internal/wsconn"
)

// TestHandshakeTimeoutReportedOnce: a connection past its handshake
// deadline is reported (Config.TimedOut, the server's "timeout" refusal
// metric) once, however long its worker takes to close it: here the test
// holds the first connection's turn, so it stays open while the sweeper
// ticks on, until a second connection times out too.
func TestHandshakeTimeoutReportedOnce(t *testing.T) {
	t.Parallel()
	var timedOut atomic.Int32
	e, err := New(Config{
		Workers: 1, HandshakeTimeout: 20 * time.Millisecond, HeadEnd: refusingHeadEnd,
		Table: wsconn.NewTable(&wsconn.Config{}), TimedOut: func() { timedOut.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	fdA, _ := socketPair(t)
	a := registered(t, e, fdA)
	closeOnFailure(t, a)
	eventually(t, "the first connection timed out", func() bool { return a.closeReq.Load() != 0 })
	fdB, _ := socketPair(t)
	b := registered(t, e, fdB)
	closeOnFailure(t, b)
	eventually(t, "the second connection timed out", func() bool { return b.closeReq.Load() != 0 })
	if n := timedOut.Load(); n != 2 {
		t.Fatalf("two connections timed out, reported %d times", n)
	}
	for _, c := range []*conn{a, b} {
		c.run(nil) // the turn the test held: the close runs
	}
}
