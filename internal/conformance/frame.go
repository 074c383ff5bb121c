package conformance

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"syscall"
)

// Frame opcodes (RFC 6455 §5.2). Values 3–7 and 11–15 are reserved.
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// Reserved-bit values for the rsv argument of [Client.WriteFrame] and the
// [Frame.Rsv] field: RSV1 is the most significant of the three bits.
const (
	RSV1 byte = 4
	RSV2 byte = 2
	RSV3 byte = 1
)

// maxFramePayload bounds the payload length the reader accepts from the
// server, so that a garbage header cannot make the client allocate gigabytes.
const maxFramePayload = 64 << 20

// Frame is one WebSocket frame as it travels on the wire.
type Frame struct {
	Fin     bool   // FIN bit
	Rsv     byte   // RSV1..RSV3 as a 3-bit value (RSV1 = 4)
	Opcode  byte   // 4-bit opcode
	Masked  bool   // MASK bit; set on every frame a client sends
	Payload []byte // application data, already unmasked when read
}

// errNonMinimal and errLengthMSB report server frames whose payload length is
// encoded in a way RFC 6455 §5.2 forbids.
var (
	errNonMinimal = errors.New("payload length not encoded in the minimal number of bytes")
	errLengthMSB  = errors.New("most significant bit of 64-bit payload length is set")
)

// newMask returns a random masking key.
func newMask() [4]byte {
	var k [4]byte
	binary.LittleEndian.PutUint32(k[:], rand.Uint32())
	return k
}

// appendHeader appends a frame header announcing a payload of length n.
// A nil mask produces an unmasked header.
func appendHeader(dst []byte, fin bool, rsv, op byte, n uint64, mask *[4]byte) []byte {
	b0 := (rsv&7)<<4 | op&0xF
	if fin {
		b0 |= 0x80
	}
	var m byte
	if mask != nil {
		m = 0x80
	}
	switch {
	case n <= 125:
		dst = append(dst, b0, m|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, b0, m|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, b0, m|127)
		dst = binary.BigEndian.AppendUint64(dst, n)
	}
	if mask != nil {
		dst = append(dst, mask[:]...)
	}
	return dst
}

// maskBytes XORs b in place with the key, starting at key offset pos.
func maskBytes(key [4]byte, pos int, b []byte) {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
}

// appendFrame appends a complete frame. A nil mask produces an unmasked frame.
// The payload slice is not modified.
func appendFrame(dst []byte, fin bool, rsv, op byte, payload []byte, mask *[4]byte) []byte {
	dst = appendHeader(dst, fin, rsv, op, uint64(len(payload)), mask)
	start := len(dst)
	dst = append(dst, payload...)
	if mask != nil {
		maskBytes(*mask, 0, dst[start:])
	}
	return dst
}

// readFrame reads one frame. It rejects length encodings RFC 6455 forbids
// (non-minimal, or a 64-bit length with the top bit set) and payloads larger
// than maxFramePayload. A clean end of stream before the first header byte is
// reported as io.EOF; an end of stream inside a frame as io.ErrUnexpectedEOF.
func readFrame(r *bufio.Reader) (Frame, error) {
	var f Frame
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return f, err
	}
	if _, err := io.ReadFull(r, hdr[1:]); err != nil {
		return f, unexpected(err)
	}
	f.Fin = hdr[0]&0x80 != 0
	f.Rsv = hdr[0] >> 4 & 7
	f.Opcode = hdr[0] & 0xF
	f.Masked = hdr[1]&0x80 != 0
	n := uint64(hdr[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, unexpected(err)
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
		if n <= 125 {
			return f, errNonMinimal
		}
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, unexpected(err)
		}
		n = binary.BigEndian.Uint64(b[:])
		if n>>63 != 0 {
			return f, errLengthMSB
		}
		if n <= 0xFFFF {
			return f, errNonMinimal
		}
	}
	var key [4]byte
	if f.Masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return f, unexpected(err)
		}
	}
	if n > maxFramePayload {
		return f, fmt.Errorf("frame payload of %d bytes exceeds the client's limit of %d", n, maxFramePayload)
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return f, unexpected(err)
	}
	if f.Masked {
		maskBytes(key, 0, f.Payload)
	}
	return f, nil
}

// unexpected turns io.EOF or a reset inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// closePayload builds a Close frame body: the status code followed by the
// reason. A negative code yields an empty body.
func closePayload(code int, reason string) []byte {
	if code < 0 {
		return nil
	}
	b := binary.BigEndian.AppendUint16(nil, uint16(code))
	return append(b, reason...)
}
