package client_test

import (
	"errors"
	"fmt"
)

// A DEFLATE decoder (RFC 1951) for the tests, after zlib's puff.c: it
// checks the LZ77 back-references of a compressed message (which Go's
// compress/flate reader cannot: it accepts any distance up to 32 KiB), so
// the tests can prove the client keeps to the window and the context
// takeover rules it negotiated.

// deflateStats is what inspectDeflate found in one message.
type deflateStats struct {
	out     int  // bytes the message inflates to
	maxDist int  // the longest back-reference
	history bool // a back-reference reaches before the message's start
}

type bitReader struct {
	p   []byte
	pos int
	bit uint
}

var errShort = errors.New("deflate data ends early")

func (b *bitReader) bits(n int) (int, error) {
	v := 0
	for i := 0; i < n; i++ {
		if b.pos >= len(b.p) {
			return 0, errShort
		}
		v |= int(b.p[b.pos]>>b.bit&1) << i
		if b.bit++; b.bit == 8 {
			b.bit, b.pos = 0, b.pos+1
		}
	}
	return v, nil
}

// huffman is a canonical Huffman code: the number of codes of each length,
// and the symbols in code order.
type huffman struct {
	count  [16]int
	symbol []int
}

func newHuffman(lengths []int) *huffman {
	h := &huffman{symbol: make([]int, len(lengths))}
	for _, l := range lengths {
		h.count[l]++
	}
	var offs [16]int
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = sym
			offs[l]++
		}
	}
	return h
}

func (h *huffman) decode(b *bitReader) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		bit, err := b.bits(1)
		if err != nil {
			return 0, err
		}
		code |= bit
		count := h.count[l]
		if code-count < first {
			return h.symbol[index+code-first], nil
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, errors.New("bad Huffman code")
}

var (
	lengthBase  = []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = []int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = []int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = []int{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	clOrder     = []int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

var fixedLit, fixedDist = func() (*huffman, *huffman) {
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
	return newHuffman(l), newHuffman(d)
}()

// inspectDeflate decodes a message as sent (without its tail) and reports
// its back-references.
func inspectDeflate(z []byte) (deflateStats, error) {
	var st deflateStats
	b := &bitReader{p: append(append([]byte(nil), z...), 0x00, 0x00, 0xff, 0xff)}
	for b.pos < len(b.p) {
		final, err := b.bits(1)
		if err != nil {
			return st, err
		}
		typ, err := b.bits(2)
		if err != nil {
			return st, err
		}
		switch typ {
		case 0:
			if b.bit != 0 {
				b.bit, b.pos = 0, b.pos+1
			}
			if b.pos+4 > len(b.p) {
				return st, errShort
			}
			n := int(b.p[b.pos]) | int(b.p[b.pos+1])<<8
			if nn := int(b.p[b.pos+2]) | int(b.p[b.pos+3])<<8; n != ^nn&0xffff {
				return st, errors.New("stored block length check failed")
			}
			b.pos += 4 + n
			if b.pos > len(b.p) {
				return st, errShort
			}
			st.out += n
		case 1:
			err = codes(b, fixedLit, fixedDist, &st)
		case 2:
			var lit, dist *huffman
			if lit, dist, err = dynamic(b); err == nil {
				err = codes(b, lit, dist, &st)
			}
		default:
			return st, errors.New("block type 3")
		}
		if err != nil {
			return st, err
		}
		if final == 1 {
			break
		}
	}
	return st, nil
}

func dynamic(b *bitReader) (*huffman, *huffman, error) {
	hlit, err1 := b.bits(5)
	hdist, err2 := b.bits(5)
	hclen, err3 := b.bits(4)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, nil, err
	}
	nlen, ndist := hlit+257, hdist+1
	cl := make([]int, 19)
	for i := 0; i < hclen+4; i++ {
		v, err := b.bits(3)
		if err != nil {
			return nil, nil, err
		}
		cl[clOrder[i]] = v
	}
	clh := newHuffman(cl)
	lengths := make([]int, 0, nlen+ndist)
	for len(lengths) < nlen+ndist {
		sym, err := clh.decode(b)
		if err != nil {
			return nil, nil, err
		}
		if sym < 16 {
			lengths = append(lengths, sym)
			continue
		}
		val, rep := 0, 0
		switch sym {
		case 16:
			if len(lengths) == 0 {
				return nil, nil, errors.New("repeat with no previous length")
			}
			val = lengths[len(lengths)-1]
			rep, err = b.bits(2)
			rep += 3
		case 17:
			rep, err = b.bits(3)
			rep += 3
		default:
			rep, err = b.bits(7)
			rep += 11
		}
		if err != nil {
			return nil, nil, err
		}
		for ; rep > 0; rep-- {
			lengths = append(lengths, val)
		}
	}
	if len(lengths) > nlen+ndist {
		return nil, nil, errors.New("too many code lengths")
	}
	return newHuffman(lengths[:nlen]), newHuffman(lengths[nlen:]), nil
}

func codes(b *bitReader, lit, dist *huffman, st *deflateStats) error {
	for {
		sym, err := lit.decode(b)
		if err != nil {
			return err
		}
		switch {
		case sym < 256:
			st.out++
			continue
		case sym == 256:
			return nil
		case sym > 285:
			return fmt.Errorf("bad length symbol %d", sym)
		}
		sym -= 257
		extra, err := b.bits(lengthExtra[sym])
		if err != nil {
			return err
		}
		length := lengthBase[sym] + extra
		dsym, err := dist.decode(b)
		if err != nil {
			return err
		}
		if dsym > 29 {
			return fmt.Errorf("bad distance symbol %d", dsym)
		}
		if extra, err = b.bits(distExtra[dsym]); err != nil {
			return err
		}
		d := distBase[dsym] + extra
		st.maxDist = max(st.maxDist, d)
		if d > st.out {
			st.history = true
		}
		st.out += length
	}
}
