package main

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

func start(t *testing.T) string {
	t.Helper()
	s, err := newServer()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.serve(l)
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

func dial(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	c, _, _, err := ws.Dial(context.Background(), "ws://"+addr+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// frame is a masked client frame.
func frame(op ws.OpCode, p []byte) []byte {
	var b bytes.Buffer
	if err := ws.WriteFrame(&b, ws.MaskFrame(ws.NewFrame(op, true, p))); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// TestEcho sends frames in one write, a ping between them, a fragmented
// message and a large one: every message comes back whole, each as one
// frame, and the close is answered.
func TestEcho(t *testing.T) {
	c := dial(t, start(t), "/ws")
	var batch []byte
	batch = append(batch, frame(ws.OpBinary, []byte("one"))...)
	batch = append(batch, frame(ws.OpPing, []byte("p"))...)
	batch = append(batch, frame(ws.OpText, []byte("two"))...)
	first := ws.MaskFrame(ws.NewFrame(ws.OpBinary, false, []byte("thr")))
	var b bytes.Buffer
	ws.WriteFrame(&b, first)
	ws.WriteFrame(&b, ws.MaskFrame(ws.NewFrame(ws.OpContinuation, true, []byte("ee"))))
	batch = append(batch, b.Bytes()...)
	big := bytes.Repeat([]byte("x"), 100_000)
	batch = append(batch, frame(ws.OpBinary, big)...)
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		op ws.OpCode
		p  []byte
	}{{ws.OpBinary, []byte("one")}, {ws.OpPong, []byte("p")}, {ws.OpText, []byte("two")}, {ws.OpBinary, []byte("three")}, {ws.OpBinary, big}}
	for i, w := range want {
		f, err := ws.ReadFrame(c)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Header.OpCode != w.op || !f.Header.Fin || !bytes.Equal(f.Payload, w.p) {
			t.Fatalf("frame %d: op %v fin %v %d bytes, want op %v %d bytes", i, f.Header.OpCode, f.Header.Fin, len(f.Payload), w.op, len(w.p))
		}
	}
	if _, err := c.Write(frame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))); err != nil {
		t.Fatal(err)
	}
	f, err := ws.ReadFrame(c)
	if err != nil || f.Header.OpCode != ws.OpClose {
		t.Fatalf("close answered with %v, %v", f.Header.OpCode, err)
	}
}

// TestBroadcast: a message sent to /broadcast reaches every connection
// there, the sender too, and not the echo connections.
func TestBroadcast(t *testing.T) {
	addr := start(t)
	var cs []net.Conn
	for range 20 {
		cs = append(cs, dial(t, addr, "/broadcast"))
	}
	echo := dial(t, addr, "/ws")
	// A connection joins the broadcast set after its handshake, before
	// its first message is read: once each has got its own message
	// back, all are in.
	readUntil := func(i int, c net.Conn, want byte) {
		t.Helper()
		for {
			p, err := wsutil.ReadServerBinary(c)
			if err != nil {
				t.Fatalf("connection %d waiting for %d: %v", i, want, err)
			}
			if p[0] == want {
				return
			}
		}
	}
	for i, c := range cs {
		if err := wsutil.WriteClientBinary(c, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cs {
		readUntil(i, c, byte(i))
	}
	if err := wsutil.WriteClientBinary(cs[7], []byte{200}); err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		readUntil(i, c, 200)
	}
	if err := wsutil.WriteClientBinary(echo, []byte("e")); err != nil {
		t.Fatal(err)
	}
	if p, err := wsutil.ReadServerBinary(echo); err != nil || string(p) != "e" {
		t.Fatalf("echo beside broadcast: %q %v", p, err)
	}
}
