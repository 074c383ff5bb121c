package conformance

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
