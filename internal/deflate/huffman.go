package deflate

import "math/bits"

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
