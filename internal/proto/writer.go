package proto

import (
	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
)

// AppendHeader appends the header of an unmasked server frame to dst.
func AppendHeader(dst []byte, fin bool, rsv byte, op ws.OpCode, length int) []byte {
	var buf [ws.MaxHeaderSize]byte
	w := appendWriter{dst}
	// WriteHeaderBuffer only fails for lengths no slice can have.
	_ = ws.WriteHeaderBuffer(&w, ws.Header{Fin: fin, Rsv: rsv, OpCode: op, Length: int64(length)}, buf[:])
	return w.b
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

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
