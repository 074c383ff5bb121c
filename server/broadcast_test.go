package server_test

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// TestStreamedMessage: NewWriter sends a message as fragments; a ping sent
// meanwhile may come between them, other messages wait.
func TestStreamedMessage(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		addr := start(t, e, &server.Server{NewHandler: func() handler.Handler {
			return &opener{f: func(c handler.Conn) {
				w, err := c.NewWriter(handler.Text)
				if err != nil {
					panic(err)
				}
				done := make(chan struct{})
				go func() { _ = c.SendText("after"); close(done) }()
				for _, part := range []string{"one ", "two ", "three"} {
					_, _ = w.Write([]byte(part))
				}
				_ = c.Ping([]byte("mid"))
				_ = w.Close()
				<-done
			}}
		}})
		c := dial(t, addr, "/")
		var frames []string
		for len(frames) < 6 {
			h, p, err := c.read()
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, fmt.Sprintf("%v/%v/%s", h.OpCode, h.Fin, p))
		}
		want := []string{"1/false/one ", "0/false/two ", "0/false/three", "9/true/mid", "0/true/", "1/true/after"}
		if fmt.Sprint(frames) != fmt.Sprint(want) {
			t.Fatalf("frames %q, want %q", frames, want)
		}
		c.closeNormally()
	})
}

func TestBroadcastRangeCloseAll(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		s := &server.Server{NewHandler: handler.NewEcho}
		addr := start(t, e, s)
		var clients []*rawClient
		for i := 0; i < 10; i++ {
			c := dial(t, addr, "/")
			c.echoes("hi") // the connection is in the table once it echoes
			clients = append(clients, c)
		}
		if n := s.Broadcast(handler.Binary, []byte("to all")); n != 10 {
			t.Fatalf("Broadcast reached %d, want 10", n)
		}
		for _, c := range clients {
			c.expect(ws.OpBinary, []byte("to all"))
		}
		seen := 0
		s.Range(func(c handler.Conn) bool { seen++; return true })
		if seen != 10 {
			t.Fatalf("Range saw %d", seen)
		}
		s.CloseAll(4100, "bye all")
		for _, c := range clients {
			h, p, err := c.read()
			if err != nil || h.OpCode != ws.OpClose || !bytes.Equal(p, closePayload(4100, "bye all")) {
				t.Fatalf("want close 4100: %v %q %v", h.OpCode, p, err)
			}
			c.send(ws.OpClose, p[:2])
			c.expectEOF()
		}
	})
}

// TestSlowConsumer: a client that stops reading while the server keeps
// sending is closed with the write-queue code once its queue passes the
// bound; the others keep being served and the server's queue stays bounded.
func TestSlowConsumer(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		closed := make(chan [2]string, 1)
		s := &server.Server{
			MaxWriteQueue: 256 << 10, WriteQueueCloseCode: handler.CloseTryAgainLater,
			WriteTimeout: 30 * time.Second, CloseTimeout: 200 * time.Millisecond,
			NewHandler: func() handler.Handler { return &recorder{closed: closed} },
		}
		addr := start(t, e, s)
		slow := dial(t, addr, "/")
		// A small receive buffer so the kernel holds little for us.
		_ = slow.nc.(*net.TCPConn).SetReadBuffer(4096)
		slow.echoes("ready")
		fast := dial(t, addr, "/")
		fast.echoes("ready")
		chunk := bytes.Repeat([]byte("z"), 64<<10)
		deadline := time.Now().Add(20 * time.Second)
		for {
			s.Broadcast(handler.Binary, chunk)
			fast.expect(ws.OpBinary, chunk)
			select {
			case got := <-closed:
				if got != [2]string{handler.CloseTryAgainLater.String(), "write queue overflow"} {
					t.Fatalf("slow consumer closed with %v", got)
				}
				fast.echoes("unaffected")
				fast.closeNormally()
				return
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("the slow consumer was never closed")
			}
		}
	})
}

// TestSendNeverBlocks: Send to a peer that does not read returns without
// waiting for it, on every engine: what the socket does not take is queued
// (up to MaxWriteQueue) and written in the background.
func TestSendNeverBlocks(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		sent := make(chan error, 1)
		addr := start(t, e, &server.Server{
			WriteTimeout: time.Hour, MaxWriteQueue: 64 << 20, CloseTimeout: 100 * time.Millisecond,
			NewHandler: func() handler.Handler {
				return &opener{f: func(c handler.Conn) {
					go func() {
						chunk := make([]byte, 64<<10)
						var err error
						for i := 0; i < 320 && err == nil; i++ { // 20 MiB: more than the socket buffers hold
							err = c.SendBinary(chunk)
						}
						sent <- err
					}()
				}}
			},
		})
		c := dial(t, addr, "/") // and never read
		_ = c.nc.(*net.TCPConn).SetReadBuffer(4096)
		select {
		case err := <-sent:
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Send blocked on a peer that does not read")
		}
		c.nc.Close()
	})
}
