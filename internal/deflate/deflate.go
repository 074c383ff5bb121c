// Package deflate is permessage-deflate (RFC 7692) for both ends: the
// extension's parameters (Parameters: parse and format an offer or answer;
// Negotiate: the server's answer), the server's compression of outgoing
// messages within the window the client allowed, and decompression of
// incoming messages as their frames arrive (see Inflater), with pooled
// state, or with the peer's context kept across messages (the client's).
//
// The server always answers with server_no_context_takeover and
// client_no_context_takeover: each message is compressed on its own, so a
// connection keeps no sliding window between messages and an idle
// connection with compression costs no more memory than one without.
package deflate

import (
	"bytes"
	"compress/flate"
)

// Response is the extension answer to an accepted offer that does not limit
// the server's window; an offer with server_max_window_bits=N gets
// Response + "; server_max_window_bits=N".
const Response = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// MaxWindowBits is the LZ77 window of DEFLATE, 2^15 = 32 KiB: what the
// server uses when the client sets no server_max_window_bits.
const MaxWindowBits = 15

// Negotiate answers a Sec-WebSocket-Extensions offer: the answer to the
// first acceptable permessage-deflate offer, "" if there is none. An offer
// with an unknown, duplicate or invalid parameter is declined (RFC 7692
// section 5) and the next one is tried; a malformed header is treated as no
// offer. Every server_max_window_bits from 8 to 15 is accepted (section
// 7.1.2.1), and echoed.
func Negotiate(offer string) (string, error) {
	exts, err := ParseExtensions([]string{offer})
	if err != nil {
		return "", nil
	}
	for _, e := range exts {
		if e.Name != Name {
			continue
		}
		if p, err := ParseParameters(e, false); err == nil {
			return answer(p.ServerMaxWindowBits), nil
		}
	}
	return "", nil
}

// AnswerWindowBits returns the server_max_window_bits of an answer Negotiate
// gave: the base-2 logarithm of the largest LZ77 window the server may use
// on that connection, MaxWindowBits if the answer sets no limit. Pass it to
// Deflate.
func AnswerWindowBits(answer string) int {
	exts, err := ParseExtensions([]string{answer})
	if err != nil || len(exts) == 0 {
		return MaxWindowBits
	}
	if p, err := ParseParameters(exts[0], true); err == nil && p.ServerMaxWindowBits != 0 {
		return p.ServerMaxWindowBits
	}
	return MaxWindowBits
}

// answer builds the response to an accepted offer (RFC 7692 section 7.1):
//
//   - server_no_context_takeover (7.1.1.1: the server may include it even if
//     not offered) and client_no_context_takeover (7.1.1.2: likewise): every
//     message is compressed on its own in both directions, so neither side
//     keeps a window between messages.
//   - server_max_window_bits=N when the offer had it (7.1.2.1: a server
//     accepts the parameter "by including [it] in the extension negotiation
//     response ... with the same or smaller value as the offer"). The same
//     value is sent back, 15 included, and Deflate keeps to it.
//   - no client_max_window_bits (7.1.2.2: the server may include it only if
//     the offer did, and may always leave it out). It would only limit the
//     client's window to save the server memory, and the server's inflater
//     costs the same whatever the window: the message it builds is the
//     window.
//
// bits is the offer's server_max_window_bits, 0 if it had none.
func answer(bits int) string {
	if bits == 0 {
		return Response
	}
	return Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: bits}.Answer()
}

// tail ends every compressed message; the sender strips it (RFC 7692 7.2.1).
var tail = []byte{0x00, 0x00, 0xff, 0xff}

// Deflate appends the compressed form of p to dst, without the tail, using
// no LZ77 window larger than 2^windowBits bytes (8 <= windowBits <= 15, the
// server_max_window_bits agreed; anything else means 15).
//
// Go's compressor always uses a 32 KiB window, so a smaller one is kept to
// by compressing p in pieces of 2^windowBits bytes, each with a fresh
// compressor (Reset) and ending with a sync flush: a piece refers back only
// within itself, so no distance exceeds its length, and sync-flushed pieces
// concatenate into one valid DEFLATE stream. For windowBits 8 (256-byte
// pieces) a piece's block overhead costs more than its matches save, so it
// is Huffman coding alone, with no back-reference at all. (zlib's refusal of
// an 8-bit window concerns its zlib-wrapped streams, not this raw data.)
func Deflate(dst, p []byte, windowBits int) []byte {
	level, piece := flate.BestSpeed, len(p) // 15 bits: the whole message at once
	switch {
	case windowBits == 8:
		level = flate.HuffmanOnly
	case windowBits > 8 && windowBits < MaxWindowBits:
		piece = 1 << windowBits
	}
	c := getCompressor(level)
	c.out.b = dst
	for first := true; first || len(p) > 0; first = false {
		k := min(piece, len(p))
		c.fw.Reset(&c.out)
		_, _ = c.fw.Write(p[:k])
		_ = c.fw.Flush()
		p = p[k:]
	}
	out := c.out.b
	c.put()
	return bytes.TrimSuffix(out, tail)
}
