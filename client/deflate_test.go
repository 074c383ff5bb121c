package client_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/conformance"
	"github.com/ws4go/ws4go/internal/fuzzinput"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

// countingRelay forwards TCP connections from a fresh 127.0.0.1 port to
// upstream and counts the bytes each way, so a test can see what really
// crossed the wire. A byte is counted before it is forwarded: once the
// client has an echo, the bytes of both the message and the echo are in.
func countingRelay(t *testing.T, upstream string) (addr string, up, down *atomic.Int64) {
	t.Helper()
	up, down = new(atomic.Int64), new(atomic.Int64)
	pipe := func(dst, src net.Conn, n *atomic.Int64) {
		buf := make([]byte, 32<<10)
		for {
			k, err := src.Read(buf)
			n.Add(int64(k))
			if k > 0 {
				if _, werr := dst.Write(buf[:k]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		_ = dst.(*net.TCPConn).CloseWrite()
	}
	addr = testutil.TCPServer(t, func(nc net.Conn, track func(net.Conn)) {
		uc, err := net.Dial("tcp", upstream)
		if err != nil {
			nc.Close()
			return
		}
		track(uc)
		done := make(chan struct{})
		go func() {
			defer close(done)
			pipe(uc, nc, up)
		}()
		pipe(nc, uc, down)
		<-done
	})
	return addr, up, down
}

// jsonLines is n bytes of chat-like JSON lines: what compression is for.
func jsonLines(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"room":"lobby","user":"user%d","text":"message number %d says hello"}`+"\n", i, i%17, i*7)
	}
	return b.Bytes()[:n]
}

func randomBytes(n int) []byte {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return p
}

// windowBuster is 8 KiB of random bytes, repeated: it compresses well only
// with back-references of 8 KiB, beyond a window of 13 bits or less.
func windowBuster(n int) []byte {
	block := randomBytes(8 << 10)
	return bytes.Repeat(block, n/len(block))
}

// pmdExpect is what compressionChecks expects of a connection.
type pmdExpect struct {
	// huffmanUp: the server limited the client's window, so a long
	// message goes Huffman-coded only (a worse ratio).
	huffmanUp bool
	// serverTakeover, clientTakeover: a message sent twice is tiny the
	// second time in that direction (the compressor refers back to the
	// first). Only asserted when true.
	serverTakeover, clientTakeover bool
	// repeat is the size of that message: it must fit the windows and
	// reach the server's compression threshold.
	repeat int
}

// compressionChecks dials addr through a counting relay and checks that
// permessage-deflate was negotiated, that messages of every kind round-trip,
// and that they crossed the wire compressed both ways.
func compressionChecks(t *testing.T, addr string, opts *client.Options, want pmdExpect) {
	t.Helper()
	relay, up, down := countingRelay(t, addr)
	r := newRecorder()
	c := dial(t, "ws://"+relay+"/", r, opts)
	if !strings.HasPrefix(c.Extensions(), "permessage-deflate") {
		t.Fatalf("Extensions() = %q: permessage-deflate not negotiated", c.Extensions())
	}
	echo := func(typ handler.MessageType, p []byte) (upBytes, downBytes int64) {
		t.Helper()
		u0, d0 := up.Load(), down.Load()
		if err := c.Send(typ, p); err != nil {
			t.Fatalf("Send: %v", err)
		}
		r.expect(t, typ, p)
		return up.Load() - u0, down.Load() - d0
	}

	text := jsonLines(1 << 20)
	u, d := echo(handler.Text, text)
	t.Logf("1 MiB of JSON: %d bytes up, %d down", u, d)
	upMax := int64(len(text) / 5)
	if want.huffmanUp {
		upMax = int64(len(text)) * 3 / 4 // Huffman codes only
	}
	if u > upMax || d > int64(len(text)/5) {
		t.Fatalf("1 MiB of JSON crossed as %d bytes up, %d down: not compressed", u, d)
	}
	small := jsonLines(300)
	var su, sd int64
	for i := 0; i < 50; i++ {
		u, d := echo(handler.Text, small)
		su, sd = su+u, sd+d
	}
	t.Logf("50 × 300 bytes of JSON: %d bytes up, %d down", su, sd)
	if su > 50*300*3/4 {
		t.Fatalf("50 small messages crossed as %d bytes up: not compressed", su)
	}

	rnd := randomBytes(want.repeat)
	echo(handler.Binary, rnd)
	u, d = echo(handler.Binary, rnd)
	t.Logf("%d random bytes again: %d bytes up, %d down", len(rnd), u, d)
	if want.clientTakeover && u > int64(len(rnd)/4) {
		t.Fatalf("a message sent twice took %d bytes up the second time: no context takeover", u)
	}
	if want.serverTakeover && d > int64(len(rnd)/4) {
		t.Fatalf("a message echoed twice took %d bytes down the second time: no context takeover", d)
	}

	echo(handler.Binary, randomBytes(256<<10))       // incompressible
	echo(handler.Binary, windowBuster(128<<10))      // long back-references
	echo(handler.Text, []byte("short, below 128 B")) // sent uncompressed
	echo(handler.Binary, []byte{})

	// A fragmented message: one deflate stream across the fragments.
	u0 := up.Load()
	w, err := c.NewWriter(handler.Text)
	if err != nil {
		t.Fatal(err)
	}
	var whole []byte
	for i := 0; i < 4; i++ {
		part := jsonLines(100<<10 + i)
		whole = append(whole, part...)
		if _, err := w.Write(part); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r.expect(t, handler.Text, whole)
	u = up.Load() - u0
	t.Logf("400 KiB in 4 fragments: %d bytes up", u)
	if upMax = int64(len(whole) / 5); want.huffmanUp {
		upMax = int64(len(whole)) * 3 / 4
	}
	if u > upMax {
		t.Fatalf("400 KiB in fragments crossed as %d bytes up: not compressed", u)
	}

	// Control frames still work, uncompressed.
	if err := c.Ping([]byte("p")); err != nil {
		t.Fatal(err)
	}
	r.expectPong(t, "p")
	_ = c.Close(handler.CloseNormal, "")
	r.expectClosed(t, handler.CloseNormal, "")
}

func TestCompressionOurServer(t *testing.T) {
	for _, e := range []server.Engine{server.EngineGoroutine, server.EngineNetpoll} {
		t.Run(string(e), func(t *testing.T) {
			addr := start(t, &server.Server{NewHandler: handler.NewEcho, Engine: e, Compression: true})
			compressionChecks(t, addr, nil, pmdExpect{repeat: 2000})
			echoChecks(t, "ws://"+addr+"/", nil)
			compressionChecks(t, addr, &client.Options{Compression: client.Compression{Level: flate.BestCompression, Threshold: -1}}, pmdExpect{repeat: 2000})
		})
	}
	t.Run("server without compression", func(t *testing.T) {
		addr := start(t, &server.Server{NewHandler: handler.NewEcho})
		r := newRecorder()
		c := dial(t, "ws://"+addr+"/", r, nil)
		if c.Extensions() != "" {
			t.Fatalf("Extensions() = %q, want none", c.Extensions())
		}
		echoChecks(t, "ws://"+addr+"/", nil)
	})
}

func TestCompressionNodeWs(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		opts         client.Compression
		want         pmdExpect
	}{
		{"defaults", "{}", client.Compression{}, pmdExpect{serverTakeover: true, repeat: 2000}},
		{"client context takeover", "{}", client.Compression{ContextTakeover: true},
			pmdExpect{serverTakeover: true, clientTakeover: true, repeat: 2000}},
		{"server no context takeover asked", "{}", client.Compression{ServerNoContextTakeover: true}, pmdExpect{repeat: 2000}},
		{"9-bit windows", `{"threshold":0,"serverMaxWindowBits":9,"clientMaxWindowBits":9}`, client.Compression{ContextTakeover: true},
			// zlib keeps 262 bytes of lookahead: with a 512-byte
			// window it refers at most 250 bytes back.
			pmdExpect{huffmanUp: true, serverTakeover: true, repeat: 200}},
		{"no context takeover", `{"threshold":0,"serverNoContextTakeover":true,"clientNoContextTakeover":true}`,
			client.Compression{ContextTakeover: true}, pmdExpect{repeat: 2000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := nodeServer(t, tc.config)
			compressionChecks(t, addr, &client.Options{Compression: tc.opts}, tc.want)
		})
	}
}

func TestCompressionPythonWebsockets(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		// websockets limits its own window to 12 bits, and the
		// client's only if the client offers client_max_window_bits:
		// the first offer, without it, is accepted.
		addr := pythonServer(t)
		compressionChecks(t, addr, nil, pmdExpect{serverTakeover: true, repeat: 2000})
		compressionChecks(t, addr, &client.Options{Compression: client.Compression{ContextTakeover: true}},
			pmdExpect{serverTakeover: true, clientTakeover: true, repeat: 2000})
	})
	t.Run("no context takeover", func(t *testing.T) {
		addr := pythonServer(t, `{"deflate":{"server_no_context_takeover":true,"client_no_context_takeover":true}}`)
		compressionChecks(t, addr, nil, pmdExpect{repeat: 2000})
	})
	t.Run("full window refused", func(t *testing.T) {
		// A server that requires client_max_window_bits declines an
		// offer without it: no compression, and everything still works.
		addr := pythonServer(t, `{"deflate":{"client_max_window_bits":10,"require_client_max_window_bits":true}}`)
		opts := &client.Options{Compression: client.Compression{FullWindow: true}}
		r := newRecorder()
		c := dial(t, "ws://"+addr+"/", r, opts)
		if c.Extensions() != "" {
			t.Fatalf("Extensions() = %q, want none", c.Extensions())
		}
		_ = c.Close(handler.CloseNormal, "")
		r.expectClosed(t, handler.CloseNormal, "")
		echoChecks(t, "ws://"+addr+"/", opts)
		// Without FullWindow, the fallback offer is accepted.
		compressionChecks(t, addr, nil, pmdExpect{huffmanUp: true, serverTakeover: true, repeat: 2000})
	})
}

// sentFrame is a frame the client sent, unmasked.
type sentFrame struct {
	h ws.Header
	p []byte
}

// extensionsHeader is the Sec-WebSocket-Extensions line of an answer, for
// accept101: none if ans is empty.
func extensionsHeader(ans string) string {
	if ans == "" {
		return ""
	}
	return "Sec-WebSocket-Extensions: " + ans + "\r\n"
}

// pmdServer accepts one connection with the extension answer ans (none if
// empty) and reports the offer and every frame the client sends.
func pmdServer(t *testing.T, ans string) (addr string, offers chan string, frames chan sentFrame) {
	offers, frames = make(chan string, 1), make(chan sentFrame, 64)
	addr = rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
		offers <- req.Header.Get("Sec-WebSocket-Extensions")
		io.WriteString(nc, accept101(req, extensionsHeader(ans)))
		for {
			h, p, err := readFrame(br)
			if err != nil {
				close(frames)
				return
			}
			frames <- sentFrame{h, p}
		}
	})
	return addr, offers, frames
}

// inflate decompresses a message as sent, with dict as the history.
func inflate(t *testing.T, z, dict []byte) []byte {
	t.Helper()
	fr := flate.NewReaderDict(io.MultiReader(bytes.NewReader(z), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})), dict)
	out, err := io.ReadAll(fr)
	if err != nil {
		t.Fatalf("the client's compressed message does not inflate: %v", err)
	}
	return out
}

func TestCompressionOffer(t *testing.T) {
	for _, tc := range []struct {
		opts client.Compression
		want string
	}{
		{client.Compression{}, "permessage-deflate; client_no_context_takeover, permessage-deflate; client_no_context_takeover; client_max_window_bits"},
		{client.Compression{ContextTakeover: true, FullWindow: true}, "permessage-deflate"},
		{client.Compression{ServerNoContextTakeover: true, FullWindow: true}, "permessage-deflate; client_no_context_takeover; server_no_context_takeover"},
		{client.Compression{Disable: true, ContextTakeover: true}, ""},
	} {
		addr, offers, _ := pmdServer(t, "")
		r := newRecorder()
		c := dial(t, "ws://"+addr+"/", r, &client.Options{Compression: tc.opts})
		if got := <-offers; got != tc.want {
			t.Errorf("%+v offered %q, want %q", tc.opts, got, tc.want)
		}
		if got := c.Request().Header.Get("Sec-WebSocket-Extensions"); got != tc.want {
			t.Errorf("Request() shows the offer %q, want %q", got, tc.want)
		}
		if c.Extensions() != "" {
			t.Errorf("Extensions() = %q without an answer", c.Extensions())
		}
	}
}

// TestCompressionFramesSent reads the client's compressed frames with a
// DEFLATE decoder of the tests' own, to check the rules the server set.
func TestCompressionFramesSent(t *testing.T) {
	// next returns the next data frame, skipping nothing.
	next := func(t *testing.T, frames chan sentFrame) sentFrame {
		t.Helper()
		f, ok := <-frames
		if !ok {
			t.Fatal("the client closed the connection")
		}
		return f
	}
	compressed := func(t *testing.T, frames chan sentFrame, op ws.OpCode) (sentFrame, conformance.DeflateRefs) {
		t.Helper()
		f := next(t, frames)
		if f.h.OpCode != op || !f.h.Fin || f.h.Rsv != 0x4 {
			t.Fatalf("frame %v fin=%v rsv=%x, want a compressed %v message", f.h.OpCode, f.h.Fin, f.h.Rsv, op)
		}
		if bytes.HasSuffix(f.p, []byte{0, 0, 0xff, 0xff}) {
			t.Fatalf("the compressed message keeps its 00 00 ff ff tail")
		}
		st, err := conformance.InspectDeflate(f.p)
		if err != nil {
			t.Fatalf("the client's message is not valid DEFLATE: %v", err)
		}
		return f, st
	}

	t.Run("no context takeover", func(t *testing.T) {
		addr, _, frames := pmdServer(t, "permessage-deflate; client_no_context_takeover")
		c := dial(t, "ws://"+addr+"/", newRecorder(), nil)
		buster := windowBuster(64 << 10)
		for i := 0; i < 2; i++ {
			_ = c.SendBinary(buster)
			f, st := compressed(t, frames, ws.OpBinary)
			if st.BeforeStart || st.Out != len(buster) {
				t.Fatalf("message %d: %+v, want %d bytes and no reference to an earlier message", i, st, len(buster))
			}
			if !bytes.Equal(inflate(t, f.p, nil), buster) {
				t.Fatal("message inflates to something else")
			}
			if st.Farthest < 8<<10 || len(f.p) > len(buster)/2 {
				t.Fatalf("64 KiB of repeated 8 KiB blocks compressed to %d bytes, references up to %d bytes back", len(f.p), st.Farthest)
			}
		}
		_ = c.SendText("tiny")
		if f := next(t, frames); f.h.Rsv != 0 || string(f.p) != "tiny" {
			t.Fatalf("a message below the threshold: rsv=%x %q, want it uncompressed", f.h.Rsv, f.p)
		}
		_ = c.Ping([]byte("ping"))
		if f := next(t, frames); f.h.OpCode != ws.OpPing || f.h.Rsv != 0 {
			t.Fatalf("ping frame %v rsv=%x", f.h.OpCode, f.h.Rsv)
		}

		// NewWriter: RSV1 on the first fragment only, one stream.
		w, _ := c.NewWriter(handler.Text)
		parts := []string{strings.Repeat("first ", 100), strings.Repeat("second ", 100), "third"}
		for _, p := range parts {
			_, _ = io.WriteString(w, p)
		}
		_ = w.Close()
		var stream []byte
		for i := 0; i <= len(parts); i++ {
			f := next(t, frames)
			wantOp, wantRsv := ws.OpContinuation, byte(0)
			if i == 0 {
				wantOp, wantRsv = ws.OpText, 0x4
			}
			if f.h.OpCode != wantOp || f.h.Rsv != wantRsv || f.h.Fin != (i == len(parts)) {
				t.Fatalf("fragment %d: %v rsv=%x fin=%v", i, f.h.OpCode, f.h.Rsv, f.h.Fin)
			}
			stream = append(stream, f.p...)
		}
		if got := inflate(t, stream, nil); string(got) != strings.Join(parts, "") {
			t.Fatalf("the fragments inflate to %.40q", got)
		}

		// An empty compressed message through NewWriter.
		w, _ = c.NewWriter(handler.Binary)
		_ = w.Close()
		if f, st := compressed(t, frames, ws.OpBinary); st.Out != 0 || len(inflate(t, f.p, nil)) != 0 {
			t.Fatalf("empty message: %x", f.p)
		}
	})

	t.Run("client window of 9 bits", func(t *testing.T) {
		addr, _, frames := pmdServer(t, "permessage-deflate; client_max_window_bits=9")
		c := dial(t, "ws://"+addr+"/", newRecorder(), &client.Options{Compression: client.Compression{ContextTakeover: true, Level: flate.BestCompression}})
		short := jsonLines(500) // no longer than the window: full compression
		long := windowBuster(64 << 10)
		for _, m := range [][]byte{short, long, short, jsonLines(5000)} {
			_ = c.SendBinary(m)
			f, st := compressed(t, frames, ws.OpBinary)
			if st.Farthest > 512 || st.BeforeStart || !bytes.Equal(inflate(t, f.p, nil), m) {
				t.Fatalf("%d bytes: %+v, want no reference beyond 512 bytes or to an earlier message", len(m), st)
			}
			if len(m) <= 512 && st.Farthest == 0 {
				t.Fatalf("a message that fits the window was not LZ77-compressed")
			}
		}
		w, _ := c.NewWriter(handler.Text)
		_, _ = w.Write(jsonLines(3000))
		_, _ = w.Write(jsonLines(3000))
		_ = w.Close()
		var stream []byte
		for {
			f := next(t, frames)
			stream = append(stream, f.p...)
			if f.h.Fin {
				break
			}
		}
		if st, err := conformance.InspectDeflate(stream); err != nil || st.Farthest > 512 {
			t.Fatalf("fragmented message: %+v %v", st, err)
		}
	})

	for _, tc := range []struct {
		name, ans string
		takeover  bool
	}{
		{"context takeover", "permessage-deflate", true},
		{"takeover refused by the server", "permessage-deflate; client_no_context_takeover", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _, frames := pmdServer(t, tc.ans)
			c := dial(t, "ws://"+addr+"/", newRecorder(), &client.Options{Compression: client.Compression{ContextTakeover: true}})
			m := randomBytes(2000)
			var dict []byte
			for i := 0; i < 3; i++ {
				_ = c.SendBinary(m)
				f, st := compressed(t, frames, ws.OpBinary)
				if !bytes.Equal(inflate(t, f.p, dict), m) {
					t.Fatal("message inflates to something else")
				}
				dict = append(dict, m...)
				if i > 0 && st.BeforeStart != tc.takeover {
					t.Fatalf("message %d refers to earlier ones: %v, want %v (%d bytes)", i, st.BeforeStart, tc.takeover, len(f.p))
				}
			}
		})
	}
}

// writeServerFrame writes an unmasked frame, as a server does.
func writeServerFrame(nc net.Conn, fin bool, rsv byte, op ws.OpCode, p []byte) {
	_ = ws.WriteHeader(nc, ws.Header{Fin: fin, Rsv: rsv, OpCode: op, Length: int64(len(p))})
	_, _ = nc.Write(p)
}

// deflateMessage compresses p as a server would, on its own.
func deflateMessage(p []byte) []byte { return fuzzinput.Deflate(p) }

func TestCompressionReceived(t *testing.T) {
	t.Run("context takeover", func(t *testing.T) {
		m := randomBytes(3000)
		secondSize := make(chan int, 1)
		addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
			io.WriteString(nc, accept101(req, extensionsHeader("permessage-deflate; server_max_window_bits=15")))
			// One compressor for the whole connection: later
			// messages refer back to earlier ones.
			var b bytes.Buffer
			fw, _ := flate.NewWriter(&b, flate.BestCompression)
			send := func(p []byte) []byte {
				b.Reset()
				_, _ = fw.Write(p)
				_ = fw.Flush()
				return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
			}
			writeServerFrame(nc, true, 0x4, ws.OpBinary, send(m))
			writeServerFrame(nc, true, 0, ws.OpText, []byte("not compressed"))
			z := send(m)
			secondSize <- len(z)
			writeServerFrame(nc, true, 0x4, ws.OpBinary, z)
			// Fragmented, with a ping in between: RSV1 on the first
			// fragment only.
			z = send(append(m[:1000:1000], "the end"...))
			writeServerFrame(nc, false, 0x4, ws.OpBinary, z[:1])
			writeServerFrame(nc, true, 0, ws.OpPing, []byte("hi"))
			writeServerFrame(nc, false, 0, ws.OpContinuation, z[1:2])
			writeServerFrame(nc, true, 0, ws.OpContinuation, z[2:])
			_, _ = io.Copy(io.Discard, br)
		})
		r := newRecorder()
		dial(t, "ws://"+addr+"/", r, nil)
		r.expect(t, handler.Binary, m)
		r.expect(t, handler.Text, []byte("not compressed"))
		r.expect(t, handler.Binary, m)
		r.expect(t, handler.Binary, append(m[:1000:1000], "the end"...))
		if n := <-secondSize; n > 100 {
			t.Fatalf("the server's second copy took %d bytes: the test did not use the history", n)
		}
	})

	bomb := deflateMessage(make([]byte, 4<<20))
	badText := deflateMessage([]byte{'o', 'k', 0xff})
	valid := deflateMessage([]byte(strings.Repeat("truncate me ", 1000)))
	for _, tc := range []struct {
		name   string
		ans    string
		frames func(nc net.Conn)
		want   handler.CloseCode
	}{
		{"RSV1 without negotiation", "", func(nc net.Conn) {
			writeServerFrame(nc, true, 0x4, ws.OpText, deflateMessage([]byte("hello")))
		}, handler.CloseProtocolError},
		{"RSV1 on a continuation", "permessage-deflate", func(nc net.Conn) {
			z := deflateMessage([]byte("hello"))
			writeServerFrame(nc, false, 0x4, ws.OpText, z[:2])
			writeServerFrame(nc, true, 0x4, ws.OpContinuation, z[2:])
		}, handler.CloseProtocolError},
		{"RSV1 on a ping", "permessage-deflate", func(nc net.Conn) {
			writeServerFrame(nc, true, 0x4, ws.OpPing, nil)
		}, handler.CloseProtocolError},
		{"RSV2", "permessage-deflate", func(nc net.Conn) {
			writeServerFrame(nc, true, 0x2, ws.OpText, []byte("x"))
		}, handler.CloseProtocolError},
		{"corrupt data", "permessage-deflate", func(nc net.Conn) {
			writeServerFrame(nc, true, 0x4, ws.OpBinary, []byte{0xff, 0xff, 0xff})
		}, handler.CloseInvalidPayload},
		{"truncated data", "permessage-deflate", func(nc net.Conn) {
			writeServerFrame(nc, true, 0x4, ws.OpBinary, valid[:len(valid)/2])
		}, handler.CloseInvalidPayload},
		{"invalid UTF-8 once inflated", "permessage-deflate", func(nc net.Conn) {
			writeServerFrame(nc, true, 0x4, ws.OpText, badText)
		}, handler.CloseInvalidPayload},
		{"bomb past MaxMessageSize", "permessage-deflate", func(nc net.Conn) {
			writeServerFrame(nc, true, 0x4, ws.OpBinary, bomb)
		}, handler.CloseMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan []byte, 1)
			addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
				io.WriteString(nc, accept101(req, extensionsHeader(tc.ans)))
				tc.frames(nc)
				for {
					h, p, err := readFrame(br)
					if err != nil {
						return
					}
					if h.OpCode == ws.OpClose {
						got <- p
						return
					}
				}
			})
			r := newRecorder()
			dial(t, "ws://"+addr+"/", r, &client.Options{MaxMessageSize: 1 << 20})
			if ev := r.waitClosed(t); ev.code != tc.want {
				t.Fatalf("Closed(%d, %q), want %d", ev.code, ev.reason, tc.want)
			}
			if p := <-got; len(p) < 2 || handler.CloseCode(binary.BigEndian.Uint16(p)) != tc.want {
				t.Fatalf("close frame %q, want code %d", p, tc.want)
			}
			if len(r.msgs) != 0 {
				t.Fatalf("a message was delivered")
			}
		})
	}
}

func TestCompressionAnswerValidation(t *testing.T) {
	full := client.Compression{FullWindow: true}
	for _, tc := range []struct {
		name, ans string
		opts      client.Compression
		want      error
		contains  string
	}{
		{"not offered", "permessage-deflate", client.Compression{Disable: true}, client.ErrBadExtension, "none offered"},
		{"other extension", "x-webkit-deflate-frame", client.Compression{}, client.ErrBadExtension, `"x-webkit-deflate-frame"`},
		{"accepted twice", "permessage-deflate, permessage-deflate", client.Compression{}, client.ErrBadExtension, "accepted 2 times"},
		{"malformed", "permessage-deflate; =1", client.Compression{}, client.ErrBadExtension, "malformed"},
		{"unterminated quote", `permessage-deflate; server_max_window_bits="10`, client.Compression{}, client.ErrBadExtension, "unterminated"},
		{"unknown parameter", "permessage-deflate; mystery", client.Compression{}, client.ErrBadExtensionParam, `unknown parameter "mystery"`},
		{"duplicate parameter", "permessage-deflate; server_no_context_takeover; server_no_context_takeover", client.Compression{}, client.ErrBadExtensionParam, "duplicate parameter server_no_context_takeover"},
		{"duplicate window", "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11", client.Compression{}, client.ErrBadExtensionParam, "duplicate parameter server_max_window_bits"},
		{"value on a flag", "permessage-deflate; client_no_context_takeover=1", client.Compression{}, client.ErrBadExtensionParam, "takes no value"},
		{"window without value", "permessage-deflate; client_max_window_bits", client.Compression{}, client.ErrBadExtensionParam, "must be 8 to 15"},
		{"server window without value", "permessage-deflate; server_max_window_bits", client.Compression{}, client.ErrBadExtensionParam, "must be 8 to 15"},
		{"window 16", "permessage-deflate; server_max_window_bits=16", client.Compression{}, client.ErrBadExtensionParam, "must be 8 to 15"},
		{"window 7", "permessage-deflate; client_max_window_bits=7", client.Compression{}, client.ErrBadExtensionParam, "must be 8 to 15"},
		{"window 010", "permessage-deflate; client_max_window_bits=010", client.Compression{}, client.ErrBadExtensionParam, "must be 8 to 15"},
		{"client window not offered", "permessage-deflate; client_max_window_bits=10", full, client.ErrBadExtensionParam, "client_max_window_bits, which was not offered"},
		{"server no context takeover not confirmed", "permessage-deflate", client.Compression{ServerNoContextTakeover: true}, client.ErrBadExtensionParam, "offered but not confirmed"},
		{"valid, every parameter", `permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits="9"`, client.Compression{}, nil, ""},
		{"valid, server window unasked", "permessage-deflate; server_max_window_bits=8", full, nil, ""},
		{"valid, server no context takeover unasked", "permessage-deflate;server_no_context_takeover", full, nil, ""},
		{"valid, confirmed", "permessage-deflate; server_no_context_takeover", client.Compression{ServerNoContextTakeover: true}, nil, ""},
		{"valid, empty list elements", ", permessage-deflate ,", client.Compression{}, nil, ""},
		{"no extension", "", client.Compression{}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
				io.WriteString(nc, accept101(req, extensionsHeader(tc.ans)))
				_, _ = io.Copy(io.Discard, br)
			})
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			c, err := client.Dial(ctx, "ws://"+addr+"/", handler.Base{}, &client.Options{Compression: tc.opts})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				if c.Extensions() != strings.TrimSpace(tc.ans) {
					t.Errorf("Extensions() = %q, want %q", c.Extensions(), tc.ans)
				}
				c.Terminate()
				<-c.Done()
				return
			}
			if err == nil {
				c.Terminate()
				<-c.Done()
				t.Fatalf("Dial succeeded, want %v", tc.want)
			}
			var he *client.HandshakeError
			if !errors.Is(err, tc.want) || !errors.As(err, &he) || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("err %v, want a HandshakeError wrapping %v that mentions %q", err, tc.want, tc.contains)
			}
		})
	}
}
