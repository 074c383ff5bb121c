package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ws4go/ws4go/internal/testutil"
)

func TestAcceptKeyRFCExample(t *testing.T) {
	// RFC 6455 §1.3: key "dGhlIHNhbXBsZSBub25jZQ==" gives
	// "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" (SHA-1 of key + GUID, base64).
	if got, want := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Fatalf("acceptKey = %q, want %q", got, want)
	}
}

func TestHeaderEncoding(t *testing.T) {
	k := [4]byte{1, 2, 3, 4}
	for _, tc := range []struct {
		fin  bool
		rsv  byte
		op   byte
		n    uint64
		mask *[4]byte
		want []byte
	}{
		{true, 0, OpText, 5, nil, []byte{0x81, 0x05}},
		{true, 0, OpBinary, 125, &k, []byte{0x82, 0xFD, 1, 2, 3, 4}},
		{false, 0, OpText, 126, nil, []byte{0x01, 0x7E, 0x00, 0x7E}},
		{true, RSV1, OpPing, 0, nil, []byte{0xC9, 0x00}},
		{true, RSV2 | RSV3, OpClose, 0, nil, []byte{0xB8, 0x00}},
		{true, 0, OpBinary, 65535, nil, []byte{0x82, 0x7E, 0xFF, 0xFF}},
		{true, 0, OpBinary, 65536, &k, []byte{0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4}},
	} {
		if got := appendHeader(nil, tc.fin, tc.rsv, tc.op, tc.n, tc.mask); !bytes.Equal(got, tc.want) {
			t.Errorf("appendHeader(fin=%v rsv=%d op=%d n=%d) = % x, want % x", tc.fin, tc.rsv, tc.op, tc.n, got, tc.want)
		}
	}
	// RFC 6455 §5.7: a masked "Hello".
	got := appendFrame(nil, true, 0, OpText, []byte("Hello"), &[4]byte{0x37, 0xfa, 0x21, 0x3d})
	want := []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}
	if !bytes.Equal(got, want) {
		t.Errorf("masked Hello = % x, want % x", got, want)
	}
}

// pipeClient returns a Client on one end of a net.Pipe and the other end.
func pipeClient() (*Client, net.Conn) {
	a, b := net.Pipe()
	return &Client{conn: a, br: bufio.NewReader(a)}, b
}

// countingConn records the size of every Write.
type countingConn struct {
	net.Conn
	sizes []int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.sizes = append(c.sizes, len(p))
	return c.Conn.Write(p)
}

func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 128, 65535, 65536, 1 << 20} {
		for _, chop := range []int{0, 1, 7} {
			if chop == 1 && n > 65536 {
				continue
			}
			c, srv := pipeClient()
			cc := &countingConn{Conn: c.conn}
			c.conn = cc
			payload := binPayload(n)
			errc := make(chan error, 1)
			go func() { errc <- c.WriteFrame(n%2 == 0, RSV2, OpBinary, payload, chop) }()
			f, err := readFrame(bufio.NewReader(srv))
			if err != nil {
				t.Fatalf("n=%d chop=%d: read: %v", n, chop, err)
			}
			if err := <-errc; err != nil {
				t.Fatalf("n=%d chop=%d: write: %v", n, chop, err)
			}
			if !f.Masked || f.Fin != (n%2 == 0) || f.Rsv != RSV2 || f.Opcode != OpBinary || !bytes.Equal(f.Payload, payload) {
				t.Fatalf("n=%d chop=%d: got fin=%v rsv=%d op=%d masked=%v len=%d", n, chop, f.Fin, f.Rsv, f.Opcode, f.Masked, len(f.Payload))
			}
			for _, s := range cc.sizes {
				if chop > 0 && s > chop {
					t.Fatalf("n=%d chop=%d: a write of %d bytes", n, chop, s)
				}
			}
			if chop == 0 && len(cc.sizes) != 1 {
				t.Fatalf("n=%d: %d writes, want 1", n, len(cc.sizes))
			}
			c.Close()
			srv.Close()
		}
	}
}

func TestMaskIsApplied(t *testing.T) {
	payload := bytes.Repeat([]byte{0}, 64)
	seen := map[string]bool{}
	for range 8 {
		k := newMask()
		b := appendFrame(nil, true, 0, OpBinary, payload, &k)
		body := b[len(b)-64:]
		for i, x := range body {
			if x != k[i%4] {
				t.Fatalf("byte %d = %#x, want mask byte %#x", i, x, k[i%4])
			}
		}
		seen[string(k[:])] = true
	}
	if len(seen) < 2 {
		t.Fatalf("masking keys are not random: %d distinct of 8", len(seen))
	}
}

func TestReadFrameRejectsBadLengths(t *testing.T) {
	for name, raw := range map[string][]byte{
		"16-bit for 5":     {0x82, 0x7E, 0x00, 0x05, 1, 2, 3, 4, 5},
		"64-bit for 65535": append([]byte{0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}, make([]byte, 65535)...),
		"64-bit MSB":       {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1},
	} {
		_, err := readFrame(bufio.NewReader(bytes.NewReader(raw)))
		if err != errNonMinimal && err != errLengthMSB {
			t.Errorf("%s: err = %v, want a length-encoding error", name, err)
		}
	}
	if _, err := readFrame(bufio.NewReader(bytes.NewReader([]byte{0x81, 0x05, 'H'}))); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated frame: err = %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := readFrame(bufio.NewReader(bytes.NewReader(nil))); err != io.EOF {
		t.Errorf("empty stream: err = %v, want io.EOF", err)
	}
}

// events feeds raw server bytes to a Client and returns what ReadEvent
// reports until the stream ends or a violation.
func events(t *testing.T, raw []byte) []Event {
	t.Helper()
	c := &Client{br: bufio.NewReader(bytes.NewReader(raw))}
	var out []Event
	for {
		e, err := c.ReadEvent()
		if err != nil {
			t.Fatalf("ReadEvent: %v", err)
		}
		out = append(out, e)
		if e.Kind == EventTCPClosed || e.Kind == EventError {
			return out
		}
	}
}

func TestReadEvent(t *testing.T) {
	var raw []byte
	raw = appendFrame(raw, false, 0, OpText, []byte("Hel"), nil)
	raw = appendFrame(raw, true, 0, OpPing, []byte("p"), nil)
	raw = appendFrame(raw, true, 0, OpContinuation, []byte("lo"), nil)
	raw = appendFrame(raw, true, 0, OpPong, nil, nil)
	raw = appendFrame(raw, true, 0, OpBinary, nil, nil)
	raw = appendFrame(raw, true, 0, OpClose, closePayload(1000, "bye"), nil)
	raw = appendFrame(raw, true, 0, OpClose, nil, nil)
	got := summarize(events(t, raw))
	want := `ping(1:"p"), text(5:"Hello"), pong(), binary(), close(1000), close(empty), tcp-closed`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}

	k := newMask()
	for name, raw := range map[string][]byte{
		"masked":               appendFrame(nil, true, 0, OpText, []byte("x"), &k),
		"rsv":                  appendFrame(nil, true, RSV1, OpText, []byte("x"), nil),
		"reserved opcode":      appendFrame(nil, true, 0, 3, nil, nil),
		"fragmented ping":      appendFrame(nil, false, 0, OpPing, nil, nil),
		"long pong":            appendFrame(nil, true, 0, OpPong, make([]byte, 126), nil),
		"lone continuation":    appendFrame(nil, true, 0, OpContinuation, nil, nil),
		"nested message":       appendFrame(appendFrame(nil, false, 0, OpText, nil, nil), true, 0, OpText, nil, nil),
		"1-byte close":         appendFrame(nil, true, 0, OpClose, []byte{3}, nil),
		"invalid close reason": appendFrame(nil, true, 0, OpClose, []byte{3, 232, 0xff}, nil),
		"invalid text":         appendFrame(nil, true, 0, OpText, []byte{0xc0, 0x80}, nil),
		"eof mid-frame":        []byte{0x81, 0x05, 'H'},
		"eof mid-message":      appendFrame(nil, false, 0, OpText, []byte("x"), nil),
	} {
		evs := events(t, raw)
		if last := evs[len(evs)-1]; last.Kind != EventError {
			t.Errorf("%s: got %s, want a violation", name, summarize(evs))
		}
	}
}

func TestSummarize(t *testing.T) {
	evs := []Event{pongEv([]byte("a")), pongEv([]byte("a")), pongEv([]byte("a")), msgEv(OpBinary, binPayload(100)), closeEv(1002), tcpClosed}
	got := summarize(evs)
	if !strings.HasPrefix(got, `pong(1:"a") ×3, binary(100 crc=`) || !strings.HasSuffix(got, "close(1002), tcp-closed") {
		t.Fatalf("summarize = %s", got)
	}
	if sameEvents(evs, evs[1:]) || !sameEvents(evs, evs) {
		t.Fatal("sameEvents is wrong")
	}
	if msgEv(OpText, []byte("a")).Equal(msgEv(OpText, []byte("b"))) {
		t.Fatal("Equal ignores payload")
	}
}

func TestUTF8Vectors(t *testing.T) {
	for _, v := range validUTF8 {
		if !utf8.ValidString(v.data) {
			t.Errorf("valid vector %q is not valid UTF-8", v.name)
		}
	}
	for _, v := range invalidUTF8 {
		if utf8.ValidString(v.data) {
			t.Errorf("invalid vector %q is valid UTF-8", v.name)
		}
	}
	for _, n := range []int{0, 1, 2, 3, 4, 5, 100, 65536} {
		p := utf8Payload(n)
		if len(p) != n || !utf8.Valid(p) {
			t.Errorf("utf8Payload(%d): len %d valid %v", n, len(p), utf8.Valid(p))
		}
	}
}

func TestCaseTable(t *testing.T) {
	all := Cases()
	seen := map[string]bool{}
	families := map[string]int{}
	for i, c := range all {
		if c.ID == "" || c.Description == "" || c.Family == "" || c.Run == nil {
			t.Errorf("case %d (%q) is incomplete", i, c.ID)
		}
		if seen[c.ID] {
			t.Errorf("duplicate case ID %s", c.ID)
		}
		seen[c.ID] = true
		if i > 0 && compareIDs(all[i-1].ID, c.ID) >= 0 {
			t.Errorf("cases out of order: %s before %s", all[i-1].ID, c.ID)
		}
		families[strings.SplitN(c.ID, ".", 2)[0]]++
	}
	for f := 1; f <= 9; f++ {
		if families[fmt.Sprint(f)] < 10 {
			t.Errorf("family %d has %d cases", f, families[fmt.Sprint(f)])
		}
	}
	q := Quick()
	if len(q) >= len(all) {
		t.Errorf("Quick has %d cases, Cases %d", len(q), len(all))
	}
	for _, c := range q {
		if c.Heavy {
			t.Errorf("Quick includes heavy case %s", c.ID)
		}
	}
	if compareIDs("1.10", "1.9") <= 0 || compareIDs("6.3", "6.3.1") >= 0 {
		t.Error("compareIDs is wrong")
	}
}

// fakeServer serves one WebSocket connection on a loopback listener: it does
// the server handshake and hands the connection to serve.
func fakeServer(t *testing.T, serve func(conn net.Conn, br *bufio.Reader)) Target {
	t.Helper()
	addr := testutil.TCPServer(t, func(conn net.Conn, _ func(net.Conn)) {
		defer conn.Close()
		br := bufio.NewReader(conn)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			acceptKey(req.Header.Get("Sec-WebSocket-Key")))
		serve(conn, br)
	})
	return Target{Addr: addr, Path: "/ws"}
}

// naiveEcho echoes every data frame as a whole message (no validation, no
// fragmentation support), answers
// close with closeReply and then, if closeTCP, closes the connection.
func naiveEcho(closeReply func([]byte) []byte, closeTCP bool) func(net.Conn, *bufio.Reader) {
	return func(conn net.Conn, br *bufio.Reader) {
		for {
			f, err := readFrame(br)
			if err != nil {
				return
			}
			switch f.Opcode {
			case OpPing:
				conn.Write(appendFrame(nil, true, 0, OpPong, f.Payload, nil))
			case OpText, OpBinary:
				conn.Write(appendFrame(nil, true, 0, f.Opcode, f.Payload, nil))
			case OpClose:
				conn.Write(appendFrame(nil, true, 0, OpClose, closeReply(f.Payload), nil))
				if closeTCP {
					return
				}
				io.Copy(io.Discard, br)
				return
			}
		}
	}
}

// pick returns the cases of families 1–9 with these IDs.
func pick(ids ...string) []Case { return pickFrom(Cases(), ids...) }

// pickFrom returns the cases of all with these IDs, in all's order.
func pickFrom(all []Case, ids ...string) []Case {
	var out []Case
	for _, c := range all {
		for _, id := range ids {
			if c.ID == id {
				out = append(out, c)
			}
		}
	}
	return out
}

func TestRunAgainstFakeServers(t *testing.T) {
	if testing.Short() {
		t.Skip("uses loopback servers and 2 s timeouts")
	}
	ctx := context.Background()
	echoClose := func(p []byte) []byte { return p }

	good := fakeServer(t, naiveEcho(echoClose, true))
	ids := []string{"1.1.1", "1.1.7", "1.3.3", "1.7.4", "2.4", "2.10", "7.1.1", "7.3.1", "8.1.3"}
	rs := Run(ctx, good, pick(ids...))
	if len(rs) != len(ids) {
		t.Fatalf("%d results for %d cases", len(rs), len(ids))
	}
	for _, r := range rs {
		if !r.OK {
			t.Errorf("%s against a good echo: expected %s, got %s", r.ID, r.Expected, r.Got)
		}
	}
	var tbl bytes.Buffer
	WriteTable(&tbl, rs)
	if !strings.Contains(tbl.String(), "1.1.7") || !strings.Contains(tbl.String(), fmt.Sprintf("%d cases, %d OK, 0 FAILED", len(ids), len(ids))) {
		t.Errorf("table:\n%s", tbl.String())
	}

	// The naive server does not validate anything: protocol cases fail.
	rs = Run(ctx, good, pick("2.5", "6.2.1"))
	if rs[0].OK || rs[1].OK {
		t.Errorf("a non-validating server passed: %+v", rs)
	}

	// A server that keeps TCP open after the closing handshake fails.
	lingering := fakeServer(t, naiveEcho(echoClose, false))
	rs = Run(ctx, lingering, pick("1.1.2"))
	if rs[0].OK || !strings.Contains(rs[0].Got, "TCP still open") {
		t.Errorf("lingering server: %+v", rs[0])
	}

	// A server answering close with another code fails.
	wrongCode := fakeServer(t, naiveEcho(func([]byte) []byte { return binary.BigEndian.AppendUint16(nil, 1001) }, true))
	rs = Run(ctx, wrongCode, pick("7.1.1"))
	if rs[0].OK || rs[0].Got != "close(1001), tcp-closed" {
		t.Errorf("wrong close code: %+v", rs[0])
	}

	// A handshake with a wrong accept key is reported.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		http.ReadRequest(bufio.NewReader(conn))
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bogus\r\n\r\n")
		time.Sleep(100 * time.Millisecond)
	}()
	if _, err := Dial(ctx, Target{Addr: ln.Addr().String()}); err == nil || !strings.Contains(err.Error(), "Sec-WebSocket-Accept") {
		t.Errorf("bad accept key: err = %v", err)
	}
}

func TestClientExpectHelpers(t *testing.T) {
	if testing.Short() {
		t.Skip("uses a loopback server")
	}
	tg := fakeServer(t, naiveEcho(func(p []byte) []byte { return p }, true))
	c, err := Dial(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteFrame(true, 0, OpText, []byte("Hello"), 1); err != nil {
		t.Fatal(err)
	}
	if err := c.ExpectMessage(OpText, []byte("Hello")); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFrame(true, 0, OpPing, []byte("p"), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.ExpectPong([]byte("q")); err == nil {
		t.Fatal("ExpectPong accepted a wrong payload")
	}
	if err := c.SendClose(3000, ""); err != nil {
		t.Fatal(err)
	}
	if err := c.ExpectClose(3000); err != nil {
		t.Fatal(err)
	}
}
