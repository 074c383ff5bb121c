package server_test

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"strings"
)

// The fuzz input of FuzzServerConn is a small program that builds what a
// client sends: a handshake (valid with variations, or raw bytes), then a
// byte stream made of operations (frames, lying headers, garbage, floods,
// close frames) with the points at which it is chopped into writes. The
// mutator flips bits of it; most of the time the result is still mostly
// well-formed WebSocket traffic, which gets the fuzzer past the handshake
// and the header checks into the connection's state machine.
//
// Layout: flags, variation, [extra header], [raw offer], then operations.
//
//	flags bit 0      engine: 0 goroutine, 1 netpoll
//	flags bits 1-3   Sec-WebSocket-Extensions offer (fzOffers; 7: raw bytes)
//	flags bits 4-5   handshake: 0-2 valid with variations, 3 raw bytes
//	flags bits 6-7   end: 0-1 half-close, 2 read briefly then close, 3 close at once
//
// An operation is one byte: kind (bits 0-2), write-after (bit 3) and two
// flag bits (4-5) whose meaning depends on the kind; see fzDecode.

// Operation kinds.
const (
	fzOpFrame    = 0 // b0, len: a frame (payload from the input, or a filler)
	fzOpFrame2   = 1 // the same: frames are the common case
	fzOpHeader   = 2 // b0, sel, length: a masked header whose payload follows in later operations
	fzOpDeflated = 3 // b0, len: a permessage-deflate message (flag 0x20: two fragments)
	fzOpRaw      = 4 // n: raw bytes (n&0x80: a filler of (n&0x7f+1) KiB)
	fzOpChop     = 5 // k: write all but the last k pending bytes
	fzOpFlood    = 6 // count, len: (count+1)*8 pings (flag 0x10: pongs)
	fzOpClose    = 7 // code(2), n, reason: a close frame (0x10: empty, 0x20: 1 byte)

	fzWriteAfter = 0x08
)

// Handshake variations (the byte after flags, for valid handshakes).
const (
	fzVOrigin     = 1 << iota // Origin of the same host: allowed
	fzVEvilOrigin             // a cross-site Origin: 403
	fzVProtocol               // offer subprotocols
	fzVExtra                  // an extra header line with a fuzz value
	fzVNoUpgrade              // no Upgrade header: plain HTTP, to the fallback handler
	fzVBadVersion             // version 8: 426
	fzVBadKey                 // a malformed key: 400
	fzVWait                   // wait for the response head before sending frames
)

// fzOffers are the extension offers flags bits 1-3 choose (index 7 reads
// the offer from the input).
var fzOffers = [...]string{
	"",
	"permessage-deflate",
	"permessage-deflate; client_max_window_bits",
	"permessage-deflate; server_max_window_bits=9; client_no_context_takeover",
	"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
	"x-webkit-deflate-frame, permessage-deflate; bogus",
	"permessage-deflate; server_max_window_bits=7",
}

// fzMask is the masking key of generated frames: fixed, so an input always
// produces the same bytes.
var fzMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// fzMaxStream bounds the bytes an input may generate.
const fzMaxStream = 1 << 20

// fzCase is a decoded input.
type fzCase struct {
	netpoll bool
	raw     bool   // the handshake is raw fuzz bytes
	vary    byte   // handshake variations (valid handshakes)
	offer   string // extension offer ("" none)
	end     int    // 0: half-close, 1: read briefly then close, 2: close at once
	// writes are the chunks written, in order; the first holds the
	// handshake unless a chop split it. wait, if set, is the index of the
	// write before which the response head is awaited.
	writes [][]byte
	wait   int
}

// fzBytes reads an input; past its end it reads zeros.
type fzBytes struct{ b []byte }

func (r *fzBytes) more() bool { return len(r.b) > 0 }

func (r *fzBytes) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fzBytes) take(n int) []byte {
	n = min(n, len(r.b))
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

// fzDecode turns an input into a case; addr is the server's Host.
func fzDecode(data []byte, addr string, masked bool) *fzCase {
	r := &fzBytes{b: data}
	flags := r.byte()
	c := &fzCase{netpoll: flags&1 != 0, raw: flags>>4&3 == 3, wait: -1}
	switch flags >> 6 {
	case 2:
		c.end = 1
	case 3:
		c.end = 2
	}
	var w fzWriter
	if c.raw {
		w.pending = append(w.pending, r.take(int(r.byte()))...)
	} else {
		c.vary = r.byte()
		var extra []byte
		if c.vary&fzVExtra != 0 {
			extra = r.take(int(r.byte()))
		}
		if i := flags >> 1 & 7; i == 7 {
			c.offer = string(r.take(int(r.byte())))
		} else if int(i) < len(fzOffers) {
			c.offer = fzOffers[i]
		}
		w.pending = append(w.pending, fzHandshake(addr, c.vary, c.offer, extra)...)
		if c.vary&fzVWait != 0 {
			w.flush(0)
			c.wait = len(w.writes)
		}
	}
	for r.more() && w.total < fzMaxStream {
		op := r.byte()
		fzOperation(&w, r, op, masked)
		if op&fzWriteAfter != 0 {
			w.flush(0)
		}
	}
	w.flush(0)
	c.writes = w.writes
	return c
}

// fzWriter accumulates the stream and its chops.
type fzWriter struct {
	pending []byte
	writes  [][]byte
	total   int
}

// flush writes all but the last keep pending bytes.
func (w *fzWriter) flush(keep int) {
	if n := len(w.pending) - keep; n > 0 {
		w.writes = append(w.writes, append([]byte(nil), w.pending[:n]...))
		w.total += n
		w.pending = append(w.pending[:0], w.pending[n:]...)
	}
}

// fzHandshake is a valid upgrade request with the variations in vary.
func fzHandshake(addr string, vary byte, offer string, extra []byte) []byte {
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\nHost: " + addr + "\r\n")
	if vary&fzVNoUpgrade == 0 {
		b.WriteString("Upgrade: websocket\r\n")
	}
	b.WriteString("Connection: Upgrade\r\n")
	key := testKey
	if vary&fzVBadKey != 0 {
		key = "c2hvcnQ="
	}
	b.WriteString("Sec-WebSocket-Key: " + key + "\r\n")
	version := "13"
	if vary&fzVBadVersion != 0 {
		version = "8"
	}
	b.WriteString("Sec-WebSocket-Version: " + version + "\r\n")
	if vary&fzVOrigin != 0 {
		b.WriteString("Origin: http://" + addr + "\r\n")
	}
	if vary&fzVEvilOrigin != 0 {
		b.WriteString("Origin: https://evil.example\r\n")
	}
	if vary&fzVProtocol != 0 {
		b.WriteString("Sec-WebSocket-Protocol: superchat, chat\r\n")
	}
	if offer != "" {
		b.WriteString("Sec-WebSocket-Extensions: " + offer + "\r\n")
	}
	if vary&fzVExtra != 0 {
		b.WriteString("X-Fz: " + string(extra) + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// fzOperation appends one operation's bytes to w.pending.
func fzOperation(w *fzWriter, r *fzBytes, op byte, masked bool) {
	if op&0x30 == 0x30 {
		masked = !masked // the wrong masking for this side
	}
	switch op & 7 {
	case fzOpFrame, fzOpFrame2:
		b0 := r.byte()
		w.pending = fzAppendFrame(w.pending, b0, fzPayload(r, 1<<10), masked)
	case fzOpHeader:
		b0 := r.byte()
		var n uint64
		switch r.byte() % 3 {
		case 0:
			n = uint64(r.byte() & 0x7f)
		case 1:
			n = uint64(binary.BigEndian.Uint16(append(r.take(2), 0, 0)))
		default:
			n = binary.BigEndian.Uint64(append(r.take(8), make([]byte, 8)...))
		}
		w.pending = fzAppendHeader(w.pending, b0, n, masked)
	case fzOpDeflated:
		b0 := r.byte()
		if op&0x10 == 0 {
			b0 |= 0x40
		}
		z := fzDeflate(fzPayload(r, 4<<10))
		if op&0x20 != 0 && len(z) > 1 {
			w.pending = fzAppendFrame(w.pending, b0&^0x80, z[:len(z)/2], masked)
			w.pending = fzAppendFrame(w.pending, 0x80, z[len(z)/2:], masked)
		} else {
			w.pending = fzAppendFrame(w.pending, b0, z, masked)
		}
	case fzOpRaw:
		n := r.byte()
		if n&0x80 == 0 {
			w.pending = append(w.pending, r.take(int(n))...)
		} else {
			w.pending = append(w.pending, bytes.Repeat([]byte{r.byte()}, int(n&0x7f+1)<<10)...)
		}
	case fzOpChop:
		w.flush(int(r.byte()))
	case fzOpFlood:
		count, n := (int(r.byte())+1)*8, int(r.byte()&0x7f)
		b0 := byte(0x89)
		if op&0x10 != 0 {
			b0 = 0x8a
		}
		for i := range count {
			w.pending = fzAppendFrame(w.pending, b0, bytes.Repeat([]byte{byte(i)}, n), masked)
		}
	case fzOpClose:
		var p []byte
		switch op & 0x30 {
		case 0x10:
		case 0x20:
			p = []byte{r.byte()}
		default:
			p = append(p, r.byte(), r.byte())
			p = append(p, r.take(int(r.byte()))...)
		}
		w.pending = fzAppendFrame(w.pending, 0x88, p, masked)
	}
}

// fzPayload reads a payload: n (<0x80) bytes of the input, or a filler of
// (n&0x7f+1)*unit copies of the next byte.
func fzPayload(r *fzBytes, unit int) []byte {
	n := r.byte()
	if n&0x80 == 0 {
		return append([]byte(nil), r.take(int(n))...)
	}
	return bytes.Repeat([]byte{r.byte()}, int(n&0x7f+1)*unit)
}

// fzAppendHeader appends a frame header with first byte b0 and length n in
// its shortest encoding (64 bits past 0xffff, whatever the top bit).
func fzAppendHeader(dst []byte, b0 byte, n uint64, masked bool) []byte {
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
		dst = append(dst, fzMask[:]...)
	}
	return dst
}

// fzAppendFrame appends a whole frame.
func fzAppendFrame(dst []byte, b0 byte, p []byte, masked bool) []byte {
	dst = fzAppendHeader(dst, b0, uint64(len(p)), masked)
	start := len(dst)
	dst = append(dst, p...)
	if masked {
		for i := range p {
			dst[start+i] ^= fzMask[i&3]
		}
	}
	return dst
}

// fzDeflate is the permessage-deflate form of p (RFC 7692 7.2.1): raw
// DEFLATE, flushed, without the final empty block's tail.
func fzDeflate(p []byte) []byte {
	var b bytes.Buffer
	zw, _ := flate.NewWriter(&b, flate.BestSpeed)
	_, _ = zw.Write(p)
	_ = zw.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}
