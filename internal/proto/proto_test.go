package proto

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
)

var utf8Samples = [][]byte{
	[]byte("plain ascii"),
	[]byte("κόσμε"),
	[]byte("\u007f\u0080\u07ff\u0800\uffff\U00010000\U0010ffff"),
	[]byte("\ufeff\ufffe\uffff"),
	[]byte("Hello-µ@ßöäüàá-UTF-8!!"),
	{0xc0, 0x80},             // overlong NUL
	{0xe0, 0x80, 0x80},       // overlong
	{0xf0, 0x80, 0x80, 0x80}, // overlong
	{0xed, 0xa0, 0x80},       // surrogate
	{0xed, 0xbf, 0xbf},       // surrogate
	{0xf4, 0x90, 0x80, 0x80}, // > U+10FFFF
	{0xf5, 0x80, 0x80, 0x80},
	{0xff},
	{0x80},             // stray continuation
	{'a', 0xe2, 0x82},  // truncated
	{0xce, 0xba, 0xe1}, // truncated
	{0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64},
}

// TestUTF8Split feeds every sample split at every position (and in single
// bytes) and compares the verdict with the standard library's.
func TestUTF8Split(t *testing.T) {
	for _, s := range utf8Samples {
		want := utf8.Valid(s)
		for i := 0; i <= len(s); i++ {
			var v UTF8
			got := v.Write(s[:i]) && v.Write(s[i:]) && v.Complete()
			if got != want {
				t.Errorf("%x split at %d: valid=%v, want %v", s, i, got, want)
			}
		}
		var v UTF8
		ok := true
		for _, b := range s {
			ok = ok && v.Write([]byte{b})
		}
		if got := ok && v.Complete(); got != want {
			t.Errorf("%x byte by byte: valid=%v, want %v", s, got, want)
		}
	}
}

// TestUTF8FailFast: the validator fails on the first bad byte, before the
// stream is complete.
func TestUTF8FailFast(t *testing.T) {
	var v UTF8
	if !v.Write([]byte("ok so far \xe2")) {
		t.Fatal("valid prefix refused")
	}
	if v.Write([]byte{0x28}) { // 0xe2 0x28 can never be valid
		t.Fatal("invalid continuation accepted")
	}
	v.Reset()
	if v.Write([]byte{0xed, 0xa0}) { // a surrogate is known at its 2nd byte
		t.Fatal("surrogate prefix accepted")
	}
}

func FuzzUTF8(f *testing.F) {
	for _, s := range utf8Samples {
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, s []byte, cut int) {
		if cut < 0 || cut > len(s) {
			cut = len(s) / 2
		}
		var v UTF8
		got := v.Write(s[:cut]) && v.Write(s[cut:]) && v.Complete()
		if got != utf8.Valid(s) {
			t.Fatalf("%x: %v, standard library says %v", s, got, !got)
		}
	})
}

func TestCloseCodes(t *testing.T) {
	valid := map[handler.CloseCode]bool{}
	for _, c := range []handler.CloseCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		valid[c] = true
	}
	for _, c := range []handler.CloseCode{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		valid[c] = false
	}
	for code, want := range valid {
		if got := code.Valid(); got != want {
			t.Errorf("%d.Valid() = %v", code, got)
		}
		ev, err := ParseClose([]byte{byte(code >> 8), byte(code)})
		if want && (err != nil || ev.Code != code) {
			t.Errorf("close %d refused: %v", code, err)
		}
		if !want && (err == nil || err.Code != handler.CloseProtocolError) {
			t.Errorf("close %d: %v, want 1002", code, err)
		}
	}
	if _, err := ParseClose([]byte{3}); err == nil || err.Code != handler.CloseProtocolError {
		t.Errorf("1-byte close: %v", err)
	}
	if _, err := ParseClose([]byte{3, 232, 0xff}); err == nil || err.Code != handler.CloseInvalidPayload {
		t.Errorf("bad reason: %v", err)
	}
	if ev, err := ParseClose(nil); err != nil || ev.Code != handler.CloseNoStatus {
		t.Errorf("empty close: %v %v", ev, err)
	}
}

func mask(op ws.OpCode, fin bool, p []byte) []byte {
	var m [4]byte
	_, _ = rand.Read(m[:])
	var b bytes.Buffer
	_ = ws.WriteHeader(&b, ws.Header{Fin: fin, OpCode: op, Length: int64(len(p)), Masked: true, Mask: m})
	q := append([]byte(nil), p...)
	ws.Cipher(q, m, 0)
	b.Write(q)
	return b.Bytes()
}

// collect feeds stream in chunks of size n and returns the events as
// strings.
func collect(t *testing.T, stream []byte, n int) ([]string, *Error) {
	out, _, err := collectRest(stream, n)
	return out, err
}

// collectMax is the message limit of collect's reader.
const collectMax = 1 << 20

func collectRest(stream []byte, n int) ([]string, bool, *Error) {
	r := Reader{MaxMessage: collectMax}
	var out []string
	buf := append([]byte(nil), stream...)
	for len(buf) > 0 {
		chunk := buf[:min(n, len(buf))]
		buf = buf[len(chunk):]
		for len(chunk) > 0 {
			k, ev, err := r.Next(chunk)
			chunk = chunk[k:]
			if err != nil {
				return out, r.Buffered(), err
			}
			// The limit bounds both what is delivered and what is
			// held (capacity, not length) on the way.
			if len(ev.Data) > collectMax || r.Held() > collectMax+125 {
				panic(fmt.Sprintf("limit %d passed: message of %d bytes, %d held", collectMax, len(ev.Data), r.Held()))
			}
			switch ev.Kind {
			case Message:
				out = append(out, ev.Type.String()+":"+string(ev.Data))
			case Ping:
				out = append(out, "ping:"+string(ev.Data))
			case Pong:
				out = append(out, "pong:"+string(ev.Data))
			case Close:
				out = append(out, "close:"+ev.Code.String()+":"+ev.Reason)
			}
		}
	}
	return out, r.Buffered(), nil
}

// TestReaderChunking: the same stream gives the same events whatever the
// read boundaries.
func TestReaderChunking(t *testing.T) {
	var stream []byte
	stream = append(stream, mask(ws.OpText, true, []byte("héllo"))...)
	stream = append(stream, mask(ws.OpBinary, false, []byte("frag"))...)
	stream = append(stream, mask(ws.OpPing, true, []byte("p"))...)
	stream = append(stream, mask(ws.OpContinuation, false, nil)...)
	stream = append(stream, mask(ws.OpPong, true, nil)...)
	stream = append(stream, mask(ws.OpContinuation, true, []byte("ment"))...)
	stream = append(stream, mask(ws.OpBinary, true, bytes.Repeat([]byte("x"), 70000))...)
	stream = append(stream, mask(ws.OpText, false, []byte{0xf0, 0x9d})...)
	stream = append(stream, mask(ws.OpContinuation, true, []byte{0x84, 0x9e})...)
	stream = append(stream, mask(ws.OpClose, true, []byte{0x03, 0xe8, 'o', 'k'})...)
	want, buffered, err := collectRest(stream, len(stream))
	if err != nil || buffered {
		t.Fatal(err, buffered)
	}
	if len(want) != 7 || want[0] != "text:héllo" || want[2] != "pong:" || want[3] != "binary:fragment" || want[5] != "text:𝄞" {
		t.Fatalf("events %.60q", want)
	}
	for _, n := range []int{1, 2, 3, 5, 7, 13, 125, 126, 1000, 4096} {
		got, err := collect(t, stream, n)
		if err != nil {
			t.Fatalf("chunks of %d: %v", n, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("chunks of %d: events %.60q, want %.60q", n, got, want)
		}
	}
}

// FuzzReader: arbitrary input never panics, and when it parses, it parses
// the same in any chunking.
func FuzzReader(f *testing.F) {
	f.Add(mask(ws.OpText, true, []byte("hi")), 1)
	f.Add(append(mask(ws.OpBinary, false, []byte("a")), mask(ws.OpContinuation, true, []byte("b"))...), 3)
	f.Add(mask(ws.OpClose, true, []byte{3, 232}), 2)
	f.Add([]byte{0x81, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}, 5)
	// A 1-byte fragment, then a continuation of 2^63-1 bytes: the length
	// overflow that once removed the limit.
	f.Add(append(mask(ws.OpBinary, false, []byte("a")), 0x80, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 2, 3), 4)
	f.Fuzz(func(t *testing.T, stream []byte, n int) {
		if n <= 0 || n > len(stream) {
			n = 1
		}
		whole, errWhole := collect(t, stream, len(stream)+1)
		parts, errParts := collect(t, stream, n)
		if (errWhole == nil) != (errParts == nil) || len(whole) != len(parts) {
			t.Fatalf("whole: %q %v; in chunks of %d: %q %v", whole, errWhole, n, parts, errParts)
		}
	})
}

func TestAppendClose(t *testing.T) {
	if got := AppendClose(nil, handler.CloseNoStatus, "x"); !bytes.Equal(got, []byte{0x88, 0}) {
		t.Errorf("empty close %x", got)
	}
	if got := AppendClose(nil, 1000, "ok"); !bytes.Equal(got, []byte{0x88, 4, 3, 232, 'o', 'k'}) {
		t.Errorf("close 1000 %x", got)
	}
}

// TestHeaders: headers encode as gobwas/ws encodes them and decode as it
// decodes them, at every length boundary.
func TestHeaders(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 0xffff, 0x10000, 1 << 40} {
		for _, op := range []ws.OpCode{ws.OpText, ws.OpContinuation, ws.OpPing} {
			h := ws.Header{Fin: n%2 == 0, Rsv: 4, OpCode: op, Length: int64(n)}
			var want bytes.Buffer
			_ = ws.WriteHeader(&want, h)
			if got := AppendHeader(nil, h.Fin, h.Rsv, op, n); !bytes.Equal(got, want.Bytes()) {
				t.Errorf("%+v: encoded %x, want %x", h, got, want.Bytes())
			}
			h.Masked, h.Mask = true, [4]byte{1, 2, 3, 4}
			want.Reset()
			_ = ws.WriteHeader(&want, h)
			got, err := parseHeader(want.Bytes())
			if err != nil || got != h {
				t.Errorf("%x: decoded %+v %v, want %+v", want.Bytes(), got, err, h)
			}
		}
	}
	if _, err := parseHeader([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}); err != ws.ErrHeaderLengthMSB {
		t.Errorf("64-bit length with its top bit set: %v", err)
	}
}

// TestNoAllocs: parsing a frame whole in the input and encoding a header
// allocate nothing.
func TestNoAllocs(t *testing.T) {
	frame := mask(ws.OpBinary, true, make([]byte, 64))
	buf := make([]byte, len(frame))
	var r Reader
	if n := testing.AllocsPerRun(100, func() {
		copy(buf, frame)
		if _, ev, err := r.Next(buf); err != nil || ev.Kind != Message {
			t.Fatal(ev, err)
		}
		var h [ws.MaxHeaderSize]byte
		_ = PutHeader(&h, true, 0, ws.OpBinary, 64)
	}); n != 0 {
		t.Errorf("%v allocations per frame", n)
	}
}
