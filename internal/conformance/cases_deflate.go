package conformance

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// DeflateResponse is the Sec-WebSocket-Extensions answer family 10 expects
// to an acceptable permessage-deflate offer without server_max_window_bits:
// the server asks both sides to compress every message on its own, and
// accepts (without echoing it) an offered client_max_window_bits (RFC 7692
// section 7.1.2.2 lets a server leave it out). An offer with
// server_max_window_bits=N, 8 to 15, must be accepted with exactly N echoed
// (section 7.1.2.1), as [deflateAnswer] says, and the server must then keep
// its back-references within 2^N bytes.
const DeflateResponse = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// deflateAnswer is the answer family 10 expects to an accepted offer whose
// server_max_window_bits is bits (0: the offer had none, DeflateResponse).
func deflateAnswer(bits int) string {
	if bits == 0 {
		return DeflateResponse
	}
	return fmt.Sprintf("%s; server_max_window_bits=%d", DeflateResponse, bits)
}

// CompressionCases returns family 10, permessage-deflate (RFC 7692), in ID
// order. It is not part of [Cases]: it needs a server with compression
// enabled, whose policy is the one [DeflateResponse] describes, that fails a
// message inflating past its limit (below 33 MiB) with 1009 and accepts
// messages of 16 MiB. Every case sends its own Sec-WebSocket-Extensions
// offer (Target.Extensions is not used), checks the answer exactly, and
// inflates the server's RSV1 messages strictly (see [Client.UseDeflate]),
// holding the server to the window it announced; the server may compress
// any message or not. Outcomes of groups 10.1–10.24 start with the answer,
// as ext(...) or ext(none); the re-runs fail with an error if it is wrong.
//
// Groups (Autobahn's 12.x and 13.x become 10.7–10.24):
//
//	10.1  acceptable offers, server_max_window_bits 8 to 15 included: the
//	      exact answer, then compressed and plain echoes
//	10.2  offers to decline: no extension, plain echoes that must stay plain
//	10.3  RSV1 when the extension is not in use: 1002
//	10.4  client compression variants: the RFC 7692 §7.2.3 examples, every
//	      compress/flate level, a fixed-Huffman encoder with small windows,
//	      sync flushes inside a message, a final block, odd fragmentation
//	10.5  protocol errors: RSV bits (1002), invalid UTF-8 once inflated and
//	      invalid DEFLATE data (1007), also failing fast, in the middle of a
//	      DEFLATE block whose end never comes
//	10.6  limits: decompression bombs (1009), also in a first frame whose
//	      message never ends, and a large ratio under the limit
//	10.7–10.10   Autobahn 12.x shape, offer "permessage-deflate": JSON text,
//	      repetitive UTF-8 text, random and compressible binary; messages of
//	      16 B to 128 KiB, one frame each (cases 1–10) and fragmented
//	      (cases 11–20)
//	10.11–10.24  Autobahn 13.x shape: one group per offer (the parameter
//	      combinations, windows of 8 to 15 bits, lists whose first offer is
//	      declined or accepted), mixed messages of 16 B to 128 KiB
//	10.25, 10.26 families 1–9 (without their heavy cases; family 3 with
//	      RSV1 meaning compressed, family 8 at a sixteenth of the sizes)
//	      re-run over permessage-deflate, the offers above in turn: the
//	      client compresses its messages frame by frame (10.25) or sends
//	      them uncompressed (10.26); "10.25.6.5.3" is 6.5.3 re-run
func CompressionCases() []Case {
	var all []Case
	for _, g := range [][]Case{pmdNegotiationCases(), pmdDeclinedCases(), pmdNotNegotiatedCases(),
		pmdClientVariantCases(), pmdErrorCases(), pmdLimitCases(), pmdEchoGridCases(), pmdOfferGridCases(),
		pmdRerunCases()} {
		all = append(all, g...)
	}
	for i := range all {
		all[i].Family = "Compression"
	}
	slices.SortStableFunc(all, func(a, b Case) int { return compareIDs(a.ID, b.ID) })
	return all
}

// pmdScript is what a family-10 case does once connected: its actions and
// the events they must produce; then, if code is 0, the client closes with
// 1000 and expects close(1000), tcp-closed, else the server must fail the
// connection with close(code) and close TCP.
type pmdScript struct {
	actions []action
	expect  []Event
	code    int
}

// extString renders a negotiation answer for the outcome strings.
func extString(ans string) string {
	if ans == "" {
		return "ext(none)"
	}
	return "ext(" + ans + ")"
}

// pmdCase builds a family-10 case: the client offers offer ("" sends no
// Sec-WebSocket-Extensions header), requires the answer to be exactly
// answer ("" means no extension), configures itself from the answer it got,
// and runs the script, built only when the case runs.
func pmdCase(id, desc, offer, answer string, build func() pmdScript) Case {
	return Case{ID: id, Description: desc, Run: func(ctx context.Context, t *Target) Outcome {
		s := build()
		sc := scenario{actions: s.actions, wait: 30 * time.Second}
		if s.code == 0 {
			sc.expect = append(slices.Clip(s.expect), closeEv(1000), tcpClosed)
			sc.closeAfter = true
		} else {
			sc.expect = append(slices.Clip(s.expect), closeEv(s.code), tcpClosed)
		}
		tt := *t
		tt.Extensions = offer
		got, answered := "", false
		sc.prepare = func(c *Client) error {
			got, answered = c.Extensions, true
			_, err := c.UseDeflate()
			return err
		}
		o := sc.run(ctx, &tt)
		o.Expected = extString(answer) + ", " + o.Expected
		if answered {
			o.Got = extString(got) + ", " + o.Got
		}
		o.OK = o.OK && answered && got == answer
		return o
	}}
}

// An encoding is how the client sends one message: plain (RSV1 = 0), or
// compressed by some encoder.
type encoding struct {
	name    string
	deflate func(p []byte) []byte // nil: sent uncompressed
}

var (
	encPlain = encoding{name: "uncompressed"}
	encFinal = encoding{"deflated ending with a BFINAL block", func(p []byte) []byte { return deflateFinal(p, flate.DefaultCompression) }}
)

// encLevel compresses with compress/flate at a level.
func encLevel(level int) encoding {
	name := fmt.Sprintf("deflated at level %d", level)
	switch level {
	case flate.NoCompression:
		name = "deflated as stored blocks"
	case flate.HuffmanOnly:
		name = "deflated Huffman-only"
	case flate.DefaultCompression:
		name = "deflated at the default level"
	}
	return encoding{name, func(p []byte) []byte { return deflateMessage(p, level) }}
}

// encFixed compresses with the suite's fixed-Huffman encoder and a window
// of 1<<bits bytes.
func encFixed(bits int) encoding {
	return encoding{fmt.Sprintf("fixed-Huffman deflated, %s window", sizeName(1<<bits)), func(p []byte) []byte {
		z, _ := fixedDeflate(p, bits)
		return z
	}}
}

// encFlushEvery compresses with a sync flush after every n input bytes.
func encFlushEvery(n int) encoding {
	return encoding{fmt.Sprintf("deflated with a sync flush every %d bytes", n), func(p []byte) []byte {
		return deflateFlushEvery(p, flate.DefaultCompression, n)
	}}
}

// encRaw sends fixed bytes with RSV1 whatever the payload.
func encRaw(z []byte) encoding {
	return encoding{"deflated", func([]byte) []byte { return z }}
}

// pmdMsg is one message a case sends.
type pmdMsg struct {
	op  byte
	p   []byte // the message (what the echo must carry)
	enc encoding
	fs  int // frame size in bytes of the data on the wire; 0: one frame
}

// frames encodes the message: the compressed (or plain) data cut into
// frames, RSV1 on the first one if compressed.
func (m pmdMsg) frames() []fr {
	wire := m.p
	if m.enc.deflate != nil {
		wire = m.enc.deflate(m.p)
	}
	parts := [][]byte{wire}
	if m.fs > 0 {
		parts = chunks(wire, m.fs)
	}
	if m.enc.deflate != nil {
		return deflatedFrames(m.op, parts)
	}
	return fragments(m.op, parts)
}

// event is the echo the message must produce.
func (m pmdMsg) event() Event { return msgEv(m.op, m.p) }

// framesOf encodes several messages back to back.
func framesOf(ms ...pmdMsg) []fr {
	var out []fr
	for _, m := range ms {
		out = append(out, m.frames()...)
	}
	return out
}

// echoScript sends the messages in one write and expects their echoes.
func echoScript(ms ...pmdMsg) pmdScript {
	s := pmdScript{actions: acts(send(framesOf(ms...)...))}
	for _, m := range ms {
		s.expect = append(s.expect, m.event())
	}
	return s
}

// failScript sends the frames in one write and expects the events pre, then
// close(code).
func failScript(code int, frs []fr, pre ...Event) pmdScript {
	return pmdScript{actions: acts(send(frs...)), expect: pre, code: code}
}

// Payload corpora: deterministic, generated once.
var (
	jsonCorpus   = sync.OnceValue(func() []byte { return genJSON(320 << 10) })
	utf8Corpus   = sync.OnceValue(func() []byte { return utf8Payload(320 << 10) })
	randomCorpus = sync.OnceValue(func() []byte { return genRandom(320 << 10) })
	recordCorpus = sync.OnceValue(func() []byte { return genRecords(320 << 10) })
)

// genJSON returns about n bytes of JSON-like records with some non-ASCII
// text: realistic, compressible text.
func genJSON(n int) []byte {
	r := rand.New(rand.NewPCG(7692, 1))
	names := []string{"Zoë", "Łukasz", "Ana", "Björn", "Øyvind", "José", "李雷", "Ἀθηνᾶ", "Chloé", "Saoirse", "Dvořák", "Иван", "Mia 🙂", "Jürgen", "Thảo"}
	cities := []string{"Zürich", "São Paulo", "Kraków", "東京", "Αθήνα", "Reykjavík", "Montréal", "Москва", "Berlin", "Paris"}
	tags := []string{"alpha", "beta", "gamma", "delta", "prod", "staging", "eu-west", "us-east", "vip", "trial"}
	var b bytes.Buffer
	b.WriteString("[\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `  {"id": %d, "user": %q, "email": "user%d@example.com", "active": %t, "score": %.4f, "tags": [%q, %q], "city": %q, "ts": "2024-%02d-%02dT%02d:%02d:%02dZ", "note": "order #%d shipped"},`+"\n",
			100000+i, names[r.IntN(len(names))], r.IntN(5000), r.IntN(3) > 0, r.Float64()*100,
			tags[r.IntN(len(tags))], tags[r.IntN(len(tags))], cities[r.IntN(len(cities))],
			1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e6))
	}
	return b.Bytes()
}

// genRandom returns n random bytes: incompressible.
func genRandom(n int) []byte {
	r := rand.New(rand.NewPCG(7692, 2))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[i:], w[:])
	}
	return b
}

// genRecords returns n bytes of fixed-size binary records (sequence number,
// timestamp, sensor, a slowly varying reading, flags): compressible binary.
func genRecords(n int) []byte {
	r := rand.New(rand.NewPCG(7692, 3))
	b := make([]byte, 0, n+16)
	v := int16(200)
	for i := 0; len(b) < n; i++ {
		v += int16(r.IntN(5) - 2)
		b = binary.LittleEndian.AppendUint32(b, uint32(i))
		b = binary.LittleEndian.AppendUint32(b, uint32(1700000000+i*10+r.IntN(3)))
		b = binary.LittleEndian.AppendUint16(b, uint16(i%8))
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
		b = append(b, byte(r.IntN(4)), 0, 0, 0)
	}
	return b[:n]
}

// textSlice returns exactly n bytes of valid UTF-8 taken from the UTF-8
// corpus c near offset off: it starts at a character boundary, and a
// character cut at the end is replaced by spaces.
func textSlice(c []byte, off, n int) []byte {
	if off+n+utf8.UTFMax > len(c) {
		off = 0
	}
	for !utf8.RuneStart(c[off]) {
		off++
	}
	b := append([]byte(nil), c[off:off+n]...)
	for k := 1; k <= utf8.UTFMax-1 && k <= len(b); k++ {
		if utf8.RuneStart(b[len(b)-k]) {
			if !utf8.FullRune(b[len(b)-k:]) {
				for j := len(b) - k; j < len(b); j++ {
					b[j] = ' '
				}
			}
			break
		}
	}
	return b
}

// A payloadKind is a family of messages: a corpus and an opcode.
type payloadKind struct {
	name   string
	op     byte
	corpus func() []byte
}

var (
	kindJSON    = payloadKind{"JSON text", OpText, jsonCorpus}
	kindUTF8    = payloadKind{"repetitive UTF-8 text", OpText, utf8Corpus}
	kindRandom  = payloadKind{"random binary", OpBinary, randomCorpus}
	kindRecords = payloadKind{"record binary", OpBinary, recordCorpus}
)

// payload returns the k-th message of n bytes of the kind: different k give
// different slices of the corpus.
func (pk payloadKind) payload(k, n int) []byte {
	c := pk.corpus()
	off := (k*40503 + n*7) % (len(c) - n - utf8.UTFMax)
	if pk.op == OpText {
		return textSlice(c, off, n)
	}
	return append([]byte(nil), c[off:off+n]...)
}

// gridSizes are Autobahn 12.x's message sizes.
var gridSizes = []int{16, 64, 256, 1 << 10, 4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10}

// gridFrameSize is the frame size of the fragmented grid cases for messages
// of n bytes.
func gridFrameSize(n int) int {
	switch {
	case n <= 64:
		return 4
	case n <= 1<<10:
		return 64
	case n <= 16<<10:
		return 256
	case n <= 32<<10:
		return 1 << 10
	}
	return 4 << 10
}

// describeEncodings summarises how the messages of a case are sent.
func describeEncodings(ms []pmdMsg) string {
	var names []string
	for _, m := range ms {
		if !slices.Contains(names, m.enc.name) {
			names = append(names, m.enc.name)
		}
	}
	return strings.Join(names, ", ")
}

// pmdEchoGridCases is Autobahn 12.x's shape: for each payload kind, 4
// messages per size, each a different slice of the corpus, sent in one
// write, whole (cases 1–10) and fragmented (11–20); they are compressed in
// turn by several encoders, or not at all.
func pmdEchoGridCases() []Case {
	encs := []encoding{encLevel(flate.BestSpeed), encLevel(flate.DefaultCompression), encPlain,
		encLevel(flate.BestCompression), encLevel(flate.HuffmanOnly), encFixed(15), encLevel(flate.NoCompression)}
	var cs []Case
	for g, pk := range []payloadKind{kindJSON, kindUTF8, kindRandom, kindRecords} {
		for frag := range 2 {
			for i, n := range gridSizes {
				fs := 0
				if frag == 1 {
					fs = gridFrameSize(n)
				}
				ms := make([]pmdMsg, 4)
				for k := range ms {
					ms[k] = pmdMsg{op: pk.op, enc: encs[(i+k)%len(encs)], fs: fs}
				}
				desc := fmt.Sprintf("4 %s messages of %s, ", pk.name, sizeName(n))
				if fs == 0 {
					desc += "one frame each"
				} else {
					desc += fmt.Sprintf("in frames of %s", sizeName(fs))
				}
				desc += ": " + describeEncodings(ms)
				cs = append(cs, pmdCase(fmt.Sprintf("10.%d.%d", 7+g, frag*10+i+1), desc, "permessage-deflate", DeflateResponse,
					func() pmdScript {
						for k := range ms {
							ms[k].p = pk.payload(k, n)
						}
						return echoScript(ms...)
					}))
			}
		}
	}
	return cs
}

// gridOffers are the offers of Autobahn 13.x's shape with the answer each
// must get: serverBits is the server_max_window_bits of the offer accepted
// (0: none), which the client then holds the server to; clientBits is the
// client_max_window_bits it names, which the client keeps to (0: none, or
// no value).
var gridOffers = []struct {
	offer                  string
	serverBits, clientBits int
}{
	{"permessage-deflate", 0, 0},
	{"permessage-deflate; client_no_context_takeover", 0, 0},
	{"permessage-deflate; server_no_context_takeover", 0, 0},
	{"permessage-deflate; client_no_context_takeover; server_no_context_takeover", 0, 0},
	{"permessage-deflate; client_max_window_bits", 0, 0},
	{"permessage-deflate; client_max_window_bits=9", 0, 9},
	{"permessage-deflate; server_max_window_bits=15", 15, 0},
	// The first offer is invalid (window 7): the second is accepted.
	{"permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits=9", 0, 9},
	// Autobahn 13.3 and 13.5: the smallest window the server may be
	// held to, 256 bytes.
	{"permessage-deflate; server_max_window_bits=8", 8, 0},
	{"permessage-deflate; client_max_window_bits; server_max_window_bits=8; server_no_context_takeover", 8, 0},
	// Autobahn 13.6, and windows in between.
	{"permessage-deflate; client_max_window_bits; server_max_window_bits=15; server_no_context_takeover", 15, 0},
	{"permessage-deflate; server_max_window_bits=9; client_max_window_bits=9", 9, 9},
	{"permessage-deflate; server_max_window_bits=12; client_no_context_takeover", 12, 0},
	// Autobahn 13.7: a list whose first offer is accepted.
	{"permessage-deflate; client_max_window_bits; server_max_window_bits=10; server_no_context_takeover, " +
		"permessage-deflate; client_max_window_bits; server_no_context_takeover, permessage-deflate; client_max_window_bits", 10, 0},
}

// pmdOfferGridCases is Autobahn 13.x's shape: for each offer, six mixed
// messages (text and binary, compressed or not, whole or fragmented) of
// each of five sizes.
func pmdOfferGridCases() []Case {
	var cs []Case
	for g, o := range gridOffers {
		enc := func(level int) encoding {
			if o.clientBits > 0 {
				return encFixed(o.clientBits)
			}
			return encLevel(level)
		}
		for i, n := range []int{16, 256, 4 << 10, 32 << 10, 128 << 10} {
			ms := []pmdMsg{
				{op: OpText, enc: enc(flate.DefaultCompression)},
				{op: OpBinary, enc: enc(flate.BestSpeed), fs: 1 << 10},
				{op: OpBinary, enc: encPlain},
				{op: OpText, enc: enc(flate.BestCompression), fs: 256},
				{op: OpText, enc: encPlain, fs: 256},
				{op: OpBinary, enc: enc(flate.HuffmanOnly)},
			}
			kinds := []payloadKind{kindJSON, kindRandom, kindRecords, kindJSON, kindUTF8, kindRecords}
			desc := fmt.Sprintf("offer %q: 6 text and binary messages of %s, whole and in frames of 256 B and 1 KiB: %s",
				o.offer, sizeName(n), describeEncodings(ms))
			cs = append(cs, pmdCase(fmt.Sprintf("10.%d.%d", 11+g, i+1), desc, o.offer, deflateAnswer(o.serverBits), func() pmdScript {
				for k := range ms {
					ms[k].p = kinds[k].payload(k, n)
				}
				return echoScript(ms...)
			}))
		}
	}
	return cs
}

// acceptedScript is the exchange after an accepted offer: compressed and
// plain messages, whole and fragmented, then a ping and a tiny compressed
// message. bits > 0 makes the client compress with a window of 1<<bits.
func acceptedScript(bits int) pmdScript {
	enc := encLevel(flate.DefaultCompression)
	if bits > 0 {
		enc = encFixed(bits)
	}
	ms := []pmdMsg{
		{op: OpText, p: kindJSON.payload(0, 300), enc: enc},
		{op: OpText, p: []byte("Hello"), enc: encPlain},
		{op: OpBinary, p: kindRecords.payload(0, 1000), enc: enc, fs: 100},
	}
	hi := pmdMsg{op: OpText, p: []byte("Hi"), enc: enc}
	ping := []byte("ping")
	return pmdScript{
		actions: acts(send(framesOf(ms...)...), waitN(3), send(pingFr(ping)), waitN(4), send(hi.frames()...)),
		expect:  []Event{ms[0].event(), ms[1].event(), ms[2].event(), pongEv(ping), hi.event()},
	}
}

// pmdNegotiationCases is group 10.1: acceptable offers.
func pmdNegotiationCases() []Case {
	offers := []struct {
		offer      string
		serverBits int // server_max_window_bits of the accepted offer
		bits       int // client_max_window_bits the client keeps to
	}{
		{"permessage-deflate", 0, 0},
		{"permessage-deflate; client_no_context_takeover", 0, 0},
		{"permessage-deflate; server_no_context_takeover", 0, 0},
		{"permessage-deflate; client_no_context_takeover; server_no_context_takeover", 0, 0},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", 0, 0},
		{"permessage-deflate; client_max_window_bits", 0, 0},
		{"permessage-deflate; client_max_window_bits=9", 0, 9},
		{"permessage-deflate; client_max_window_bits=8", 0, 8},
		{"permessage-deflate; client_max_window_bits=15", 0, 0},
		{"permessage-deflate; server_max_window_bits=15", 15, 0},
		{"permessage-deflate; client_max_window_bits; server_max_window_bits=15; client_no_context_takeover; server_no_context_takeover", 15, 0},
		{`permessage-deflate; client_max_window_bits="10"`, 0, 10},
		{"permessage-deflate;client_no_context_takeover;client_max_window_bits=12", 0, 12},
		{"x-webkit-deflate-frame, permessage-deflate", 0, 0},
		{"permessage-deflate; server_max_window_bits=9, permessage-deflate", 9, 0},
		{"permessage-deflate; foo, permessage-deflate; client_max_window_bits", 0, 0},
		{"permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=14, permessage-deflate; server_max_window_bits=15", 8, 0},
		{"foo-extension; bar=1, permessage-deflate; client_no_context_takeover", 0, 0},
		{"permessage-deflate; server_max_window_bits=8", 8, 0},
		{"permessage-deflate; server_max_window_bits=9", 9, 0},
		{"permessage-deflate; server_max_window_bits=14", 14, 0},
		{"permessage-deflate; server_max_window_bits=11; client_max_window_bits=8", 11, 8},
		{`permessage-deflate; server_max_window_bits="13"`, 13, 0},
		{"permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=10", 10, 0},
	}
	var cs []Case
	for i, o := range offers {
		desc := fmt.Sprintf("offer %q is accepted; then compressed and uncompressed messages, a ping", o.offer)
		if o.bits > 0 {
			desc += fmt.Sprintf("; the client compresses with a %s window", sizeName(1<<o.bits))
		}
		if o.serverBits > 0 {
			desc += fmt.Sprintf(" with server_max_window_bits=%d echoed", o.serverBits)
		}
		cs = append(cs, pmdCase(fmt.Sprintf("10.1.%d", i+1), desc, o.offer, deflateAnswer(o.serverBits),
			func() pmdScript { return acceptedScript(o.bits) }))
	}
	return cs
}

// pmdDeclinedCases is group 10.2: offers the server must decline; the
// connection then works without compression, and the server must not set
// RSV1 on its messages.
func pmdDeclinedCases() []Case {
	offers := []string{
		"permessage-deflate; server_max_window_bits=7",
		"permessage-deflate; server_max_window_bits=08",
		"permessage-deflate; server_max_window_bits=+9",
		"permessage-deflate; server_max_window_bits",
		"permessage-deflate; server_max_window_bits=16",
		"permessage-deflate; client_max_window_bits=16",
		"permessage-deflate; client_max_window_bits=7",
		"permessage-deflate; client_max_window_bits=0",
		"permessage-deflate; client_max_window_bits=abc",
		"permessage-deflate; server_no_context_takeover=1",
		"permessage-deflate; client_no_context_takeover=true",
		"permessage-deflate; client_no_context_takeover; client_no_context_takeover",
		"permessage-deflate; client_max_window_bits=10; client_max_window_bits=10",
		"permessage-deflate; server_max_window_bits=15; server_max_window_bits=15",
		"permessage-deflate; foo",
		"permessage-deflate; foo=1",
		"x-webkit-deflate-frame",
		"permessage-deflate; server_max_window_bits=7, permessage-deflate; foo, permessage-deflate; client_max_window_bits=16",
		"permessage-deflate; client_max_window_bits; client_max_window_bits",
		"permessage-deflate; client_max_window_bits; client_max_window_bits=9",
	}
	var cs []Case
	for i, offer := range offers {
		cs = append(cs, pmdCase(fmt.Sprintf("10.2.%d", i+1),
			fmt.Sprintf("offer %q is declined; then uncompressed messages of 300 and 1000 bytes and a ping", offer),
			offer, "", func() pmdScript {
				ms := []pmdMsg{
					{op: OpText, p: kindJSON.payload(0, 300), enc: encPlain},
					{op: OpBinary, p: kindRecords.payload(0, 1000), enc: encPlain, fs: 100},
				}
				ping := []byte("ping")
				return pmdScript{
					actions: acts(send(framesOf(ms...)...), waitN(2), send(pingFr(ping))),
					expect:  []Event{ms[0].event(), ms[1].event(), pongEv(ping)},
				}
			}))
	}
	return cs
}

// rfcHello is RFC 7692 §7.2.3.1: "Hello" compressed, tail removed.
var rfcHello = []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}

// pmdNotNegotiatedCases is group 10.3: RSV1 is a protocol error when
// permessage-deflate is not in use, even on a server that supports it.
func pmdNotNegotiatedCases() []Case {
	hello := pmdMsg{op: OpText, p: []byte("Hello"), enc: encRaw(rfcHello)}
	plain := pmdMsg{op: OpText, p: kindJSON.payload(0, 300), enc: encPlain}
	zbin := pmdMsg{op: OpBinary, p: kindRecords.payload(0, 1000), enc: encLevel(flate.DefaultCompression)}
	return []Case{
		pmdCase("10.3.1", "no offer; a compressed (RSV1) text message", "", "",
			func() pmdScript { return failScript(1002, hello.frames()) }),
		pmdCase("10.3.2", "no offer; an uncompressed text message of 300 bytes (echoed uncompressed), then a compressed binary message", "", "",
			func() pmdScript { return failScript(1002, framesOf(plain, zbin), plain.event()) }),
		pmdCase("10.3.3", `declined offer "permessage-deflate; server_max_window_bits=7"; a compressed text message`,
			"permessage-deflate; server_max_window_bits=7", "",
			func() pmdScript { return failScript(1002, hello.frames()) }),
		pmdCase("10.3.4", `offer "x-webkit-deflate-frame" (not supported); a compressed text message`, "x-webkit-deflate-frame", "",
			func() pmdScript { return failScript(1002, hello.frames()) }),
		pmdCase("10.3.5", `declined offer "permessage-deflate; foo"; an uncompressed message, then a compressed one`,
			"permessage-deflate; foo", "",
			func() pmdScript { return failScript(1002, framesOf(plain, zbin), plain.event()) }),
	}
}

// pmdClientVariantCases is group 10.4: the ways a client may compress.
func pmdClientVariantCases() []Case {
	const offer = "permessage-deflate"
	c := func(id, desc string, build func() pmdScript) Case {
		return pmdCase(id, desc, offer, DeflateResponse, build)
	}
	one := func(m pmdMsg) func() pmdScript { return func() pmdScript { return echoScript(m) } }
	hello := []byte("Hello")
	json64 := func() []byte { return kindJSON.payload(1, 64<<10) }
	return []Case{
		c("10.4.1", "RFC 7692 §7.2.3.1: \"Hello\" compressed (f2 48 cd c9 c9 07 00), text",
			one(pmdMsg{op: OpText, p: hello, enc: encRaw(rfcHello)})),
		c("10.4.2", "RFC 7692 §7.2.3.1: \"Hello\" compressed, binary",
			one(pmdMsg{op: OpBinary, p: hello, enc: encRaw(rfcHello)})),
		c("10.4.3", "RFC 7692 §7.2.3.3: \"Hello\" in a stored block",
			one(pmdMsg{op: OpText, p: hello, enc: encRaw([]byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00})})),
		c("10.4.4", "RFC 7692 §7.2.3.5: \"Hello\" in a block with BFINAL set",
			one(pmdMsg{op: OpText, p: hello, enc: encRaw([]byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})})),
		c("10.4.5", "RFC 7692 §7.2.3.6: \"Hello\" in two DEFLATE blocks",
			one(pmdMsg{op: OpText, p: hello, enc: encRaw([]byte{0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00})})),
		c("10.4.6", "empty text message compressed (a single 00 byte)",
			one(pmdMsg{op: OpText, p: []byte{}, enc: encLevel(flate.DefaultCompression)})),
		c("10.4.7", "empty binary message compressed as a final fixed-Huffman block (03 00)",
			one(pmdMsg{op: OpBinary, p: []byte{}, enc: encRaw([]byte{0x03, 0x00})})),
		c("10.4.8", "JSON text of 64 KiB deflated as stored blocks",
			func() pmdScript {
				return echoScript(pmdMsg{op: OpText, p: json64(), enc: encLevel(flate.NoCompression)})
			}),
		c("10.4.9", "JSON text of 64 KiB deflated Huffman-only",
			func() pmdScript { return echoScript(pmdMsg{op: OpText, p: json64(), enc: encLevel(flate.HuffmanOnly)}) }),
		c("10.4.10", "JSON text of 64 KiB, fixed-Huffman deflated with a 256 B window",
			func() pmdScript { return echoScript(pmdMsg{op: OpText, p: json64(), enc: encFixed(8)}) }),
		c("10.4.11", "JSON text of 64 KiB deflated, ending with a BFINAL block (RFC 7692 §7.2.3.5)",
			func() pmdScript { return echoScript(pmdMsg{op: OpText, p: json64(), enc: encFinal}) }),
		c("10.4.12", "JSON text of 64 KiB deflated with a sync flush (00 00 ff ff) every 1000 bytes",
			func() pmdScript { return echoScript(pmdMsg{op: OpText, p: json64(), enc: encFlushEvery(1000)}) }),
		c("10.4.13", "binary of 64 KiB (32 KiB random, twice), fixed-Huffman deflated with back-references 32768 bytes back",
			func() pmdScript {
				r := kindRandom.payload(0, 32<<10)
				return echoScript(pmdMsg{op: OpBinary, p: append(slices.Clip(r), r...), enc: encFixed(15)})
			}),
		c("10.4.14", "JSON text of 4 KiB deflated, in 1-byte frames",
			func() pmdScript {
				return echoScript(pmdMsg{op: OpText, p: kindJSON.payload(2, 4<<10), enc: encLevel(flate.DefaultCompression), fs: 1})
			}),
		c("10.4.15", "deflated text: an empty first frame (RSV1), then the data in 2 continuations",
			func() pmdScript {
				p := kindJSON.payload(3, 1000)
				z := deflateMessage(p, flate.DefaultCompression)
				return pmdScript{actions: acts(send(deflatedFrames(OpText, [][]byte{{}, z[:len(z)/2], z[len(z)/2:]})...)), expect: []Event{msgEv(OpText, p)}}
			}),
		c("10.4.16", "deflated text in one frame with FIN=0, then an empty FIN continuation",
			func() pmdScript {
				p := kindJSON.payload(4, 1000)
				z := deflateMessage(p, flate.DefaultCompression)
				return pmdScript{actions: acts(send(deflatedFrames(OpText, [][]byte{z, {}})...)), expect: []Event{msgEv(OpText, p)}}
			}),
		c("10.4.17", "deflated text in 3 frames with a ping between each pair: pongs first",
			func() pmdScript {
				p := kindJSON.payload(5, 2000)
				frs := deflatedFrames(OpText, split(deflateMessage(p, flate.DefaultCompression), 3))
				p1, p2 := []byte("ping 1"), []byte("ping 2")
				return pmdScript{
					actions: acts(send(frs[0], pingFr(p1), frs[1], pingFr(p2), frs[2])),
					expect:  []Event{pongEv(p1), pongEv(p2), msgEv(OpText, p)},
				}
			}),
		c("10.4.18", "deflated text of 1 KiB in 2 frames, 1-byte writes",
			func() pmdScript {
				m := pmdMsg{op: OpText, p: kindJSON.payload(6, 1<<10), enc: encLevel(flate.DefaultCompression), fs: 200}
				return pmdScript{actions: acts(chopped(1, m.frames()...)), expect: []Event{m.event()}}
			}),
		c("10.4.19", "100 deflated text messages of 256 B (10 different ones, each 10 times in a row), one write",
			func() pmdScript {
				ms := make([]pmdMsg, 100)
				for k := range ms {
					ms[k] = pmdMsg{op: OpText, p: kindJSON.payload(k/10, 256), enc: encLevel(flate.BestSpeed)}
				}
				return echoScript(ms...)
			}),
		c("10.4.20", "the same 1 KiB text 8 times, alternately deflated and uncompressed, one write",
			func() pmdScript {
				p := kindJSON.payload(7, 1<<10)
				ms := make([]pmdMsg, 8)
				for k := range ms {
					ms[k] = pmdMsg{op: OpText, p: p, enc: encLevel(flate.DefaultCompression)}
					if k%2 == 1 {
						ms[k].enc = encPlain
					}
				}
				return echoScript(ms...)
			}),
		c("10.4.21", "JSON text of 1 MiB deflated, one frame",
			func() pmdScript {
				return echoScript(pmdMsg{op: OpText, p: bytes.Repeat(kindJSON.payload(8, 256<<10), 4), enc: encLevel(flate.BestSpeed)})
			}),
		c("10.4.22", "random binary of 1 MiB deflated, in frames of 64 KiB",
			func() pmdScript {
				p := bytes.Repeat(kindRandom.payload(9, 256<<10), 4) // 256 KiB apart: no match in a 32 KiB window
				return echoScript(pmdMsg{op: OpBinary, p: p, enc: encLevel(flate.BestSpeed), fs: 64 << 10})
			}),
		heavy(c("10.4.23", "JSON text of 16 MiB deflated, in frames of 1 MiB", func() pmdScript {
			return echoScript(pmdMsg{op: OpText, p: bytes.Repeat(kindJSON.payload(10, 256<<10), 64), enc: encLevel(flate.BestSpeed), fs: 1 << 20})
		})),
	}
}

// heavy marks a case as heavy (left out by quick runs) with a long timeout.
func heavy(c Case) Case {
	c.Heavy, c.Timeout = true, 120*time.Second
	return c
}

// corruptDynamicHeader is a dynamic-Huffman block whose code-length code is
// over-subscribed (four codes of one bit).
func corruptDynamicHeader() []byte {
	w := &bitWriter{}
	w.bits(0, 1) // BFINAL
	w.bits(2, 2) // BTYPE = 10, dynamic
	w.bits(0, 5) // HLIT: 257 codes
	w.bits(0, 5) // HDIST: 1 code
	w.bits(0, 4) // HCLEN: 4 code length codes
	for range 4 {
		w.bits(1, 3)
	}
	w.bits(0, 16)
	w.align()
	return w.out
}

// distanceBeforeStart is a fixed-Huffman block whose first symbol is a
// back-reference (length 3, distance 1) with nothing before it.
func distanceBeforeStart() []byte {
	w := &bitWriter{}
	w.bits(0, 1)
	w.bits(1, 2)
	w.fixedSymbol(257) // length 3
	w.code(0, 5)       // distance 1
	w.fixedSymbol(256)
	w.bits(0, 3)
	w.align()
	return w.out
}

// truncatedDeflate is a compressed message cut inside its dynamic-Huffman
// block.
func truncatedDeflate() []byte {
	z := deflateMessage(kindJSON.payload(11, 4<<10), flate.DefaultCompression)
	return z[:len(z)/2]
}

// pmdErrorCases is group 10.5: protocol errors under permessage-deflate.
func pmdErrorCases() []Case {
	const offer = "permessage-deflate"
	c := func(id, desc string, build func() pmdScript) Case {
		return pmdCase(id, desc, offer, DeflateResponse, build)
	}
	hello := []byte("Hello")
	zHello := pmdMsg{op: OpText, p: hello, enc: encRaw(rfcHello)}
	after := []byte("after")
	with := func(f fr, rsv byte) fr { f.rsv = rsv; return f }
	deflatedText := func(s string) []byte { return deflateMessage([]byte(s), flate.DefaultCompression) }
	bad := func(z []byte) []fr { return deflatedFrames(OpBinary, [][]byte{z}) }
	return []Case{
		c("10.5.1", "deflated text in 2 frames whose FIN continuation has RSV1", func() pmdScript {
			frs := deflatedFrames(OpText, split(rfcHello, 2))
			frs[1].rsv = RSV1
			return failScript(1002, frs)
		}),
		c("10.5.2", "uncompressed text in 2 frames whose FIN continuation has RSV1", func() pmdScript {
			return failScript(1002, []fr{frag(OpText, false, []byte("Hel")), with(contFr(true, []byte("lo")), RSV1)})
		}),
		c("10.5.3", "ping with RSV1", func() pmdScript { return failScript(1002, []fr{with(pingFr(hello), RSV1)}) }),
		c("10.5.4", "pong with RSV1", func() pmdScript { return failScript(1002, []fr{with(pongFr(hello), RSV1)}) }),
		c("10.5.5", "close 1000 with RSV1", func() pmdScript { return failScript(1002, []fr{with(closeFr(1000, ""), RSV1)}) }),
		c("10.5.6", "deflated text with RSV1 and RSV2", func() pmdScript {
			return failScript(1002, []fr{{fin: true, rsv: RSV1 | RSV2, op: OpText, payload: rfcHello}})
		}),
		c("10.5.7", "deflated text with RSV1 and RSV3", func() pmdScript {
			return failScript(1002, []fr{{fin: true, rsv: RSV1 | RSV3, op: OpText, payload: rfcHello}})
		}),
		c("10.5.8", "uncompressed text with RSV2", func() pmdScript {
			return failScript(1002, []fr{with(textB(hello), RSV2)})
		}),
		c("10.5.9", "deflated text, then a ping with RSV1, then a ping, one write", func() pmdScript {
			return failScript(1002, append(zHello.frames(), with(pingFr(hello), RSV1), pingFr(after)), zHello.event())
		}),
		c("10.5.10", "deflated text inflating to invalid UTF-8 (a surrogate)", func() pmdScript {
			return failScript(1007, deflatedFrames(OpText, [][]byte{deflatedText(kosmeEdited)}))
		}),
		c("10.5.11", "deflated text, then deflated text inflating to invalid UTF-8, then a ping, one write", func() pmdScript {
			return failScript(1007, append(zHello.frames(), append(deflatedFrames(OpText, [][]byte{deflatedText("\xc0\x80 overlong NUL")}), pingFr(after))...),
				zHello.event())
		}),
		c("10.5.12", "deflated text of 64 KiB + 1 in 4 frames inflating to invalid UTF-8 in its last byte", func() pmdScript {
			p := append(kindJSON.payload(12, 64<<10), 0xff)
			return failScript(1007, deflatedFrames(OpText, split(deflateMessage(p, flate.DefaultCompression), 4)))
		}),
		c("10.5.13", "deflated text inflating to a cut UTF-8 sequence at its end", func() pmdScript {
			return failScript(1007, deflatedFrames(OpText, [][]byte{deflatedText("κόσμε\xce")}))
		}),
		c("10.5.14", "deflated text: a stored block holding a surrogate (ED A0 80)", func() pmdScript {
			return failScript(1007, deflatedFrames(OpText, [][]byte{{0x00, 0x03, 0x00, 0xfc, 0xff, 0xed, 0xa0, 0x80, 0x00}}))
		}),
		c("10.5.15", "deflated binary with the reserved block type 11", func() pmdScript {
			return failScript(1007, bad([]byte{0xff, 0xff, 0xff}))
		}),
		c("10.5.16", "deflated binary: a stored block whose LEN and NLEN disagree", func() pmdScript {
			return failScript(1007, bad([]byte{0x00, 0x05, 0x00, 0xfb, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}))
		}),
		c("10.5.17", "deflated binary: a stored block of 5 bytes with 3 in the message", func() pmdScript {
			return failScript(1007, bad([]byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c}))
		}),
		c("10.5.18", "deflated binary: a dynamic-Huffman block with an over-subscribed code", func() pmdScript {
			return failScript(1007, bad(corruptDynamicHeader()))
		}),
		c("10.5.19", "deflated binary starting with a back-reference (nothing before it)", func() pmdScript {
			return failScript(1007, bad(distanceBeforeStart()))
		}),
		c("10.5.20", "RFC 7692 §7.2.3.2: \"Hello\", then \"Hello\" referring to the first message, which client_no_context_takeover forbids", func() pmdScript {
			return failScript(1007, append(zHello.frames(), deflatedFrames(OpText, [][]byte{{0xf2, 0x00, 0x11, 0x00, 0x00}})...), zHello.event())
		}),
		c("10.5.21", "deflated binary cut in the middle of its Huffman block", func() pmdScript {
			return failScript(1007, bad(truncatedDeflate()))
		}),
		// Fail fast (as 6.5 without compression): the invalid byte is
		// in the middle of a DEFLATE block of which only a part is
		// ever sent, so a server that inflates whole messages, or
		// whole blocks, waits for ever.
		c("10.5.22", "fail fast: deflated text of 64 KiB with a surrogate at byte 1000, one DEFLATE block; only the first half of the compressed data is sent (FIN=0), the rest never is", func() pmdScript {
			z := deflateMessage(surrogateAt(1000, 64<<10), flate.DefaultCompression)
			return failScript(1007, []fr{{rsv: RSV1, op: OpText, payload: z[:len(z)/2]}})
		}),
		c("10.5.23", "fail fast: deflated text of 64 KiB with a surrogate at byte 40000, in frames of 512 B of compressed data; the last 8 frames are never sent", func() pmdScript {
			z := deflateMessage(surrogateAt(40000, 64<<10), flate.BestSpeed)
			frs := deflatedFrames(OpText, chunks(z, 512))
			return failScript(1007, frs[:len(frs)-8])
		}),
		c("10.5.24", "fail fast: deflated text, a valid first frame (FIN=0), then a continuation announcing 64 KiB of which only the compressed form of \"Hello\" C0 80 (a sync flush) is sent", func() pmdScript {
			d := newMsgDeflater(flate.DefaultCompression)
			first := d.frame(fr{op: OpText, payload: kindJSON.payload(16, 2000)})
			rest := d.frame(fr{op: OpContinuation, payload: []byte("Hello\xc0\x80")})
			rest.declLen = 64 << 10 // set after: the frame announces 64 KiB, whatever it carries
			return failScript(1007, []fr{first, rest})
		}),
	}
}

// surrogateAt returns n bytes of valid UTF-8 text with the surrogate
// U+D800 (ED A0 80) at byte at.
func surrogateAt(at, n int) []byte {
	p := append(kindJSON.payload(14, at), 0xed, 0xa0, 0x80)
	return append(p, kindJSON.payload(15, n-len(p))...)
}

// pmdLimitCases is group 10.6: the message limit applies to the inflated
// size. The bombs assume a limit below 33 MiB.
func pmdLimitCases() []Case {
	const offer = "permessage-deflate"
	c := func(id, desc string, build func() pmdScript) Case {
		cs := pmdCase(id, desc, offer, DeflateResponse, build)
		cs.Timeout = 60 * time.Second
		return cs
	}
	return []Case{
		c("10.6.1", "deflated binary inflating to 33 MiB of zeros (about 33 KB sent), one frame", func() pmdScript {
			return failScript(1009, deflatedFrames(OpBinary, [][]byte{deflateBomb(33)}))
		}),
		c("10.6.2", "deflated text inflating to 33 MiB of NUL characters, in frames of 1 KiB", func() pmdScript {
			return failScript(1009, deflatedFrames(OpText, chunks(deflateBomb(33), 1<<10)))
		}),
		c("10.6.3", "decompression bomb: deflated binary inflating to 1 GiB (about 1 MB sent), one frame", func() pmdScript {
			return failScript(1009, deflatedFrames(OpBinary, [][]byte{deflateBomb(1 << 10)}))
		}),
		c("10.6.4", "decompression bomb: deflated binary inflating to 1 GiB, in frames of 4 KiB", func() pmdScript {
			return failScript(1009, deflatedFrames(OpBinary, chunks(deflateBomb(1<<10), 4<<10)))
		}),
		c("10.6.5", "echo, then a bomb: deflated text of 1 KiB, then deflated binary inflating to 33 MiB, then a ping, one write", func() pmdScript {
			m := pmdMsg{op: OpText, p: kindJSON.payload(13, 1<<10), enc: encLevel(flate.DefaultCompression)}
			return failScript(1009, append(append(m.frames(), deflatedFrames(OpBinary, [][]byte{deflateBomb(33)})...), pingFr([]byte("after"))), m.event())
		}),
		c("10.6.6", "deflated binary inflating to 8 MiB of zeros (ratio 1000:1, under the limit)", func() pmdScript {
			return echoScript(pmdMsg{op: OpBinary, p: make([]byte, 8<<20), enc: encRaw(deflateBomb(8))})
		}),
		// The limit applies as the bytes are produced: a message whose
		// first frame alone inflates past it fails without its end.
		c("10.6.7", "decompression bomb: the first frame (FIN=0) of a deflated binary message inflates to 33 MiB; nothing more is sent", func() pmdScript {
			return failScript(1009, []fr{{rsv: RSV1, op: OpBinary, payload: deflateBomb(33)}})
		}),
		c("10.6.8", "decompression bomb: deflated text inflating to 1 GiB of NUL characters in frames of 1 KiB, of which only the first 100 KiB are sent (FIN=0)", func() pmdScript {
			frs := deflatedFrames(OpText, chunks(deflateBomb(1<<10), 1<<10))
			return failScript(1009, frs[:100])
		}),
	}
}
