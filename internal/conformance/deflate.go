package conformance

import (
	"bytes"
	"compress/flate"
)

// This file and its neighbours are the client side of permessage-deflate
// (RFC 7692), written against compress/flate and the RFC only: parsing the
// server's negotiation answer (pmdanswer.go), inflating server messages
// strictly (inflate.go, inspect.go), and compressing client messages in
// several ways (here: Go's compressor at every level, sync flushes inside a
// message, a final block, decompression bombs; fixeddeflate.go: a
// fixed-Huffman encoder of its own with a chosen window size).

// deflateTail is what a sender removes from the end of a compressed message
// and a receiver appends again (RFC 7692 §7.2.1, §7.2.2): the LEN and NLEN
// fields of an empty stored block.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// maxWindow is the LZ77 window of DEFLATE (and of compress/flate): 32 KiB.
const maxWindow = 1 << 15

// deflateMessage compresses p as RFC 7692 §7.2.1 says, with a fresh
// compressor (no context takeover): DEFLATE at the given compress/flate
// level, a sync flush (which ends the data with an empty stored block), and
// the trailing 00 00 ff ff removed.
func deflateMessage(p []byte, level int) []byte {
	return deflateFlushEvery(p, level, 0)
}

// deflateFlushEvery is deflateMessage with a sync flush after every `every`
// bytes of input (every <= 0: only at the end), so that the message holds
// complete 00 00 ff ff markers that are not its end.
func deflateFlushEvery(p []byte, level, every int) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, level)
	if err != nil {
		panic(err)
	}
	for every > 0 && len(p) > every {
		w.Write(p[:every])
		w.Flush()
		p = p[every:]
	}
	w.Write(p)
	w.Flush()
	out, ok := bytes.CutSuffix(b.Bytes(), deflateTail)
	if !ok {
		panic("conformance: sync flush did not end with 00 00 ff ff")
	}
	return out
}

// deflateFinal compresses p into DEFLATE data that ends with a block whose
// BFINAL bit is set (Close instead of Flush), which RFC 7692 §7.2.3.5 allows
// a sender to use. There is no tail to remove.
func deflateFinal(p []byte, level int) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, level)
	if err != nil {
		panic(err)
	}
	w.Write(p)
	w.Close()
	return b.Bytes()
}

// deflateBomb returns a compressed message that inflates to mib MiB of
// zeros, about 1 KB per MiB, built without compressing it all: one MiB of
// zeros compressed from scratch, then copies of one MiB compressed with a
// window of zeros, each ending with a sync flush so that they concatenate.
func deflateBomb(mib int) []byte {
	zeros := make([]byte, 1<<20)
	first := deflateFlushEvery(zeros, flate.BestCompression, 0)
	var b bytes.Buffer
	w, err := flate.NewWriterDict(&b, flate.BestCompression, zeros[:maxWindow])
	if err != nil {
		panic(err)
	}
	w.Write(zeros)
	w.Flush()
	next := b.Bytes() // ends with the tail: the next copy follows a complete block
	out := make([]byte, 0, len(first)+len(deflateTail)+(mib-1)*len(next))
	out = append(out, first...)
	for range mib - 1 {
		out = append(append(out, deflateTail...), next[:len(next)-len(deflateTail)]...)
	}
	return out
}

// WriteDeflated writes one message of type op compressed as RFC 7692 §7.2.1
// says, with a fresh compressor (as client_no_context_takeover requires):
// RSV1 on the first frame only, the compressed data cut into frames of
// frameSize bytes (<= 0: one frame), all in one write.
func (c *Client) WriteDeflated(op byte, payload []byte, frameSize int) error {
	z := deflateMessage(payload, flate.DefaultCompression)
	parts := [][]byte{z}
	if frameSize > 0 {
		parts = chunks(z, frameSize)
	}
	var b []byte
	for _, f := range deflatedFrames(op, parts) {
		b = f.encode(b)
	}
	return c.WriteRaw(b, 0)
}

// deflatedFrames turns the parts of a compressed message into frames: the
// first has opcode op and RSV1, the rest are continuations with no reserved
// bit, and only the last has FIN.
func deflatedFrames(op byte, parts [][]byte) []fr {
	frs := fragments(op, parts)
	frs[0].rsv = RSV1
	return frs
}
