package server_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

func TestEcho(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		addr := start(t, e, &server.Server{})
		c := dial(t, addr, "/ws")
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		for _, tc := range []struct {
			name string
			op   ws.OpCode
			p    []byte
		}{
			{"text", ws.OpText, []byte("hello")},
			{"utf8", ws.OpText, []byte("héllo wörld ✓ 𝄞")},
			{"binary", ws.OpBinary, []byte{0, 1, 2, 255}},
			{"empty text", ws.OpText, nil},
			{"empty binary", ws.OpBinary, nil},
			{"125", ws.OpBinary, bytes.Repeat([]byte{7}, 125)},
			{"126", ws.OpBinary, bytes.Repeat([]byte{7}, 126)},
			{"65535", ws.OpBinary, bytes.Repeat([]byte{7}, 65535)},
			{"65536", ws.OpBinary, bytes.Repeat([]byte{7}, 65536)},
			{"1MiB", ws.OpBinary, big},
		} {
			c.send(tc.op, tc.p)
			c.expect(tc.op, tc.p)
		}
		// Fragmented, with control frames between the fragments.
		c.write(false, 0, ws.OpText, []byte("frag"))
		c.write(true, 0, ws.OpPing, []byte("between"))
		c.write(false, 0, ws.OpContinuation, []byte("men"))
		c.write(true, 0, ws.OpPong, []byte("unsolicited"))
		c.write(true, 0, ws.OpContinuation, []byte("ted"))
		c.expect(ws.OpPong, []byte("between"))
		c.expect(ws.OpText, []byte("fragmented"))
		// Byte by byte.
		for _, b := range frame(true, 0, ws.OpBinary, []byte("slowly")) {
			c.writeRaw([]byte{b})
		}
		c.expect(ws.OpBinary, []byte("slowly"))
		c.closeNormally()
	})
}

func TestPing(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		addr := start(t, e, &server.Server{})
		c := dial(t, addr, "/")
		for _, p := range [][]byte{nil, []byte("binary\x00\xff"), bytes.Repeat([]byte("x"), 125)} {
			c.send(ws.OpPing, p)
			c.expect(ws.OpPong, p)
		}
		for i := 0; i < 10; i++ {
			c.send(ws.OpPing, []byte{byte(i)})
		}
		for i := 0; i < 10; i++ {
			c.expect(ws.OpPong, []byte{byte(i)})
		}
		c.closeNormally()
	})
}

// TestProtocolErrors sends each protocol violation and checks the exact close
// code, while another client keeps echoing.
func TestProtocolErrors(t *testing.T) {
	longText := append(bytes.Repeat([]byte("a"), 100), 0xff) // invalid at byte 101
	cases := []struct {
		name   string
		frames [][]byte
		code   handler.CloseCode
	}{
		{"unmasked frame", [][]byte{{0x81, 0x02, 'h', 'i'}}, handler.CloseProtocolError},
		{"rsv1 text", [][]byte{frame(true, 4, ws.OpText, []byte("x"))}, handler.CloseProtocolError},
		{"rsv2 binary", [][]byte{frame(true, 2, ws.OpBinary, []byte("x"))}, handler.CloseProtocolError},
		{"rsv3 ping", [][]byte{frame(true, 1, ws.OpPing, nil)}, handler.CloseProtocolError},
		{"rsv on close", [][]byte{frame(true, 7, ws.OpClose, closePayload(1000, ""))}, handler.CloseProtocolError},
		{"opcode 3", [][]byte{frame(true, 0, 3, nil)}, handler.CloseProtocolError},
		{"opcode 7", [][]byte{frame(true, 0, 7, []byte("x"))}, handler.CloseProtocolError},
		{"opcode 11", [][]byte{frame(true, 0, 11, nil)}, handler.CloseProtocolError},
		{"opcode 15", [][]byte{frame(true, 0, 15, []byte("x"))}, handler.CloseProtocolError},
		{"ping of 126 bytes", [][]byte{frame(true, 0, ws.OpPing, make([]byte, 126))}, handler.CloseProtocolError},
		{"fragmented ping", [][]byte{frame(false, 0, ws.OpPing, []byte("a")), frame(true, 0, ws.OpContinuation, []byte("b"))}, handler.CloseProtocolError},
		{"continuation first", [][]byte{frame(true, 0, ws.OpContinuation, []byte("x"))}, handler.CloseProtocolError},
		{"text inside fragmented", [][]byte{frame(false, 0, ws.OpText, []byte("a")), frame(true, 0, ws.OpText, []byte("b"))}, handler.CloseProtocolError},
		{"invalid utf-8", [][]byte{frame(true, 0, ws.OpText, []byte{0xce, 0xba, 0xe1, 0xbd})}, handler.CloseInvalidPayload},
		{"surrogate", [][]byte{frame(true, 0, ws.OpText, []byte{0xed, 0xa0, 0x80})}, handler.CloseInvalidPayload},
		{"invalid utf-8 across fragments", [][]byte{frame(false, 0, ws.OpText, []byte{0xf4}), frame(true, 0, ws.OpContinuation, []byte{0x90, 0x80, 0x80})}, handler.CloseInvalidPayload},
		// Fail fast: the message is never finished, the error must
		// come from the bytes already sent.
		{"invalid utf-8, unfinished fragment", [][]byte{frame(false, 0, ws.OpText, []byte{'o', 'k', 0xc0, 0x80})}, handler.CloseInvalidPayload},
		{"invalid utf-8, unfinished frame", [][]byte{frame(true, 0, ws.OpText, append(longText, make([]byte, 800)...))[:2+2+4+101]}, handler.CloseInvalidPayload},
		{"close code 1005", [][]byte{frame(true, 0, ws.OpClose, closePayload(1005, ""))}, handler.CloseProtocolError},
		{"close code 999", [][]byte{frame(true, 0, ws.OpClose, closePayload(999, ""))}, handler.CloseProtocolError},
		{"close code 2000", [][]byte{frame(true, 0, ws.OpClose, closePayload(2000, ""))}, handler.CloseProtocolError},
		{"close code 5000", [][]byte{frame(true, 0, ws.OpClose, closePayload(5000, ""))}, handler.CloseProtocolError},
		{"close payload of 1 byte", [][]byte{frame(true, 0, ws.OpClose, []byte{3})}, handler.CloseProtocolError},
		{"close reason invalid utf-8", [][]byte{frame(true, 0, ws.OpClose, append(closePayload(1000, ""), 0xff))}, handler.CloseInvalidPayload},
		{"message too big", [][]byte{frame(true, 0, ws.OpBinary, make([]byte, 1025))}, handler.CloseMessageTooBig},
		{"fragments too big", [][]byte{frame(false, 0, ws.OpBinary, make([]byte, 1000)), frame(true, 0, ws.OpContinuation, make([]byte, 25))}, handler.CloseMessageTooBig},
	}
	forEngine(t, func(t *testing.T, e server.Engine) {
		addr := start(t, e, &server.Server{MaxMessageSize: 1024})
		bystander := dial(t, addr, "/")
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := dial(t, addr, "/")
				for _, f := range tc.frames {
					c.writeRaw(f)
				}
				c.expectClose(tc.code)
				bystander.echoes(tc.name)
			})
		}
		bystander.closeNormally()
	})
}

func TestCloseHandshake(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		closed := make(chan [2]string, 10)
		addr := start(t, e, &server.Server{NewHandler: func() handler.Handler {
			return &recorder{closed: closed}
		}})
		for _, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
			c := dial(t, addr, "/")
			c.send(ws.OpClose, closePayload(code, "bye"))
			if reason := c.expectClose(handler.CloseCode(code)); reason != "bye" {
				t.Errorf("close %d: reason %q echoed, want %q", code, reason, "bye")
			}
			if got := <-closed; got != [2]string{handler.CloseCode(code).String(), "bye"} {
				t.Errorf("Closed(%v), want %d bye", got, code)
			}
		}
		// An empty close is answered with an empty close.
		c := dial(t, addr, "/")
		c.send(ws.OpClose, nil)
		h, p, err := c.read()
		if err != nil || h.OpCode != ws.OpClose || len(p) != 0 {
			t.Fatalf("answer to an empty close: %v %x %v", h.OpCode, p, err)
		}
		c.expectEOF()
		if got := <-closed; got[0] != handler.CloseNoStatus.String() {
			t.Errorf("Closed(%v) after an empty close, want 1005", got)
		}
		// A 125-byte close payload is fine; data after a close is ignored.
		c = dial(t, addr, "/")
		reason := strings.Repeat("r", 123)
		c.writeRaw(append(frame(true, 0, ws.OpClose, closePayload(1000, reason)), frame(true, 0, ws.OpText, []byte("ignored"))...))
		if got := c.expectClose(1000); got != reason {
			t.Errorf("reason %q", got)
		}
		<-closed
	})
}

// recorder reports Closed calls.
type recorder struct {
	handler.Echo
	closed chan [2]string
}

func (r *recorder) Closed(_ handler.Conn, code handler.CloseCode, reason string) {
	r.closed <- [2]string{code.String(), reason}
}
