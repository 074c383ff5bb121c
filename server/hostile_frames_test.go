package server_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/deflate"
	"github.com/ws4go/ws4go/server"
)

// TestHfLengthOverflow: a 1-byte first fragment, then a continuation frame
// of 2^63-1 bytes (or close to it): the length check must not wrap, so the
// connection fails with 1009 at the header, and a bystander keeps echoing.
func TestHfLengthOverflow(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		addr := start(t, e, &server.Server{MaxMessageSize: 1 << 20})
		bystander := dial(t, addr, "/")
		for _, length := range []uint64{math.MaxInt64, math.MaxInt64 - 1, 1<<63 - 1<<20} {
			c := dial(t, addr, "/")
			c.write(false, 0, ws.OpBinary, []byte("a"))
			hdr := []byte{0x80, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
			binary.BigEndian.PutUint64(hdr[2:], length)
			c.writeRaw(append(hdr, make([]byte, 1024)...))
			c.expectClose(handler.CloseMessageTooBig)
			bystander.echoes("still here")
		}
	})
}

// TestHfBombMemory: a decompression bomb over a real socket fails with 1009
// and costs the server about the limit: it allocates (garbage included)
// under three times MaxMessageSize while inflating it, not the ~4.5× that
// append's growth once cost.
func TestHfBombMemory(t *testing.T) {
	const limit = 4 << 20
	bomb := deflate.Deflate(nil, make([]byte, 64<<20), 15)
	forEngine(t, func(t *testing.T, e server.Engine) {
		addr := start(t, e, &server.Server{MaxMessageSize: limit, Compression: true})
		c := dial(t, addr, "/", "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover")
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c.write(true, 4, ws.OpBinary, bomb) // RSV1: compressed
		c.expectClose(handler.CloseMessageTooBig)
		runtime.ReadMemStats(&after)
		// The client's own frame (a copy of the bomb, ~64 KiB) and
		// the test's reads are in the figure too; they are small.
		alloc := after.TotalAlloc - before.TotalAlloc
		if alloc > 3*limit {
			t.Errorf("the server allocated %d bytes (%.1f× MaxMessageSize) on a bomb", alloc, float64(alloc)/limit)
		}
		t.Logf("bomb: %d bytes allocated for a %d-byte limit (%.2f×)", alloc, limit, float64(alloc)/limit)
	})
}

// TestHfShutdownWaitsForDeadline: Shutdown's deadline, not CloseTimeout,
// bounds how long a peer has to answer the 1001: a client that never
// answers keeps its connection until the deadline, so Shutdown returns the
// context's error rather than nil after CloseTimeout.
func TestHfShutdownWaitsForDeadline(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		s := &server.Server{CloseTimeout: 50 * time.Millisecond, Engine: e, NewHandler: handler.NewEcho}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go s.Serve(l)
		c := dial(t, l.Addr().String(), "/")
		c.echoes("in the table") // the 101 may come before the table has it
		ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- s.Shutdown(ctx) }()
		c.expect(ws.OpClose, closePayload(1001, "server shutting down")) // and never answer
		if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v, want the deadline to pass while the client has not answered", err)
		}
		if n := s.Len(); n != 0 {
			t.Fatalf("%d connections left after Shutdown", n)
		}
	})
}
