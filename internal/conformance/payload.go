package conformance

import "unicode/utf8"

// asciiPayload returns n bytes of printable ASCII.
func asciiPayload(n int) []byte {
	const pat = "Hello, WebSocket world! 0123456789 "
	b := make([]byte, n)
	for i := range b {
		b[i] = pat[i%len(pat)]
	}
	return b
}

// binPayload returns n bytes covering every byte value.
func binPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8 + 0x5A)
	}
	return b
}

// utf8Payload returns exactly n bytes of valid UTF-8 mixing 1- to 4-byte
// sequences, so that splitting it at arbitrary byte offsets cuts sequences.
func utf8Payload(n int) []byte {
	const pat = "Hello-µ@ßöäüàá-UTF-8!! κόσμε €𝄞😀 "
	b := make([]byte, 0, n)
	for len(b) < n {
		for _, r := range pat {
			if len(b)+utf8.RuneLen(r) > n {
				break
			}
			b = utf8.AppendRune(b, r)
		}
		for len(b) < n && n-len(b) < 4 {
			b = append(b, '*')
		}
	}
	return b
}

// split cuts p into n nearly equal parts (n >= 1), ignoring character
// boundaries.
func split(p []byte, n int) [][]byte {
	parts := make([][]byte, n)
	for i := range n {
		parts[i] = p[len(p)*i/n : len(p)*(i+1)/n]
	}
	return parts
}

// chunks cuts p into pieces of size bytes (the last may be shorter); an
// empty p gives one empty piece.
func chunks(p []byte, size int) [][]byte {
	if len(p) == 0 {
		return [][]byte{p}
	}
	var out [][]byte
	for len(p) > 0 {
		k := min(size, len(p))
		out = append(out, p[:k])
		p = p[k:]
	}
	return out
}

// fragments turns parts into a fragmented message of type op: the first
// frame has opcode op, the rest are continuations, and only the last has FIN.
func fragments(op byte, parts [][]byte) []fr {
	frs := make([]fr, len(parts))
	for i, p := range parts {
		o := op
		if i > 0 {
			o = OpContinuation
		}
		frs[i] = fr{fin: i == len(parts)-1, op: o, payload: p}
	}
	return frs
}
