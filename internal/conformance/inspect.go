package conformance

import "errors"

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
