package wsconn

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"io"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/deflate"
)

// permessage-deflate (RFC 7692) through a Conn: what a peer compresses is
// delivered inflated, what the server sends long enough is compressed,
// and the failures a compressed stream allows end the connection with the
// right code.

// tail ends every sync-flushed DEFLATE block; a sender strips it (RFC 7692
// 7.2.1).
var tail = []byte{0, 0, 0xff, 0xff}

// compressMsg compresses p on its own, as a message of a peer without
// context takeover.
func compressMsg(t testing.TB, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(p)
	_ = w.Flush()
	return bytes.TrimSuffix(b.Bytes(), tail)
}

// inflateMsg is the receiver's side of RFC 7692 7.2.2: the payload with
// the tail appended, inflated.
func inflateMsg(t testing.TB, z []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(z), bytes.NewReader(tail)))
	out, err := io.ReadAll(r)
	if err != nil && err != io.ErrUnexpectedEOF {
		t.Fatalf("inflating the server's message: %v", err)
	}
	return out
}

// newCompressedConn is newTestConn with permessage-deflate negotiated.
func newCompressedConn(t *testing.T, cfg Config, window int) (*Conn, *pipe, *recorder) {
	t.Helper()
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = 1 << 20
	}
	p := &pipe{room: -1}
	h := &recorder{}
	c := New(&cfg, p, h, "", Request{})
	c.EnableCompression(window)
	c.Start(nil)
	return c, p, h
}

// TestCompressedIn: a compressed message, whole or in fragments (RSV1 on
// the first only), is delivered inflated, a plain one beside it as it is.
func TestCompressedIn(t *testing.T) {
	t.Parallel()
	msg := []byte(strings.Repeat("compress me, héllo ", 500))
	z := compressMsg(t, msg)
	third := len(z) / 3
	in := [][]byte{
		maskedFrame(ws.OpText, true, 4, true, z),
		maskedFrame(ws.OpText, true, 0, true, []byte("plain")),
		maskedFrame(ws.OpBinary, false, 4, true, z[:third]),
		maskedFrame(ws.OpPing, true, 0, true, []byte("p")),
		maskedFrame(ws.OpContinuation, false, 0, true, z[third:2*third]),
		maskedFrame(ws.OpContinuation, true, 0, true, z[2*third:]),
		maskedFrame(ws.OpText, true, 4, true, compressMsg(t, nil)),
	}
	c, p, h := newCompressedConn(t, Config{}, 15)
	for _, f := range in {
		if !c.Feed(f) {
			t.Fatalf("Feed refused %x", f[:2])
		}
	}
	want := []string{string(msg), "plain", string(msg), ""}
	if len(h.messages) != len(want) {
		t.Fatalf("%d messages, want %d", len(h.messages), len(want))
	}
	for i := range want {
		if h.messages[i] != want[i] {
			t.Fatalf("message %d: %.40q, want %.40q", i, h.messages[i], want[i])
		}
	}
	if fs := frames(t, p.drain(-1)); len(fs) != 1 || fs[0].Header.OpCode != ws.OpPong || fs[0].Header.Rsv != 0 {
		t.Fatalf("wire %+v, want an uncompressed pong", fs)
	}
	c.Terminate()
	c.Finish()
}

// TestCompressedOut: a message from compressMin bytes on is sent
// compressed (RSV1, inflating to what was sent); a shorter one and control
// frames are sent as they are; so is everything on a connection without
// the extension. Smaller windows still inflate to the message.
func TestCompressedOut(t *testing.T) {
	t.Parallel()
	long := []byte(strings.Repeat("0123456789", 5000))
	for _, window := range []int{15, 10, 8} {
		c, p, _ := newCompressedConn(t, Config{}, window)
		if err := c.SendBinary(long); err != nil {
			t.Fatal(err)
		}
		if err := c.SendText(string(long[:compressMin-1])); err != nil {
			t.Fatal(err)
		}
		if err := c.Ping([]byte("p")); err != nil {
			t.Fatal(err)
		}
		fs := frames(t, p.drain(-1))
		if len(fs) != 3 {
			t.Fatalf("window %d: %d frames", window, len(fs))
		}
		if fs[0].Header.Rsv != 4 || len(fs[0].Payload) >= len(long)/2 || !bytes.Equal(inflateMsg(t, fs[0].Payload), long) {
			t.Fatalf("window %d: a long message sent with RSV %d in %d bytes", window, fs[0].Header.Rsv, len(fs[0].Payload))
		}
		if fs[1].Header.Rsv != 0 || !bytes.Equal(fs[1].Payload, long[:compressMin-1]) {
			t.Fatalf("window %d: a short message sent compressed", window)
		}
		if fs[2].Header.Rsv != 0 || fs[2].Header.OpCode != ws.OpPing {
			t.Fatalf("window %d: ping %+v", window, fs[2].Header)
		}
	}
	c, p, _ := newTestConn(t, Config{}, -1)
	if err := c.SendBinary(long); err != nil {
		t.Fatal(err)
	}
	if fs := frames(t, p.drain(-1)); fs[0].Header.Rsv != 0 || !bytes.Equal(fs[0].Payload, long) {
		t.Fatal("compressed without the extension")
	}
}

// TestCompressedFailures: a decompression bomb fails with 1009 having
// inflated little more than the limit, corrupt data with 1007, a text
// message that inflates to invalid UTF-8 with 1007, RSV1 on a control
// frame or a continuation with 1002.
func TestCompressedFailures(t *testing.T) {
	t.Parallel()
	bomb := compressMsg(t, make([]byte, 1<<20)) // 1 MiB of zeros in about 1 KB: 16 times the limit
	for _, c := range []struct {
		name string
		in   []byte
		code handler.CloseCode
	}{
		{"bomb", maskedFrame(ws.OpBinary, true, 4, true, bomb), 1009},
		{"bomb in fragments", append(maskedFrame(ws.OpBinary, false, 4, true, bomb[:len(bomb)/2]), maskedFrame(ws.OpContinuation, true, 0, true, bomb[len(bomb)/2:])...), 1009},
		{"corrupt", maskedFrame(ws.OpBinary, true, 4, true, []byte{0xff, 0xff, 0xff, 0xff, 0xff}), 1007},
		{"invalid UTF-8", maskedFrame(ws.OpText, true, 4, true, compressMsg(t, []byte("ok \xff"))), 1007},
		{"RSV1 on a ping", maskedFrame(ws.OpPing, true, 4, true, nil), 1002},
		{"RSV1 on a continuation", append(maskedFrame(ws.OpText, false, 4, true, compressMsg(t, []byte("a"))), maskedFrame(ws.OpContinuation, true, 4, true, nil)...), 1002},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := &Budget{}
			conn, p, h := newCompressedConn(t, Config{MaxMessageSize: 64 << 10, Budget: b}, 15)
			if conn.Feed(c.in) {
				t.Fatal("Feed wants more input")
			}
			fs := frames(t, p.drain(-1))
			if len(fs) != 1 || fs[0].Header.OpCode != ws.OpClose || handler.CloseCode(binary.BigEndian.Uint16(fs[0].Payload)) != c.code {
				t.Fatalf("wire %+v, want close %d", fs, c.code)
			}
			if conn.Held() > 256<<10 {
				t.Fatalf("the connection holds %d bytes with a 64 KiB limit", conn.Held())
			}
			finishedWith(t, conn, h, c.code, b)
		})
	}
}

// TestInflateWithContext: a peer that keeps its compression context
// (no client_no_context_takeover) sends messages that refer to the ones
// before; with InflateWithContext they inflate, without it they cannot.
func TestInflateWithContext(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(strings.Repeat("a message that repeats itself ", 20))
	var frames [][]byte
	for range 3 {
		b.Reset()
		_, _ = w.Write(msg)
		_ = w.Flush()
		frames = append(frames, maskedFrame(ws.OpText, true, 4, true, bytes.TrimSuffix(b.Bytes(), tail)))
	}
	if len(frames[1]) >= len(frames[0])/2 {
		t.Fatalf("the second message (%d bytes) does not refer to the first (%d)", len(frames[1]), len(frames[0]))
	}
	c, _, h := newCompressedConn(t, Config{}, 15)
	c.InflateWithContext(15)
	for _, f := range frames {
		if !c.Feed(bytes.Clone(f)) {
			t.Fatal("Feed refused a message with context")
		}
	}
	if len(h.messages) != 3 || h.messages[2] != string(msg) {
		t.Fatalf("delivered %d messages", len(h.messages))
	}
	c.Terminate()
	c.Finish()

	c, p, h := newCompressedConn(t, Config{}, 15)
	if !c.Feed(bytes.Clone(frames[0])) || c.Feed(bytes.Clone(frames[1])) {
		t.Fatal("without context: the second message inflated")
	}
	if fs := framesOf(t, p); len(fs) != 1 || binary.BigEndian.Uint16(fs[0].Payload) != 1007 {
		t.Fatalf("wire %+v, want close 1007", fs)
	}
	c.Finish()
	h.closedWith(t, 1007)
}

// framesOf is the frames written to p so far.
func framesOf(t *testing.T, p *pipe) []ws.Frame { return frames(t, p.drain(-1)) }

// TestClientCompressor: a client Conn with a Compressor sends messages from
// its threshold on compressed (RSV1, masked), shorter ones as they are,
// and a NewWriter message as one compressed stream in fragments.
func TestClientCompressor(t *testing.T) {
	t.Parallel()
	cfg := Config{Client: true, Compressor: deflate.NewCompressor(0, 64, false, 15)}
	c, p, _ := newCompressedClient(t, cfg)
	long := []byte(strings.Repeat("client ", 100))
	if err := c.SendText(string(long)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendText("short"); err != nil {
		t.Fatal(err)
	}
	w, err := c.NewWriter(handler.Binary)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := w.Write(long); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fs := clientFrames(t, p.drain(-1))
	if len(fs) != 6 {
		t.Fatalf("%d frames, want 6", len(fs))
	}
	if fs[0].Header.Rsv != 4 || !bytes.Equal(inflateMsg(t, fs[0].Payload), long) {
		t.Fatal("a long message not sent compressed")
	}
	if fs[1].Header.Rsv != 0 || string(fs[1].Payload) != "short" {
		t.Fatal("a short message sent compressed")
	}
	var z []byte
	for i, f := range fs[2:] {
		if rsv := f.Header.Rsv; (i == 0) != (rsv == 4) || rsv&^4 != 0 {
			t.Fatalf("fragment %d: RSV %d", i, rsv)
		}
		if f.Header.Fin != (i == 3) {
			t.Fatalf("fragment %d: fin %v", i, f.Header.Fin)
		}
		z = append(z, f.Payload...)
	}
	if !bytes.Equal(inflateMsg(t, z), bytes.Repeat(long, 3)) {
		t.Fatal("the fragmented message does not inflate to what was written")
	}
}

// newCompressedClient is a client Conn with permessage-deflate.
func newCompressedClient(t *testing.T, cfg Config) (*Conn, *pipe, *recorder) {
	t.Helper()
	cfg.MaxMessageSize = 1 << 20
	p := &pipe{room: -1}
	h := &recorder{}
	c := New(&cfg, p, h, "", Request{})
	c.EnableCompression(15)
	c.Start(nil)
	return c, p, h
}
