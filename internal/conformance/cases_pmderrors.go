package conformance

import "compress/flate"

// corruptDynamicHeader is a dynamic-Huffman block whose code-length code is
// over-subscribed (four codes of one bit).
func corruptDynamicHeader() []byte {
	w := &bitWriter{}
	w.bits(0, 1) // BFINAL
	w.bits(2, 2) // BTYPE = 10, dynamic
	w.bits(0, 5) // HLIT: 257 codes
	w.bits(0, 5) // HDIST: 1 code
	w.bits(0, 4) // HCLEN: 4 code length codes
	for range 4 {
		w.bits(1, 3)
	}
	w.bits(0, 16)
	w.align()
	return w.out
}

// distanceBeforeStart is a fixed-Huffman block whose first symbol is a
// back-reference (length 3, distance 1) with nothing before it.
func distanceBeforeStart() []byte {
	w := &bitWriter{}
	w.bits(0, 1)
	w.bits(1, 2)
	w.fixedSymbol(257) // length 3
	w.code(0, 5)       // distance 1
	w.fixedSymbol(256)
	w.bits(0, 3)
	w.align()
	return w.out
}

// truncatedDeflate is a compressed message cut inside its dynamic-Huffman
// block.
func truncatedDeflate() []byte {
	z := deflateMessage(kindJSON.payload(11, 4<<10), flate.DefaultCompression)
	return z[:len(z)/2]
}

// pmdErrorCases is group 10.5: protocol errors under permessage-deflate.
func pmdErrorCases() []Case {
	const offer = "permessage-deflate"
	c := func(id, desc string, build func() pmdScript) Case {
		return pmdCase(id, desc, offer, DeflateResponse, build)
	}
	hello := []byte("Hello")
	zHello := pmdMsg{op: OpText, p: hello, enc: encRaw(rfcHello)}
	after := []byte("after")
	with := func(f fr, rsv byte) fr { f.rsv = rsv; return f }
	deflatedText := func(s string) []byte { return deflateMessage([]byte(s), flate.DefaultCompression) }
	bad := func(z []byte) []fr { return deflatedFrames(OpBinary, [][]byte{z}) }
	return []Case{
		c("10.5.1", "deflated text in 2 frames whose FIN continuation has RSV1", func() pmdScript {
			frs := deflatedFrames(OpText, split(rfcHello, 2))
			frs[1].rsv = RSV1
			return failScript(1002, frs)
		}),
		c("10.5.2", "uncompressed text in 2 frames whose FIN continuation has RSV1", func() pmdScript {
			return failScript(1002, []fr{frag(OpText, false, []byte("Hel")), with(contFr(true, []byte("lo")), RSV1)})
		}),
		c("10.5.3", "ping with RSV1", func() pmdScript { return failScript(1002, []fr{with(pingFr(hello), RSV1)}) }),
		c("10.5.4", "pong with RSV1", func() pmdScript { return failScript(1002, []fr{with(pongFr(hello), RSV1)}) }),
		c("10.5.5", "close 1000 with RSV1", func() pmdScript { return failScript(1002, []fr{with(closeFr(1000, ""), RSV1)}) }),
		c("10.5.6", "deflated text with RSV1 and RSV2", func() pmdScript {
			return failScript(1002, []fr{{fin: true, rsv: RSV1 | RSV2, op: OpText, payload: rfcHello}})
		}),
		c("10.5.7", "deflated text with RSV1 and RSV3", func() pmdScript {
			return failScript(1002, []fr{{fin: true, rsv: RSV1 | RSV3, op: OpText, payload: rfcHello}})
		}),
		c("10.5.8", "uncompressed text with RSV2", func() pmdScript {
			return failScript(1002, []fr{with(textB(hello), RSV2)})
		}),
		c("10.5.9", "deflated text, then a ping with RSV1, then a ping, one write", func() pmdScript {
			return failScript(1002, append(zHello.frames(), with(pingFr(hello), RSV1), pingFr(after)), zHello.event())
		}),
		c("10.5.10", "deflated text inflating to invalid UTF-8 (a surrogate)", func() pmdScript {
			return failScript(1007, deflatedFrames(OpText, [][]byte{deflatedText(kosmeEdited)}))
		}),
		c("10.5.11", "deflated text, then deflated text inflating to invalid UTF-8, then a ping, one write", func() pmdScript {
			return failScript(1007, append(zHello.frames(), append(deflatedFrames(OpText, [][]byte{deflatedText("\xc0\x80 overlong NUL")}), pingFr(after))...),
				zHello.event())
		}),
		c("10.5.12", "deflated text of 64 KiB + 1 in 4 frames inflating to invalid UTF-8 in its last byte", func() pmdScript {
			p := append(kindJSON.payload(12, 64<<10), 0xff)
			return failScript(1007, deflatedFrames(OpText, split(deflateMessage(p, flate.DefaultCompression), 4)))
		}),
		c("10.5.13", "deflated text inflating to a cut UTF-8 sequence at its end", func() pmdScript {
			return failScript(1007, deflatedFrames(OpText, [][]byte{deflatedText("κόσμε\xce")}))
		}),
		c("10.5.14", "deflated text: a stored block holding a surrogate (ED A0 80)", func() pmdScript {
			return failScript(1007, deflatedFrames(OpText, [][]byte{{0x00, 0x03, 0x00, 0xfc, 0xff, 0xed, 0xa0, 0x80, 0x00}}))
		}),
		c("10.5.15", "deflated binary with the reserved block type 11", func() pmdScript {
			return failScript(1007, bad([]byte{0xff, 0xff, 0xff}))
		}),
		c("10.5.16", "deflated binary: a stored block whose LEN and NLEN disagree", func() pmdScript {
			return failScript(1007, bad([]byte{0x00, 0x05, 0x00, 0xfb, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}))
		}),
		c("10.5.17", "deflated binary: a stored block of 5 bytes with 3 in the message", func() pmdScript {
			return failScript(1007, bad([]byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c}))
		}),
		c("10.5.18", "deflated binary: a dynamic-Huffman block with an over-subscribed code", func() pmdScript {
			return failScript(1007, bad(corruptDynamicHeader()))
		}),
		c("10.5.19", "deflated binary starting with a back-reference (nothing before it)", func() pmdScript {
			return failScript(1007, bad(distanceBeforeStart()))
		}),
		c("10.5.20", "RFC 7692 §7.2.3.2: \"Hello\", then \"Hello\" referring to the first message, which client_no_context_takeover forbids", func() pmdScript {
			return failScript(1007, append(zHello.frames(), deflatedFrames(OpText, [][]byte{{0xf2, 0x00, 0x11, 0x00, 0x00}})...), zHello.event())
		}),
		c("10.5.21", "deflated binary cut in the middle of its Huffman block", func() pmdScript {
			return failScript(1007, bad(truncatedDeflate()))
		}),
		// Fail fast (as 6.5 without compression): the invalid byte is
		// in the middle of a DEFLATE block of which only a part is
		// ever sent, so a server that inflates whole messages, or
		// whole blocks, waits for ever.
		c("10.5.22", "fail fast: deflated text of 64 KiB with a surrogate at byte 1000, one DEFLATE block; only the first half of the compressed data is sent (FIN=0), the rest never is", func() pmdScript {
			z := deflateMessage(surrogateAt(1000, 64<<10), flate.DefaultCompression)
			return failScript(1007, []fr{{rsv: RSV1, op: OpText, payload: z[:len(z)/2]}})
		}),
		c("10.5.23", "fail fast: deflated text of 64 KiB with a surrogate at byte 40000, in frames of 512 B of compressed data; the last 8 frames are never sent", func() pmdScript {
			z := deflateMessage(surrogateAt(40000, 64<<10), flate.BestSpeed)
			frs := deflatedFrames(OpText, chunks(z, 512))
			return failScript(1007, frs[:len(frs)-8])
		}),
		c("10.5.24", "fail fast: deflated text, a valid first frame (FIN=0), then a continuation announcing 64 KiB of which only the compressed form of \"Hello\" C0 80 (a sync flush) is sent", func() pmdScript {
			d := newMsgDeflater(flate.DefaultCompression)
			first := d.frame(fr{op: OpText, payload: kindJSON.payload(16, 2000)})
			rest := d.frame(fr{op: OpContinuation, payload: []byte("Hello\xc0\x80")})
			rest.declLen = 64 << 10 // set after: the frame announces 64 KiB, whatever it carries
			return failScript(1007, []fr{first, rest})
		}),
	}
}

// surrogateAt returns n bytes of valid UTF-8 text with the surrogate
// U+D800 (ED A0 80) at byte at.
func surrogateAt(at, n int) []byte {
	p := append(kindJSON.payload(14, at), 0xed, 0xa0, 0x80)
	return append(p, kindJSON.payload(15, n-len(p))...)
}
