// Package proto is the server side of the RFC 6455 framing layer shared by
// every engine: a push parser that turns the bytes read from a client into
// messages and control frames (validating as strictly as the RFC asks), and
// the encoding of the frames the server sends.
//
// Frame headers are decoded and checked with github.com/gobwas/ws; message
// assembly, UTF-8 validation and close-frame rules are ours. The parser never
// blocks and keeps partial frames as state, so the netpoll engine can feed it
// whatever a non-blocking read returned.
package proto

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
)

// Kind is the kind of an Event.
type Kind uint8

// Event kinds.
const (
	None    Kind = iota // more bytes are needed
	Message             // a complete data message
	Ping
	Pong
	Close
	// Deflated is a piece of a compressed message's payload, as it
	// arrived (only with Reader.StreamCompressed): Data is still
	// compressed, Type is the message's, and Fin marks the last piece.
	Deflated
)

// Event is what the Reader found in the bytes fed to it.
type Event struct {
	Kind Kind
	// Type is the message type of a Message.
	Type handler.MessageType
	// Compressed reports that the message was sent with RSV1 set
	// (permessage-deflate): Data is still deflated and has not been
	// validated as UTF-8.
	Compressed bool
	// Fin reports that a Deflated piece ends its message.
	Fin bool
	// Data is the message or control payload. It is only valid until the
	// next call to Next.
	Data []byte
	// Code and Reason are a close frame's; Code is CloseNoStatus for an
	// empty close frame.
	Code   handler.CloseCode
	Reason string
}

// Error is a protocol violation by the peer: the connection must be failed
// with Code.
type Error struct {
	Code   handler.CloseCode
	Reason string
}

func (e *Error) Error() string { return e.Reason }

func fail(code handler.CloseCode, reason string) *Error {
	return &Error{Code: code, Reason: reason}
}

// Reader parses the client-to-server byte stream of one connection. The zero
// value with MaxMessage set is ready to use.
type Reader struct {
	// MaxMessage is the largest message payload accepted; a larger one
	// fails the connection with 1009. Zero means no limit.
	MaxMessage int64
	// Compression allows RSV1 on the first frame of a data message
	// (permessage-deflate was negotiated).
	Compression bool
	// Client parses the server-to-client stream instead: frames must be
	// unmasked.
	Client bool
	// StreamCompressed hands out the payload of compressed messages as
	// it arrives, in Deflated events, instead of buffering whole
	// messages: the permessage-deflate receiver inflates them as they
	// come, so that invalid data or an oversized message fails at once,
	// and the limit applies to the inflated size.
	StreamCompressed bool

	// The reader is part of every connection's idle state: small fields
	// first, and the buffers of messages and control frames that span
	// reads behind a pointer that is nil between messages.
	hn            uint8 // bytes of hdr filled
	inFrame       bool
	msgType       handler.MessageType // 0: no message open
	msgCompressed bool
	mpos          uint8 // mask offset within the current frame, mod 4
	utf           UTF8
	hdr           [ws.MaxHeaderSize]byte
	h             ws.Header
	left          int64 // payload bytes of the current frame still to come
	part          *partial
}

// partial holds what arrived of a message or control frame split across
// reads; one that arrives whole is handed out from the input.
type partial struct {
	msg []byte // payload of the open message
	ctl []byte // payload of the current control frame
}

// Buffered reports whether the reader holds part of a frame or message, that
// is whether it needs more bytes before it can report anything.
func (r *Reader) Buffered() bool { return r.hn > 0 || r.inFrame || r.msgType != 0 }

// Held is the memory the reader holds for partial messages and control
// frames: the capacity of its buffers, not the bytes in them.
func (r *Reader) Held() int {
	if r.part == nil {
		return 0
	}
	return cap(r.part.msg) + cap(r.part.ctl)
}

// Release drops the buffer of the last message so an idle connection holds
// no memory; the next message allocates afresh. Call it after the message
// event has been handled.
func (r *Reader) Release() {
	if r.part != nil && r.part.ctl == nil && (r.msgType == 0 || len(r.part.msg) == 0) {
		r.part = nil
	}
}

func (r *Reader) msg() []byte {
	if r.part == nil {
		return nil
	}
	return r.part.msg
}

func (r *Reader) parts() *partial {
	if r.part == nil {
		r.part = &partial{}
	}
	return r.part
}

// Next consumes bytes from p until it completes one event or runs out of
// input. It returns how many bytes it consumed and the event (Kind None if p
// was used up without completing one). Payload bytes in p are unmasked in
// place. A non-nil error means the connection must be failed with its code;
// the reader must not be used afterwards.
func (r *Reader) Next(p []byte) (int, Event, *Error) {
	n := 0
	for {
		if !r.inFrame {
			k, ok, err := r.readHeader(p[n:])
			n += k
			if err != nil {
				return n, Event{}, err
			}
			if !ok {
				return n, Event{}, nil
			}
			if r.left == 0 {
				if ev, err, done := r.endFrame(); err != nil || done {
					return n, ev, err
				}
				continue
			}
		}
		if n == len(p) {
			return n, Event{}, nil
		}
		chunk := p[n:]
		if int64(len(chunk)) > r.left {
			chunk = chunk[:r.left]
		}
		if r.h.Masked {
			ws.Cipher(chunk, r.h.Mask, int(r.mpos))
		}
		r.mpos = uint8((int(r.mpos) + len(chunk)) & 3)
		r.left -= int64(len(chunk))
		n += len(chunk)

		if r.h.OpCode.IsControl() {
			if r.left == 0 && (r.part == nil || r.part.ctl == nil) {
				ev, err := r.control(chunk)
				return n, ev, err
			}
			pt := r.parts()
			pt.ctl = append(pt.ctl, chunk...)
		} else if r.StreamCompressed && r.msgCompressed {
			return n, r.deflatedPart(chunk), nil
		} else {
			if r.msgType == handler.Text && !r.msgCompressed && !r.utf.Write(chunk) {
				return n, Event{}, fail(handler.CloseInvalidPayload, "invalid UTF-8 in text message")
			}
			// A whole single-frame message in this buffer is handed
			// out without copying.
			if r.left == 0 && r.h.Fin && len(r.msg()) == 0 && int64(len(chunk)) == r.h.Length {
				r.inFrame = false
				ev, err, _ := r.finishMessage(chunk)
				return n, ev, err
			}
			pt := r.parts()
			pt.msg = append(Grow(pt.msg, len(chunk), r.limit()), chunk...)
		}
		if r.left > 0 {
			return n, Event{}, nil
		}
		if ev, err, done := r.endFrame(); err != nil || done {
			return n, ev, err
		}
	}
}

// readHeader accumulates and checks a frame header. ok is false when more
// bytes are needed.
func (r *Reader) readHeader(p []byte) (n int, ok bool, err *Error) {
	var b []byte // the whole header
	if r.hn == 0 && len(p) >= 2 && len(p) >= headerSize(p[1]) {
		b = p[:headerSize(p[1])] // whole in the input: no copy
		n = len(b)
	} else {
		if r.hn < 2 {
			k := copy(r.hdr[r.hn:2], p)
			r.hn += uint8(k)
			n += k
			if r.hn < 2 {
				return n, false, nil
			}
		}
		size := headerSize(r.hdr[1])
		k := copy(r.hdr[r.hn:size], p[n:])
		r.hn += uint8(k)
		n += k
		if int(r.hn) < size {
			return n, false, nil
		}
		r.hn = 0
		b = r.hdr[:size]
	}
	h, e := parseHeader(b)
	if e != nil {
		return n, false, fail(handler.CloseProtocolError, e.Error())
	}
	state := ws.StateServerSide
	if r.Client {
		state = ws.StateClientSide
	}
	if r.msgType != 0 {
		state |= ws.StateFragmented
	}
	rsv := h.Rsv
	if r.Compression && rsv == 0x4 && r.msgType == 0 && (h.OpCode == ws.OpText || h.OpCode == ws.OpBinary) {
		h.Rsv = 0 // RSV1 marks a compressed message (RFC 7692 section 6)
	}
	if e := ws.CheckHeader(h, state); e != nil {
		return n, false, fail(handler.CloseProtocolError, e.Error())
	}
	h.Rsv = rsv
	if !h.OpCode.IsControl() {
		if h.OpCode != ws.OpContinuation {
			r.msgType = handler.MessageType(h.OpCode)
			r.msgCompressed = rsv != 0
			r.utf.Reset()
		}
		limit := r.limit()
		// h.Length is up to 2^63-1: compare it with what is left of the
		// limit, never add it to something (the sum could wrap).
		if r.MaxMessage > 0 && h.Length > limit-int64(len(r.msg())) {
			return n, false, fail(handler.CloseMessageTooBig, "message too big")
		}
	}
	r.h, r.inFrame, r.left, r.mpos = h, true, h.Length, 0
	if r.part != nil {
		r.part.ctl = nil
	}
	return n, true, nil
}

// limit is the most payload the open message may have (0: no limit).
func (r *Reader) limit() int64 {
	if r.msgCompressed && r.MaxMessage > 0 {
		// The real limit applies once inflated; the deflated form of
		// incompressible data is a little larger (stored blocks).
		return r.MaxMessage + r.MaxMessage/1024 + 1024
	}
	return r.MaxMessage
}

// headerSize is the size of a frame header given its second byte.
func headerSize(b1 byte) int {
	size := 2
	if b1&0x80 != 0 {
		size += 4
	}
	switch b1 & 0x7f {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	return size
}

// parseHeader decodes a whole frame header (as ws.ReadHeader does, without
// an io.Reader, so nothing escapes to the heap).
func parseHeader(b []byte) (ws.Header, error) {
	h := ws.Header{
		Fin:    b[0]&0x80 != 0,
		Rsv:    (b[0] & 0x70) >> 4,
		OpCode: ws.OpCode(b[0] & 0x0f),
		Masked: b[1]&0x80 != 0,
	}
	rest := b[2:]
	switch l := b[1] & 0x7f; l {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
	case 127:
		if rest[0]&0x80 != 0 {
			return h, ws.ErrHeaderLengthMSB
		}
		h.Length = int64(binary.BigEndian.Uint64(rest))
		rest = rest[8:]
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		copy(h.Mask[:], rest)
	}
	return h, nil
}

// endFrame completes the current frame; done reports an event to return.
func (r *Reader) endFrame() (ev Event, err *Error, done bool) {
	if r.h.OpCode.IsControl() {
		var p []byte
		if r.part != nil {
			p, r.part.ctl = r.part.ctl, nil
		}
		ev, err := r.control(p)
		return ev, err, true
	}
	r.inFrame = false
	if !r.h.Fin {
		return Event{}, nil, false
	}
	if r.StreamCompressed && r.msgCompressed {
		return r.deflatedPart(nil), nil, true // an empty final frame
	}
	return r.finishMessage(r.msg())
}

// control completes a control frame with payload p.
func (r *Reader) control(p []byte) (Event, *Error) {
	r.inFrame = false
	switch r.h.OpCode {
	case ws.OpPing:
		return Event{Kind: Ping, Data: p}, nil
	case ws.OpPong:
		return Event{Kind: Pong, Data: p}, nil
	}
	return ParseClose(p)
}

// deflatedPart reports chunk, payload of a compressed message that just
// arrived, as a Deflated event; the frame and, after its final frame, the
// message end when the chunk ends them.
func (r *Reader) deflatedPart(chunk []byte) Event {
	ev := Event{Kind: Deflated, Type: r.msgType, Compressed: true, Data: chunk}
	if r.left == 0 {
		r.inFrame = false
		if r.h.Fin {
			ev.Fin = true
			r.msgType, r.msgCompressed = 0, false
		}
	}
	return ev
}

func (r *Reader) finishMessage(data []byte) (Event, *Error, bool) {
	typ, compressed := r.msgType, r.msgCompressed
	r.msgType, r.msgCompressed = 0, false
	if r.part != nil {
		r.part.msg = r.part.msg[:0]
	}
	if typ == handler.Text && !compressed && !r.utf.Complete() {
		return Event{}, fail(handler.CloseInvalidPayload, "invalid UTF-8 in text message"), true
	}
	return Event{Kind: Message, Type: typ, Compressed: compressed, Data: data}, nil, true
}

// ParseClose decodes and checks a close frame payload (RFC 6455 5.5.1, 7.4).
func ParseClose(p []byte) (Event, *Error) {
	switch {
	case len(p) == 0:
		return Event{Kind: Close, Code: handler.CloseNoStatus}, nil
	case len(p) == 1:
		return Event{}, fail(handler.CloseProtocolError, "close frame payload of 1 byte")
	}
	code := handler.CloseCode(uint16(p[0])<<8 | uint16(p[1]))
	if !code.Valid() {
		return Event{}, fail(handler.CloseProtocolError, "invalid close code "+code.String())
	}
	if !utf8.Valid(p[2:]) {
		return Event{}, fail(handler.CloseInvalidPayload, "invalid UTF-8 in close reason")
	}
	return Event{Kind: Close, Code: code, Reason: string(p[2:])}, nil
}
