package server_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/internal/conformance"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

// TestConformanceDeflate runs the suite's permessage-deflate family (RFC
// 7692, family 10: negotiation, compressed echoes in the shape of Autobahn's
// 12.x and 13.x, protocol errors, decompression bombs) against each engine
// with compression enabled. Every case must be OK; the table is printed with
// -v and on failure.
func TestConformanceDeflate(t *testing.T) {
	testutil.Slow(t)
	t.Parallel() // two runs at a time: see TestConformance
	cases := conformance.CompressionCases()
	if testing.Short() {
		var quick []conformance.Case
		for _, c := range cases {
			if !c.Heavy {
				quick = append(quick, c)
			}
		}
		cases = quick
	}
	forEngine(t, func(t *testing.T, e server.Engine) {
		addr := start(t, e, &server.Server{Compression: true, MaxMessageSize: 32 << 20, PingInterval: -1})
		checkConformance(t, addr, cases)
	})
}

// memConnsEnv, if set to a number of connections, makes TestDeflateMemory
// run; the other variables pass its settings to the client process.
const (
	memConnsEnv = "WS4GO_MEM_CONNS"
	memAddrEnv  = "WS4GO_MEM_ADDR"
	memOfferEnv = "WS4GO_MEM_OFFER"
)

// TestDeflateMemory measures what a connection costs the server with
// permessage-deflate on and off: idle, and in the middle of a message (the
// first half of a 64 KiB text message received, the rest not). The clients
// run in a child process (TestDeflateMemoryClients), so that only the
// server's memory is in this process's figures: Go heap and goroutine
// stacks after a GC, and RSS after returning freed memory to the OS. It is
// a measurement, not an assertion; run it with
//
//	WS4GO_MEM_CONNS=2000 go test -run 'DeflateMemory$' -v ./server
func TestDeflateMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(memConnsEnv))
	if n <= 0 {
		t.Skipf("a measurement: set %s to the number of connections (e.g. 2000)", memConnsEnv)
	}
	forEngine(t, func(t *testing.T, e server.Engine) {
		for _, compression := range []bool{false, true} {
			// A subtest each, so that the previous server is shut
			// down, its connections gone, before the next measures.
			t.Run(fmt.Sprint("compression=", compression), func(t *testing.T) {
				idle, busy := measureConns(t, e, compression, n)
				t.Logf("%s, compression %-5v, %d connections: idle %s; in a message %s", e, compression, n, idle, busy)
			})
		}
	})
}

// measureConns serves n connections from a client process and returns the
// server's memory per connection when they are idle and when each is in the
// middle of a message.
func measureConns(t *testing.T, e server.Engine, compression bool, n int) (idle, busy memFigures) {
	addr := start(t, e, &server.Server{Compression: compression, PingInterval: -1})
	offer := ""
	if compression {
		offer = "permessage-deflate; client_max_window_bits"
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeflateMemoryClients$")
	cmd.Env = append(os.Environ(), memAddrEnv+"="+addr, memOfferEnv+"="+offer)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	base := serverMemory()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewScanner(stdout)
	// The child prints "idle" once every connection answered a ping,
	// and "busy" once every connection, having sent half a message,
	// answered a ping sent after it.
	phase := func(want string) memFigures {
		for out.Scan() {
			if out.Text() == want {
				return serverMemory().minus(base, n)
			}
		}
		t.Fatalf("client process ended before %q: %v", want, out.Err())
		return memFigures{}
	}
	idle = phase("idle")
	io.WriteString(stdin, "send\n")
	busy = phase("busy")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client process: %v", err)
	}
	return idle, busy
}

// memFigures is what the server process holds, or holds per connection.
type memFigures struct{ heap, stack, rss float64 }

func (m memFigures) String() string {
	return fmt.Sprintf("heap %.0f B + stacks %.0f B, RSS %.0f B", m.heap, m.stack, m.rss)
}

// minus returns the growth since base, per connection.
func (m memFigures) minus(base memFigures, n int) memFigures {
	return memFigures{(m.heap - base.heap) / float64(n), (m.stack - base.stack) / float64(n), (m.rss - base.rss) / float64(n)}
}

// serverMemory measures this process after garbage collection: two cycles
// (what a sync.Pool drops survives the first in its victim cache), the
// second returning freed memory to the OS.
func serverMemory() memFigures {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var rss float64
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		var size, resident int64
		fmt.Sscan(string(b), &size, &resident)
		rss = float64(resident * int64(os.Getpagesize()))
	}
	return memFigures{float64(ms.HeapAlloc), float64(ms.StackInuse), rss}
}

// TestDeflateMemoryClients is TestDeflateMemory's client process: it holds
// the connections, compressed or not as the offer says, and reports each
// phase on stdout. It does nothing in an ordinary test run.
func TestDeflateMemoryClients(t *testing.T) {
	addr := os.Getenv(memAddrEnv)
	if addr == "" {
		t.Skip("the client process of TestDeflateMemory")
	}
	n, _ := strconv.Atoi(os.Getenv(memConnsEnv))
	offer := os.Getenv(memOfferEnv)
	var extra []string
	if offer != "" {
		extra = append(extra, "Sec-WebSocket-Extensions: "+offer)
	}
	// The message: 64 KiB of text; its first frame carries the first
	// half, compressed (with a sync flush, so the server can inflate it
	// all) or not.
	var text bytes.Buffer
	for i := 0; text.Len() < 64<<10; i++ {
		fmt.Fprintf(&text, `{"id":%d,"user":"user %d","note":"κόσμε, order #%d shipped"},`, i, i%977, i*7919%100000)
	}
	half := text.Bytes()[:32<<10]
	first := frame(false, 0, ws.OpText, half)
	if offer != "" {
		var z bytes.Buffer
		w, _ := flate.NewWriter(&z, flate.BestSpeed)
		w.Write(half)
		w.Flush()
		first = frame(false, 4, ws.OpText, z.Bytes())
	}
	ping := frame(true, 0, ws.OpPing, []byte("sync"))
	conns := make([]*rawClient, n)
	for i := range conns {
		conns[i] = dial(t, addr, "/ws", extra...)
	}
	// A ping answered after what was sent before it means the server has
	// processed all of it.
	pingAll := func(before []byte) {
		for _, c := range conns {
			c.writeRaw(append(append([]byte(nil), before...), ping...))
		}
		for _, c := range conns {
			c.expect(ws.OpPong, []byte("sync"))
		}
	}
	pingAll(nil)
	fmt.Println("idle")
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() {
		return
	}
	pingAll(first)
	fmt.Println("busy")
	in.Scan() // until the parent closes stdin
}
