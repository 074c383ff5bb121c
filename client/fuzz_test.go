package client_test

import (
	"bufio"
	"bytes"
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
	"github.com/ws4go/ws4go/internal/fuzzinput"
	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/proto"
)

// FuzzClientConn runs client.Dial against a malicious server: a raw listener
// that answers the handshake (a 101 with fuzz-chosen variations, a refusal,
// or raw bytes), then sends a fuzz-built frame stream chopped at fuzz-chosen
// points. The input is a small program like FuzzServerConn's (see
// server/fz_input_test.go); its frame stream is decoded by package
// fuzzinput, shared with FuzzServerConn:
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

type fzCase struct {
	offer   bool
	abrupt  bool
	respond func(key string) []byte // the response head
	writes  [][]byte                // the frame stream's chunks
	stream  []byte                  // all of it
}

func fzDecode(data []byte) *fzCase {
	r := fuzzinput.NewReader(data)
	flags, vary := r.Byte(), r.Byte()
	c := &fzCase{offer: flags&1 != 0, abrupt: vary&fzVAbrupt != 0}
	var extra []byte
	if vary&fzVExtra != 0 {
		extra = r.Take(int(r.Byte()))
	}
	answer := ""
	if i := flags >> 1 & 7; i == 7 {
		answer = string(r.Take(int(r.Byte())))
	} else if int(i) < len(fzAnswers) {
		answer = fzAnswers[i]
	}
	var rawHead []byte
	if flags>>6 == 3 {
		rawHead = append([]byte(nil), r.Take(int(r.Byte()))...)
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
	var w fuzzinput.Writer
	// Server frames: unmasked, unless an operation asks for the wrong
	// masking.
	fuzzinput.Stream(&w, r, false)
	c.writes = w.Writes
	c.stream = bytes.Join(w.Writes, nil)
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

func fzClientSeeds() map[string][]byte {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	ok := func(rest ...[]byte) []byte { return cat(append([][]byte{{0, 0}}, rest...)...) }
	pmd := func(rest ...[]byte) []byte { return cat(append([][]byte{{1 | 1<<1, 0}}, rest...)...) }
	return map[string][]byte{
		"echo": ok(fuzzinput.FrameOp(0x81, "hello"), fuzzinput.FrameOp(0x82, "\x00\x01"), fuzzinput.CloseOp(1000, "bye")),
		// A 1-byte fragment, then a continuation of 2^63-1 bytes: the
		// length overflow that once removed MaxMessageSize.
		"length-overflow":   ok(fuzzinput.FrameOp(0x02, "a"), []byte{fuzzinput.OpHeader | fuzzinput.WriteAfter, 0x80, 2, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte{fuzzinput.OpRaw | fuzzinput.WriteAfter, 0x80 | 95, 'x'}),
		"over-limit":        ok([]byte{fuzzinput.OpHeader | fuzzinput.WriteAfter, 0x82, 2, 0, 0, 0, 0, 0, 1, 0, 1}, []byte{fuzzinput.OpRaw | fuzzinput.WriteAfter, 100}),
		"max-message":       ok([]byte{fuzzinput.OpFrame | fuzzinput.WriteAfter, 0x82, 0x80 | 63, 'm'}),
		"ping-flood":        ok([]byte{fuzzinput.OpFlood, 255, 125}, []byte{fuzzinput.OpFlood | fuzzinput.WriteAfter, 255, 0}),
		"pong-flood":        ok([]byte{fuzzinput.OpFlood | 0x10 | fuzzinput.WriteAfter, 255, 3}),
		"bomb":              pmd([]byte{fuzzinput.OpDeflated | fuzzinput.WriteAfter, 0x82, 0xff, 0}),
		"deflate-echo":      pmd([]byte{fuzzinput.OpDeflated | 0x20 | fuzzinput.WriteAfter, 0x81, 5}, []byte("hello"), fuzzinput.CloseOp(1000, "")),
		"deflate-garbage":   pmd(fuzzinput.FrameOp(0xc2, "\xff\xfe garbage")),
		"deflate-unoffered": cat([]byte{1 << 1, 0}, fuzzinput.FrameOp(0xc1, "x")),
		"utf8-bad-frag":     ok(fuzzinput.FrameOp(0x01, "ok \xce"), fuzzinput.FrameOp(0x80, "\xff")),
		"interleaved":       ok(fuzzinput.FrameOp(0x01, "a"), fuzzinput.FrameOp(0x89, "p"), fuzzinput.FrameOp(0x00, "b"), fuzzinput.FrameOp(0x8a, "u"), fuzzinput.FrameOp(0x80, "c")),
		"close-1005":        ok(fuzzinput.CloseOp(1005, "")),
		"close-3000":        ok(fuzzinput.CloseOp(3000, "app")),
		"close-4999":        ok(fuzzinput.CloseOp(4999, "")),
		"close-empty":       ok([]byte{fuzzinput.OpClose | 0x10 | fuzzinput.WriteAfter}),
		"close-1-byte":      ok([]byte{fuzzinput.OpClose | 0x20 | fuzzinput.WriteAfter, 3}),
		"close-bad-reason":  ok(fuzzinput.CloseOp(1000, "\xff")),
		"masked":            ok([]byte{fuzzinput.OpFrame | 0x30 | fuzzinput.WriteAfter, 0x81, 2, 'h', 'i'}),
		"rsv2":              ok(fuzzinput.FrameOp(0xa1, "x")),
		"reserved-opcode":   ok(fuzzinput.FrameOp(0x83, "")),
		"ping-too-big":      ok(fuzzinput.FrameOp(0x89, strings.Repeat("p", 126))),
		"chopped":           ok(fuzzinput.FrameOp(0x01, "abc"), []byte{fuzzinput.OpChop, 2}, fuzzinput.FrameOp(0x80, "def"), []byte{fuzzinput.OpChop, 1}),
		"abrupt":            cat([]byte{0, fzVAbrupt}, []byte{fuzzinput.OpFrame, 0x02, 0x80 | 31, 'a'}, []byte{fuzzinput.OpChop, 10}),
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
		"extra-header":      cat([]byte{0, fzVExtra | fzVLowercase, 3}, []byte("a\x00b"), fuzzinput.FrameOp(0x81, "x")),
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
