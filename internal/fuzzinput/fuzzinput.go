// Package fuzzinput decodes the frame-stream part of the fuzz inputs of
// FuzzServerConn (server) and FuzzClientConn (client): a small program of
// operations (frames, lying headers, garbage, floods, close frames, and the
// points at which the stream is chopped into writes) that the mutator can
// flip bits of and still mostly produce WebSocket traffic. Both targets
// share it so that one operation means the same bytes on both sides and
// their corpora stay readable the same way; each target decodes its own
// handshake part around it.
//
// An operation is one byte: kind (bits 0-2, Op*), write-after (bit 3,
// WriteAfter) and two flag bits (4-5) whose meaning depends on the kind.
// Generated frames are masked (a client's) or not (a server's) as the
// caller asks; both flag bits set gives the wrong masking for the side.
//
// The encoding is the corpora's format: changing what an operation
// produces changes what every stored input tests.
package fuzzinput

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
)

// Operation kinds.
const (
	OpFrame    = 0 // b0, len: a frame (payload from the input, or a filler)
	OpFrame2   = 1 // the same: frames are the common case
	OpHeader   = 2 // b0, sel, length: a header whose payload follows in later operations
	OpDeflated = 3 // b0, len: a permessage-deflate message (flag 0x20: two fragments)
	OpRaw      = 4 // n: raw bytes (n&0x80: a filler of (n&0x7f+1) KiB)
	OpChop     = 5 // k: write all but the last k pending bytes
	OpFlood    = 6 // count, len: (count+1)*8 pings (flag 0x10: pongs)
	OpClose    = 7 // code(2), n, reason: a close frame (0x10: empty, 0x20: 1 byte)

	// WriteAfter, set on an operation, writes what is pending after it.
	WriteAfter = 0x08
)

// MaxStream bounds the bytes an input may generate.
const MaxStream = 1 << 20

// Mask is the masking key of generated frames: fixed, so an input always
// produces the same bytes.
var Mask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// Reader reads an input; past its end it reads zeros.
type Reader struct{ b []byte }

// NewReader reads data.
func NewReader(data []byte) *Reader { return &Reader{b: data} }

// More reports whether input is left.
func (r *Reader) More() bool { return len(r.b) > 0 }

// Byte reads one byte (0 past the end).
func (r *Reader) Byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// Take reads up to n bytes; the slice aliases the input.
func (r *Reader) Take(n int) []byte {
	n = min(n, len(r.b))
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

// Writer accumulates the stream and its chops.
type Writer struct {
	// Pending are the bytes not yet cut into a write.
	Pending []byte
	// Writes are the chunks written, in order.
	Writes [][]byte
	// Total is the bytes in Writes.
	Total int
}

// Flush writes all but the last keep pending bytes.
func (w *Writer) Flush(keep int) {
	if n := len(w.Pending) - keep; n > 0 {
		w.Writes = append(w.Writes, append([]byte(nil), w.Pending[:n]...))
		w.Total += n
		w.Pending = append(w.Pending[:0], w.Pending[n:]...)
	}
}

// Operation appends the bytes of operation op, reading its arguments from
// r, to w.Pending; masked says how this side masks its frames.
func Operation(w *Writer, r *Reader, op byte, masked bool) {
	if op&0x30 == 0x30 {
		masked = !masked // the wrong masking for this side
	}
	switch op & 7 {
	case OpFrame, OpFrame2:
		b0 := r.Byte()
		w.Pending = AppendFrame(w.Pending, b0, Payload(r, 1<<10), masked)
	case OpHeader:
		b0 := r.Byte()
		var n uint64
		switch r.Byte() % 3 {
		case 0:
			n = uint64(r.Byte() & 0x7f)
		case 1:
			n = uint64(binary.BigEndian.Uint16(append(r.Take(2), 0, 0)))
		default:
			n = binary.BigEndian.Uint64(append(r.Take(8), make([]byte, 8)...))
		}
		w.Pending = AppendHeader(w.Pending, b0, n, masked)
	case OpDeflated:
		b0 := r.Byte()
		if op&0x10 == 0 {
			b0 |= 0x40
		}
		z := Deflate(Payload(r, 4<<10))
		if op&0x20 != 0 && len(z) > 1 {
			w.Pending = AppendFrame(w.Pending, b0&^0x80, z[:len(z)/2], masked)
			w.Pending = AppendFrame(w.Pending, 0x80, z[len(z)/2:], masked)
		} else {
			w.Pending = AppendFrame(w.Pending, b0, z, masked)
		}
	case OpRaw:
		n := r.Byte()
		if n&0x80 == 0 {
			w.Pending = append(w.Pending, r.Take(int(n))...)
		} else {
			w.Pending = append(w.Pending, bytes.Repeat([]byte{r.Byte()}, int(n&0x7f+1)<<10)...)
		}
	case OpChop:
		w.Flush(int(r.Byte()))
	case OpFlood:
		count, n := (int(r.Byte())+1)*8, int(r.Byte()&0x7f)
		b0 := byte(0x89)
		if op&0x10 != 0 {
			b0 = 0x8a
		}
		for i := range count {
			w.Pending = AppendFrame(w.Pending, b0, bytes.Repeat([]byte{byte(i)}, n), masked)
		}
	case OpClose:
		var p []byte
		switch op & 0x30 {
		case 0x10:
		case 0x20:
			p = []byte{r.Byte()}
		default:
			p = append(p, r.Byte(), r.Byte())
			p = append(p, r.Take(int(r.Byte()))...)
		}
		w.Pending = AppendFrame(w.Pending, 0x88, p, masked)
	}
}

// Stream runs the operations left in r into w, flushing after those marked
// WriteAfter and at the end, until the input or MaxStream runs out.
func Stream(w *Writer, r *Reader, masked bool) {
	for r.More() && w.Total < MaxStream {
		op := r.Byte()
		Operation(w, r, op, masked)
		if op&WriteAfter != 0 {
			w.Flush(0)
		}
	}
	w.Flush(0)
}

// Payload reads a payload: n (<0x80) bytes of the input, or a filler of
// (n&0x7f+1)*unit copies of the next byte.
func Payload(r *Reader, unit int) []byte {
	n := r.Byte()
	if n&0x80 == 0 {
		return append([]byte(nil), r.Take(int(n))...)
	}
	return bytes.Repeat([]byte{r.Byte()}, int(n&0x7f+1)*unit)
}

// AppendHeader appends a frame header with first byte b0 and length n in
// its shortest encoding (64 bits past 0xffff, whatever the top bit).
func AppendHeader(dst []byte, b0 byte, n uint64, masked bool) []byte {
	var m byte
	if masked {
		m = 0x80
	}
	switch {
	case n < 126:
		dst = append(dst, b0, m|byte(n))
	case n <= 0xffff:
		dst = binary.BigEndian.AppendUint16(append(dst, b0, m|126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, b0, m|127), n)
	}
	if masked {
		dst = append(dst, Mask[:]...)
	}
	return dst
}

// AppendFrame appends a whole frame.
func AppendFrame(dst []byte, b0 byte, p []byte, masked bool) []byte {
	dst = AppendHeader(dst, b0, uint64(len(p)), masked)
	start := len(dst)
	dst = append(dst, p...)
	if masked {
		for i := range p {
			dst[start+i] ^= Mask[i&3]
		}
	}
	return dst
}

// Deflate is the permessage-deflate form of p (RFC 7692 7.2.1): raw
// DEFLATE, flushed, without the final empty block's tail.
func Deflate(p []byte) []byte {
	var b bytes.Buffer
	zw, _ := flate.NewWriter(&b, flate.BestSpeed)
	_, _ = zw.Write(p)
	_ = zw.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// FrameOp is an OpFrame operation, written at once, with an inline payload
// (< 128 bytes): for seeds.
func FrameOp(b0 byte, p string) []byte {
	return append([]byte{OpFrame | WriteAfter, b0, byte(len(p))}, p...)
}

// CloseOp is an OpClose operation, written at once: for seeds.
func CloseOp(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16([]byte{OpClose | WriteAfter}, code), append([]byte{byte(len(reason))}, reason...)...)
}
