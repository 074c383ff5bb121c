package deflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNegotiate(t *testing.T) {
	with := func(n int) string { return fmt.Sprintf("%s; server_max_window_bits=%d", Response, n) }
	for _, tc := range []struct {
		offer, want string
		bits        int
	}{
		{"permessage-deflate", Response, 15},
		{"permessage-deflate; client_max_window_bits", Response, 15},
		{"permessage-deflate; client_max_window_bits=10", Response, 15},
		{`permessage-deflate; client_max_window_bits="10"`, Response, 15},
		{"permessage-deflate; server_max_window_bits=15", with(15), 15},
		{"permessage-deflate; server_max_window_bits=14", with(14), 14},
		{"permessage-deflate; server_max_window_bits=10", with(10), 10},
		{"permessage-deflate; server_max_window_bits=8", with(8), 8},
		{"permessage-deflate; server_max_window_bits=8; client_max_window_bits; client_no_context_takeover", with(8), 8},
		{"permessage-deflate; server_no_context_takeover", Response, 15},
		{"permessage-deflate; client_no_context_takeover", Response, 15},
		{"permessage-deflate; foo, permessage-deflate; server_max_window_bits=9", with(9), 9},
		{"permessage-deflate; server_max_window_bits=10, permessage-deflate", with(10), 10},
		{"permessage-deflate; server_max_window_bits", "", 15},
		{"permessage-deflate; server_max_window_bits=7", "", 15},
		{"permessage-deflate; server_max_window_bits=16", "", 15},
		{"permessage-deflate; server_max_window_bits=08", "", 15},
		{"permessage-deflate; client_max_window_bits=16", "", 15},
		{"permessage-deflate; client_max_window_bits; client_max_window_bits", "", 15},
		{"permessage-deflate; client_max_window_bits; client_max_window_bits=9", "", 15},
		{"permessage-deflate; server_max_window_bits=9; server_max_window_bits=9", "", 15},
		{"permessage-deflate; foo=1", "", 15},
		{"permessage-deflate; server_no_context_takeover=1", "", 15},
		{"permessage-deflate; server_no_context_takeover; server_no_context_takeover", "", 15},
		{"x-webkit-deflate-frame", "", 15},
		{"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits", Response, 15},
	} {
		got, err := Negotiate(tc.offer)
		if err != nil || got != tc.want {
			t.Errorf("Negotiate(%q) = %q, %v; want %q", tc.offer, got, err, tc.want)
		}
		if b := AnswerWindowBits(got); b != tc.bits {
			t.Errorf("AnswerWindowBits(%q) for offer %q = %d, want %d", got, tc.offer, b, tc.bits)
		}
	}
}

// corpus returns messages of several kinds and sizes.
func corpus() map[string][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 100000)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	var js strings.Builder
	for i := 0; js.Len() < 200000; i++ {
		fmt.Fprintf(&js, `{"id":%d,"name":"user %d κόσμε","score":%d,"tags":["a","b%d"]},`, i, r.IntN(1000), r.IntN(1e6), i%7)
	}
	return map[string][]byte{
		"empty":  {},
		"hello":  []byte("hello"),
		"abc":    bytes.Repeat([]byte("abc"), 100000),
		"zeros":  make([]byte, 70000),
		"random": random,
		"json":   []byte(js.String()),
		// 32 KiB of random data twice: a match exactly 32768 bytes back.
		"far": append(append([]byte(nil), random[:1<<15]...), random[:1<<15]...),
	}
}

// flateMessage compresses p with compress/flate, sync-flushed, tail removed.
func flateMessage(t testing.TB, p []byte, level int) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(p)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), tail)
}

// stdInflate is the reference: compress/flate over the message and the
// receiver's ending, which must reach the end of the stream.
func stdInflate(z []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(append(append([]byte(nil), z...), end...)))
	return io.ReadAll(r)
}

// inflateChunks feeds z to an Inflater in pieces of the given sizes (cycled).
func inflateChunks(z []byte, sizes []int, limit int64, text bool) ([]byte, error) {
	f := NewInflater(limit, text)
	defer f.Release()
	return feedChunks(f, z, sizes)
}

// feedChunks writes z to f in pieces of the given sizes (cycled) and closes
// the message.
func feedChunks(f *Inflater, z []byte, sizes []int) ([]byte, error) {
	for i := 0; len(z) > 0; i++ {
		k := min(sizes[i%len(sizes)], len(z))
		if err := f.Write(z[:k]); err != nil {
			return nil, err
		}
		z = z[k:]
	}
	out, err := f.Close()
	return bytes.Clone(out), err
}

func TestInflateMatchesCompressFlate(t *testing.T) {
	levels := []int{flate.NoCompression, flate.BestSpeed, 2, 5, flate.DefaultCompression, flate.BestCompression, flate.HuffmanOnly}
	chunkings := [][]int{{1 << 30}, {1}, {2}, {3, 5, 7}, {1000}, {4096, 1, 17}}
	for name, p := range corpus() {
		for _, level := range levels {
			z := flateMessage(t, p, level)
			for _, sizes := range chunkings {
				if sizes[0] == 1 && len(z) > 50000 {
					continue // byte by byte on big inputs is slow under -race
				}
				got, err := inflateChunks(z, sizes, 0, false)
				if err != nil || !bytes.Equal(got, p) {
					t.Fatalf("%s, level %d, chunks %v: %d bytes, %v; want %d bytes", name, level, sizes, len(got), err, len(p))
				}
			}
		}
	}
}

func TestDeflateWindows(t *testing.T) {
	for name, p := range corpus() {
		for bits := 8; bits <= 15; bits++ {
			z := Deflate(nil, p, bits)
			if bytes.HasSuffix(z, tail) && len(p) > 0 {
				t.Errorf("%s, window %d: compressed message keeps its tail", name, bits)
			}
			f := NewInflater(0, false)
			if err := f.Write(z); err != nil {
				t.Fatalf("%s, window %d: %v", name, bits, err)
			}
			got, err := f.Close()
			if err != nil || !bytes.Equal(got, p) {
				t.Fatalf("%s, window %d: round trip gives %d bytes, %v; want %d", name, bits, len(got), err, len(p))
			}
			if f.d.maxDist > 1<<bits {
				t.Errorf("%s, window %d: a back-reference %d bytes back", name, bits, f.d.maxDist)
			}
			if std, err := stdInflate(z); err != nil || !bytes.Equal(std, p) {
				t.Fatalf("%s, window %d: compress/flate inflates %d bytes, %v", name, bits, len(std), err)
			}
			f.Release()
		}
	}
}

func TestInflateLimit(t *testing.T) {
	bomb := Deflate(nil, make([]byte, 10<<20), 15) // 10 MiB of zeros, ~10 KB compressed
	if _, err := Inflate(nil, bomb, 1<<20); !errors.Is(err, ErrTooBig) {
		t.Fatalf("bomb: %v, want ErrTooBig", err)
	}
	// The limit is exact.
	p := bytes.Repeat([]byte("0123456789"), 1000)
	z := Deflate(nil, p, 15)
	if got, err := Inflate(nil, z, int64(len(p))); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("message of exactly the limit: %d bytes, %v", len(got), err)
	}
	if _, err := Inflate(nil, z, int64(len(p)-1)); !errors.Is(err, ErrTooBig) {
		t.Fatalf("message one byte over the limit: %v, want ErrTooBig", err)
	}
	// The bomb fails while it is being fed, not at the end.
	f := NewInflater(1<<20, false)
	defer f.Release()
	fed := 0
	var err error
	for ; fed < len(bomb) && err == nil; fed += 100 {
		err = f.Write(bomb[fed:min(fed+100, len(bomb))])
	}
	if !errors.Is(err, ErrTooBig) || fed > len(bomb)/5 {
		t.Fatalf("bomb fed 100 bytes at a time: %v after %d of %d bytes", err, fed, len(bomb))
	}
	if len(f.out) > 1<<20+checkEvery+65536 {
		t.Fatalf("bomb: %d bytes inflated for a limit of 1 MiB", len(f.out))
	}
	// Compressed data that inflates to nothing cannot go on for ever.
	g := NewInflater(1000, false)
	defer g.Release()
	empty := []byte{0x00, 0x00, 0x00, 0xff, 0xff} // an empty stored block
	err = nil
	for i := 0; i < 2000 && err == nil; i++ {
		err = g.Write(empty)
	}
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("endless empty blocks: %v, want ErrTooBig", err)
	}
}

// bitWriter writes DEFLATE's bit stream, to build invalid streams.
type bitWriter struct {
	out []byte
	acc uint64
	n   uint
}

func (w *bitWriter) bits(v uint64, n uint) *bitWriter {
	w.acc |= v << w.n
	for w.n += n; w.n >= 8; w.n -= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
	}
	return w
}

// code writes a Huffman code, most significant bit first.
func (w *bitWriter) code(c uint64, n uint) *bitWriter {
	for i := int(n) - 1; i >= 0; i-- {
		w.bits(c>>i&1, 1)
	}
	return w
}

func (w *bitWriter) bytes() []byte {
	if w.n > 0 {
		return append(w.out, byte(w.acc))
	}
	return w.out
}

func TestInflateCorrupt(t *testing.T) {
	truncated := flateMessage(t, bytes.Repeat([]byte("truncate me "), 1000), flate.DefaultCompression)
	fixed := func() *bitWriter { return new(bitWriter).bits(0, 1).bits(1, 2) }
	for name, z := range map[string][]byte{
		"reserved block type":    {0xff, 0xff, 0xff},
		"LEN and NLEN disagree":  {0x00, 0x05, 0x00, 0xfb, 0xff, 'H', 'e', 'l', 'l', 'o', 0x00},
		"stored block cut short": {0x00, 0x05, 0x00, 0xfa, 0xff, 'H', 'e', 'l'},
		"truncated in a block":   truncated[:len(truncated)/2],
		// Length 3 (symbol 257), distance 1, with nothing before.
		"distance before the start": fixed().code(1, 7).code(0, 5).code(0, 7).bytes(),
		// 'a', then length 3 with the unused distance code 30.
		"fixed distance code 30": fixed().code(0x30+'a', 8).code(1, 7).code(30, 5).code(0, 7).bytes(),
		// The unused literal/length symbol 286.
		"fixed symbol 286": fixed().code(0xC0+286-280, 8).code(0, 7).bytes(),
		// Dynamic block whose code length code has four 1-bit codes.
		"over-subscribed code": new(bitWriter).bits(0, 1).bits(2, 2).bits(0, 5).bits(0, 5).bits(0, 4).
			bits(1, 3).bits(1, 3).bits(1, 3).bits(1, 3).bits(0, 16).bytes(),
		// Dynamic block: code 16 (repeat the previous length) first.
		"repeat with nothing before": new(bitWriter).bits(0, 1).bits(2, 2).bits(0, 5).bits(0, 5).bits(0, 4).
			bits(1, 3).bits(1, 3).bits(0, 3).bits(0, 3). // lengths of 16 and 17: 1 bit each
			code(0, 1).bits(0, 2).bytes(),
		// HLIT of 287 and 288 codes: more than 286.
		"too many literal codes": new(bitWriter).bits(0, 1).bits(2, 2).bits(30, 5).bits(0, 5).bits(0, 4).bits(0, 32).bytes(),
	} {
		if _, err := Inflate(nil, z, 0); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
		if _, err := stdInflate(z); err == nil {
			t.Errorf("%s: compress/flate accepts it: the test vector is wrong", name)
		}
	}
	// RFC 7692 section 7.2.3.5: a message may end with a final block; what
	// follows it is ignored, as compress/flate and zlib do.
	final := []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}
	if got, err := Inflate(nil, final, 0); err != nil || string(got) != "Hello" {
		t.Errorf("final block: %q, %v", got, err)
	}
}

// TestInflateMutations compares Inflate with compress/flate on damaged
// streams: both must accept (with the same output) or both refuse.
func TestInflateMutations(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	p := []byte(strings.Repeat("The quick brown fox jumps over the lazy dog. κόσμε 0123456789\n", 40))
	for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.HuffmanOnly} {
		z := flateMessage(t, p, level)
		for range 3000 {
			m := append([]byte(nil), z...)
			for range 1 + r.IntN(3) {
				switch r.IntN(3) {
				case 0:
					m[r.IntN(len(m))] ^= 1 << r.IntN(8)
				case 1:
					m[r.IntN(len(m))] = byte(r.Uint32())
				case 2:
					m = m[:r.IntN(len(m))]
				}
				if len(m) == 0 {
					break
				}
			}
			compareWithStd(t, m)
		}
	}
}

func compareWithStd(t *testing.T, z []byte) {
	t.Helper()
	want, stdErr := stdInflate(z)
	got, err := Inflate(nil, z, 1<<20)
	if len(want) > 1<<20 {
		return // the limit makes the difference
	}
	if (err == nil) != (stdErr == nil) || err == nil && !bytes.Equal(got, want) {
		t.Fatalf("% x: Inflate %d bytes, %v; compress/flate %d bytes, %v", z, len(got), err, len(want), stdErr)
	}
	// In small pieces too.
	got2, err2 := inflateChunks(z, []int{1, 3, 2}, 1<<20, false)
	if (err2 == nil) != (err == nil) || err == nil && !bytes.Equal(got2, got) {
		t.Fatalf("% x: in pieces %d bytes, %v; whole %d bytes, %v", z, len(got2), err2, len(got), err)
	}
}

func FuzzInflate(f *testing.F) {
	f.Add([]byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})
	f.Add([]byte{0x00, 0x05, 0x00, 0xfa, 0xff, 'H', 'e', 'l', 'l', 'o', 0x00})
	f.Add(flateMessage(f, []byte(strings.Repeat("fuzz me, fuzz me ", 50)), flate.DefaultCompression))
	f.Fuzz(func(t *testing.T, z []byte) { compareWithStd(t, z) })
}

func TestInflateUTF8FailsFast(t *testing.T) {
	var b strings.Builder
	for b.Len() < 200000 {
		fmt.Fprintf(&b, "line %d: κόσμε, 日本語, emoji 😀 and ASCII. ", b.Len())
	}
	valid := b.String()
	bad := valid[:1000] + "\xed\xa0\x80" + valid[1000:] // a surrogate at byte 1000
	z := flateMessage(t, []byte(bad), flate.DefaultCompression)
	f := NewInflater(0, true)
	defer f.Release()
	at := -1
	for i := range z {
		if err := f.Write(z[i : i+1]); err != nil {
			if !errors.Is(err, ErrInvalidUTF8) {
				t.Fatalf("byte %d: %v, want ErrInvalidUTF8", i, err)
			}
			at = i
			break
		}
	}
	// The surrogate is among the first 1003 of 200000 bytes: it must be
	// found long before the compressed message ends.
	if at < 0 || at > len(z)/10 {
		t.Fatalf("invalid UTF-8 found after %d of %d compressed bytes", at, len(z))
	}
	if len(f.out) > 1003+checkEvery {
		t.Fatalf("%d bytes inflated before the surrogate at 1000 was reported", len(f.out))
	}

	// Valid text, and text cut inside a character.
	if got, err := inflateChunks(flateMessage(t, []byte(valid), flate.BestSpeed), []int{7}, 0, true); err != nil || string(got) != valid {
		t.Fatalf("valid text: %d bytes, %v", len(got), err)
	}
	if _, err := inflateChunks(flateMessage(t, []byte("κόσμε\xce"), flate.BestSpeed), []int{100}, 0, true); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("text ending inside a character: %v, want ErrInvalidUTF8", err)
	}
	if got, err := inflateChunks(flateMessage(t, []byte("\xff binary"), flate.BestSpeed), []int{100}, 0, false); err != nil || string(got) != "\xff binary" {
		t.Fatalf("binary: %q, %v", got, err)
	}
}

func TestInflaterReuse(t *testing.T) {
	// One Inflater, message after message, as a connection uses them.
	f := NewInflater(0, true)
	defer f.Release()
	for i, p := range []string{"first message, first message", "second", strings.Repeat("third ", 1000), ""} {
		f.Reset(1<<20, true)
		if err := f.Write(Deflate(nil, []byte(p), 15)); err != nil {
			t.Fatal(err)
		}
		got, err := f.Close()
		if err != nil || string(got) != p {
			t.Fatalf("message %d: %q, %v", i, got, err)
		}
	}
	// A message may not refer to the one before it.
	f.Reset(0, false)
	f.Write([]byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})
	f.Close()
	f.Reset(0, false)
	if err := f.Write([]byte{0xf2, 0x00, 0x11, 0x00, 0x00}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reference into the previous message: %v, want ErrCorrupt", err)
	}
}

func TestInflateAppends(t *testing.T) {
	z := Deflate(nil, []byte("world"), 15)
	got, err := Inflate([]byte("hello "), z, 5)
	if err != nil || string(got) != "hello world" {
		t.Fatalf("%q, %v", got, err)
	}
	if !utf8.Valid(got) {
		t.Fatal("invalid")
	}
}

func BenchmarkInflate(b *testing.B) {
	p := corpus()["json"]
	z := flateMessage(b, p, flate.DefaultCompression)
	b.Run("ws4go", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			f := NewInflater(0, true)
			f.Write(z)
			if _, err := f.Close(); err != nil {
				b.Fatal(err)
			}
			f.Release()
		}
	})
	b.Run("compress-flate", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		r := flate.NewReader(nil)
		var out bytes.Buffer
		for b.Loop() {
			r.(flate.Resetter).Reset(bytes.NewReader(append(z, end...)), nil)
			out.Reset()
			if _, err := out.ReadFrom(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestParametersFormatAndParse(t *testing.T) {
	for _, tc := range []struct {
		p             Parameters
		offer, answer string
	}{
		{Parameters{}, "permessage-deflate", "permessage-deflate"},
		{Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
			"permessage-deflate; client_no_context_takeover; server_no_context_takeover", Response},
		{Parameters{ClientNoContextTakeover: true, ClientMaxWindowBits: NoValue},
			"permessage-deflate; client_no_context_takeover; client_max_window_bits", ""},
		{Parameters{ServerMaxWindowBits: 10, ClientMaxWindowBits: 9},
			"permessage-deflate; client_max_window_bits=9; server_max_window_bits=10",
			"permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"},
	} {
		if got := tc.p.Offer(); got != tc.offer {
			t.Errorf("%+v.Offer() = %q, want %q", tc.p, got, tc.offer)
		}
		exts, err := ParseExtensions([]string{tc.offer})
		if err != nil || len(exts) != 1 {
			t.Fatalf("ParseExtensions(%q) = %v, %v", tc.offer, exts, err)
		}
		if p, err := ParseParameters(exts[0], false); err != nil || p != tc.p {
			t.Errorf("offer %q parses to %+v, %v", tc.offer, p, err)
		}
		if tc.answer == "" {
			// A valueless client_max_window_bits is no answer.
			if _, err := ParseParameters(exts[0], true); err == nil {
				t.Errorf("answer %q accepted", tc.offer)
			}
			continue
		}
		if got := tc.p.Answer(); got != tc.answer {
			t.Errorf("%+v.Answer() = %q, want %q", tc.p, got, tc.answer)
		}
		exts, _ = ParseExtensions([]string{tc.answer})
		if p, err := ParseParameters(exts[0], true); err != nil || p != tc.p {
			t.Errorf("answer %q parses to %+v, %v", tc.answer, p, err)
		}
	}
}

// stdInflateDict is the reference for a message whose sender kept its
// context: compress/flate with the history as its preset dictionary.
func stdInflateDict(z, dict []byte) ([]byte, error) {
	r := flate.NewReaderDict(bytes.NewReader(append(append([]byte(nil), z...), end...)), dict)
	return io.ReadAll(io.LimitReader(r, 1<<20+1)) // past the limit is enough
}

// takeoverMessages compresses msgs with one compressor that keeps its
// context, as a server without server_no_context_takeover does.
func takeoverMessages(t testing.TB, msgs [][]byte, level int) [][]byte {
	var b bytes.Buffer
	fw, err := flate.NewWriter(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	var zs [][]byte
	for _, m := range msgs {
		b.Reset()
		fw.Write(m)
		fw.Flush()
		zs = append(zs, bytes.Clone(bytes.TrimSuffix(b.Bytes(), tail)))
	}
	return zs
}

// windowMessage inflates z with f (from NewWindowInflater) in pieces of
// the given sizes (cycled).
func windowMessage(f *Inflater, z []byte, sizes []int, limit int64, text bool) ([]byte, error) {
	f.Reset(limit, text)
	return feedChunks(f, z, sizes)
}

func TestWindowInflater(t *testing.T) {
	c := corpus()
	// Each message repeats much of the one before it: a compressor that
	// keeps its context refers back across messages, up to 32 KiB.
	msgs := [][]byte{c["json"][:40000], c["json"][1000:50000], c["far"][:1<<15], c["far"][1<<15:], c["hello"], c["empty"], c["hello"]}
	for _, level := range []int{flate.BestSpeed, flate.DefaultCompression, flate.BestCompression} {
		zs := takeoverMessages(t, msgs, level)
		f := NewWindowInflater(MaxWindowBits)
		if f.Open() {
			t.Fatal("a new window inflater has a message open")
		}
		for i, z := range zs {
			got, err := windowMessage(f, z, []int{1000, 7}, 1<<20, false)
			if err != nil || !bytes.Equal(got, msgs[i]) {
				t.Fatalf("level %d, message %d: %d bytes, %v; want %d bytes", level, i, len(got), err, len(msgs[i]))
			}
			if f.Open() {
				t.Fatal("a closed message is still open")
			}
		}
		if alone := len(flateMessage(t, msgs[1], level)); len(zs[1]) >= alone {
			t.Fatalf("level %d: message 1 took %d bytes, %d on its own: the test did not use the history", level, len(zs[1]), alone)
		}
		f.Release()
	}

	// A small window: history before it is out of reach.
	f := NewWindowInflater(9)
	defer f.Release()
	if _, err := windowMessage(f, flateMessage(t, c["random"][:1000], flate.BestSpeed), []int{1 << 20}, 0, false); err != nil {
		t.Fatal(err)
	}
	// A match of 4 bytes 600 back: past the 512-byte window.
	far := (&bitWriter{}).bits(1, 1).bits(1, 2).code(2, 7).code(18, 5).bits(600-513, 8).code(0, 7).bytes()
	if _, err := windowMessage(f, far, []int{1 << 20}, 0, false); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reference past the window: %v, want ErrCorrupt", err)
	}
	// The size limit and UTF-8 apply to the message, not its history.
	zs := takeoverMessages(t, [][]byte{bytes.Repeat([]byte("é"), 300), bytes.Repeat([]byte("é"), 300)}, flate.BestSpeed)
	g := NewWindowInflater(MaxWindowBits)
	defer g.Release()
	for i, z := range zs {
		if got, err := windowMessage(g, z, []int{3}, 600, true); err != nil || len(got) != 600 {
			t.Fatalf("message %d: %d bytes, %v", i, len(got), err)
		}
	}
}

// storedMessage is p as non-final stored blocks, ended as a sync flush
// without its tail.
func storedMessage(p []byte) []byte {
	var z []byte
	for first := true; first || len(p) > 0; first = false {
		k := min(len(p), 0xffff)
		z = append(z, 0, byte(k), byte(k>>8), ^byte(k), ^byte(k>>8))
		z = append(z, p[:k]...)
		p = p[k:]
	}
	return append(z, 0)
}

func FuzzInflateWindow(f *testing.F) {
	f.Add([]byte("hello hello hello"), []byte{0xf2, 0x00, 0x11, 0x00, 0x00}, uint8(7))
	f.Add(bytes.Repeat([]byte("abc"), 20000), flateMessage(f, []byte("abcabc"), flate.BestSpeed), uint8(1))
	f.Add([]byte(strings.Repeat("fuzz me, fuzz me ", 50)), takeoverMessages(f, [][]byte{[]byte(strings.Repeat("fuzz me, fuzz me ", 50)), []byte("fuzz me!")}, flate.DefaultCompression)[1], uint8(15))
	f.Fuzz(func(t *testing.T, first, z []byte, bits uint8) {
		bits = 8 + bits%8
		window := 1 << bits
		if len(first) > 1<<16 {
			return
		}
		// The first message comes from a compressor that keeps its
		// context; z, any bytes, is the next message, then again.
		in := NewWindowInflater(int(bits))
		defer in.Release()
		z1 := storedMessage(first) // compress/flate's NewWriter is too slow here
		if got, err := windowMessage(in, z1, []int{5, 1}, 1<<20, false); err != nil || !bytes.Equal(got, first) {
			t.Fatalf("first message: %d bytes, %v; want %d", len(got), err, len(first))
		}
		hist := first
		for _, sizes := range [][]int{{1, 3, 2}, {1 << 20}} {
			dict := hist[len(hist)-min(window, len(hist)):]
			want, stdErr := stdInflateDict(z, dict)
			if len(want) > 1<<20 {
				return // the limit makes the difference
			}
			got, err := windowMessage(in, z, sizes, 1<<20, false)
			if (err == nil) != (stdErr == nil) || err == nil && !bytes.Equal(got, want) {
				t.Fatalf("% x after %d bytes of history: %d bytes, %v; compress/flate %d bytes, %v", z, len(dict), len(got), err, len(want), stdErr)
			}
			if err != nil {
				return
			}
			hist = append(bytes.Clone(dict), got...)
		}
	})
}

// TestCompressorInflater: what a Compressor sends, with or without context
// takeover, whole or in fragments, the matching Inflater reads back.
func TestCompressorInflater(t *testing.T) {
	c := corpus()
	msgs := [][]byte{c["json"][:20000], c["json"][100:20100], c["hello"], c["empty"], c["abc"][:5000]}
	for _, tc := range []struct {
		takeover bool
		bits     int
	}{{false, 15}, {true, 15}, {false, 9}, {true, 9}} {
		z := NewCompressor(flate.BestSpeed, 0, tc.takeover, tc.bits)
		var in *Inflater
		if z.takeover {
			in = NewWindowInflater(tc.bits)
		} else {
			in = NewInflater(0, false)
		}
		for i, m := range msgs {
			var zm []byte
			if i%2 == 0 {
				zm = bytes.Clone(z.Compress(m))
			} else {
				for k := 0; k < len(m); k += 7000 {
					zm = append(zm, z.StreamWrite(m[k:min(k+7000, len(m))])...)
				}
				zm = append(zm, z.StreamClose()...)
			}
			got, err := windowMessage(in, zm, []int{100}, 0, false)
			if err != nil || !bytes.Equal(got, m) {
				t.Fatalf("%+v, message %d: %d bytes, %v; want %d", tc, i, len(got), err, len(m))
			}
			if tc.bits < 15 && in.d.maxDist > 1<<tc.bits {
				t.Fatalf("%+v, message %d: a reference %d back, past the window", tc, i, in.d.maxDist)
			}
		}
		in.Release()
	}
	if NewCompressor(0, 128, false, 15).Compress([]byte("short")) != nil {
		t.Fatal("a message below the threshold was compressed")
	}
}
