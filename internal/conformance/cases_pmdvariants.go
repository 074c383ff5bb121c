package conformance

import (
	"bytes"
	"compress/flate"
	"slices"
	"time"
)

// pmdClientVariantCases is group 10.4: the ways a client may compress.
func pmdClientVariantCases() []Case {
	const offer = "permessage-deflate"
	c := func(id, desc string, build func() pmdScript) Case {
		return pmdCase(id, desc, offer, DeflateResponse, build)
	}
	one := func(m pmdMsg) func() pmdScript { return func() pmdScript { return echoScript(m) } }
	hello := []byte("Hello")
	json64 := func() []byte { return kindJSON.payload(1, 64<<10) }
	return []Case{
		c("10.4.1", "RFC 7692 §7.2.3.1: \"Hello\" compressed (f2 48 cd c9 c9 07 00), text",
			one(pmdMsg{op: OpText, p: hello, enc: encRaw(rfcHello)})),
		c("10.4.2", "RFC 7692 §7.2.3.1: \"Hello\" compressed, binary",
			one(pmdMsg{op: OpBinary, p: hello, enc: encRaw(rfcHello)})),
		c("10.4.3", "RFC 7692 §7.2.3.3: \"Hello\" in a stored block",
			one(pmdMsg{op: OpText, p: hello, enc: encRaw([]byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00})})),
		c("10.4.4", "RFC 7692 §7.2.3.5: \"Hello\" in a block with BFINAL set",
			one(pmdMsg{op: OpText, p: hello, enc: encRaw([]byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})})),
		c("10.4.5", "RFC 7692 §7.2.3.6: \"Hello\" in two DEFLATE blocks",
			one(pmdMsg{op: OpText, p: hello, enc: encRaw([]byte{0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00})})),
		c("10.4.6", "empty text message compressed (a single 00 byte)",
			one(pmdMsg{op: OpText, p: []byte{}, enc: encLevel(flate.DefaultCompression)})),
		c("10.4.7", "empty binary message compressed as a final fixed-Huffman block (03 00)",
			one(pmdMsg{op: OpBinary, p: []byte{}, enc: encRaw([]byte{0x03, 0x00})})),
		c("10.4.8", "JSON text of 64 KiB deflated as stored blocks",
			func() pmdScript {
				return echoScript(pmdMsg{op: OpText, p: json64(), enc: encLevel(flate.NoCompression)})
			}),
		c("10.4.9", "JSON text of 64 KiB deflated Huffman-only",
			func() pmdScript { return echoScript(pmdMsg{op: OpText, p: json64(), enc: encLevel(flate.HuffmanOnly)}) }),
		c("10.4.10", "JSON text of 64 KiB, fixed-Huffman deflated with a 256 B window",
			func() pmdScript { return echoScript(pmdMsg{op: OpText, p: json64(), enc: encFixed(8)}) }),
		c("10.4.11", "JSON text of 64 KiB deflated, ending with a BFINAL block (RFC 7692 §7.2.3.5)",
			func() pmdScript { return echoScript(pmdMsg{op: OpText, p: json64(), enc: encFinal}) }),
		c("10.4.12", "JSON text of 64 KiB deflated with a sync flush (00 00 ff ff) every 1000 bytes",
			func() pmdScript { return echoScript(pmdMsg{op: OpText, p: json64(), enc: encFlushEvery(1000)}) }),
		c("10.4.13", "binary of 64 KiB (32 KiB random, twice), fixed-Huffman deflated with back-references 32768 bytes back",
			func() pmdScript {
				r := kindRandom.payload(0, 32<<10)
				return echoScript(pmdMsg{op: OpBinary, p: append(slices.Clip(r), r...), enc: encFixed(15)})
			}),
		c("10.4.14", "JSON text of 4 KiB deflated, in 1-byte frames",
			func() pmdScript {
				return echoScript(pmdMsg{op: OpText, p: kindJSON.payload(2, 4<<10), enc: encLevel(flate.DefaultCompression), fs: 1})
			}),
		c("10.4.15", "deflated text: an empty first frame (RSV1), then the data in 2 continuations",
			func() pmdScript {
				p := kindJSON.payload(3, 1000)
				z := deflateMessage(p, flate.DefaultCompression)
				return pmdScript{actions: acts(send(deflatedFrames(OpText, [][]byte{{}, z[:len(z)/2], z[len(z)/2:]})...)), expect: []Event{msgEv(OpText, p)}}
			}),
		c("10.4.16", "deflated text in one frame with FIN=0, then an empty FIN continuation",
			func() pmdScript {
				p := kindJSON.payload(4, 1000)
				z := deflateMessage(p, flate.DefaultCompression)
				return pmdScript{actions: acts(send(deflatedFrames(OpText, [][]byte{z, {}})...)), expect: []Event{msgEv(OpText, p)}}
			}),
		c("10.4.17", "deflated text in 3 frames with a ping between each pair: pongs first",
			func() pmdScript {
				p := kindJSON.payload(5, 2000)
				frs := deflatedFrames(OpText, split(deflateMessage(p, flate.DefaultCompression), 3))
				p1, p2 := []byte("ping 1"), []byte("ping 2")
				return pmdScript{
					actions: acts(send(frs[0], pingFr(p1), frs[1], pingFr(p2), frs[2])),
					expect:  []Event{pongEv(p1), pongEv(p2), msgEv(OpText, p)},
				}
			}),
		c("10.4.18", "deflated text of 1 KiB in 2 frames, 1-byte writes",
			func() pmdScript {
				m := pmdMsg{op: OpText, p: kindJSON.payload(6, 1<<10), enc: encLevel(flate.DefaultCompression), fs: 200}
				return pmdScript{actions: acts(chopped(1, m.frames()...)), expect: []Event{m.event()}}
			}),
		c("10.4.19", "100 deflated text messages of 256 B (10 different ones, each 10 times in a row), one write",
			func() pmdScript {
				ms := make([]pmdMsg, 100)
				for k := range ms {
					ms[k] = pmdMsg{op: OpText, p: kindJSON.payload(k/10, 256), enc: encLevel(flate.BestSpeed)}
				}
				return echoScript(ms...)
			}),
		c("10.4.20", "the same 1 KiB text 8 times, alternately deflated and uncompressed, one write",
			func() pmdScript {
				p := kindJSON.payload(7, 1<<10)
				ms := make([]pmdMsg, 8)
				for k := range ms {
					ms[k] = pmdMsg{op: OpText, p: p, enc: encLevel(flate.DefaultCompression)}
					if k%2 == 1 {
						ms[k].enc = encPlain
					}
				}
				return echoScript(ms...)
			}),
		c("10.4.21", "JSON text of 1 MiB deflated, one frame",
			func() pmdScript {
				return echoScript(pmdMsg{op: OpText, p: bytes.Repeat(kindJSON.payload(8, 256<<10), 4), enc: encLevel(flate.BestSpeed)})
			}),
		c("10.4.22", "random binary of 1 MiB deflated, in frames of 64 KiB",
			func() pmdScript {
				p := bytes.Repeat(kindRandom.payload(9, 256<<10), 4) // 256 KiB apart: no match in a 32 KiB window
				return echoScript(pmdMsg{op: OpBinary, p: p, enc: encLevel(flate.BestSpeed), fs: 64 << 10})
			}),
		heavy(c("10.4.23", "JSON text of 16 MiB deflated, in frames of 1 MiB", func() pmdScript {
			return echoScript(pmdMsg{op: OpText, p: bytes.Repeat(kindJSON.payload(10, 256<<10), 64), enc: encLevel(flate.BestSpeed), fs: 1 << 20})
		})),
	}
}

// heavy marks a case as heavy (left out by quick runs) with a long timeout.
func heavy(c Case) Case {
	c.Heavy, c.Timeout = true, 120*time.Second
	return c
}
