package wsconn

// Unit tests of the write queue and the closing handshake behind the
// Transport interface: pipe is a socket with a send buffer of a chosen size,
// so the tests decide exactly when the peer "reads", which a kernel socket
// does not let a test do.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
)

// pipe is a non-blocking Transport whose socket takes at most room more
// bytes: what it takes is in wire, in order.
type pipe struct {
	mu       sync.Mutex
	wire     bytes.Buffer
	room     int // bytes the socket takes before it is full; <0: unbounded
	waits    int // WaitWritable calls
	shutdown bool
	closed   bool
	// during, if set, runs inside the next Write, after the bytes are
	// taken (what the engine may do meanwhile on another goroutine).
	during func()
}

func (p *pipe) Write(bufs [][]byte) (int, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, errors.New("use of closed connection")
	}
	n := 0
	for _, b := range bufs {
		if p.room >= 0 && len(b) > p.room-n {
			b = b[:p.room-n]
		}
		p.wire.Write(b)
		n += len(b)
	}
	if p.room >= 0 {
		p.room -= n
	}
	f := p.during
	p.during = nil
	p.mu.Unlock()
	if f != nil {
		f()
	}
	return n, nil
}

func (p *pipe) Blocking() bool { return false }
func (p *pipe) WaitWritable() {
	p.mu.Lock()
	p.waits++
	p.mu.Unlock()
}
func (p *pipe) Shutdown() {
	p.mu.Lock()
	p.shutdown = true
	p.mu.Unlock()
}
func (p *pipe) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}
func (p *pipe) LocalAddr() net.Addr  { return nil }
func (p *pipe) RemoteAddr() net.Addr { return nil }

// drain lets the peer read everything and gives the socket room more bytes.
func (p *pipe) drain(room int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := bytes.Clone(p.wire.Bytes())
	p.wire.Reset()
	p.room = room
	return out
}

// flush lets the peer read everything, the socket take everything, and c
// write what it queued; it returns the bytes the peer read.
func (p *pipe) flush(c *Conn) []byte {
	wire := p.drain(-1)
	c.Flush()
	return append(wire, p.drain(-1)...)
}

// frames parses the server's frames (unmasked) from b.
func frames(t *testing.T, b []byte) []ws.Frame { return readFrames(t, b, false) }

// clientFrames parses a client's frames (masked) from b, unmasking them.
func clientFrames(t *testing.T, b []byte) []ws.Frame { return readFrames(t, b, true) }

// readFrames parses the frames of one end from b: masked if and only if
// they are a client's.
func readFrames(t *testing.T, b []byte, client bool) []ws.Frame {
	t.Helper()
	var out []ws.Frame
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		f, err := ws.ReadFrame(r)
		if err != nil {
			t.Fatalf("reading the frames: %v (%d bytes left)", err, r.Len())
		}
		if f.Header.Masked != client {
			t.Fatalf("a frame masked %v from a client %v", f.Header.Masked, client)
		}
		if client {
			f = ws.UnmaskFrameInPlace(f)
		}
		out = append(out, f)
	}
	return out
}

// clientFrame is a masked frame as a client sends it.
func clientFrame(op ws.OpCode, p []byte) []byte {
	var b bytes.Buffer
	f := ws.MaskFrameInPlace(ws.NewFrame(op, true, bytes.Clone(p)))
	if err := ws.WriteFrame(&b, f); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func closePayload(code handler.CloseCode, reason string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(code))
	return append(b, reason...)
}

// recorder is a Handler that records its callbacks.
type recorder struct {
	handler.Base
	mu       sync.Mutex
	messages []string
	pongs    []string
	closed   int
	code     handler.CloseCode
	reason   string
}

func (r *recorder) ReceivedMessage(_ handler.Conn, m handler.Message) {
	r.mu.Lock()
	r.messages = append(r.messages, string(m.Data))
	r.mu.Unlock()
}

func (r *recorder) Ponged(_ handler.Conn, p []byte) {
	r.mu.Lock()
	r.pongs = append(r.pongs, string(p))
	r.mu.Unlock()
}

func (r *recorder) Closed(_ handler.Conn, code handler.CloseCode, reason string) {
	r.mu.Lock()
	r.closed++
	r.code, r.reason = code, reason
	r.mu.Unlock()
}

func (r *recorder) closedWith(t *testing.T, code handler.CloseCode) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed != 1 || r.code != code {
		t.Fatalf("Closed called %d times, last with %d %q; want once with %d", r.closed, r.code, r.reason, code)
	}
}

// finishedWith finishes c as its engine does and checks that Closed got
// code and that the budget b (nil: none) holds nothing more.
func finishedWith(t *testing.T, c *Conn, h *recorder, code handler.CloseCode, b *Budget) {
	t.Helper()
	c.Finish()
	h.closedWith(t, code)
	if b.Held() != 0 {
		t.Fatalf("after Finish the budget holds %d", b.Held())
	}
}

// newTestConn makes a started Conn on a pipe with room bytes of socket
// buffer, and the settings cfg (MaxMessageSize defaults to 1 MiB).
func newTestConn(t *testing.T, cfg Config, room int) (*Conn, *pipe, *recorder) {
	t.Helper()
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = 1 << 20
	}
	p := &pipe{room: room}
	h := &recorder{}
	c := New(&cfg, p, h, "", Request{})
	c.Start(nil)
	return c, p, h
}

func TestCloseHandshakeServerFirst(t *testing.T) {
	c, p, h := newTestConn(t, Config{}, -1)
	if err := c.Close(4000, "bye"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(4001, "again"); err != nil {
		t.Fatalf("a second Close: %v, want nil (the frame is sent once)", err)
	}
	if err := c.SendText("late"); !errors.Is(err, handler.ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
	fs := frames(t, p.drain(-1))
	if len(fs) != 1 || fs[0].Header.OpCode != ws.OpClose || !bytes.Equal(fs[0].Payload, closePayload(4000, "bye")) {
		t.Fatalf("wire: %+v, want one close frame 4000 bye", fs)
	}
	if p.shutdown {
		t.Fatal("socket shut down before the peer answered")
	}
	// The peer answers: the socket is shut down, and Closed gets the
	// peer's code.
	if c.Feed(clientFrame(ws.OpClose, closePayload(1000, "ok"))) {
		t.Fatal("Feed wants more input after the closing handshake")
	}
	if fs := frames(t, p.drain(-1)); len(fs) != 0 {
		t.Fatalf("the server answered the answer: %+v", fs)
	}
	if !p.shutdown {
		t.Fatal("socket not shut down after the handshake")
	}
	c.Finish()
	c.Finish()
	h.closedWith(t, 1000)
}

func TestCloseHandshakePeerFirst(t *testing.T) {
	c, p, h := newTestConn(t, Config{}, -1)
	if c.Feed(clientFrame(ws.OpClose, closePayload(4002, "done"))) {
		t.Fatal("Feed wants more input after the peer's close")
	}
	fs := frames(t, p.drain(-1))
	if len(fs) != 1 || !bytes.Equal(fs[0].Payload, closePayload(4002, "done")) {
		t.Fatalf("wire: %+v, want the peer's code echoed", fs)
	}
	if !p.shutdown {
		t.Fatal("socket not shut down once the answer was written")
	}
	c.Finish()
	h.closedWith(t, 4002)
}

// The answer to the peer's close waits behind what the socket did not take,
// and the socket is shut down only once it is all on the wire.
func TestCloseAnswerWaitsForQueue(t *testing.T) {
	c, p, h := newTestConn(t, Config{MaxWriteQueue: 1 << 20}, 10)
	msg := bytes.Repeat([]byte("x"), 100)
	if err := c.SendBinary(msg); err != nil {
		t.Fatal(err)
	}
	if c.ReadPaused() {
		t.Fatal("input paused with 90 bytes queued of a 1 MiB bound")
	}
	c.Feed(clientFrame(ws.OpClose, closePayload(1000, "")))
	if p.shutdown {
		t.Fatal("shut down with frames still queued")
	}
	if !c.ReadPaused() {
		t.Fatal("input not paused while our close frame is queued")
	}
	wire := p.flush(c)
	fs := frames(t, wire)
	if len(fs) != 2 || !bytes.Equal(fs[0].Payload, msg) || fs[1].Header.OpCode != ws.OpClose {
		t.Fatalf("wire: %d frames, want the message then the close", len(fs))
	}
	if !p.shutdown {
		t.Fatal("not shut down once the queue was flushed")
	}
	c.Finish()
	h.closedWith(t, 1000)
}

// Frames the socket does not take are queued in order, counted in the
// budget at their real memory, and released when written.
func TestQueueOrderAndBudget(t *testing.T) {
	b := &Budget{}
	c, p, _ := newTestConn(t, Config{MaxWriteQueue: 1 << 20, Budget: b}, 5)
	var want [][]byte
	for i := range 20 {
		m := bytes.Repeat([]byte{byte('a' + i)}, 50+i)
		want = append(want, m)
		if err := c.SendBinary(m); err != nil {
			t.Fatal(err)
		}
	}
	if p.waits == 0 {
		t.Fatal("a full socket did not wait for writability")
	}
	held := b.Held()
	if held <= 0 || int(held) != c.Held() {
		t.Fatalf("budget holds %d, the connection %d", held, c.Held())
	}
	// At least the payloads, each rounded up to its size class.
	if held < 19*64 {
		t.Fatalf("budget holds %d, less than the queued frames' memory", held)
	}
	wire := p.flush(c)
	fs := frames(t, wire)
	if len(fs) != len(want) {
		t.Fatalf("%d frames on the wire, want %d", len(fs), len(want))
	}
	for i, f := range fs {
		if !bytes.Equal(f.Payload, want[i]) {
			t.Fatalf("frame %d out of order", i)
		}
	}
	if b.Held() != 0 || c.Held() != 0 {
		t.Fatalf("after the flush the budget holds %d, the connection %d", b.Held(), c.Held())
	}
}

// A peer that does not read: the send that would take the queue past its
// bound fails, the frames not started are dropped, and the close frame
// follows the frame partly on the wire, so the stream stays well formed.
func TestQueueOverflow(t *testing.T) {
	b := &Budget{}
	c, p, h := newTestConn(t, Config{MaxWriteQueue: 4096, Budget: b}, 100)
	first := bytes.Repeat([]byte("1"), 1000)
	if err := c.SendBinary(first); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = c.SendBinary(bytes.Repeat([]byte("2"), 1000))
	}
	if !errors.Is(err, handler.ErrWriteQueueFull) {
		t.Fatalf("sends past the bound: %v, want ErrWriteQueueFull", err)
	}
	if err := c.SendText("after"); !errors.Is(err, handler.ErrClosed) {
		t.Fatalf("a send after the overflow: %v, want ErrClosed", err)
	}
	if !c.ReadPaused() {
		t.Fatal("input not paused with the close frame queued")
	}
	wire := p.flush(c)
	fs := frames(t, wire)
	if len(fs) < 2 || !bytes.Equal(fs[0].Payload, first) {
		t.Fatalf("wire: %d frames; want the first message whole first", len(fs))
	}
	last := fs[len(fs)-1]
	if last.Header.OpCode != ws.OpClose || binary.BigEndian.Uint16(last.Payload) != 1008 {
		t.Fatalf("last frame: %v %q, want close 1008", last.Header.OpCode, last.Payload)
	}
	c.Feed(clientFrame(ws.OpClose, closePayload(1008, "")))
	c.Finish()
	h.closedWith(t, 1008)
	if b.Held() != 0 {
		t.Fatalf("the budget holds %d after Finish", b.Held())
	}
}

// A ping flood behind a full socket is answered by at most two pongs: the
// one the socket refused first (kept whole, ahead of the rest) and one
// queued pong, which carries the latest ping's payload.
func TestPongsCoalesce(t *testing.T) {
	c, p, _ := newTestConn(t, Config{MaxWriteQueue: 1 << 20}, 0)
	var in []byte
	for i := range 1000 {
		in = append(in, clientFrame(ws.OpPing, []byte{byte(i >> 8), byte(i)})...)
	}
	if !c.Feed(in) {
		t.Fatal("Feed failed on pings")
	}
	if n := c.Held(); n > 2*(maxPong+indexCost)+64 {
		t.Fatalf("1000 pings behind a full socket hold %d bytes", n)
	}
	p.drain(-1)
	c.Flush()
	fs := frames(t, p.drain(-1))
	if len(fs) == 0 || len(fs) > 2 {
		t.Fatalf("1000 pings answered by %d pongs, want 1 or 2", len(fs))
	}
	for _, f := range fs {
		if f.Header.OpCode != ws.OpPong {
			t.Fatalf("wire: %+v, want pongs only", fs)
		}
	}
	if last := fs[len(fs)-1]; !bytes.Equal(last.Payload, []byte{999 >> 8, 999 & 0xff}) {
		t.Fatalf("last pong carries %v, want the last ping's payload", last.Payload)
	}
}

// A send whose write overlaps the connection's end queues nothing on it:
// its bytes would otherwise stay counted in the server-wide budget for good.
func TestSendOverlappingFinish(t *testing.T) {
	b := &Budget{}
	c, p, h := newTestConn(t, Config{MaxWriteQueue: 1 << 20, Budget: b}, 10)
	p.during = func() {
		// The engine sees the socket fail and finishes the
		// connection while the send is still in Write.
		done := make(chan struct{})
		go func() {
			c.ReadEnded(io.EOF)
			c.Finish()
			close(done)
		}()
		<-done
	}
	err := c.SendBinary(bytes.Repeat([]byte("z"), 1000))
	if !errors.Is(err, handler.ErrClosed) {
		t.Fatalf("send overlapping Finish: %v, want ErrClosed", err)
	}
	if b.Held() != 0 || c.Held() != 0 {
		t.Fatalf("after Finish the budget holds %d, the connection %d", b.Held(), c.Held())
	}
	h.closedWith(t, handler.CloseAbnormal)
}

// A broadcast during a fragmented message waits for its last fragment: no
// data frame may come between the fragments of another.
func TestBroadcastWaitsForFragments(t *testing.T) {
	cfg := &Config{MaxMessageSize: 1 << 20, MaxWriteQueue: 1 << 20}
	tab := NewTable(cfg)
	p := &pipe{room: -1}
	c := New(cfg, p, &recorder{}, "", Request{})
	c.Start(tab)
	w, err := c.NewWriter(handler.Text)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("frag1")); err != nil {
		t.Fatal(err)
	}
	if n := tab.Broadcast(prepared(t, handler.Text, "news")); n != 1 {
		t.Fatalf("broadcast queued for %d connections, want 1", n)
	}
	if _, err := w.Write([]byte("frag2")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fs := frames(t, p.drain(-1))
	var got []string
	for _, f := range fs {
		got = append(got, string(f.Payload))
	}
	want := []string{"frag1", "frag2", "", "news"}
	if len(got) != len(want) {
		t.Fatalf("wire %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("wire %q, want %q", got, want)
		}
	}
	if fs[3].Header.OpCode != ws.OpText || !fs[3].Header.Fin {
		t.Fatalf("broadcast frame: %+v", fs[3].Header)
	}
	c.Terminate()
	c.Finish()
	if tab.Len() != 0 {
		t.Fatalf("table holds %d after Finish", tab.Len())
	}
}

// A handler panic costs its connection: 1011 is sent, and Closed is still
// delivered.
func TestHandlerPanicFails1011(t *testing.T) {
	cfg := Config{MaxMessageSize: 1 << 20, Logger: slog.New(slog.DiscardHandler)}
	p := &pipe{room: -1}
	h := &panicker{}
	c := New(&cfg, p, h, "", Request{})
	c.Start(nil)
	c.Feed(clientFrame(ws.OpText, []byte("boom")))
	c.Feed(clientFrame(ws.OpText, []byte("again")))
	if h.calls != 1 {
		t.Fatalf("the panicked handler got %d messages, want 1 (it is silenced)", h.calls)
	}
	fs := frames(t, p.drain(-1))
	if len(fs) != 1 || fs[0].Header.OpCode != ws.OpClose || binary.BigEndian.Uint16(fs[0].Payload) != 1011 {
		t.Fatalf("wire: %+v, want close 1011", fs)
	}
	if !p.shutdown {
		t.Fatal("a failed connection is not shut down once its close frame is out")
	}
	c.Finish()
	if h.closed != 1 || h.code != 1011 {
		t.Fatalf("Closed %d times with %d, want once with 1011", h.closed, h.code)
	}
}

type panicker struct {
	recorder
	calls int
}

func (p *panicker) ReceivedMessage(handler.Conn, handler.Message) {
	p.calls++
	panic("handler bug")
}

// prepared is NewPrepared that must succeed.
func prepared(t testing.TB, typ handler.MessageType, p string) *Prepared {
	t.Helper()
	m, err := NewPrepared(typ, []byte(p))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
