package proto

import (
	"encoding/binary"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
)

// PutHeader encodes the header of an unmasked server frame into h and
// returns its size. It takes an array, not a slice, so a header on the
// caller's stack stays there.
func PutHeader(h *[ws.MaxHeaderSize]byte, fin bool, rsv byte, op ws.OpCode, length int) int {
	b0 := byte(op) | rsv<<4
	if fin {
		b0 |= 0x80
	}
	h[0] = b0
	switch {
	case length < 126:
		h[1] = byte(length)
		return 2
	case length <= 0xffff:
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(length))
		return 4
	}
	h[1] = 127
	binary.BigEndian.PutUint64(h[2:], uint64(length))
	return 10
}

// AppendHeader appends the header of an unmasked server frame to dst.
func AppendHeader(dst []byte, fin bool, rsv byte, op ws.OpCode, length int) []byte {
	var h [ws.MaxHeaderSize]byte
	n := PutHeader(&h, fin, rsv, op, length)
	return append(dst, h[:n]...)
}

// AppendFrame appends a whole unmasked server frame to dst.
func AppendFrame(dst []byte, fin bool, rsv byte, op ws.OpCode, payload []byte) []byte {
	return append(AppendHeader(dst, fin, rsv, op, len(payload)), payload...)
}

// AppendClose appends a close frame. CloseNoStatus gives an empty close
// frame (the answer to an empty close).
func AppendClose(dst []byte, code handler.CloseCode, reason string) []byte {
	if code == handler.CloseNoStatus {
		return AppendHeader(dst, true, 0, ws.OpClose, 0)
	}
	if len(reason) > 123 {
		reason = reason[:123]
	}
	dst = AppendHeader(dst, true, 0, ws.OpClose, 2+len(reason))
	dst = append(dst, byte(code>>8), byte(code))
	return append(dst, reason...)
}
