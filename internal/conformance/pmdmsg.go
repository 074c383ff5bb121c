package conformance

import (
	"compress/flate"
	"fmt"
	"slices"
	"strings"
)

// An encoding is how the client sends one message: plain (RSV1 = 0), or
// compressed by some encoder.
type encoding struct {
	name    string
	deflate func(p []byte) []byte // nil: sent uncompressed
}

var (
	encPlain = encoding{name: "uncompressed"}
	encFinal = encoding{"deflated ending with a BFINAL block", func(p []byte) []byte { return deflateFinal(p, flate.DefaultCompression) }}
)

// encLevel compresses with compress/flate at a level.
func encLevel(level int) encoding {
	name := fmt.Sprintf("deflated at level %d", level)
	switch level {
	case flate.NoCompression:
		name = "deflated as stored blocks"
	case flate.HuffmanOnly:
		name = "deflated Huffman-only"
	case flate.DefaultCompression:
		name = "deflated at the default level"
	}
	return encoding{name, func(p []byte) []byte { return deflateMessage(p, level) }}
}

// encFixed compresses with the suite's fixed-Huffman encoder and a window
// of 1<<bits bytes.
func encFixed(bits int) encoding {
	return encoding{fmt.Sprintf("fixed-Huffman deflated, %s window", sizeName(1<<bits)), func(p []byte) []byte {
		z, _ := fixedDeflate(p, bits)
		return z
	}}
}

// encFlushEvery compresses with a sync flush after every n input bytes.
func encFlushEvery(n int) encoding {
	return encoding{fmt.Sprintf("deflated with a sync flush every %d bytes", n), func(p []byte) []byte {
		return deflateFlushEvery(p, flate.DefaultCompression, n)
	}}
}

// encRaw sends fixed bytes with RSV1 whatever the payload.
func encRaw(z []byte) encoding {
	return encoding{"deflated", func([]byte) []byte { return z }}
}

// pmdMsg is one message a case sends.
type pmdMsg struct {
	op  byte
	p   []byte // the message (what the echo must carry)
	enc encoding
	fs  int // frame size in bytes of the data on the wire; 0: one frame
}

// frames encodes the message: the compressed (or plain) data cut into
// frames, RSV1 on the first one if compressed.
func (m pmdMsg) frames() []fr {
	wire := m.p
	if m.enc.deflate != nil {
		wire = m.enc.deflate(m.p)
	}
	parts := [][]byte{wire}
	if m.fs > 0 {
		parts = chunks(wire, m.fs)
	}
	if m.enc.deflate != nil {
		return deflatedFrames(m.op, parts)
	}
	return fragments(m.op, parts)
}

// event is the echo the message must produce.
func (m pmdMsg) event() Event { return msgEv(m.op, m.p) }

// framesOf encodes several messages back to back.
func framesOf(ms ...pmdMsg) []fr {
	var out []fr
	for _, m := range ms {
		out = append(out, m.frames()...)
	}
	return out
}

// describeEncodings summarises how the messages of a case are sent.
func describeEncodings(ms []pmdMsg) string {
	var names []string
	for _, m := range ms {
		if !slices.Contains(names, m.enc.name) {
			names = append(names, m.enc.name)
		}
	}
	return strings.Join(names, ", ")
}

// rfcHello is RFC 7692 §7.2.3.1: "Hello" compressed, tail removed.
var rfcHello = []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
