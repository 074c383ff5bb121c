package proto

import "unicode/utf8"

// UTF8 validates a byte stream incrementally: a text message is fed to it as
// its bytes arrive, so an invalid message fails at the first invalid byte
// rather than when it is complete. The zero value is ready for a new stream.
type UTF8 struct {
	need   uint8 // continuation bytes still expected
	lo, hi byte  // allowed range of the next continuation byte
}

// Reset starts a new stream.
func (v *UTF8) Reset() { *v = UTF8{} }

// Complete reports whether the stream so far ends on a character boundary.
func (v *UTF8) Complete() bool { return v.need == 0 }

// Write feeds p and reports whether the stream is still a valid prefix of
// UTF-8 (it may end inside a character; see Complete).
func (v *UTF8) Write(p []byte) bool {
	// Finish a character left open by the previous chunk.
	for v.need > 0 && len(p) > 0 {
		if !v.step(p[0]) {
			return false
		}
		p = p[1:]
	}
	if len(p) == 0 {
		return true
	}
	// Fast path: the standard library checks everything up to the start
	// of the last character, which may be cut off by the chunk boundary.
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		if b := p[i]; b >= 0xC0 {
			cut = i
			break
		} else if b < 0x80 {
			break
		}
	}
	if utf8.Valid(p[:cut]) {
		p = p[cut:]
	}
	for _, b := range p {
		if !v.step(b) {
			return false
		}
	}
	return true
}

// step advances the automaton by one byte (Unicode table 3-7, well-formed
// byte sequences).
func (v *UTF8) step(b byte) bool {
	if v.need > 0 {
		if b < v.lo || b > v.hi {
			return false
		}
		v.need--
		v.lo, v.hi = 0x80, 0xBF
		return true
	}
	switch {
	case b < 0x80:
	case b >= 0xC2 && b <= 0xDF:
		v.need, v.lo, v.hi = 1, 0x80, 0xBF
	case b == 0xE0:
		v.need, v.lo, v.hi = 2, 0xA0, 0xBF
	case b >= 0xE1 && b <= 0xEC, b == 0xEE, b == 0xEF:
		v.need, v.lo, v.hi = 2, 0x80, 0xBF
	case b == 0xED:
		v.need, v.lo, v.hi = 2, 0x80, 0x9F
	case b == 0xF0:
		v.need, v.lo, v.hi = 3, 0x90, 0xBF
	case b >= 0xF1 && b <= 0xF3:
		v.need, v.lo, v.hi = 3, 0x80, 0xBF
	case b == 0xF4:
		v.need, v.lo, v.hi = 3, 0x80, 0x8F
	default:
		return false
	}
	return true
}
