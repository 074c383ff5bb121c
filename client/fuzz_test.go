package client_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/proto"
)

// FuzzClientConn runs client.Dial against a malicious server: a raw listener
// that answers the handshake (a 101 with fuzz-chosen variations, a refusal,
// or raw bytes), then sends a fuzz-built frame stream chopped at fuzz-chosen
// points. The input is a small program like FuzzServerConn's (see
// server/fz_input_test.go; the two are kept apart because test code cannot
// be shared across packages):
//
//	flags bit 0      the client offers permessage-deflate
//	flags bits 1-3   the server's extension answer (fzAnswers; 7: raw bytes)
//	flags bits 4-5   Sec-WebSocket-Accept: 0-1 right, 2 wrong, 3 missing
//	flags bits 6-7   status: 0-1 101, 2 a 403 refusal, 3 a raw response head
//	vary             fzV* bits
//
// then operations (fzOp*). Invariants: no panic; Dial fails with a
// *client.HandshakeError or the connection ends once the server stops; every
// frame the client sends is masked and well formed, its close frame (at most
// one) has a code the client may send or echoes the server's; a message the
// server announces past MaxMessageSize is refused with a close frame, and no
// message delivered passes it; no goroutine is left.
func FuzzClientConn(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		l := fzListener(t)
		c := fzDecode(data)
		srv := make(chan fzServerResult, 1)
		go fzServe(l, c, srv)
		rec := &fzRecorder{}
		ctx, cancel := context.WithTimeout(context.Background(), fzWait)
		defer cancel()
		conn, err := client.Dial(ctx, "ws://"+l.Addr().String()+"/", rec, &client.Options{
			MaxMessageSize: fzMaxMessage,
			Subprotocols:   []string{"chat"},
			Compression:    client.Compression{Disable: !c.offer},
			CloseTimeout:   time.Second,
			WriteTimeout:   time.Second,
			PingInterval:   -1,
			Logger:         slog.New(slog.DiscardHandler),
		})
		negotiated := false
		if err != nil {
			var he *client.HandshakeError
			if !errors.As(err, &he) {
				t.Fatalf("Dial failed with %T %v, want a *client.HandshakeError", err, err)
			}
		} else {
			negotiated = conn.Extensions() != ""
			select {
			case <-conn.Done():
			case <-time.After(fzWait):
				t.Fatalf("the connection did not end within %v of the server's end", fzWait)
			}
		}
		var res fzServerResult
		select {
		case res = <-srv:
		case <-time.After(2 * fzWait):
			t.Fatal("the fake server did not finish")
		}
		if res.err != nil {
			t.Fatalf("fake server: %v", res.err)
		}
		if err := rec.check(); err != nil {
			t.Fatal(err)
		}
		if conn != nil {
			if err := fzCheckClientStream(c, res, negotiated); err != nil {
				t.Fatalf("%v\nclient sent %.256q", err, res.got)
			}
		}
		fzWaitGoroutines(t)
	})
}

const (
	fzMaxMessage = 64 << 10
	fzWait       = 5 * time.Second
	fzMaxStream  = 1 << 20
)

var (
	fzOnce sync.Once
	fzL    net.Listener
	fzBase int
)

func fzListener(t *testing.T) net.Listener {
	fzOnce.Do(func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		fzL = l
		fzBase = runtime.NumGoroutine()
	})
	if fzL == nil {
		t.Fatal("no listener")
	}
	return fzL
}

// fzWaitGoroutines: the client's goroutines have ended (polled with a
// deadline: a goroutine that has closed Done may still be returning).
func fzWaitGoroutines(t *testing.T) {
	deadline := time.Now().Add(fzWait)
	for runtime.NumGoroutine() > fzBase {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, baseline %d:\n%s", runtime.NumGoroutine(), fzBase, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

// fzRecorder records the messages delivered.
type fzRecorder struct {
	handler.Base
	mu      sync.Mutex
	tooBig  int
	largest int
}

func (r *fzRecorder) ReceivedMessage(_ handler.Conn, m handler.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(m.Data) > fzMaxMessage {
		r.tooBig++
	}
	r.largest = max(r.largest, len(m.Data))
}

func (r *fzRecorder) check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tooBig > 0 {
		return fmt.Errorf("%d messages past MaxMessageSize %d delivered (largest %d bytes)", r.tooBig, fzMaxMessage, r.largest)
	}
	return nil
}

// Variations (the byte after flags).
const (
	fzVSubprotocol = 3 // bits 0-1: 0 none, 1 "chat", 2 "nope", 3 "chat, chat"
	fzVDupAccept   = 1 << 2
	fzVLowercase   = 1 << 3
	fzVHTTP10      = 1 << 4
	fzVExtra       = 1 << 5 // an extra header line read from the input
	fzVAbrupt      = 1 << 6 // close the socket at once instead of half-closing
	fzVBadUpgrade  = 1 << 7
)

var fzAnswers = [...]string{
	"",
	"permessage-deflate",
	"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
	"permessage-deflate; server_max_window_bits=10",
	"permessage-deflate; client_max_window_bits=9",
	"permessage-deflate, permessage-deflate",
	"x-foo",
}

// Operation kinds, as in FuzzServerConn.
const (
	fzOpFrame    = 0
	fzOpFrame2   = 1
	fzOpHeader   = 2
	fzOpDeflated = 3
	fzOpRaw      = 4
	fzOpChop     = 5
	fzOpFlood    = 6
	fzOpClose    = 7
	fzWriteAfter = 0x08
)

type fzCase struct {
	offer   bool
	abrupt  bool
	respond func(key string) []byte // the response head
	writes  [][]byte                // the frame stream's chunks
	stream  []byte                  // all of it
}

type fzBytes struct{ b []byte }

func (r *fzBytes) more() bool { return len(r.b) > 0 }

func (r *fzBytes) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fzBytes) take(n int) []byte {
	n = min(n, len(r.b))
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func fzDecode(data []byte) *fzCase {
	r := &fzBytes{b: data}
	flags, vary := r.byte(), r.byte()
	c := &fzCase{offer: flags&1 != 0, abrupt: vary&fzVAbrupt != 0}
	var extra []byte
	if vary&fzVExtra != 0 {
		extra = r.take(int(r.byte()))
	}
	answer := ""
	if i := flags >> 1 & 7; i == 7 {
		answer = string(r.take(int(r.byte())))
	} else if int(i) < len(fzAnswers) {
		answer = fzAnswers[i]
	}
	var rawHead []byte
	if flags>>6 == 3 {
		rawHead = append([]byte(nil), r.take(int(r.byte()))...)
	}
	c.respond = func(key string) []byte {
		switch flags >> 6 {
		case 2:
			return []byte("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nnope\n")
		case 3:
			return rawHead
		}
		return fzResponse(key, flags>>4&3, vary, answer, extra)
	}
	var w fzWriter
	for r.more() && w.total < fzMaxStream {
		op := r.byte()
		fzOperation(&w, r, op)
		if op&fzWriteAfter != 0 {
			w.flush(0)
		}
	}
	w.flush(0)
	c.writes = w.writes
	c.stream = bytes.Join(w.writes, nil)
	return c
}

func fzResponse(key string, accept, vary byte, answer string, extra []byte) []byte {
	var b strings.Builder
	h := func(k, v string) {
		if vary&fzVLowercase != 0 {
			k = strings.ToLower(k)
		}
		b.WriteString(k + ": " + v + "\r\n")
	}
	if vary&fzVHTTP10 != 0 {
		b.WriteString("HTTP/1.0 101 Switching Protocols\r\n")
	} else {
		b.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	}
	if vary&fzVBadUpgrade != 0 {
		h("Upgrade", "h2c")
	} else {
		h("Upgrade", "websocket")
	}
	h("Connection", "Upgrade")
	switch accept {
	case 2:
		h("Sec-WebSocket-Accept", handshake.AcceptKey(key+"x"))
	case 3:
	default:
		h("Sec-WebSocket-Accept", handshake.AcceptKey(key))
	}
	if vary&fzVDupAccept != 0 {
		h("Sec-WebSocket-Accept", handshake.AcceptKey(key))
	}
	if p := [...]string{"", "chat", "nope", "chat, chat"}[vary&fzVSubprotocol]; p != "" {
		h("Sec-WebSocket-Protocol", p)
	}
	if answer != "" {
		h("Sec-WebSocket-Extensions", answer)
	}
	if vary&fzVExtra != 0 {
		h("X-Fz", string(extra))
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

type fzWriter struct {
	pending []byte
	writes  [][]byte
	total   int
}

func (w *fzWriter) flush(keep int) {
	if n := len(w.pending) - keep; n > 0 {
		w.writes = append(w.writes, append([]byte(nil), w.pending[:n]...))
		w.total += n
		w.pending = append(w.pending[:0], w.pending[n:]...)
	}
}

// fzOperation appends one operation's bytes: server frames, unmasked unless
// the flag bits 0x30 are both set.
func fzOperation(w *fzWriter, r *fzBytes, op byte) {
	masked := op&0x30 == 0x30
	switch op & 7 {
	case fzOpFrame, fzOpFrame2:
		b0 := r.byte()
		w.pending = fzAppendFrame(w.pending, b0, fzPayload(r, 1<<10), masked)
	case fzOpHeader:
		b0 := r.byte()
		var n uint64
		switch r.byte() % 3 {
		case 0:
			n = uint64(r.byte() & 0x7f)
		case 1:
			n = uint64(binary.BigEndian.Uint16(append(r.take(2), 0, 0)))
		default:
			n = binary.BigEndian.Uint64(append(r.take(8), make([]byte, 8)...))
		}
		w.pending = fzAppendHeader(w.pending, b0, n, masked)
	case fzOpDeflated:
		b0 := r.byte()
		if op&0x10 == 0 {
			b0 |= 0x40
		}
		z := fzDeflate(fzPayload(r, 4<<10))
		if op&0x20 != 0 && len(z) > 1 {
			w.pending = fzAppendFrame(w.pending, b0&^0x80, z[:len(z)/2], masked)
			w.pending = fzAppendFrame(w.pending, 0x80, z[len(z)/2:], masked)
		} else {
			w.pending = fzAppendFrame(w.pending, b0, z, masked)
		}
	case fzOpRaw:
		n := r.byte()
		if n&0x80 == 0 {
			w.pending = append(w.pending, r.take(int(n))...)
		} else {
			w.pending = append(w.pending, bytes.Repeat([]byte{r.byte()}, int(n&0x7f+1)<<10)...)
		}
	case fzOpChop:
		w.flush(int(r.byte()))
	case fzOpFlood:
		count, n := (int(r.byte())+1)*8, int(r.byte()&0x7f)
		b0 := byte(0x89)
		if op&0x10 != 0 {
			b0 = 0x8a
		}
		for i := range count {
			w.pending = fzAppendFrame(w.pending, b0, bytes.Repeat([]byte{byte(i)}, n), masked)
		}
	case fzOpClose:
		var p []byte
		switch op & 0x30 {
		case 0x10:
		case 0x20:
			p = []byte{r.byte()}
		default:
			p = append(p, r.byte(), r.byte())
			p = append(p, r.take(int(r.byte()))...)
		}
		w.pending = fzAppendFrame(w.pending, 0x88, p, masked)
	}
}

func fzPayload(r *fzBytes, unit int) []byte {
	n := r.byte()
	if n&0x80 == 0 {
		return append([]byte(nil), r.take(int(n))...)
	}
	return bytes.Repeat([]byte{r.byte()}, int(n&0x7f+1)*unit)
}

var fzMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

func fzAppendHeader(dst []byte, b0 byte, n uint64, masked bool) []byte {
	var m byte
	if masked {
		m = 0x80
	}
	switch {
	case n < 126:
		dst = append(dst, b0, m|byte(n))
	case n <= 0xffff:
		dst = binary.BigEndian.AppendUint16(append(dst, b0, m|126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, b0, m|127), n)
	}
	if masked {
		dst = append(dst, fzMask[:]...)
	}
	return dst
}

func fzAppendFrame(dst []byte, b0 byte, p []byte, masked bool) []byte {
	dst = fzAppendHeader(dst, b0, uint64(len(p)), masked)
	start := len(dst)
	dst = append(dst, p...)
	if masked {
		for i := range p {
			dst[start+i] ^= fzMask[i&3]
		}
	}
	return dst
}

func fzDeflate(p []byte) []byte {
	var b bytes.Buffer
	zw, _ := flate.NewWriter(&b, flate.BestSpeed)
	_, _ = zw.Write(p)
	_ = zw.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// fzServerResult is what the fake server saw: the client's bytes after its
// request head.
type fzServerResult struct {
	got []byte
	err error
}

// fzServe is the malicious server of one input.
func fzServe(l net.Listener, c *fzCase, done chan<- fzServerResult) {
	_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(fzWait))
	nc, err := l.Accept()
	if err != nil {
		done <- fzServerResult{err: err}
		return
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(fzWait))
	br := bufio.NewReader(nc)
	req, err := http.ReadRequest(br)
	if err != nil {
		done <- fzServerResult{err: fmt.Errorf("reading the client's request: %v", err)}
		return
	}
	head := c.respond(req.Header.Get("Sec-WebSocket-Key"))
	if _, err := nc.Write(head); err == nil {
		for _, b := range c.writes {
			if _, err := nc.Write(b); err != nil {
				break
			}
		}
	}
	if c.abrupt {
		nc.Close()
		done <- fzServerResult{}
		return
	}
	_ = nc.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(br)
	if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("the client did not close the connection within %v: %v", fzWait, err)
	} else {
		err = nil // a reset: the client closed with input unread
	}
	done <- fzServerResult{got: got, err: err}
}

// fzCheckClientStream checks what the client sent after its handshake.
func fzCheckClientStream(c *fzCase, res fzServerResult, negotiated bool) error {
	if c.abrupt {
		return nil
	}
	pings, codes, tooBig := fzServerStream(c.stream, negotiated)
	rd := proto.Reader{}
	rest := res.got
	closed := false
	for len(rest) > 0 {
		n, ev, perr := rd.Next(rest)
		rest = rest[n:]
		if perr != nil {
			return fmt.Errorf("invalid frame from the client: %v", perr)
		}
		if ev.Kind != proto.None && closed {
			return fmt.Errorf("a frame (kind %d) after the client's close frame", ev.Kind)
		}
		switch ev.Kind {
		case proto.Message, proto.Ping:
			return fmt.Errorf("the client sent a frame of kind %d on its own", ev.Kind)
		case proto.Pong:
			if !pings[string(ev.Data)] {
				return fmt.Errorf("a pong %q that answers no ping", ev.Data)
			}
		case proto.Close:
			closed = true
			switch ev.Code {
			case handler.CloseProtocolError, handler.CloseInvalidPayload, handler.CloseMessageTooBig, handler.CloseInternalError:
			default:
				if !codes[ev.Code] {
					return fmt.Errorf("close code %d: neither the client's own nor an echo of the server's", ev.Code)
				}
			}
		}
	}
	if tooBig && !closed {
		return fmt.Errorf("the server announced a message past MaxMessageSize %d and the client did not close the connection", fzMaxMessage)
	}
	return nil
}

// fzServerStream walks the frames the server sent as RFC 6455 says the
// client must read them, up to the first violation or close frame: the
// ping payloads, the close code (CloseNoStatus: an empty close), and
// whether an uncompressed message was announced past fzMaxMessage (counting
// the frames' lengths, without trusting any sum to fit).
func fzServerStream(s []byte, compression bool) (pings map[string]bool, codes map[handler.CloseCode]bool, tooBig bool) {
	pings, codes = map[string]bool{}, map[handler.CloseCode]bool{}
	open, compressed := false, false
	var size uint64
	for len(s) >= 2 {
		b0, b1 := s[0], s[1]
		fin, rsv, op := b0&0x80 != 0, b0>>4&7, b0&0xf
		if b1&0x80 != 0 {
			return
		}
		n, hl := uint64(b1&0x7f), 2
		switch n {
		case 126:
			if len(s) < 4 {
				return
			}
			n, hl = uint64(binary.BigEndian.Uint16(s[2:])), 4
		case 127:
			if len(s) < 10 {
				return
			}
			n, hl = binary.BigEndian.Uint64(s[2:]), 10
			if n>>63 != 0 {
				return
			}
		}
		control := op >= 8
		switch {
		case op > 2 && op < 8, op > 10:
			return
		case control && (!fin || n > 125 || rsv != 0):
			return
		case !control && op == 0 && (!open || rsv != 0):
			return
		case !control && op != 0 && open:
			return
		case !control && op != 0 && rsv != 0 && (rsv != 4 || !compression):
			return
		}
		if !control {
			if op != 0 {
				open, compressed, size = true, rsv == 4, 0
			}
			if !compressed && (n > fzMaxMessage || size > fzMaxMessage-n) {
				return pings, codes, true
			}
			size += n
			if fin {
				open = false
			}
		}
		s = s[hl:]
		if uint64(len(s)) < n {
			return
		}
		p := s[:n]
		s = s[n:]
		switch op {
		case 9:
			pings[string(p)] = true
		case 8:
			if ev, err := proto.ParseClose(p); err == nil {
				codes[ev.Code] = true
			}
			return
		}
	}
	return
}

// The seeds: issue 10's attacks from the server side, and bad handshakes.

func fzFrameOp(b0 byte, p string) []byte {
	return append([]byte{fzOpFrame | fzWriteAfter, b0, byte(len(p))}, p...)
}

func fzCloseOp(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16([]byte{fzOpClose | fzWriteAfter}, code), append([]byte{byte(len(reason))}, reason...)...)
}

func fzClientSeeds() map[string][]byte {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	ok := func(rest ...[]byte) []byte { return cat(append([][]byte{{0, 0}}, rest...)...) }
	pmd := func(rest ...[]byte) []byte { return cat(append([][]byte{{1 | 1<<1, 0}}, rest...)...) }
	return map[string][]byte{
		"echo": ok(fzFrameOp(0x81, "hello"), fzFrameOp(0x82, "\x00\x01"), fzCloseOp(1000, "bye")),
		// A 1-byte fragment, then a continuation of 2^63-1 bytes: the
		// length overflow that once removed MaxMessageSize.
		"length-overflow":   ok(fzFrameOp(0x02, "a"), []byte{fzOpHeader | fzWriteAfter, 0x80, 2, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte{fzOpRaw | fzWriteAfter, 0x80 | 95, 'x'}),
		"over-limit":        ok([]byte{fzOpHeader | fzWriteAfter, 0x82, 2, 0, 0, 0, 0, 0, 1, 0, 1}, []byte{fzOpRaw | fzWriteAfter, 100}),
		"max-message":       ok([]byte{fzOpFrame | fzWriteAfter, 0x82, 0x80 | 63, 'm'}),
		"ping-flood":        ok([]byte{fzOpFlood, 255, 125}, []byte{fzOpFlood | fzWriteAfter, 255, 0}),
		"pong-flood":        ok([]byte{fzOpFlood | 0x10 | fzWriteAfter, 255, 3}),
		"bomb":              pmd([]byte{fzOpDeflated | fzWriteAfter, 0x82, 0xff, 0}),
		"deflate-echo":      pmd([]byte{fzOpDeflated | 0x20 | fzWriteAfter, 0x81, 5}, []byte("hello"), fzCloseOp(1000, "")),
		"deflate-garbage":   pmd(fzFrameOp(0xc2, "\xff\xfe garbage")),
		"deflate-unoffered": cat([]byte{1 << 1, 0}, fzFrameOp(0xc1, "x")),
		"utf8-bad-frag":     ok(fzFrameOp(0x01, "ok \xce"), fzFrameOp(0x80, "\xff")),
		"interleaved":       ok(fzFrameOp(0x01, "a"), fzFrameOp(0x89, "p"), fzFrameOp(0x00, "b"), fzFrameOp(0x8a, "u"), fzFrameOp(0x80, "c")),
		"close-1005":        ok(fzCloseOp(1005, "")),
		"close-3000":        ok(fzCloseOp(3000, "app")),
		"close-4999":        ok(fzCloseOp(4999, "")),
		"close-empty":       ok([]byte{fzOpClose | 0x10 | fzWriteAfter}),
		"close-1-byte":      ok([]byte{fzOpClose | 0x20 | fzWriteAfter, 3}),
		"close-bad-reason":  ok(fzCloseOp(1000, "\xff")),
		"masked":            ok([]byte{fzOpFrame | 0x30 | fzWriteAfter, 0x81, 2, 'h', 'i'}),
		"rsv2":              ok(fzFrameOp(0xa1, "x")),
		"reserved-opcode":   ok(fzFrameOp(0x83, "")),
		"ping-too-big":      ok(fzFrameOp(0x89, strings.Repeat("p", 126))),
		"chopped":           ok(fzFrameOp(0x01, "abc"), []byte{fzOpChop, 2}, fzFrameOp(0x80, "def"), []byte{fzOpChop, 1}),
		"abrupt":            cat([]byte{0, fzVAbrupt}, []byte{fzOpFrame, 0x02, 0x80 | 31, 'a'}, []byte{fzOpChop, 10}),
		"bad-accept":        {2 << 4, 0},
		"no-accept":         {3 << 4, 0},
		"dup-accept":        {0, fzVDupAccept},
		"refused":           {2 << 6, 0},
		"raw-garbage":       cat([]byte{3 << 6, 0, 8}, []byte("\x00\x01\r\n\r\n\r\n")),
		"raw-partial":       cat([]byte{3 << 6, 0, 20}, []byte("HTTP/1.1 101 Switchi")),
		"subprotocol-nope":  {0, 2},
		"subprotocol-two":   {0, 3},
		"http10":            {0, fzVHTTP10},
		"bad-upgrade":       {0, fzVBadUpgrade},
		"ext-twice":         {1 | 5<<1, 0},
		"ext-foo":           {1 | 6<<1, 0},
		"ext-window":        {1 | 4<<1, 0},
		"ext-raw":           cat([]byte{1 | 7<<1, 0, 24}, []byte("permessage-deflate; x=\"y")),
		"extra-header":      cat([]byte{0, fzVExtra | fzVLowercase, 3}, []byte("a\x00b"), fzFrameOp(0x81, "x")),
	}
}

// TestFzClientSeeds: the committed seeds of FuzzClientConn are the attacks
// above (WS4GO_FZ_WRITE_SEEDS=1 rewrites them).
func TestFzClientSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzClientConn")
	write := os.Getenv("WS4GO_FZ_WRITE_SEEDS") == "1"
	if write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range fzClientSeeds() {
		if strings.HasPrefix(name, "x-") {
			continue // a finding, kept out of the run corpus
		}
		path := filepath.Join(dir, "seed-"+name)
		want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b)
		if write {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not the generated seed: %v", path, err)
		}
	}
}
