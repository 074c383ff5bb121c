package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gobwas/ws"
)

// The load generator speaks just enough WebSocket to drive a server: the
// opening handshake, masked binary frames out, and an incremental parser for
// the server's unmasked frames that keeps only what the measurements need (the
// first stampSize bytes of each message and its length), so that it holds no
// buffer per connection and large messages cost it no copies.

// Opcodes (RFC 6455 section 5.2).
const (
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

// stampSize is the smallest message the benchmark sends: every message
// starts with the time it was (meant to be) sent and a sequence number, so
// that latency is measured from the payload the server sends back and needs
// no per-connection bookkeeping.
const stampSize = 16

// handshakeKey is RFC 6455's sample key; every connection may use the same
// one, and its accept value is known.
const (
	handshakeKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	handshakeAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// handshakeRequest is the opening handshake sent for path on host.
func handshakeRequest(host, path string) []byte {
	return fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host, handshakeKey)
}

// maxHandshakeResponse bounds the bytes read before the end of the
// response's headers.
const maxHandshakeResponse = 8 << 10

var errHandshakeTooLong = errors.New("handshake response too long")

// parseHandshakeResponse looks for the end of the server's response in b. It
// returns the length of the response (0 if incomplete) or an error if the
// server refused the upgrade.
func parseHandshakeResponse(b []byte) (int, error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > maxHandshakeResponse {
			return 0, errHandshakeTooLong
		}
		return 0, nil
	}
	head := b[:end]
	line, _, _ := bytes.Cut(head, []byte("\r\n"))
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 101")) {
		return 0, fmt.Errorf("handshake refused: %q", line)
	}
	if !bytes.Contains(head, []byte(handshakeAccept)) {
		return 0, errors.New("handshake: wrong or missing Sec-WebSocket-Accept")
	}
	return end + 4, nil
}

// putStamp writes the send time (Unix nanoseconds) and sequence number at
// the start of p.
func putStamp(p []byte, ts int64, seq uint64) {
	binary.LittleEndian.PutUint64(p[0:8], uint64(ts))
	binary.LittleEndian.PutUint64(p[8:16], seq)
}

// readStamp reads what putStamp wrote.
func readStamp(p []byte) (ts int64, seq uint64) {
	return int64(binary.LittleEndian.Uint64(p[0:8])), binary.LittleEndian.Uint64(p[8:16])
}

// appendClientFrame appends one final, masked frame of opcode op carrying p,
// masked with key.
func appendClientFrame(dst []byte, op byte, p []byte, key [4]byte) []byte {
	dst = appendFrameHeader(dst, op, len(p), 0x80)
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, p...)
	ws.Cipher(dst[start:], key, 0)
	return dst
}

// appendServerFrame appends one final, unmasked frame of opcode op carrying
// p, as a server sends it.
func appendServerFrame(dst []byte, op byte, p []byte) []byte {
	return append(appendFrameHeader(dst, op, len(p), 0), p...)
}

// appendFrameHeader appends the header of a final frame of opcode op and
// n payload bytes, without the mask key; mask is 0x80 for a masked frame.
func appendFrameHeader(dst []byte, op byte, n int, mask byte) []byte {
	switch {
	case n < 126:
		return append(dst, 0x80|op, mask|byte(n))
	case n < 1<<16:
		return append(dst, 0x80|op, mask|126, byte(n>>8), byte(n))
	}
	dst = append(dst, 0x80|op, mask|127)
	return binary.BigEndian.AppendUint64(dst, uint64(n))
}

// frameHandler receives what a frameReader parses.
type frameHandler interface {
	// message is called once per complete data message with its opcode,
	// its first bytes (up to stampSize) and its total length.
	message(op byte, head []byte, n int64)
	// control is called for each ping, pong or close frame.
	control(op byte, p []byte)
}

// frameReader parses the frames a server sends, incrementally, from any
// split of the byte stream.
type frameReader struct {
	hdr    [10]byte
	hn     uint8 // header bytes collected
	op     byte  // opcode of the current frame
	fin    bool
	inHdr  bool  // false: reading a payload (remain bytes left)
	remain int64 // payload bytes left in the current frame
	msgOp  byte  // opcode of the data message in progress (0: none)
	msgLen int64
	headN  uint8
	head   [stampSize]byte
	ctl    []byte // payload of a control frame in progress
}

var (
	errMaskedFrame   = errors.New("server sent a masked frame")
	errBadOpcode     = errors.New("unexpected opcode")
	errBadControl    = errors.New("bad control frame")
	errBadContinue   = errors.New("continuation frame without a message")
	errMessageInData = errors.New("new data message before the previous one ended")
)

// feed parses b, calling h for every message and control frame completed.
func (r *frameReader) feed(b []byte, h frameHandler) error {
	for len(b) > 0 {
		if r.remain == 0 && !r.inHdr {
			r.inHdr, r.hn = true, 0
		}
		if r.inHdr && r.hn == 0 && len(b) >= 2 && b[1]&0x7f < 126 {
			// The common case, a whole 2-byte header at hand (many
			// small frames a read): no byte-by-byte collection.
			r.hdr[0], r.hdr[1], r.hn = b[0], b[1], 2
			b = b[2:]
			if err := r.startFrame(2, h); err != nil {
				return err
			}
			continue
		}
		if r.inHdr {
			// Collect the two fixed header bytes, then the extended length.
			need := r.headerLen()
			for int(r.hn) < need && len(b) > 0 {
				r.hdr[r.hn] = b[0]
				r.hn++
				b = b[1:]
				need = r.headerLen()
			}
			if int(r.hn) < need {
				return nil
			}
			if err := r.startFrame(need, h); err != nil {
				return err
			}
			continue
		}
		n := min(int64(len(b)), r.remain)
		chunk := b[:n]
		b = b[n:]
		r.remain -= n
		if r.op >= opClose {
			r.ctl = append(r.ctl, chunk...)
		} else {
			if int(r.headN) < stampSize {
				c := copy(r.head[r.headN:], chunk)
				r.headN += uint8(c)
			}
			r.msgLen += n
		}
		if r.remain == 0 {
			r.endFrame(h)
		}
	}
	return nil
}

// headerLen is the length of the current frame's header (without a mask
// key, which a server frame must not have) as far as it is known: 2 until
// the second byte has come, then 4 or 10 with an extended length.
func (r *frameReader) headerLen() int {
	if r.hn < 2 {
		return 2
	}
	switch r.hdr[1] & 0x7f {
	case 126:
		return 4
	case 127:
		return 10
	}
	return 2
}

func (r *frameReader) startFrame(hlen int, h frameHandler) error {
	r.inHdr = false
	b0, b1 := r.hdr[0], r.hdr[1]
	if b1&0x80 != 0 {
		return errMaskedFrame
	}
	r.fin = b0&0x80 != 0
	r.op = b0 & 0x0f
	switch hlen {
	case 2:
		r.remain = int64(b1 & 0x7f)
	case 4:
		r.remain = int64(binary.BigEndian.Uint16(r.hdr[2:4]))
	default:
		r.remain = int64(binary.BigEndian.Uint64(r.hdr[2:10]) & (1<<63 - 1))
	}
	switch r.op {
	case opClose, opPing, opPong:
		if !r.fin || r.remain > 125 {
			return errBadControl
		}
		r.ctl = r.ctl[:0]
	case opText, opBinary:
		if r.msgOp != 0 {
			return errMessageInData
		}
		r.msgOp, r.msgLen, r.headN = r.op, 0, 0
	case opCont:
		if r.msgOp == 0 {
			return errBadContinue
		}
	default:
		return fmt.Errorf("%w %#x", errBadOpcode, r.op)
	}
	if r.remain == 0 {
		r.endFrame(h)
	}
	return nil
}

func (r *frameReader) endFrame(h frameHandler) {
	if r.op >= opClose {
		h.control(r.op, r.ctl)
		return
	}
	if r.fin {
		op := r.msgOp
		r.msgOp = 0
		h.message(op, r.head[:r.headN], r.msgLen)
	}
}
