package conformance

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// This file is the client side of permessage-deflate (RFC 7692), written
// against compress/flate and the RFC only: parsing the server's negotiation
// answer, inflating server messages strictly, and compressing client
// messages in several ways (Go's compressor at every level, a fixed-Huffman
// encoder of its own with a chosen window size, sync flushes inside a
// message, a final block, decompression bombs).

// deflateTail is what a sender removes from the end of a compressed message
// and a receiver appends again (RFC 7692 §7.2.1, §7.2.2): the LEN and NLEN
// fields of an empty stored block.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// finalEmptyBlock is an empty stored block with BFINAL set. The inflater
// appends it after the tail: a message that ends, as it must, at a block
// boundary then reaches a clean end of stream, while one cut inside a block
// does not.
var finalEmptyBlock = []byte{0x01, 0x00, 0x00, 0xff, 0xff}

// maxWindow is the LZ77 window of DEFLATE (and of compress/flate): 32 KiB.
const maxWindow = 1 << 15

// errInflateLimit reports a message that inflates past the client's limit.
var errInflateLimit = errors.New("permessage-deflate: message inflates past the client's limit")

// receivedStream is the DEFLATE stream a receiver decodes for the message
// p: a copy of p, the tail, then finalEmptyBlock.
func receivedStream(p []byte) []byte {
	in := make([]byte, 0, len(p)+len(deflateTail)+len(finalEmptyBlock))
	return append(append(append(in, p...), deflateTail...), finalEmptyBlock...)
}

// inflateMessage decompresses the payload of a message whose first frame had
// RSV1 set (RFC 7692 §7.2.2): it appends the tail and decompresses, with dict
// as the preceding LZ77 window (nil without context takeover). Stricter than
// "append and decompress what you can", it fails unless the data is a valid
// sequence of DEFLATE blocks that ends at a block boundary (after the
// appended tail) or with a final block; truncated or corrupt data is an
// error. The output is limited to limit bytes.
func inflateMessage(p, dict []byte, limit int) ([]byte, error) {
	src := bytes.NewReader(receivedStream(p)) // an io.ByteReader: flate reads no further than it needs
	r := flate.NewReaderDict(src, dict)
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	switch {
	case len(out) > limit:
		return nil, errInflateLimit
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, errors.New("permessage-deflate: compressed data ends inside a DEFLATE block")
	case err != nil:
		return nil, fmt.Errorf("permessage-deflate: %v", err)
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// deflateMessage compresses p as RFC 7692 §7.2.1 says, with a fresh
// compressor (no context takeover): DEFLATE at the given compress/flate
// level, a sync flush (which ends the data with an empty stored block), and
// the trailing 00 00 ff ff removed.
func deflateMessage(p []byte, level int) []byte {
	return deflateFlushEvery(p, level, 0)
}

// deflateFlushEvery is deflateMessage with a sync flush after every `every`
// bytes of input (every <= 0: only at the end), so that the message holds
// complete 00 00 ff ff markers that are not its end.
func deflateFlushEvery(p []byte, level, every int) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, level)
	if err != nil {
		panic(err)
	}
	for every > 0 && len(p) > every {
		w.Write(p[:every])
		w.Flush()
		p = p[every:]
	}
	w.Write(p)
	w.Flush()
	out, ok := bytes.CutSuffix(b.Bytes(), deflateTail)
	if !ok {
		panic("conformance: sync flush did not end with 00 00 ff ff")
	}
	return out
}

// deflateFinal compresses p into DEFLATE data that ends with a block whose
// BFINAL bit is set (Close instead of Flush), which RFC 7692 §7.2.3.5 allows
// a sender to use. There is no tail to remove.
func deflateFinal(p []byte, level int) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, level)
	if err != nil {
		panic(err)
	}
	w.Write(p)
	w.Close()
	return b.Bytes()
}

// deflateBomb returns a compressed message that inflates to mib MiB of
// zeros, about 1 KB per MiB, built without compressing it all: one MiB of
// zeros compressed from scratch, then copies of one MiB compressed with a
// window of zeros, each ending with a sync flush so that they concatenate.
func deflateBomb(mib int) []byte {
	zeros := make([]byte, 1<<20)
	first := deflateFlushEvery(zeros, flate.BestCompression, 0)
	var b bytes.Buffer
	w, err := flate.NewWriterDict(&b, flate.BestCompression, zeros[:maxWindow])
	if err != nil {
		panic(err)
	}
	w.Write(zeros)
	w.Flush()
	next := b.Bytes() // ends with the tail: the next copy follows a complete block
	out := make([]byte, 0, len(first)+len(deflateTail)+(mib-1)*len(next))
	out = append(out, first...)
	for range mib - 1 {
		out = append(append(out, deflateTail...), next[:len(next)-len(deflateTail)]...)
	}
	return out
}

// bitWriter writes DEFLATE's bit stream: least significant bit first.
type bitWriter struct {
	out []byte
	acc uint64
	n   uint
}

func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.n
	w.n += n
	for w.n >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

// code writes a Huffman code, which DEFLATE packs most significant bit first.
func (w *bitWriter) code(c uint32, n uint) {
	var r uint64
	for i := range n {
		r |= uint64(c>>i&1) << (n - 1 - i)
	}
	w.bits(r, n)
}

func (w *bitWriter) align() {
	if w.n > 0 {
		w.out = append(w.out, byte(w.acc))
		w.acc, w.n = 0, 0
	}
}

// RFC 1951 §3.2.5: base values and extra bits of the length and distance
// codes.
var (
	lengthBase  = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// fixedSymbol writes a literal/length symbol with the fixed Huffman code of
// RFC 1951 §3.2.6.
func (w *bitWriter) fixedSymbol(s int) {
	switch {
	case s < 144:
		w.code(uint32(0x30+s), 8)
	case s < 256:
		w.code(uint32(0x190+s-144), 9)
	case s < 280:
		w.code(uint32(s-256), 7)
	default:
		w.code(uint32(0xC0+s-280), 8)
	}
}

// fixedDeflate compresses p as one fixed-Huffman block with greedy LZ77
// matches no farther back than 1<<windowBits bytes (8 <= windowBits <= 15),
// followed by the header of an empty stored block: a permessage-deflate
// message whose tail is already removed. It is independent of
// compress/flate's compressor, and lets a client honour a small
// client_max_window_bits. It also returns the largest distance used.
func fixedDeflate(p []byte, windowBits int) ([]byte, int) {
	const (
		minMatch = 3
		maxMatch = 258
		hashBits = 15
		chain    = 64
	)
	maxDist := 1 << windowBits
	head := make([]int32, 1<<hashBits)
	for i := range head {
		head[i] = -1
	}
	prev := make([]int32, len(p))
	hash := func(i int) uint32 {
		return (uint32(p[i])<<16 | uint32(p[i+1])<<8 | uint32(p[i+2])) * 2654435761 >> (32 - hashBits)
	}
	insert := func(i int) {
		if i+minMatch <= len(p) {
			h := hash(i)
			prev[i], head[h] = head[h], int32(i)
		}
	}
	w := &bitWriter{}
	w.bits(0, 1) // BFINAL = 0
	w.bits(1, 2) // BTYPE = 01, fixed Huffman codes
	far := 0
	for i := 0; i < len(p); {
		bestLen, bestDist := 0, 0
		if i+minMatch <= len(p) {
			for j, n := head[hash(i)], 0; j >= 0 && n < chain && i-int(j) <= maxDist; j, n = prev[j], n+1 {
				l := 0
				for l < maxMatch && i+l < len(p) && p[int(j)+l] == p[i+l] {
					l++
				}
				if l > bestLen {
					bestLen, bestDist = l, i-int(j)
				}
			}
		}
		if bestLen < minMatch {
			w.fixedSymbol(int(p[i]))
			insert(i)
			i++
			continue
		}
		li := 28
		for lengthBase[li] > bestLen {
			li--
		}
		w.fixedSymbol(257 + li)
		w.bits(uint64(bestLen-lengthBase[li]), lengthExtra[li])
		di := 29
		for distBase[di] > bestDist {
			di--
		}
		w.code(uint32(di), 5)
		w.bits(uint64(bestDist-distBase[di]), distExtra[di])
		far = max(far, bestDist)
		for k := range bestLen {
			insert(i + k)
		}
		i += bestLen
	}
	w.fixedSymbol(256) // end of block
	w.bits(0, 3)       // empty stored block: BFINAL = 0, BTYPE = 00 ...
	w.align()          // ... whose LEN and NLEN (00 00 ff ff) are the tail
	return w.out, far
}

// pmdParams are the parameters of a permessage-deflate answer
// (RFC 7692 §7.1); a window size of 0 means the parameter is absent.
type pmdParams struct {
	serverNoContext, clientNoContext bool
	serverMaxWindow, clientMaxWindow int
}

// parseDeflateAnswer parses a Sec-WebSocket-Extensions response header. It
// reports whether permessage-deflate was accepted, with its parameters. An
// answer naming another extension, naming permessage-deflate twice, or with
// a parameter that is unknown, repeated or has an invalid value, is an
// error (RFC 7692 §5, §7.1: the client must then fail the connection).
func parseDeflateAnswer(ans string) (bool, pmdParams, error) {
	ok, p, err := parseAnswer(ans)
	if err != nil {
		return false, pmdParams{}, err
	}
	return ok, p, nil
}

func parseAnswer(ans string) (bool, pmdParams, error) {
	var p pmdParams
	if strings.TrimSpace(ans) == "" {
		return false, p, nil
	}
	exts := strings.Split(ans, ",")
	if len(exts) > 1 {
		return false, p, fmt.Errorf("server accepted %d extensions (%q), the client uses only permessage-deflate", len(exts), ans)
	}
	parts := strings.Split(exts[0], ";")
	if name := strings.TrimSpace(parts[0]); name != "permessage-deflate" {
		return false, p, fmt.Errorf("server accepted extension %q, which the client does not support", name)
	}
	seen := map[string]bool{}
	for _, prm := range parts[1:] {
		k, v, hasValue := strings.Cut(prm, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if hasValue && len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if seen[k] {
			return false, p, fmt.Errorf("permessage-deflate answer repeats %s", k)
		}
		seen[k] = true
		switch k {
		case "server_no_context_takeover", "client_no_context_takeover":
			if hasValue {
				return false, p, fmt.Errorf("permessage-deflate answer gives %s a value", k)
			}
			if k == "server_no_context_takeover" {
				p.serverNoContext = true
			} else {
				p.clientNoContext = true
			}
		case "server_max_window_bits", "client_max_window_bits":
			n, err := strconv.Atoi(v)
			if !hasValue || err != nil || n < 8 || n > 15 || v != strconv.Itoa(n) {
				return false, p, fmt.Errorf("permessage-deflate answer has %s=%q, want a value in 8..15", k, v)
			}
			if k == "server_max_window_bits" {
				p.serverMaxWindow = n
			} else {
				p.clientMaxWindow = n
			}
		default:
			return false, p, fmt.Errorf("permessage-deflate answer has unknown parameter %q", strings.TrimSpace(prm))
		}
	}
	return true, p, nil
}

// inflater is the receiving side of a negotiated permessage-deflate for one
// connection.
type inflater struct {
	noContext bool   // server_no_context_takeover: a fresh window per message
	maxWindow int    // the server's window (server_max_window_bits), bytes
	window    []byte // the server's LZ77 window so far, with context takeover
	limit     int
}

// transform is a Client.Transform: it inflates a message whose first frame
// had RSV1 set, and clears RSV1 so that the event compares equal to the
// plain message the case expects. Other messages pass unchanged.
func (f *inflater) transform(e *Event) error {
	if e.Rsv&RSV1 == 0 {
		return nil
	}
	var dict []byte
	if !f.noContext {
		dict = f.window
	}
	out, err := inflateMessage(e.Payload, dict, f.limit)
	if err != nil {
		return fmt.Errorf("RSV1 message does not inflate: %w", err)
	}
	if f.maxWindow < maxWindow {
		// compress/flate accepts any distance up to 32 KiB; the
		// window the server announced is checked separately.
		refs, err := InspectDeflate(e.Payload)
		if err == nil && refs.BeforeStart {
			err = errors.New("distance too far back")
		}
		if err != nil {
			return fmt.Errorf("RSV1 message does not inflate: %w", err)
		}
		if refs.Farthest > f.maxWindow {
			return fmt.Errorf("RSV1 message refers %d bytes back, beyond the server's window of %d (server_max_window_bits)", refs.Farthest, f.maxWindow)
		}
	}
	if !f.noContext {
		w := append(f.window, out...)
		if len(w) > f.maxWindow {
			w = append([]byte(nil), w[len(w)-f.maxWindow:]...)
		}
		f.window = w
	}
	e.Payload, e.Rsv = out, e.Rsv&^RSV1
	return nil
}

// UseDeflate configures the client for the permessage-deflate extension the
// server accepted, if any, as c.Extensions says: AllowRSV becomes RSV1 and
// Transform inflates every message whose first frame has RSV1 set (with a
// fresh LZ77 window per message when the server agreed to
// server_no_context_takeover, with the server's running window otherwise)
// and reports it with RSV1 cleared. If the answer limits the server's window
// (server_max_window_bits below 15), a message that refers back farther is
// a violation (RFC 7692 section 7.1.2.1). It reports whether the extension is in
// use; an error means the answer is not a valid permessage-deflate response,
// and leaves the client unchanged.
func (c *Client) UseDeflate() (bool, error) {
	ok, p, err := parseDeflateAnswer(c.Extensions)
	if err != nil || !ok {
		return false, err
	}
	f := &inflater{noContext: p.serverNoContext, maxWindow: maxWindow, limit: maxFramePayload}
	if p.serverMaxWindow > 0 {
		f.maxWindow = 1 << p.serverMaxWindow
	}
	c.AllowRSV, c.Transform = RSV1, f.transform
	return true, nil
}

// WriteDeflated writes one message of type op compressed as RFC 7692 §7.2.1
// says, with a fresh compressor (as client_no_context_takeover requires):
// RSV1 on the first frame only, the compressed data cut into frames of
// frameSize bytes (<= 0: one frame), all in one write.
func (c *Client) WriteDeflated(op byte, payload []byte, frameSize int) error {
	z := deflateMessage(payload, flate.DefaultCompression)
	parts := [][]byte{z}
	if frameSize > 0 {
		parts = chunks(z, frameSize)
	}
	var b []byte
	for _, f := range deflatedFrames(op, parts) {
		b = f.encode(b)
	}
	return c.WriteRaw(b, 0)
}

// deflatedFrames turns the parts of a compressed message into frames: the
// first has opcode op and RSV1, the rest are continuations with no reserved
// bit, and only the last has FIN.
func deflatedFrames(op byte, parts [][]byte) []fr {
	frs := fragments(op, parts)
	frs[0].rsv = RSV1
	return frs
}

// DeflateRefs describes the LZ77 back-references of a compressed message.
type DeflateRefs struct {
	// Out is how many bytes the message inflates to.
	Out int
	// Farthest is the largest distance a back-reference uses.
	Farthest int
	// BeforeStart: a back-reference reaches before the message's first
	// byte, into earlier messages (allowed only with context takeover).
	BeforeStart bool
}

// InspectDeflate decodes a permessage-deflate message as sent (without its
// 00 00 ff ff tail, which it appends as the receiver does) with a decoder of
// its own, after zlib's puff: slow and simple, written from RFC 1951 alone.
// It reports what compress/flate does not: how far back the message refers,
// the check that a sender keeps to the window and the context takeover it
// negotiated. (The client package's tests use it too.)
func InspectDeflate(p []byte) (DeflateRefs, error) {
	s := &puff{in: receivedStream(p)}
	for {
		final, err := s.bits(1)
		if err != nil {
			return DeflateRefs{}, err
		}
		typ, err := s.bits(2)
		if err != nil {
			return DeflateRefs{}, err
		}
		switch typ {
		case 0:
			err = s.stored()
		case 1:
			err = s.codes(fixedPuffCodes())
		case 2:
			var lit, dist puffHuffman
			if err = s.dynamic(&lit, &dist); err == nil {
				err = s.codes(&lit, &dist)
			}
		default:
			err = errors.New("reserved block type")
		}
		if err != nil {
			return DeflateRefs{}, err
		}
		if final == 1 {
			return DeflateRefs{Out: s.outLen, Farthest: s.far, BeforeStart: s.before}, nil
		}
	}
}

// puff is the state of InspectDeflate's decoder: input, bit buffer, how
// many bytes were produced, the largest distance seen, whether one reached
// before the start.
type puff struct {
	in           []byte
	pos          int
	bitbuf, nbit uint
	outLen, far  int
	before       bool
}

var errPuffShort = errors.New("compressed data ends inside a DEFLATE block")

func (s *puff) bits(n uint) (int, error) {
	for s.nbit < n {
		if s.pos == len(s.in) {
			return 0, errPuffShort
		}
		s.bitbuf |= uint(s.in[s.pos]) << s.nbit
		s.pos++
		s.nbit += 8
	}
	v := int(s.bitbuf & (1<<n - 1))
	s.bitbuf >>= n
	s.nbit -= n
	return v, nil
}

func (s *puff) stored() error {
	s.bitbuf, s.nbit = 0, 0 // to a byte boundary
	if s.pos+4 > len(s.in) {
		return errPuffShort
	}
	n := int(s.in[s.pos]) | int(s.in[s.pos+1])<<8
	if s.in[s.pos+2] != ^s.in[s.pos] || s.in[s.pos+3] != ^s.in[s.pos+1] {
		return errors.New("stored block LEN and NLEN disagree")
	}
	s.pos += 4
	if s.pos+n > len(s.in) {
		return errPuffShort
	}
	s.pos += n
	s.outLen += n
	return nil
}

// puffHuffman is a canonical Huffman code as counts per length and the
// symbols in code order (RFC 1951 section 3.2.2).
type puffHuffman struct {
	count  [16]int
	symbol []int
}

// build makes the code from code lengths; an over-subscribed code is an
// error, an incomplete one is allowed (decoding fails if a missing code
// appears).
func (h *puffHuffman) build(lengths []int) error {
	h.count = [16]int{}
	for _, l := range lengths {
		h.count[l]++
	}
	left := 1
	for l := 1; l < 16; l++ {
		left = left<<1 - h.count[l]
		if left < 0 {
			return errors.New("over-subscribed Huffman code")
		}
	}
	var offs [16]int
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	h.symbol = make([]int, len(lengths))
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = sym
			offs[l]++
		}
	}
	return nil
}

func (s *puff) decode(h *puffHuffman) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := s.bits(1)
		if err != nil {
			return 0, err
		}
		code |= b
		count := h.count[l]
		if code-first < count {
			return h.symbol[index+code-first], nil
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, errors.New("invalid Huffman code")
}

// fixedPuffCodes returns the fixed codes of RFC 1951 section 3.2.6.
func fixedPuffCodes() (*puffHuffman, *puffHuffman) {
	var lit, dist puffHuffman
	l := make([]int, 288)
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	d := make([]int, 30)
	for i := range d {
		d[i] = 5
	}
	lit.build(l)
	dist.build(d)
	return &lit, &dist
}

func (s *puff) dynamic(lit, dist *puffHuffman) error {
	var hdr [3]int
	for i, n := range []uint{5, 5, 4} {
		v, err := s.bits(n)
		if err != nil {
			return err
		}
		hdr[i] = v
	}
	nlen, ndist, ncode := hdr[0]+257, hdr[1]+1, hdr[2]+4
	if nlen > 286 || ndist > 30 {
		return errors.New("too many length or distance codes")
	}
	order := [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
	lengths := make([]int, 19)
	for i := range ncode {
		v, err := s.bits(3)
		if err != nil {
			return err
		}
		lengths[order[i]] = v
	}
	var lencode puffHuffman
	if err := lencode.build(lengths); err != nil {
		return err
	}
	lengths = make([]int, nlen+ndist)
	for i := 0; i < nlen+ndist; {
		sym, err := s.decode(&lencode)
		if err != nil {
			return err
		}
		if sym < 16 {
			lengths[i] = sym
			i++
			continue
		}
		v, rep, extra := 0, 3, uint(2)
		switch sym {
		case 16:
			if i == 0 {
				return errors.New("repeat with no previous length")
			}
			v = lengths[i-1]
		case 17:
			extra = 3
		default:
			rep, extra = 11, 7
		}
		e, err := s.bits(extra)
		if err != nil {
			return err
		}
		if i+rep+e > nlen+ndist {
			return errors.New("too many code lengths")
		}
		for range rep + e {
			lengths[i] = v
			i++
		}
	}
	if err := lit.build(lengths[:nlen]); err != nil {
		return err
	}
	return dist.build(lengths[nlen:])
}

func (s *puff) codes(lit, dist *puffHuffman) error {
	for {
		sym, err := s.decode(lit)
		if err != nil {
			return err
		}
		switch {
		case sym < 256:
			s.outLen++
			continue
		case sym == 256:
			return nil
		case sym > 285:
			return errors.New("invalid length symbol")
		}
		sym -= 257
		e, err := s.bits(lengthExtra[sym])
		if err != nil {
			return err
		}
		length := lengthBase[sym] + e
		ds, err := s.decode(dist)
		if err != nil {
			return err
		}
		if ds > 29 {
			return errors.New("invalid distance symbol")
		}
		e, err = s.bits(distExtra[ds])
		if err != nil {
			return err
		}
		d := distBase[ds] + e
		s.before = s.before || d > s.outLen
		s.far = max(s.far, d)
		s.outLen += length
	}
}
