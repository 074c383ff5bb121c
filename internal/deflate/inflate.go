package deflate

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"

	"github.com/ws4go/ws4go/internal/proto"
)

// This file is a push-style DEFLATE decoder (RFC 1951). compress/flate pulls
// its input from an io.Reader and cannot stop when the input runs out in
// the middle of a block and resume once more arrives, and it hands out its
// output only when its 32 KiB window fills or the stream ends. A server that
// reads frames as they come, on an event loop, needs the opposite: take
// whatever bytes a read returned, decode every symbol they complete, keep
// the rest as a few bits of state, and show the output at once, so that an
// invalid UTF-8 byte or an oversized message is caught when it is produced
// rather than when the message ends.
//
// The decoder keeps at most 64 unconsumed input bits between calls. Every
// decoding step needs at most 48 bits (a length/literal code of 15 bits, 5
// extra bits, a distance code of 15 bits and 13 extra bits), and the
// accumulator is refilled to more than 56 bits whenever input remains, so a
// step that lacks bits means the input is used up: the step is simply not
// taken, and is retried whole when the next bytes arrive. Nothing else needs
// to be remembered about a half-read symbol. The output is the message
// itself (it is delivered whole anyway), so it doubles as the LZ77 window:
// no separate 32 KiB history is kept. With context takeover (an Inflater
// from NewWindowInflater) the output starts with the end of the previous
// messages, which back-references may reach, as a preset dictionary would.

// Errors of an Inflater. A corrupt message fails with an error that wraps
// ErrCorrupt and says what was wrong.
var (
	// ErrTooBig: the message inflates past the limit, or its compressed
	// form is absurdly larger than the limit (nothing but empty blocks).
	ErrTooBig = errors.New("deflate: message too big once inflated")
	// ErrInvalidUTF8: a text message inflated to invalid UTF-8.
	ErrInvalidUTF8 = errors.New("deflate: invalid UTF-8 in text message")
	// ErrCorrupt: the data is not a valid DEFLATE stream, or it ends
	// inside a block.
	ErrCorrupt = errors.New("deflate: invalid compressed data")
)

func corrupt(why string) error { return fmt.Errorf("%w: %s", ErrCorrupt, why) }

// end is what the receiver appends to a message: the tail the sender
// removed (RFC 7692 section 7.2.2), then an empty stored block with BFINAL
// set, so that a message that ends at a block boundary, as it must, ends the
// DEFLATE stream cleanly, and one cut inside a block does not.
var end = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// checkEvery is how much output is produced between two checks of the
// limit and of UTF-8: a bound on how far past an invalid byte, or past the
// limit, the decoder runs before it stops.
const checkEvery = 16 << 10

// maxMatch is the longest LZ77 match: how far one step of the decoder may
// write past where it was asked to stop.
const maxMatch = 258

// keepBuffer is the largest output buffer an Inflater keeps for its next
// message when it goes back to the pool.
const keepBuffer = 64 << 10

// An Inflater decompresses one permessage-deflate message at a time as its
// compressed bytes arrive (Write), and completes it (Close). One from
// NewInflater assumes the sender keeps no context (no_context_takeover): a
// back-reference before the start of the message is an error; get one per
// message and return it with Release once the message has been delivered,
// so that between messages a connection holds none. One from
// NewWindowInflater serves a whole connection whose sender keeps its
// context: each message may refer back into the ones before it.
type Inflater struct {
	d       decoder
	out     []byte
	base    int   // start of the message in out
	floor   int   // back-references may reach out[floor:]
	window  int   // bytes of history kept for the next message; 0: none
	open    bool  // a message is in progress (Reset, not yet Closed)
	checked int   // out[:checked] has been checked
	limit   int64 // largest message, inflated; <= 0: none
	in      int64 // compressed bytes received
	maxIn   int64 // largest compressed size; <= 0: none
	text    bool
	utf     proto.UTF8
}

var inflaters = sync.Pool{New: func() any { return new(Inflater) }}

// NewInflater returns a pooled Inflater ready for a message: its inflated
// size is limited to limit bytes (<= 0: no limit), and a text message is
// checked to be UTF-8 as it is produced.
func NewInflater(limit int64, text bool) *Inflater {
	f := inflaters.Get().(*Inflater)
	f.Reset(limit, text)
	return f
}

// NewWindowInflater returns an Inflater for a connection whose sender keeps
// its compression context (no server_no_context_takeover, RFC 7692
// 7.1.1.1): it keeps the last 2^windowBits bytes of output from message to
// message, as the preset dictionary of the next one, as the sender's
// window may reach that far. Start each message with Reset; Open reports
// whether one is in progress.
func NewWindowInflater(windowBits int) *Inflater {
	f := inflaters.Get().(*Inflater)
	f.Reset(0, false) // a pooled Inflater has no window: this empties it
	f.window, f.open = 1<<windowBits, false
	return f
}

// KeepsContext reports whether f is from NewWindowInflater.
func (f *Inflater) KeepsContext() bool { return f.window > 0 }

// Open reports whether a message is in progress: Reset was called and
// Close has not completed it.
func (f *Inflater) Open() bool { return f.open }

// Reset starts a new message, as NewInflater describes; an Inflater from
// NewWindowInflater keeps the history of the messages before it.
func (f *Inflater) Reset(limit int64, text bool) {
	f.d.reset()
	f.open = true
	if f.window > 0 {
		// The history: what ends the output so far (the previous
		// messages, and the history before them), moved to the front.
		hist := f.out[len(f.out)-min(f.window, len(f.out)):]
		if cap(f.out) > keepBuffer {
			// A big message does not pin its buffer.
			f.out = append(make([]byte, 0, f.window), hist...)
		} else {
			f.out = f.out[:copy(f.out, hist)]
		}
		f.base, f.floor, f.checked = len(f.out), 0, len(f.out)
	} else {
		f.out, f.base, f.floor, f.checked = f.out[:0], 0, 0, 0
	}
	f.limit, f.in, f.text = limit, 0, text
	f.maxIn = 0
	if limit > 0 {
		// Legitimate compressed data is at worst a little larger than
		// its output (stored blocks, sync flushes); twice the limit can
		// only be a stream of empty blocks that would never end.
		f.maxIn = 2*limit + 4096
	}
	f.utf.Reset()
}

// Held is the memory f holds for the message in progress (and the history
// of the previous ones, with a window): the capacity of its output (which
// is also the LZ77 window), not the bytes in it.
func (f *Inflater) Held() int { return cap(f.out) }

// Release returns f to the pool. The message Close returned must no longer
// be used.
func (f *Inflater) Release() {
	if cap(f.out) > keepBuffer {
		f.out = nil
	}
	f.out, f.window = f.out[:0], 0
	inflaters.Put(f)
}

// Write decompresses p, the next bytes of the message's compressed data. It
// fails as soon as the output passes the limit (ErrTooBig), stops being
// UTF-8 in a text message (ErrInvalidUTF8), or the data is invalid
// (ErrCorrupt); the Inflater must then only be released.
func (f *Inflater) Write(p []byte) error {
	f.in += int64(len(p))
	if f.maxIn > 0 && f.in > f.maxIn {
		return ErrTooBig
	}
	return f.write(p)
}

func (f *Inflater) write(p []byte) error {
	for {
		stop := len(f.out) + checkEvery
		if f.limit > 0 {
			stop = min(stop, f.base+int(min(f.limit, 1<<62))+1)
		}
		// Room for the output up to stop, and the one match that may
		// pass it, so that run's appends never reallocate: the buffer
		// grows by doubling up to the limit (see proto.Grow), and a
		// bomb costs about the limit, not append's pile of copies.
		bound := int64(0)
		if f.limit > 0 {
			bound = int64(f.base) + f.limit + 1 + maxMatch
		}
		f.out = proto.Grow(f.out, stop-len(f.out)+maxMatch, bound)
		var n int
		var more bool
		var err error
		f.out, n, more, err = f.d.run(f.out, p, stop, f.floor)
		p = p[n:]
		if err != nil {
			return err
		}
		if err := f.check(); err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// check applies the limit and the UTF-8 check to the output produced since
// the last check.
func (f *Inflater) check() error {
	if f.limit > 0 && int64(len(f.out)-f.base) > f.limit {
		return ErrTooBig
	}
	if f.text && !f.utf.Write(f.out[f.checked:]) {
		return ErrInvalidUTF8
	}
	f.checked = len(f.out)
	return nil
}

// Close ends the message: it appends the tail the sender removed and returns
// the inflated message, which stays valid until f is reset or released. It
// fails if the data ends inside a block (ErrCorrupt) or, for text, inside a
// UTF-8 sequence (ErrInvalidUTF8).
func (f *Inflater) Close() ([]byte, error) {
	if err := f.write(end); err != nil {
		return nil, err
	}
	if f.d.state != stDone {
		return nil, corrupt("the message ends inside a DEFLATE block")
	}
	if f.text && !f.utf.Complete() {
		return nil, ErrInvalidUTF8
	}
	f.open = false
	return f.out[f.base:], nil
}

// Inflate appends the decompressed message p to dst. It fails with
// ErrTooBig as soon as the output passes limit (limit <= 0: no limit), so a
// decompression bomb costs at most about limit bytes, and with an error
// wrapping ErrCorrupt if p is not a complete, valid message.
func Inflate(dst, p []byte, limit int64) ([]byte, error) {
	f := NewInflater(limit, false)
	defer func() {
		f.out = nil // dst belongs to the caller
		f.Release()
	}()
	f.out, f.base, f.floor, f.checked = dst, len(dst), len(dst), len(dst)
	if err := f.Write(p); err != nil {
		return f.out, err
	}
	if _, err := f.Close(); err != nil {
		return f.out, err
	}
	return f.out, nil
}

// Decoder states.
const (
	stHeader    = iota // next: a block header (BFINAL, BTYPE)
	stStoredLen        // next: LEN and NLEN of a stored block
	stStored           // copying a stored block's bytes
	stDynHeader        // next: HLIT, HDIST, HCLEN
	stDynCL            // reading the code length code lengths
	stDynLens          // reading the literal/length and distance code lengths
	stData             // decoding a Huffman-coded block
	stDone             // after the final block; further input is ignored
)

// decoder is the state of a DEFLATE stream between two calls of run.
type decoder struct {
	acc   uint64 // unconsumed input bits, least significant first
	nacc  uint   // how many
	state uint8
	final bool // the current block has BFINAL set
	left  int  // bytes of the current stored block still to copy

	// Dynamic block header.
	nlit, ndist, nclen, idx int
	cl                      [19]uint8
	lens                    [286 + 30]uint8
	clen, lit, dist         huffman

	hl, hd *huffman // codes of the current block

	maxDist int // the longest back-reference seen (tests check windows)
}

func (d *decoder) reset() {
	d.acc, d.nacc, d.state, d.final, d.left = 0, 0, stHeader, false, 0
	d.hl, d.hd, d.maxDist = nil, nil, 0
}

func (d *decoder) drop(n uint) {
	d.acc >>= n
	d.nacc -= n
}

func (d *decoder) endBlock() {
	if d.final {
		d.state = stDone
	} else {
		d.state = stHeader
	}
}

// RFC 1951 section 3.2.5: base values and extra bits of the length and
// distance codes; section 3.2.7: the order of the code length code lengths.
var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	clOrder     = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// The fixed Huffman codes of RFC 1951 section 3.2.6. The literal/length code
// includes the unused symbols 286 and 287 and the distance code the unused
// 30 and 31, as the RFC says, so that their appearance is a decoding error
// rather than a mis-decoding.
var fixedLit, fixedDist = func() (*huffman, *huffman) {
	var l [288]uint8
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
	var d [32]uint8
	for i := range d {
		d[i] = 5
	}
	hl, hd := new(huffman), new(huffman)
	if !hl.init(l[:]) || !hd.init(d[:]) {
		panic("deflate: bad fixed codes")
	}
	return hl, hd
}()

// run decodes as much of the stream as p and the buffered bits allow,
// appending to out, and stops early once len(out) >= stop. It returns the
// output, how many bytes of p it took (all of them unless it stopped early
// or the stream ended), and more = true if it stopped early. base is where
// the history starts in out: a back-reference before it is an error.
func (d *decoder) run(out, p []byte, stop, base int) (_ []byte, n int, more bool, err error) {
	i := 0
	for {
		for d.nacc <= 56 && i < len(p) {
			d.acc |= uint64(p[i]) << d.nacc
			d.nacc += 8
			i++
		}
		if d.state == stDone {
			return out, len(p), false, nil
		}
		if len(out) >= stop {
			return out, i, true, nil
		}
		// Each state below consumes what it can and either moves on
		// (continue: refill and go on) or finds too few bits, which
		// means the input is used up (return).
		switch d.state {
		case stHeader:
			if d.nacc < 3 {
				return out, i, false, nil
			}
			d.final = d.acc&1 != 0
			typ := d.acc >> 1 & 3
			d.drop(3)
			switch typ {
			case 0:
				d.drop(d.nacc % 8) // stored blocks start on a byte boundary
				d.state = stStoredLen
			case 1:
				d.hl, d.hd, d.state = fixedLit, fixedDist, stData
			case 2:
				d.state = stDynHeader
			default:
				return out, i, false, corrupt("reserved block type 11")
			}

		case stStoredLen:
			if d.nacc < 32 {
				return out, i, false, nil
			}
			ln, nln := uint16(d.acc), uint16(d.acc>>16)
			if ln != ^nln {
				return out, i, false, corrupt("stored block LEN and NLEN disagree")
			}
			d.drop(32)
			d.left, d.state = int(ln), stStored

		case stStored:
			// Bytes already in the accumulator come first (it holds
			// whole bytes here), then the input is copied directly.
			for d.left > 0 && d.nacc >= 8 && len(out) < stop {
				out = append(out, byte(d.acc))
				d.drop(8)
				d.left--
			}
			if d.left > 0 && d.nacc == 0 {
				k := min(d.left, len(p)-i, max(stop-len(out), 0))
				out = append(out, p[i:i+k]...)
				i += k
				d.left -= k
			}
			if d.left == 0 {
				d.endBlock()
			} else if i == len(p) && d.nacc == 0 {
				return out, i, false, nil
			}

		case stDynHeader:
			if d.nacc < 14 {
				return out, i, false, nil
			}
			d.nlit = int(d.acc&31) + 257
			d.ndist = int(d.acc>>5&31) + 1
			d.nclen = int(d.acc>>10&15) + 4
			d.drop(14)
			if d.nlit > 286 || d.ndist > 30 {
				return out, i, false, corrupt("too many literal/length or distance codes")
			}
			d.cl = [19]uint8{}
			d.idx, d.state = 0, stDynCL

		case stDynCL:
			for d.idx < d.nclen && d.nacc >= 3 {
				d.cl[clOrder[d.idx]] = uint8(d.acc & 7)
				d.drop(3)
				d.idx++
			}
			if d.idx < d.nclen {
				if i == len(p) {
					return out, i, false, nil
				}
				continue
			}
			if !d.clen.init(d.cl[:]) {
				return out, i, false, corrupt("invalid code length code")
			}
			d.idx, d.state = 0, stDynLens

		case stDynLens:
			if err := d.readLengths(); err != nil {
				return out, i, false, err
			}
			if d.state == stDynLens {
				if i == len(p) {
					return out, i, false, nil
				}
				continue
			}

		case stData:
			var ok bool
			out, ok, err = d.decodeData(out, stop, base, i < len(p))
			if err != nil {
				return out, i, false, err
			}
			if !ok && i == len(p) {
				return out, i, false, nil
			}
		}
	}
}

// readLengths reads code lengths of a dynamic block's literal/length and
// distance codes while bits last, and builds the codes once all are read.
func (d *decoder) readLengths() error {
	total := d.nlit + d.ndist
	for d.idx < total {
		sym, n, st := d.clen.decode(d.acc, d.nacc)
		if st == needBits {
			return nil
		}
		if st == badCode {
			return corrupt("invalid code length symbol")
		}
		if sym < 16 {
			d.lens[d.idx] = uint8(sym)
			d.idx++
			d.drop(n)
			continue
		}
		var rep int
		var eb uint
		var v uint8
		switch sym {
		case 16:
			if d.idx == 0 {
				return corrupt("repeat of a code length with none before it")
			}
			rep, eb, v = 3, 2, d.lens[d.idx-1]
		case 17:
			rep, eb = 3, 3
		default: // 18
			rep, eb = 11, 7
		}
		if n+eb > d.nacc {
			return nil
		}
		rep += int(d.acc >> n & (1<<eb - 1))
		if d.idx+rep > total {
			return corrupt("code lengths repeat past the end")
		}
		for range rep {
			d.lens[d.idx] = v
			d.idx++
		}
		d.drop(n + eb)
	}
	if d.lens[256] == 0 {
		return corrupt("no end-of-block code")
	}
	if !d.lit.init(d.lens[:d.nlit]) || !d.dist.init(d.lens[d.nlit:total]) {
		return corrupt("invalid literal/length or distance code")
	}
	d.hl, d.hd, d.state = &d.lit, &d.dist, stData
	return nil
}

// decodeData decodes the symbols of a Huffman-coded block. It returns
// ok = false when the buffered bits do not hold the next whole symbol
// (with its distance); it also returns, with ok = true, to have the
// accumulator refilled (when refill is set and it runs low), when the
// block ends and when the output reaches stop.
func (d *decoder) decodeData(out []byte, stop, base int, refill bool) ([]byte, bool, error) {
	for len(out) < stop {
		if refill && d.nacc < 48 {
			return out, true, nil
		}
		sym, n, st := d.hl.decode(d.acc, d.nacc)
		if st == needBits {
			return out, false, nil
		}
		if st == badCode {
			return out, false, corrupt("invalid literal/length code")
		}
		if sym < 256 {
			out = append(out, byte(sym))
			d.drop(n)
			continue
		}
		if sym == 256 {
			d.drop(n)
			d.endBlock()
			return out, true, nil
		}
		if sym > 285 {
			return out, false, corrupt("invalid literal/length symbol")
		}
		li := sym - 257
		le := uint(lengthExtra[li])
		if n+le > d.nacc {
			return out, false, nil
		}
		length := int(lengthBase[li]) + int(d.acc>>n&(1<<le-1))
		used := n + le
		acc, nacc := d.acc>>used, d.nacc-used
		ds, dn, st := d.hd.decode(acc, nacc)
		if st == needBits {
			return out, false, nil
		}
		if st == badCode || ds >= 30 {
			return out, false, corrupt("invalid distance code")
		}
		de := uint(distExtra[ds])
		if dn+de > nacc {
			return out, false, nil
		}
		dist := int(distBase[ds]) + int(acc>>dn&(1<<de-1))
		if dist > len(out)-base {
			return out, false, corrupt("back-reference before the start of the message or its history")
		}
		d.drop(used + dn + de)
		d.maxDist = max(d.maxDist, dist)
		// Copy length bytes from dist back. When they overlap the
		// bytes being written, the source is periodic: each round
		// copies everything from the start of the match written so
		// far, doubling the run.
		from := len(out) - dist
		for length > 0 {
			k := min(length, len(out)-from)
			out = append(out, out[from:from+k]...)
			length -= k
		}
	}
	return out, true, nil
}

// fastBits is the width of a huffman's direct lookup table: codes up to this
// long are decoded by one lookup, longer ones bit by bit.
const fastBits = 9

// Results of huffman.decode.
const (
	gotSymbol = iota
	needBits
	badCode
)

// huffman decodes one canonical Huffman code (RFC 1951 section 3.2.2).
type huffman struct {
	// fast maps the next fastBits input bits to symbol<<4 | length for
	// codes of at most fastBits bits; 0 means a longer code (or none).
	fast   [1 << fastBits]uint16
	count  [16]uint16  // number of codes of each length
	sym    [288]uint16 // symbols ordered by code
	maxLen uint
}

// init builds the code from its code lengths. As compress/flate (and zlib)
// do, it accepts only complete codes, an empty code (which fails when
// used), and a single code of one bit.
func (h *huffman) init(lengths []uint8) bool {
	var count [16]int
	minLen, maxLen := 0, 0
	for _, l := range lengths {
		if l == 0 {
			continue
		}
		count[l]++
		maxLen = max(maxLen, int(l))
		if minLen == 0 || int(l) < minLen {
			minLen = int(l)
		}
	}
	h.fast = [1 << fastBits]uint16{}
	h.maxLen = uint(maxLen)
	for i := range count {
		h.count[i] = uint16(count[i])
	}
	if maxLen == 0 {
		return true
	}
	code := 0
	var next [16]int
	for l := minLen; l <= maxLen; l++ {
		code <<= 1
		next[l] = code
		code += count[l]
	}
	if code != 1<<maxLen && !(code == 1 && maxLen == 1) {
		return false // over-subscribed or incomplete
	}
	var offs [16]int
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + count[l]
	}
	for s, l := range lengths {
		if l == 0 {
			continue
		}
		h.sym[offs[l]] = uint16(s)
		offs[l]++
		if l <= fastBits {
			// Codes are sent most significant bit first, the
			// lookup index is the input least significant first.
			r := int(bits.Reverse16(uint16(next[l])) >> (16 - l))
			next[l]++
			for j := r; j < len(h.fast); j += 1 << l {
				h.fast[j] = uint16(s)<<4 | uint16(l)
			}
		}
	}
	return true
}

// decode decodes the next symbol from the nacc bits in acc: the symbol, its
// code length, and gotSymbol, or needBits if acc does not hold the whole
// code, or badCode.
func (h *huffman) decode(acc uint64, nacc uint) (int, uint, int) {
	if e := h.fast[acc&(1<<fastBits-1)]; e != 0 {
		n := uint(e & 15)
		if n > nacc {
			return 0, 0, needBits
		}
		return int(e >> 4), n, gotSymbol
	}
	// Canonical decoding, one bit at a time (as zlib's puff does): at
	// each length, the codes of that length are the count values that
	// follow first.
	code, first, index := 0, 0, 0
	for l := uint(1); l <= h.maxLen; l++ {
		if l > nacc {
			return 0, 0, needBits
		}
		code |= int(acc >> (l - 1) & 1)
		count := int(h.count[l])
		if code-first < count {
			return int(h.sym[index+code-first]), l, gotSymbol
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, 0, badCode
}
