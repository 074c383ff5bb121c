package wsconn

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
)

// What a Conn does with the bytes its engine reads: RFC 6455's rules for
// the frames a server receives, as the handler and the peer see them.

// maskedFrame is a client frame with any header bits: opcode, fin, the
// reserved bits (rsv: RSV1 4, RSV2 2, RSV3 1), masked or not.
func maskedFrame(op ws.OpCode, fin bool, rsv byte, masked bool, p []byte) []byte {
	f := ws.NewFrame(op, fin, bytes.Clone(p))
	f.Header.Rsv = rsv
	if masked {
		f = ws.MaskFrameInPlace(f)
	}
	b, err := ws.CompileFrame(f)
	if err != nil {
		panic(err)
	}
	return b
}

// feedChunks feeds in to c in pieces cut at the given offsets' pattern
// (sizes cycled); it reports whether c still wants input.
func feedChunks(c *Conn, in []byte, sizes []int) bool {
	for i := 0; len(in) > 0; i++ {
		k := min(sizes[i%len(sizes)], len(in))
		if !c.Feed(in[:k]) {
			return false
		}
		in = in[k:]
	}
	return true
}

// TestFeedMessages: messages, fragmented ones with a ping between their
// fragments (answered at once) and a multi-byte character cut between
// frames, pongs and empty frames reach the handler the same whatever
// pieces the input arrives in, down to a byte at a time.
func TestFeedMessages(t *testing.T) {
	t.Parallel()
	text := "héllo, wörld €"
	cut := strings.Index(text, "€") + 1 // inside the euro sign
	var in []byte
	in = append(in, maskedFrame(ws.OpText, false, 0, true, []byte(text[:cut]))...)
	in = append(in, maskedFrame(ws.OpPing, true, 0, true, []byte("pi"))...)
	in = append(in, maskedFrame(ws.OpContinuation, false, 0, true, nil)...)
	in = append(in, maskedFrame(ws.OpContinuation, true, 0, true, []byte(text[cut:]))...)
	in = append(in, maskedFrame(ws.OpBinary, true, 0, true, []byte{0, 1, 0xff})...)
	in = append(in, maskedFrame(ws.OpPong, true, 0, true, []byte("po"))...)
	in = append(in, maskedFrame(ws.OpText, true, 0, true, nil)...)
	in = append(in, maskedFrame(ws.OpBinary, true, 0, true, bytes.Repeat([]byte{7}, 70000))...)
	wantMsgs := []string{text, "\x00\x01\xff", "", string(bytes.Repeat([]byte{7}, 70000))}
	r := rand.New(rand.NewPCG(1, 2))
	for _, sizes := range [][]int{{len(in)}, {1}, {2, 3, 5, 7}, {r.IntN(200) + 1, r.IntN(20) + 1}, {125, 126, 127}} {
		c, p, h := newTestConn(t, Config{}, -1)
		if !feedChunks(c, bytes.Clone(in), sizes) { // (Feed unmasks in place)
			t.Fatalf("pieces %v: Feed refused valid input", sizes)
		}
		if !slices.Equal(h.messages, wantMsgs) || !slices.Equal(h.pongs, []string{"po"}) {
			t.Fatalf("pieces %v: messages %.30q, pongs %q", sizes, h.messages, h.pongs)
		}
		fs := frames(t, p.drain(-1))
		if len(fs) != 1 || fs[0].Header.OpCode != ws.OpPong || string(fs[0].Payload) != "pi" {
			t.Fatalf("pieces %v: wire %+v, want the pong alone", sizes, fs)
		}
		if !c.Idle() {
			t.Fatalf("pieces %v: not idle between messages", sizes)
		}
	}
}

// TestFeedFailures: each violation of RFC 6455 by a client fails its
// connection with the code the RFC gives: the close frame is the only
// thing written, the socket is shut down once it is out (without waiting
// for an answer, 7.1.7), Feed wants no more input, and Closed reports the
// code.
func TestFeedFailures(t *testing.T) {
	t.Parallel()
	closeWith := func(code uint16, reason string) []byte {
		return maskedFrame(ws.OpClose, true, 0, true, append(binary.BigEndian.AppendUint16(nil, code), reason...))
	}
	long64 := []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4} // a 64-bit length with its top bit set
	for _, c := range []struct {
		name string
		in   []byte
		code handler.CloseCode
	}{
		{"unmasked frame", maskedFrame(ws.OpText, true, 0, false, []byte("x")), 1002},
		{"RSV1 without an extension", maskedFrame(ws.OpText, true, 4, true, []byte("x")), 1002},
		{"RSV2", maskedFrame(ws.OpBinary, true, 2, true, []byte("x")), 1002},
		{"RSV3", maskedFrame(ws.OpBinary, true, 1, true, []byte("x")), 1002},
		{"reserved data opcode", maskedFrame(3, true, 0, true, []byte("x")), 1002},
		{"reserved control opcode", maskedFrame(0xb, true, 0, true, nil), 1002},
		{"fragmented ping", maskedFrame(ws.OpPing, false, 0, true, nil), 1002},
		{"ping of 126 bytes", maskedFrame(ws.OpPing, true, 0, true, make([]byte, 126)), 1002},
		{"close of 126 bytes", closeWith(1000, strings.Repeat("r", 124)), 1002},
		{"continuation without a message", maskedFrame(ws.OpContinuation, true, 0, true, []byte("x")), 1002},
		{"a message inside a message", append(maskedFrame(ws.OpText, false, 0, true, []byte("a")), maskedFrame(ws.OpText, true, 0, true, []byte("b"))...), 1002},
		{"64-bit length's top bit", long64, 1002},
		{"invalid UTF-8", maskedFrame(ws.OpText, true, 0, true, []byte("a\xffb")), 1007},
		{"UTF-8 cut at the end", maskedFrame(ws.OpText, true, 0, true, []byte("a\xe2\x82")), 1007},
		{"invalid UTF-8 in a fragment", append(maskedFrame(ws.OpText, false, 0, true, []byte("ok")), maskedFrame(ws.OpContinuation, false, 0, true, []byte{0xc0, 0x80})...), 1007},
		{"surrogate in UTF-8", maskedFrame(ws.OpText, true, 0, true, []byte("\xed\xa0\x80")), 1007},
		{"close of 1 byte", maskedFrame(ws.OpClose, true, 0, true, []byte{3}), 1002},
		{"close 1005", closeWith(1005, ""), 1002},
		{"close 1006", closeWith(1006, ""), 1002},
		{"close 1015", closeWith(1015, ""), 1002},
		{"close 999", closeWith(999, ""), 1002},
		{"close 1004", closeWith(1004, ""), 1002},
		{"close 5000", closeWith(5000, ""), 1002},
		{"close reason not UTF-8", closeWith(1000, "\xff"), 1007},
		{"message past the limit", maskedFrame(ws.OpBinary, true, 0, true, make([]byte, 1001)), 1009},
		{"fragments past the limit", append(maskedFrame(ws.OpBinary, false, 0, true, make([]byte, 600)), maskedFrame(ws.OpContinuation, true, 0, true, make([]byte, 401))...), 1009},
		{"header of a frame past the limit", []byte{0x82, 0xfe, 0xff, 0xff, 1, 2, 3, 4}, 1009},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, p, h := newTestConn(t, Config{MaxMessageSize: 1000}, -1)
			if conn.Feed(c.in) {
				t.Fatal("Feed wants more input after a violation")
			}
			fs := frames(t, p.drain(-1))
			if len(fs) != 1 || fs[0].Header.OpCode != ws.OpClose || len(fs[0].Payload) < 2 {
				t.Fatalf("wire %+v, want one close frame", fs)
			}
			if got := handler.CloseCode(binary.BigEndian.Uint16(fs[0].Payload)); got != c.code {
				t.Fatalf("close %d %q, want %d", got, fs[0].Payload[2:], c.code)
			}
			if len(h.messages) != 0 {
				t.Fatalf("the handler got %q", h.messages)
			}
			if !p.shutdown {
				t.Fatal("the socket is not shut down once the close frame is out")
			}
			conn.Finish()
			h.closedWith(t, c.code)
		})
	}
	// Inputs the limit lets through.
	for _, in := range [][]byte{
		maskedFrame(ws.OpBinary, true, 0, true, make([]byte, 1000)),
		append(maskedFrame(ws.OpBinary, false, 0, true, make([]byte, 600)), maskedFrame(ws.OpContinuation, true, 0, true, make([]byte, 400))...),
		maskedFrame(ws.OpPing, true, 0, true, make([]byte, 125)),
		closeWith(4999, strings.Repeat("r", 123)),
	} {
		conn, p, _ := newTestConn(t, Config{MaxMessageSize: 1000}, -1)
		conn.Feed(in)
		for _, f := range frames(t, p.drain(-1)) {
			if f.Header.OpCode == ws.OpClose && binary.BigEndian.Uint16(f.Payload) != 4999 {
				t.Fatalf("%.20x: failed with %d", in, binary.BigEndian.Uint16(f.Payload))
			}
		}
	}
}

// TestFeedCloseFrames: the peer's close is echoed (an empty one with an
// empty one: RFC 6455 5.5.1), Closed reports its code (1005 for none), and
// the data that follows it is never delivered.
func TestFeedCloseFrames(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		payload []byte
		code    handler.CloseCode
	}{
		{nil, handler.CloseNoStatus},
		{closePayload(1000, ""), 1000},
		{closePayload(3000, "app"), 3000},
		{closePayload(1001, "héllo"), 1001},
	} {
		conn, p, h := newTestConn(t, Config{}, -1)
		in := append(clientFrame(ws.OpClose, c.payload), clientFrame(ws.OpText, []byte("after"))...)
		if conn.Feed(in) {
			t.Fatal("Feed wants more input after the peer's close")
		}
		fs := frames(t, p.drain(-1))
		if len(fs) != 1 || fs[0].Header.OpCode != ws.OpClose || !bytes.Equal(fs[0].Payload, c.payload) {
			t.Fatalf("wire %+v, want the close echoed", fs)
		}
		if len(h.messages) != 0 {
			t.Fatalf("delivered %q after the close", h.messages)
		}
		conn.Finish()
		h.closedWith(t, c.code)
		if code, reason := conn.CloseStatus(); code != c.code || c.code != handler.CloseNoStatus && reason != string(c.payload[2:]) {
			t.Fatalf("CloseStatus %d %q", code, reason)
		}
	}
}

// TestFeedAfterOurClose: once our close frame is out, the peer's data
// messages are discarded, and its close ends the closing handshake
// without another close frame.
func TestFeedAfterOurClose(t *testing.T) {
	t.Parallel()
	c, p, h := newTestConn(t, Config{}, -1)
	if err := c.Close(4000, ""); err != nil {
		t.Fatal(err)
	}
	p.drain(-1)
	if !c.Feed(clientFrame(ws.OpText, []byte("late"))) {
		t.Fatal("Feed stopped before the peer's close")
	}
	if len(h.messages) != 0 {
		t.Fatalf("delivered %q after our close", h.messages)
	}
	if c.Feed(clientFrame(ws.OpClose, closePayload(4000, ""))) {
		t.Fatal("Feed wants more after the closing handshake")
	}
	if fs := frames(t, p.drain(-1)); len(fs) != 0 {
		t.Fatalf("answered the answer: %+v", fs)
	}
	c.Finish()
	h.closedWith(t, 4000)
}

// TestFeedReleasesIdle: a large message's buffer is not kept once it is
// delivered (ReleaseIdle), but a partial one survives it, and its bytes
// stay counted in the budget until Finish.
func TestFeedReleasesIdle(t *testing.T) {
	t.Parallel()
	b := &Budget{}
	c, _, h := newTestConn(t, Config{Budget: b}, -1)
	big := clientFrame(ws.OpBinary, bytes.Repeat([]byte("b"), 100000))
	if !c.Feed(big[:50000]) || c.Idle() {
		t.Fatal("a partial frame: Feed failed, or Idle")
	}
	c.ReleaseIdle()
	if b.Held() < 40000 || int64(c.Held()) != b.Held() {
		t.Fatalf("a partial message of 50 KB: the budget holds %d, the connection %d", b.Held(), c.Held())
	}
	if !c.Feed(big[50000:]) || !c.Idle() || len(h.messages) != 1 || len(h.messages[0]) != 100000 {
		t.Fatal("the message was not delivered whole")
	}
	c.ReleaseIdle()
	if b.Held() != 0 || c.Held() != 0 {
		t.Fatalf("idle: the budget holds %d, the connection %d", b.Held(), c.Held())
	}
	c.Feed(big[:100])
	c.Terminate()
	c.Finish()
	if b.Held() != 0 {
		t.Fatalf("after Finish the budget holds %d", b.Held())
	}
}

// TestFeedBudget: partial messages across connections are bounded by the
// shared budget: the connection that would take it past Max fails with
// 1013 (try again later), and the others carry on.
func TestFeedBudget(t *testing.T) {
	t.Parallel()
	b := &Budget{Max: 150000}
	cfg := Config{Budget: b}
	var conns []*Conn
	var pipes []*pipe
	var hs []*recorder
	for range 3 {
		c, p, h := newTestConn(t, cfg, -1)
		conns, pipes, hs = append(conns, c), append(pipes, p), append(hs, h)
	}
	part := clientFrame(ws.OpBinary, make([]byte, 200000))[:60000]
	for i, c := range conns[:2] {
		if !c.Feed(part) {
			t.Fatalf("connection %d failed within the budget (held %d)", i, b.Held())
		}
	}
	if conns[2].Feed(part) {
		t.Fatalf("the connection past the budget went on (held %d of %d)", b.Held(), b.Max)
	}
	fs := frames(t, pipes[2].drain(-1))
	if len(fs) != 1 || binary.BigEndian.Uint16(fs[0].Payload) != uint16(handler.CloseTryAgainLater) {
		t.Fatalf("wire %+v, want close 1013", fs)
	}
	conns[2].Finish()
	hs[2].closedWith(t, handler.CloseTryAgainLater)
	// The failed connection gave its share back; the others were not
	// touched.
	if held := b.Held(); held != int64(conns[0].Held()+conns[1].Held()) {
		t.Fatalf("the budget holds %d, the two connections left %d", held, conns[0].Held()+conns[1].Held())
	}
	for i, p := range pipes[:2] {
		if fs := frames(t, p.drain(-1)); len(fs) != 0 {
			t.Fatalf("connection %d within the budget got %+v", i, fs)
		}
	}
	for _, c := range conns[:2] {
		c.Terminate()
		c.Finish()
	}
	if b.Held() != 0 {
		t.Fatalf("after every Finish the budget holds %d", b.Held())
	}
}
