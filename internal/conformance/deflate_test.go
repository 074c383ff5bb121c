package conformance

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ws4go/ws4go/internal/testutil"
)

// rawInflate decompresses a message the lenient way (append the tail, read
// until the input runs out) with compress/flate alone, as an independent
// check of the suite's own helpers.
func rawInflate(z []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(append(append([]byte(nil), z...), deflateTail...)))
	out, err := io.ReadAll(r)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil // the stream ends at the sync flush, without a final block
	}
	return out, err
}

func testPayloads() map[string][]byte {
	return map[string][]byte{
		"empty":   {},
		"Hello":   []byte("Hello"),
		"json":    kindJSON.payload(0, 100<<10),
		"utf8":    kindUTF8.payload(0, 100<<10),
		"random":  kindRandom.payload(0, 100<<10),
		"records": kindRecords.payload(0, 100<<10),
		"zeros":   make([]byte, 70000),
	}
}

func TestDeflateRoundTrip(t *testing.T) {
	for name, p := range testPayloads() {
		for _, level := range []int{flate.HuffmanOnly, flate.DefaultCompression, flate.NoCompression, flate.BestSpeed, flate.BestCompression} {
			z := deflateMessage(p, level)
			got, err := inflateMessage(z, nil, 1<<30)
			if err != nil || !bytes.Equal(got, p) {
				t.Fatalf("%s level %d: inflateMessage: %d bytes, %v", name, level, len(got), err)
			}
			if got, err := rawInflate(z); err != nil || !bytes.Equal(got, p) {
				t.Fatalf("%s level %d: compress/flate: %d bytes, %v", name, level, len(got), err)
			}
			// The tail is gone: the data ends with the header byte of the
			// empty stored block, whose LEN and NLEN were removed.
			if bytes.HasSuffix(z, deflateTail) {
				t.Errorf("%s level %d: the tail was not removed", name, level)
			}
		}
		for _, z := range [][]byte{deflateFlushEvery(p, flate.DefaultCompression, 1000), deflateFinal(p, flate.BestSpeed)} {
			if got, err := inflateMessage(z, nil, 1<<30); err != nil || !bytes.Equal(got, p) {
				t.Fatalf("%s: flush-every/final variant: %d bytes, %v", name, len(got), err)
			}
		}
	}
	if z := deflateFlushEvery(kindJSON.payload(0, 10000), flate.DefaultCompression, 1000); bytes.Count(z, deflateTail) < 9 {
		t.Errorf("deflateFlushEvery: %d sync markers inside, want 9", bytes.Count(z, deflateTail))
	}
	if got := deflateMessage(nil, flate.DefaultCompression); !bytes.Equal(got, []byte{0x00}) {
		t.Errorf("empty message compresses to % x, want 00", got)
	}
}

func TestDeflateTailHandling(t *testing.T) {
	hello := []byte("Hello")
	// RFC 7692 §7.2.3: every example inflates to "Hello".
	for name, z := range map[string][]byte{
		"7.2.3.1 compressed": rfcHello,
		"7.2.3.3 stored":     {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00},
		"7.2.3.5 BFINAL":     {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00},
		"7.2.3.6 two blocks": {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00},
	} {
		if got, err := inflateMessage(z, nil, 100); err != nil || !bytes.Equal(got, hello) {
			t.Errorf("RFC 7692 %s: %q, %v", name, got, err)
		}
	}
	if got, err := inflateMessage([]byte{0x03, 0x00}, nil, 100); err != nil || len(got) != 0 {
		t.Errorf("final empty fixed-Huffman block (case 10.4.7): %q, %v", got, err)
	}
	if got := deflateMessage(hello, flate.BestCompression); !bytes.Equal(got, rfcHello) {
		t.Errorf("compress/flate gives % x for Hello, RFC 7692 §7.2.3.1 % x", got, rfcHello)
	}
	// §7.2.3.2: the second message needs the first as its window.
	second := []byte{0xf2, 0x00, 0x11, 0x00, 0x00}
	if got, err := inflateMessage(second, hello, 100); err != nil || !bytes.Equal(got, hello) {
		t.Errorf("RFC 7692 §7.2.3.2 with context: %q, %v", got, err)
	}
	if _, err := inflateMessage(second, nil, 100); err == nil {
		t.Error("RFC 7692 §7.2.3.2 inflated without its context")
	}

	// A sender that keeps the tail, cuts the data inside a block, or sends
	// garbage is caught; an RSV1 message with no data is not DEFLATE data.
	z := deflateMessage(kindJSON.payload(0, 4096), flate.DefaultCompression)
	for name, bad := range map[string][]byte{
		"tail kept":          append(append([]byte(nil), z...), deflateTail...),
		"cut inside a block": truncatedDeflate(),
		"reserved BTYPE":     {0xff, 0xff, 0xff},
		"LEN/NLEN mismatch":  {0x00, 0x05, 0x00, 0xfb, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00},
		"stored too short":   {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c},
		"over-subscribed":    corruptDynamicHeader(),
		"distance too far":   distanceBeforeStart(),
		"empty payload":      {},
	} {
		if got, err := inflateMessage(bad, nil, 1<<20); err == nil {
			t.Errorf("%s: inflated to %d bytes without error", name, len(got))
		}
	}
	// The truncated message is the subtle one: a lenient receiver (append
	// the tail, read what comes) sees no error at all.
	if got, err := rawInflate(truncatedDeflate()); err != nil || len(got) == 0 {
		t.Errorf("lenient inflation of the truncated message: %d bytes, %v; case 10.5.21 assumes it passes silently", len(got), err)
	}

	// Limit.
	if _, err := inflateMessage(deflateMessage(make([]byte, 1001), flate.BestSpeed), nil, 1000); !errors.Is(err, errInflateLimit) {
		t.Errorf("1001 bytes with a limit of 1000: %v", err)
	}
	if got, err := inflateMessage(deflateMessage(make([]byte, 1000), flate.BestSpeed), nil, 1000); err != nil || len(got) != 1000 {
		t.Errorf("1000 bytes with a limit of 1000: %d, %v", len(got), err)
	}
}

func TestFixedDeflate(t *testing.T) {
	for name, p := range testPayloads() {
		for bits := 8; bits <= 15; bits++ {
			z, far := fixedDeflate(p, bits)
			if far > 1<<bits {
				t.Errorf("%s: window %d: distance %d", name, bits, far)
			}
			got, err := inflateMessage(z, nil, 1<<30)
			if err != nil || !bytes.Equal(got, p) {
				t.Fatalf("%s: window %d: inflateMessage: %d bytes, %v", name, bits, len(got), err)
			}
			if got, err := rawInflate(z); err != nil || !bytes.Equal(got, p) {
				t.Fatalf("%s: window %d: compress/flate: %d bytes, %v", name, bits, len(got), err)
			}
		}
	}
	r := kindRandom.payload(0, 32<<10)
	p := append(append([]byte(nil), r...), r...)
	z, far := fixedDeflate(p, 15)
	if far != 1<<15 {
		t.Errorf("32 KiB twice: farthest distance %d, want 32768", far)
	}
	if len(z) > 40<<10 {
		t.Errorf("32 KiB twice compresses to %d bytes: the repeat was not matched", len(z))
	}
	if _, far := fixedDeflate(p, 14); far > 1<<14 {
		t.Errorf("window 14: distance %d", far)
	}
	// Every length, including 258 (code 285) and 257 (code 284 + 30).
	for n := 3; n <= 300; n++ {
		q := append([]byte("x"), bytes.Repeat([]byte("y"), n)...)
		z, _ := fixedDeflate(q, 8)
		if got, err := inflateMessage(z, nil, 1000); err != nil || !bytes.Equal(got, q) {
			t.Fatalf("run of %d: %q, %v", n, got, err)
		}
	}
}

func TestDeflateBomb(t *testing.T) {
	z := deflateBomb(3)
	got, err := inflateMessage(z, nil, 4<<20)
	if err != nil || len(got) != 3<<20 || bytes.Count(got, []byte{0}) != len(got) {
		t.Fatalf("bomb(3): %d bytes, %v", len(got), err)
	}
	if _, err := inflateMessage(deflateBomb(33), nil, 32<<20); !errors.Is(err, errInflateLimit) {
		t.Errorf("bomb(33) with a 32 MiB limit: %v", err)
	}
	if n := len(deflateBomb(33)); n > 40<<10 {
		t.Errorf("bomb(33) is %d bytes", n)
	}
	if n := len(deflateBomb(1 << 10)); n > 1200<<10 {
		t.Errorf("bomb(1024) is %d bytes", n)
	}
	// Count a larger one without keeping it.
	src := append(deflateBomb(40), deflateTail...)
	n, err := io.Copy(io.Discard, flate.NewReader(bytes.NewReader(src)))
	if n != 40<<20 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("bomb(40): %d bytes, %v", n, err)
	}
}

func TestParseDeflateAnswer(t *testing.T) {
	for _, tc := range []struct {
		ans  string
		ok   bool
		p    pmdParams
		fail bool
	}{
		{"", false, pmdParams{}, false},
		{"permessage-deflate", true, pmdParams{}, false},
		{DeflateResponse, true, pmdParams{serverNoContext: true, clientNoContext: true}, false},
		{"permessage-deflate;server_max_window_bits=10; client_max_window_bits=\"12\"", true, pmdParams{serverMaxWindow: 10, clientMaxWindow: 12}, false},
		{"permessage-deflate; client_max_window_bits", false, pmdParams{}, true},
		{"permessage-deflate; server_max_window_bits=16", false, pmdParams{}, true},
		{"permessage-deflate; server_max_window_bits=09", false, pmdParams{}, true},
		{"permessage-deflate; server_no_context_takeover=1", false, pmdParams{}, true},
		{"permessage-deflate; server_no_context_takeover; server_no_context_takeover", false, pmdParams{}, true},
		{"permessage-deflate; foo", false, pmdParams{}, true},
		{"permessage-deflate, permessage-deflate", false, pmdParams{}, true},
		{"x-webkit-deflate-frame", false, pmdParams{}, true},
	} {
		ok, p, err := parseDeflateAnswer(tc.ans)
		if ok != tc.ok || p != tc.p || (err != nil) != tc.fail {
			t.Errorf("parseDeflateAnswer(%q) = %v, %+v, %v", tc.ans, ok, p, err)
		}
	}
}

func TestInflaterContext(t *testing.T) {
	// Two messages from one compressor that keeps its window: the second
	// refers to the first.
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	m1, m2 := kindJSON.payload(0, 2000), kindJSON.payload(0, 2000)
	w.Write(m1)
	w.Flush()
	z1 := bytes.Clone(bytes.TrimSuffix(b.Bytes(), deflateTail))
	b.Reset()
	w.Write(m2)
	w.Flush()
	z2 := bytes.Clone(bytes.TrimSuffix(b.Bytes(), deflateTail))
	if len(z2) > len(z1)/4 {
		t.Fatalf("the second message (%d bytes) does not use the first (%d)", len(z2), len(z1))
	}
	run := func(answer string) (Event, error) {
		c := &Client{Extensions: answer}
		if ok, err := c.UseDeflate(); !ok || err != nil {
			t.Fatalf("UseDeflate(%q) = %v, %v", answer, ok, err)
		}
		if c.AllowRSV != RSV1 {
			t.Fatalf("AllowRSV = %03b", c.AllowRSV)
		}
		plain := Event{Kind: EventMessage, Opcode: OpText, Payload: []byte("plain")}
		for _, e := range []*Event{
			{Kind: EventMessage, Opcode: OpText, Rsv: RSV1, Payload: z1},
			&plain, // an uncompressed message does not enter the window
		} {
			if err := c.Transform(e); err != nil {
				t.Fatal(err)
			}
		}
		e := Event{Kind: EventMessage, Opcode: OpText, Rsv: RSV1, Payload: z2}
		return e, c.Transform(&e)
	}
	if e, err := run("permessage-deflate"); err != nil || !e.Equal(msgEv(OpText, m2)) {
		t.Errorf("with context takeover: %s, %v", e, err)
	}
	if _, err := run(DeflateResponse); err == nil {
		t.Error("with server_no_context_takeover, a message using the previous one's window inflated")
	}
	c := &Client{Extensions: "permessage-deflate; foo"}
	if ok, err := c.UseDeflate(); ok || err == nil || c.Transform != nil {
		t.Errorf("UseDeflate on a bad answer: %v, %v", ok, err)
	}
}

func TestTextSlice(t *testing.T) {
	for _, pk := range []payloadKind{kindJSON, kindUTF8} {
		for _, n := range append([]int{0, 1, 2, 3, 5, 17}, gridSizes...) {
			for k := range 20 {
				p := pk.payload(k, n)
				if len(p) != n || !utf8.Valid(p) {
					t.Fatalf("%s payload(%d, %d): %d bytes, valid %v", pk.name, k, n, len(p), utf8.Valid(p))
				}
			}
		}
	}
	if bytes.Equal(kindJSON.payload(0, 1000), kindJSON.payload(1, 1000)) {
		t.Error("payload(0) == payload(1)")
	}
	if !utf8.Valid(jsonCorpus()) || utf8.RuneCount(jsonCorpus()) == len(jsonCorpus()) {
		t.Error("the JSON corpus is not UTF-8 with non-ASCII characters")
	}
}

func TestCompressionCaseTable(t *testing.T) {
	all := CompressionCases()
	seen := map[string]bool{}
	groups := map[string]int{}
	for i, c := range all {
		if c.ID == "" || c.Description == "" || c.Family != "Compression" || c.Run == nil {
			t.Errorf("case %d (%q) is incomplete", i, c.ID)
		}
		if seen[c.ID] {
			t.Errorf("duplicate case ID %s", c.ID)
		}
		seen[c.ID] = true
		if i > 0 && compareIDs(all[i-1].ID, c.ID) >= 0 {
			t.Errorf("cases out of order: %s before %s", all[i-1].ID, c.ID)
		}
		parts := strings.Split(c.ID, ".")
		rerun := len(parts) > 1 && (parts[1] == fmt.Sprint(rerunGroup) || parts[1] == fmt.Sprint(rerunGroup+1))
		if len(parts) < 3 || parts[0] != "10" || len(parts) != 3 && !rerun {
			t.Errorf("case ID %s is not 10.group.case", c.ID)
		}
		groups[parts[1]]++
	}
	if 11+len(gridOffers) > rerunGroup {
		t.Errorf("the offer grid (10.11 to 10.%d) runs into the re-runs (10.%d)", 10+len(gridOffers), rerunGroup)
	}
	for g := 1; g < 11+len(gridOffers); g++ {
		if groups[fmt.Sprint(g)] < 5 {
			t.Errorf("group 10.%d has %d cases", g, groups[fmt.Sprint(g)])
		}
	}
	for g := rerunGroup; g <= rerunGroup+1; g++ {
		if n := groups[fmt.Sprint(g)]; n != len(Quick()) {
			t.Errorf("re-run group 10.%d has %d cases, families 1–9 have %d light ones", g, n, len(Quick()))
		}
	}
	for _, c := range Cases() {
		if strings.HasPrefix(c.ID, "10.") {
			t.Errorf("Cases includes compression case %s", c.ID)
		}
	}
}

// pmdServer is a fake permessage-deflate echo server with faults to inject.
type pmdServer struct {
	answer       string // the answer to a permessage-deflate offer
	keepTail     bool   // do not remove 00 00 ff ff from compressed messages
	context      bool   // compress with one window for the whole connection
	always       bool   // compress even when compression was not negotiated
	threshold    int    // compress messages of at least this many bytes
	ignoreWindow bool   // use a 32 KiB window whatever server_max_window_bits says
}

func (s pmdServer) serve(t *testing.T) Target {
	t.Helper()
	addr := testutil.TCPServer(t, func(conn net.Conn, _ func(net.Conn)) { s.conn(conn) })
	return Target{Addr: addr, Path: "/ws"}
}

func (s pmdServer) conn(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	// A first offer with server_max_window_bits=N is accepted with N
	// echoed, unless N is out of range; other parameters are not checked.
	offer, _, _ := strings.Cut(req.Header.Get("Sec-WebSocket-Extensions"), ",")
	on := strings.HasPrefix(offer, "permessage-deflate")
	answer, level := s.answer, flate.BestSpeed
	if _, v, ok := strings.Cut(offer, "server_max_window_bits="); ok {
		bits, _ := strconv.Atoi(strings.TrimSpace(strings.Split(v, ";")[0]))
		on = on && bits >= 8 && bits <= 15
		answer += fmt.Sprintf("; server_max_window_bits=%d", bits)
		if bits < 15 && !s.ignoreWindow {
			level = flate.HuffmanOnly
		}
	}
	ext := ""
	if on {
		ext = "Sec-WebSocket-Extensions: " + answer + "\r\n"
	}
	fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
		acceptKey(req.Header.Get("Sec-WebSocket-Key")), ext)
	var zw *flate.Writer
	var zb bytes.Buffer
	var msg []byte
	var op, rsv byte
	for {
		f, err := readFrame(br)
		if err != nil {
			return
		}
		switch f.Opcode {
		case OpPing:
			conn.Write(appendFrame(nil, true, 0, OpPong, f.Payload, nil))
			continue
		case OpClose:
			conn.Write(appendFrame(nil, true, 0, OpClose, f.Payload, nil))
			return
		case OpText, OpBinary:
			op, rsv, msg = f.Opcode, f.Rsv, nil
		}
		msg = append(msg, f.Payload...)
		if !f.Fin {
			continue
		}
		if rsv&RSV1 != 0 {
			if msg, err = inflateMessage(msg, nil, 64<<20); err != nil {
				conn.Write(appendFrame(nil, true, 0, OpClose, closePayload(1007, ""), nil))
				return
			}
		}
		if (on || s.always) && len(msg) >= s.threshold {
			if zw == nil || !s.context {
				zw, _ = flate.NewWriter(&zb, level)
			}
			zb.Reset()
			zw.Write(msg)
			zw.Flush()
			z := zb.Bytes()
			if !s.keepTail {
				z = bytes.TrimSuffix(z, deflateTail)
			}
			conn.Write(appendFrame(nil, true, RSV1, op, z, nil))
			continue
		}
		conn.Write(appendFrame(nil, true, 0, op, msg, nil))
	}
}

// pickCompression returns the cases of family 10 with these IDs.
func pickCompression(ids ...string) []Case { return pickFrom(CompressionCases(), ids...) }

func TestCompressionAgainstFakeServers(t *testing.T) {
	if testing.Short() {
		t.Skip("uses loopback servers")
	}
	ctx := context.Background()
	echoes := pickCompression("10.1.1", "10.1.10", "10.1.19", "10.2.1", "10.4.1", "10.4.3", "10.4.17", "10.7.5", "10.9.15", "10.11.3", "10.13.4", "10.19.4", "10.25.5.4.1", "10.25.1.2.6", "10.26.1.1.6")
	good := pmdServer{answer: DeflateResponse, threshold: 128}
	for _, r := range Run(ctx, good.serve(t), echoes) {
		if !r.OK {
			t.Errorf("%s against a good server: expected %s, got %s", r.ID, r.Expected, r.Got)
		}
	}
	// A server that compresses even tiny messages is fine too.
	for _, r := range Run(ctx, pmdServer{answer: DeflateResponse}.serve(t), pickCompression("10.1.1", "10.7.1")) {
		if !r.OK {
			t.Errorf("%s against a server compressing everything: expected %s, got %s", r.ID, r.Expected, r.Got)
		}
	}

	for name, tc := range map[string]struct {
		s    pmdServer
		id   string
		want string
	}{
		"tail kept":         {pmdServer{answer: DeflateResponse, keepTail: true, threshold: 128}, "10.7.5", "does not inflate"},
		"context kept":      {pmdServer{answer: DeflateResponse, context: true, threshold: 128}, "10.7.5", "does not inflate"},
		"wrong answer":      {pmdServer{answer: "permessage-deflate", threshold: 128}, "10.1.1", "ext(permessage-deflate), text("},
		"not negotiated":    {pmdServer{answer: DeflateResponse, always: true, threshold: 128}, "10.2.1", "reserved bits 100"},
		"bad answer":        {pmdServer{answer: "permessage-deflate; foo", threshold: 128}, "10.1.1", "unknown parameter"},
		"accepted declined": {pmdServer{answer: DeflateResponse, threshold: 128}, "10.2.4", "ext(" + DeflateResponse + ")"},
		"window ignored":    {pmdServer{answer: DeflateResponse, threshold: 128, ignoreWindow: true}, "10.19.4", "beyond the server's window of 256"},
	} {
		rs := Run(ctx, tc.s.serve(t), pickCompression(tc.id))
		if rs[0].OK || !strings.Contains(rs[0].Got, tc.want) {
			t.Errorf("%s: %s: OK %v, got %s; want a failure mentioning %q", name, tc.id, rs[0].OK, rs[0].Got, tc.want)
		}
	}
}
