package wsconn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
)

// What a Conn sends: the frames of each call, what it refuses, and how a
// full socket, a failing one and the queue's bound end a connection.

// TestSendRefusals: calls that would put a frame RFC 6455 forbids on the
// wire are refused, and nothing is written: a bad message type, a ping
// payload over 125 bytes, a close code that may not be sent, a close
// reason over 123 bytes or not UTF-8.
func TestSendRefusals(t *testing.T) {
	t.Parallel()
	c, p, _ := newTestConn(t, Config{}, -1)
	if err := c.Send(handler.MessageType(3), []byte("x")); err == nil {
		t.Error("Send of type 3 accepted")
	}
	if _, err := c.NewWriter(handler.MessageType(9)); err == nil {
		t.Error("NewWriter of type 9 accepted")
	}
	if err := c.Ping(make([]byte, 126)); err == nil {
		t.Error("a ping of 126 bytes accepted")
	}
	for _, code := range []handler.CloseCode{0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000} {
		if err := c.Close(code, ""); err == nil {
			t.Errorf("Close(%d) accepted", code)
		}
	}
	if err := c.Close(1000, strings.Repeat("r", 124)); err == nil {
		t.Error("a close reason of 124 bytes accepted")
	}
	if err := c.Close(1000, "\xff"); err == nil {
		t.Error("a close reason that is not UTF-8 accepted")
	}
	if wire := p.drain(-1); len(wire) != 0 {
		t.Fatalf("refused calls wrote %x", wire)
	}
	// The limits themselves are fine.
	if err := c.Ping(make([]byte, 125)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(4999, strings.Repeat("é", 61)+"r"); err != nil {
		t.Fatal(err)
	}
	fs := frames(t, p.drain(-1))
	if len(fs) != 2 || fs[0].Header.OpCode != ws.OpPing || len(fs[0].Payload) != 125 || fs[1].Header.OpCode != ws.OpClose || len(fs[1].Payload) != 125 {
		t.Fatalf("wire %+v", fs)
	}
}

// TestFragmentWriter: NewWriter sends a message as fragments, one per
// Write (an empty Write sends none), the first with the message's opcode,
// the rest continuations, Close the final one; other senders wait until it
// closes; it refuses use after Close, and NewWriter refuses once closing.
func TestFragmentWriter(t *testing.T) {
	t.Parallel()
	c, p, _ := newTestConn(t, Config{}, -1)
	w, err := c.NewWriter(handler.Text)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() { sent <- c.SendText("after") }() // waits for the writer
	for _, s := range []string{"a", "", "bc"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q): %d, %v", s, n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, handler.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	fs := frames(t, p.drain(-1))
	type fr struct {
		op  ws.OpCode
		fin bool
		p   string
	}
	want := []fr{{ws.OpText, false, "a"}, {ws.OpContinuation, false, "bc"}, {ws.OpContinuation, true, ""}, {ws.OpText, true, "after"}}
	if len(fs) != len(want) {
		t.Fatalf("%d frames, want %d", len(fs), len(want))
	}
	for i, f := range fs {
		if got := (fr{f.Header.OpCode, f.Header.Fin, string(f.Payload)}); got != want[i] {
			t.Fatalf("frame %d: %+v, want %+v", i, got, want[i])
		}
	}
	_ = c.Close(1000, "")
	if _, err := c.NewWriter(handler.Binary); !errors.Is(err, handler.ErrClosed) {
		t.Fatalf("NewWriter after Close: %v", err)
	}
}

// TestClientFrames: a client masks every frame with a fresh key (RFC 6455
// 5.3), refuses the server's masked frames (1002), and reports 1006 when
// the server does not answer its close frame, the server's code when it
// does.
func TestClientFrames(t *testing.T) {
	t.Parallel()
	c, p, h := newTestConn(t, Config{Client: true}, -1)
	for range 2 {
		if err := c.SendText("same"); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.Ping([]byte("p"))
	raw := p.drain(-1)
	fs := clientFrames(t, raw)
	if len(fs) != 3 || string(fs[0].Payload) != "same" || string(fs[1].Payload) != "same" || fs[2].Header.OpCode != ws.OpPing {
		t.Fatalf("wire %+v", fs)
	}
	r := bytes.NewReader(raw)
	f0, _ := ws.ReadFrame(r)
	f1, _ := ws.ReadFrame(r)
	if f0.Header.Mask == f1.Header.Mask {
		t.Fatal("two frames with one masking key")
	}
	if bytes.Contains(raw, []byte("same")) {
		t.Fatal("a payload went out unmasked")
	}
	// A masked frame from the server.
	if c.Feed(clientFrame(ws.OpText, []byte("x"))) {
		t.Fatal("a masked server frame accepted")
	}
	closed := clientFrames(t, p.drain(-1))
	if len(closed) != 1 || binary.BigEndian.Uint16(closed[0].Payload) != 1002 {
		t.Fatalf("wire %+v, want close 1002", closed)
	}
	c.Finish()
	h.closedWith(t, handler.CloseProtocolError)

	// Our close, unanswered: 1006.
	c, p, h = newTestConn(t, Config{Client: true}, -1)
	_ = c.Close(1000, "bye")
	if fs := clientFrames(t, p.drain(-1)); len(fs) != 1 || fs[0].Header.OpCode != ws.OpClose {
		t.Fatalf("wire %+v", fs)
	}
	c.ReadEnded(nil)
	c.Finish()
	h.closedWith(t, handler.CloseAbnormal)

	// Our close, answered: the server's code.
	c, p, h = newTestConn(t, Config{Client: true}, -1)
	_ = c.Close(1000, "bye")
	p.drain(-1)
	server, _ := ws.CompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(4001, "ok")))
	if c.Feed(server) {
		t.Fatal("Feed wants more after the handshake")
	}
	c.Finish()
	h.closedWith(t, 4001)
}

// TestOverflowNothingStarted: a frame that cannot fit beside what is
// queued, none of it on the wire, is dropped: Send fails with
// ErrWriteQueueFull and a close frame with WriteQueueCode follows what the
// socket already took.
func TestOverflowNothingStarted(t *testing.T) {
	t.Parallel()
	c, p, h := newTestConn(t, Config{MaxWriteQueue: 1000, MaxMessageSize: 1000, WriteQueueCode: 4100}, 0)
	if err := c.SendBinary(make([]byte, 1500)); !errors.Is(err, handler.ErrWriteQueueFull) {
		t.Fatalf("a frame past both bounds: %v, want ErrWriteQueueFull", err)
	}
	wire := p.flush(c)
	fs := frames(t, wire)
	if len(fs) != 1 || binary.BigEndian.Uint16(fs[0].Payload) != 4100 {
		t.Fatalf("wire %+v, want the close frame alone, 4100", fs)
	}
	c.Feed(clientFrame(ws.OpClose, closePayload(4100, "")))
	c.Finish()
	h.closedWith(t, 4100)
}

// TestOverflowPartialFrame: when the rest of a frame already partly on
// the wire would pass the bound (a frame larger than any message), no close
// frame can follow half a frame: the socket is closed at once, and Closed
// still reports the write-queue code.
func TestOverflowPartialFrame(t *testing.T) {
	t.Parallel()
	b := &Budget{}
	c, p, h := newTestConn(t, Config{MaxWriteQueue: 1000, MaxMessageSize: 100, Budget: b}, 10)
	if err := c.SendBinary(make([]byte, 5000)); !errors.Is(err, handler.ErrWriteQueueFull) {
		t.Fatalf("%v, want ErrWriteQueueFull", err)
	}
	if !p.isClosed() {
		t.Fatal("the socket is open after half a frame")
	}
	if wire := p.drain(-1); len(wire) != 10 {
		t.Fatalf("%d bytes on the wire, want the 10 the socket took", len(wire))
	}
	finishedWith(t, c, h, handler.ClosePolicyViolation, b)
}

// TestBigFrameAlone: one frame of up to MaxMessageSize gets in when nothing
// else is queued, whatever MaxWriteQueue: echoing the largest message the
// server accepts must work.
func TestBigFrameAlone(t *testing.T) {
	t.Parallel()
	c, p, _ := newTestConn(t, Config{MaxWriteQueue: 1000, MaxMessageSize: 100000}, 0)
	msg := bytes.Repeat([]byte("m"), 100000)
	if err := c.SendBinary(msg); err != nil {
		t.Fatalf("a message of MaxMessageSize alone: %v", err)
	}
	fs := frames(t, p.flush(c))
	if len(fs) != 1 || !bytes.Equal(fs[0].Payload, msg) {
		t.Fatalf("wire: %d frames, want the message", len(fs))
	}
	if err := c.SendText("open"); err != nil || c.Held() != 0 {
		t.Fatalf("after the flush: %v, %d bytes held", err, c.Held())
	}
}

// TestBudgetRefusesFrame: a frame the server-wide budget has no room for
// closes its connection with 1013; the frame partly on the wire is
// finished first.
func TestBudgetRefusesFrame(t *testing.T) {
	t.Parallel()
	b := &Budget{Max: 4096}
	c, p, h := newTestConn(t, Config{MaxWriteQueue: 1 << 20, Budget: b}, 10)
	if err := c.SendBinary(make([]byte, 2000)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendBinary(make([]byte, 3000)); !errors.Is(err, handler.ErrWriteQueueFull) {
		t.Fatalf("past the budget: %v", err)
	}
	fs := frames(t, p.flush(c))
	if len(fs) != 2 || len(fs[0].Payload) != 2000 || fs[1].Header.OpCode != ws.OpClose || binary.BigEndian.Uint16(fs[1].Payload) != uint16(handler.CloseTryAgainLater) {
		t.Fatalf("wire %+v, want the first message then close 1013", fs)
	}
	if !p.shutdown {
		t.Fatal("the failed connection is not shut down once its close frame is out")
	}
	finishedWith(t, c, h, handler.CloseTryAgainLater, b)
}

// TestAccessors: what a handler can ask of its connection.
func TestAccessors(t *testing.T) {
	t.Parallel()
	cfg := Config{MaxMessageSize: 10}
	tr := &addrPipe{pipe: pipe{room: -1}}
	h := &recorder{}
	c := New(&cfg, tr, h, "chat", Request{})
	c.Start(nil)
	if c.Subprotocol() != "chat" || c.Handler() != h || c.LocalAddr().String() != "192.0.2.1:80" || c.RemoteAddr().String() != "192.0.2.2:1234" {
		t.Fatalf("Subprotocol %q, LocalAddr %v, RemoteAddr %v", c.Subprotocol(), c.LocalAddr(), c.RemoteAddr())
	}
	if c.Data() != nil {
		t.Fatal("Data before SetData")
	}
	c.SetData(42)
	if c.Data() != 42 {
		t.Fatalf("Data %v", c.Data())
	}
	plain := New(&cfg, tr, h, "", Request{})
	if plain.Subprotocol() != "" || plain.Data() != nil {
		t.Fatal("a bare connection has a subprotocol or data")
	}
	m, err := NewPrepared(handler.Binary, []byte("abc"))
	if err != nil || m.Type() != handler.Binary || m.Len() != 3 {
		t.Fatalf("Prepared: %v %v %d", err, m.Type(), m.Len())
	}
	if _, err := NewPrepared(handler.Text, []byte{0xff}); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("a text Prepared of invalid UTF-8: %v", err)
	}
	if _, err := NewPrepared(handler.MessageType(8), nil); err == nil {
		t.Fatal("a Prepared close frame")
	}
}

// addrPipe is a pipe with addresses.
type addrPipe struct{ pipe }

func (*addrPipe) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 80}
}

func (*addrPipe) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 1234}
}

// TestOrDefault: zero means the default, negative no bound (0 in Config),
// anything else itself.
func TestOrDefault(t *testing.T) {
	t.Parallel()
	for _, c := range [][3]int{{0, 7, 7}, {-1, 7, 0}, {-100, 7, 0}, {3, 7, 3}} {
		if got := OrDefault(c[0], c[1]); got != c[2] {
			t.Errorf("OrDefault(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}
