package bench

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// serverFrame encodes an unmasked frame as a server sends it.
func serverFrame(fin bool, op byte, p []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var out []byte
	switch n := len(p); {
	case n < 126:
		out = []byte{b0, byte(n)}
	case n < 1<<16:
		out = []byte{b0, 126, byte(n >> 8), byte(n)}
	default:
		out = []byte{b0, 127}
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	return append(out, p...)
}

type event struct {
	control bool
	op      byte
	head    string
	n       int64
}

type recorder struct{ got []event }

func (r *recorder) message(op byte, head []byte, n int64) {
	r.got = append(r.got, event{op: op, head: string(head), n: n})
}

func (r *recorder) control(op byte, p []byte) {
	r.got = append(r.got, event{control: true, op: op, head: string(p), n: int64(len(p))})
}

func TestFrameReader(t *testing.T) {
	big := []byte(strings.Repeat("0123456789abcdef", 5000)) // 80,000 bytes: 64-bit length
	mid := big[:300]                                        // 16-bit length
	var stream []byte
	stream = append(stream, serverFrame(true, opBinary, []byte("0123456789ABCDEFtail"))...)
	stream = append(stream, serverFrame(true, opText, []byte("short"))...)
	stream = append(stream, serverFrame(true, opBinary, nil)...)
	stream = append(stream, serverFrame(true, opBinary, mid)...)
	stream = append(stream, serverFrame(true, opBinary, big)...)
	// A fragmented message with a ping in the middle; its head spans
	// two fragments.
	stream = append(stream, serverFrame(false, opBinary, []byte("01234567"))...)
	stream = append(stream, serverFrame(true, opPing, []byte("hi"))...)
	stream = append(stream, serverFrame(false, opCont, []byte("89abcdefXYZ"))...)
	stream = append(stream, serverFrame(true, opCont, []byte("!"))...)
	stream = append(stream, serverFrame(true, opClose, []byte{0x03, 0xe8, 'b', 'y', 'e'})...)
	want := []event{
		{op: opBinary, head: "0123456789ABCDEF", n: 20},
		{op: opText, head: "short", n: 5},
		{op: opBinary, head: "", n: 0},
		{op: opBinary, head: "0123456789abcdef", n: 300},
		{op: opBinary, head: "0123456789abcdef", n: 80000},
		{control: true, op: opPing, head: "hi", n: 2},
		{op: opBinary, head: "0123456789abcdef", n: 20},
		{control: true, op: opClose, head: "\x03\xe8bye", n: 5},
	}
	for _, chunk := range []int{1, 2, 3, 7, 64, 1000, len(stream)} {
		var fr frameReader
		var rec recorder
		for b := stream; len(b) > 0; {
			n := min(chunk, len(b))
			if err := fr.feed(b[:n], &rec); err != nil {
				t.Fatalf("chunk %d: %v", chunk, err)
			}
			b = b[n:]
		}
		if len(rec.got) != len(want) {
			t.Fatalf("chunk %d: got %d events %+v, want %d", chunk, len(rec.got), rec.got, len(want))
		}
		for i := range want {
			if rec.got[i] != want[i] {
				t.Errorf("chunk %d: event %d = %+v, want %+v", chunk, i, rec.got[i], want[i])
			}
		}
	}
}

func TestFrameReaderErrors(t *testing.T) {
	for name, b := range map[string][]byte{
		"masked":          {0x82, 0x81, 1, 2, 3, 4, 'x'},
		"bad opcode":      {0x83, 0x00},
		"long control":    append([]byte{0x89, 126, 0, 200}, make([]byte, 200)...),
		"lone continue":   {0x80, 0x00},
		"nested messages": {0x02, 0x00, 0x82, 0x00},
	} {
		var fr frameReader
		if err := fr.feed(b, &recorder{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestAppendClientFrame(t *testing.T) {
	for _, n := range []int{0, 1, 16, 125, 126, 1000, 65535, 65536, 70000} {
		p := bytes.Repeat([]byte{0x5a, 0x01, 0xff}, n/3+1)[:n]
		key := [4]byte{1, 2, 3, 0xfe}
		f := appendClientFrame([]byte("prefix"), opBinary, p, key)
		f = f[len("prefix"):]
		if f[0] != 0x82 || f[1]&0x80 == 0 {
			t.Fatalf("n=%d: header %x", n, f[:2])
		}
		var ln int
		var hl int
		switch f[1] & 0x7f {
		case 126:
			ln, hl = int(binary.BigEndian.Uint16(f[2:])), 4
		case 127:
			ln, hl = int(binary.BigEndian.Uint64(f[2:])), 10
		default:
			ln, hl = int(f[1]&0x7f), 2
		}
		if ln != n || len(f) != hl+4+n {
			t.Fatalf("n=%d: length %d, frame %d bytes", n, ln, len(f))
		}
		var k [4]byte
		copy(k[:], f[hl:hl+4])
		got := append([]byte(nil), f[hl+4:]...)
		ws.Cipher(got, k, 0)
		if k != key || !bytes.Equal(got, p) {
			t.Fatalf("n=%d: payload does not unmask to the original", n)
		}
	}
}

func TestStamp(t *testing.T) {
	p := make([]byte, stampSize)
	putStamp(p, 1234567890123, 1<<50|42)
	ts, seq := readStamp(p)
	if ts != 1234567890123 || seq != 1<<50|42 {
		t.Fatalf("got %d %d", ts, seq)
	}
}

func TestParseHandshakeResponse(t *testing.T) {
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + handshakeAccept + "\r\n\r\n"
	if n, err := parseHandshakeResponse([]byte(ok + "\x82\x00")); err != nil || n != len(ok) {
		t.Fatalf("complete: %d %v", n, err)
	}
	if n, err := parseHandshakeResponse([]byte(ok[:20])); err != nil || n != 0 {
		t.Fatalf("partial: %d %v", n, err)
	}
	if _, err := parseHandshakeResponse([]byte("HTTP/1.1 404 Not Found\r\n\r\n")); err == nil {
		t.Fatal("404 accepted")
	}
	if _, err := parseHandshakeResponse([]byte("HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: x\r\n\r\n")); err == nil {
		t.Fatal("wrong accept value accepted")
	}
	if _, err := parseHandshakeResponse(bytes.Repeat([]byte("x"), maxHandshakeResponse+1)); err == nil {
		t.Fatal("endless headers accepted")
	}
	req := string(handshakeRequest("127.0.0.1:1", "/ws"))
	if !strings.HasPrefix(req, "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:1\r\n") || !strings.HasSuffix(req, "\r\n\r\n") {
		t.Fatalf("request %q", req)
	}
}

// TestAppendServerFrame: the generator's unmasked frames (the generator
// scenario's publisher) are what a server sends, and parse back.
func TestAppendServerFrame(t *testing.T) {
	for _, n := range []int{0, 1, 16, 125, 126, 1000, 65535, 65536, 70000} {
		p := bytes.Repeat([]byte{0x5a, 0x01, 0xff}, n/3+1)[:n]
		f := appendServerFrame([]byte("prefix"), opBinary, p)
		if want := serverFrame(true, opBinary, p); !bytes.Equal(f[len("prefix"):], want) {
			t.Fatalf("n=%d: frame differs from a server's", n)
		}
		var fr frameReader
		var rec recorder
		if err := fr.feed(f[len("prefix"):], &rec); err != nil || len(rec.got) != 1 || rec.got[0].n != int64(n) {
			t.Fatalf("n=%d: parsed %+v %v", n, rec.got, err)
		}
	}
}
