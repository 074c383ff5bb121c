package deflate

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
