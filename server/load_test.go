package server_test

import (
	"fmt"
	"net"
	"runtime"
	"testing"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/server"
)

// TestSlowloris: thousands of connections that send half a handshake or
// half a frame and stall never hold up clients that keep echoing, and on
// the netpoll engine they hold no goroutine.
func TestSlowloris(t *testing.T) {
	const stalled = 2000
	forEngine(t, func(t *testing.T, e server.Engine) {
		s := &server.Server{Workers: 4, PingInterval: -1}
		addr := start(t, e, s)
		before := runtime.NumGoroutine()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := 0; i < stalled; i++ {
			if i%2 == 0 {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(nc, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: webso", addr)
				conns = append(conns, nc)
				continue
			}
			c := dial(t, addr, "/ws")
			// A frame header announcing 100 bytes, then 3 of them.
			c.writeRaw(frame(true, 0, ws.OpBinary, make([]byte, 100))[:2+4+3])
			conns = append(conns, c.nc)
		}
		// Meanwhile, others echo as usual.
		for i := 0; i < 10; i++ {
			c := dial(t, addr, "/ws")
			for j := 0; j < 20; j++ {
				c.echoes(fmt.Sprintf("echo %d/%d", i, j))
			}
			c.closeNormally()
		}
		if e == server.EngineNetpoll {
			// O(workers), not O(connections): the test's own client
			// side holds none either (it does not read).
			if g := runtime.NumGoroutine() - before; g > 50 {
				t.Errorf("%d goroutines for %d stalled connections on netpoll", g, stalled)
			}
		}
	})
}

// BenchmarkEcho measures echo round trips (one client, 64-byte messages)
// per engine; see bench/ for the load comparison with other servers.
func BenchmarkEcho(b *testing.B) {
	for _, e := range engines {
		b.Run(string(e), func(b *testing.B) {
			s := &server.Server{PingInterval: -1}
			addr := start(b, e, s)
			benchEcho(b, dial(b, addr, "/ws"))
		})
	}
}

// benchEcho runs b.N echo round trips of 64-byte messages on c, then
// closes it.
func benchEcho(b *testing.B, c *rawClient) {
	msg := make([]byte, 64)
	b.SetBytes(64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.send(ws.OpBinary, msg)
		if _, _, err := c.read(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.closeNormally()
}
