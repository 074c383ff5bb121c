package conformance

import (
	"compress/flate"
	"fmt"
)

// gridSizes are Autobahn 12.x's message sizes.
var gridSizes = []int{16, 64, 256, 1 << 10, 4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10}

// gridFrameSize is the frame size of the fragmented grid cases for messages
// of n bytes.
func gridFrameSize(n int) int {
	switch {
	case n <= 64:
		return 4
	case n <= 1<<10:
		return 64
	case n <= 16<<10:
		return 256
	case n <= 32<<10:
		return 1 << 10
	}
	return 4 << 10
}

// pmdEchoGridCases is Autobahn 12.x's shape: for each payload kind, 4
// messages per size, each a different slice of the corpus, sent in one
// write, whole (cases 1–10) and fragmented (11–20); they are compressed in
// turn by several encoders, or not at all.
func pmdEchoGridCases() []Case {
	encs := []encoding{encLevel(flate.BestSpeed), encLevel(flate.DefaultCompression), encPlain,
		encLevel(flate.BestCompression), encLevel(flate.HuffmanOnly), encFixed(15), encLevel(flate.NoCompression)}
	var cs []Case
	for g, pk := range []payloadKind{kindJSON, kindUTF8, kindRandom, kindRecords} {
		for frag := range 2 {
			for i, n := range gridSizes {
				fs := 0
				if frag == 1 {
					fs = gridFrameSize(n)
				}
				ms := make([]pmdMsg, 4)
				for k := range ms {
					ms[k] = pmdMsg{op: pk.op, enc: encs[(i+k)%len(encs)], fs: fs}
				}
				desc := fmt.Sprintf("4 %s messages of %s, ", pk.name, sizeName(n))
				if fs == 0 {
					desc += "one frame each"
				} else {
					desc += fmt.Sprintf("in frames of %s", sizeName(fs))
				}
				desc += ": " + describeEncodings(ms)
				cs = append(cs, pmdCase(fmt.Sprintf("10.%d.%d", 7+g, frag*10+i+1), desc, "permessage-deflate", DeflateResponse,
					func() pmdScript {
						for k := range ms {
							ms[k].p = pk.payload(k, n)
						}
						return echoScript(ms...)
					}))
			}
		}
	}
	return cs
}

// gridOffers are the offers of Autobahn 13.x's shape with the answer each
// must get: serverBits is the server_max_window_bits of the offer accepted
// (0: none), which the client then holds the server to; clientBits is the
// client_max_window_bits it names, which the client keeps to (0: none, or
// no value).
var gridOffers = []struct {
	offer                  string
	serverBits, clientBits int
}{
	{"permessage-deflate", 0, 0},
	{"permessage-deflate; client_no_context_takeover", 0, 0},
	{"permessage-deflate; server_no_context_takeover", 0, 0},
	{"permessage-deflate; client_no_context_takeover; server_no_context_takeover", 0, 0},
	{"permessage-deflate; client_max_window_bits", 0, 0},
	{"permessage-deflate; client_max_window_bits=9", 0, 9},
	{"permessage-deflate; server_max_window_bits=15", 15, 0},
	// The first offer is invalid (window 7): the second is accepted.
	{"permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits=9", 0, 9},
	// Autobahn 13.3 and 13.5: the smallest window the server may be
	// held to, 256 bytes.
	{"permessage-deflate; server_max_window_bits=8", 8, 0},
	{"permessage-deflate; client_max_window_bits; server_max_window_bits=8; server_no_context_takeover", 8, 0},
	// Autobahn 13.6, and windows in between.
	{"permessage-deflate; client_max_window_bits; server_max_window_bits=15; server_no_context_takeover", 15, 0},
	{"permessage-deflate; server_max_window_bits=9; client_max_window_bits=9", 9, 9},
	{"permessage-deflate; server_max_window_bits=12; client_no_context_takeover", 12, 0},
	// Autobahn 13.7: a list whose first offer is accepted.
	{"permessage-deflate; client_max_window_bits; server_max_window_bits=10; server_no_context_takeover, " +
		"permessage-deflate; client_max_window_bits; server_no_context_takeover, permessage-deflate; client_max_window_bits", 10, 0},
}

// pmdOfferGridCases is Autobahn 13.x's shape: for each offer, six mixed
// messages (text and binary, compressed or not, whole or fragmented) of
// each of five sizes.
func pmdOfferGridCases() []Case {
	var cs []Case
	for g, o := range gridOffers {
		enc := func(level int) encoding {
			if o.clientBits > 0 {
				return encFixed(o.clientBits)
			}
			return encLevel(level)
		}
		for i, n := range []int{16, 256, 4 << 10, 32 << 10, 128 << 10} {
			ms := []pmdMsg{
				{op: OpText, enc: enc(flate.DefaultCompression)},
				{op: OpBinary, enc: enc(flate.BestSpeed), fs: 1 << 10},
				{op: OpBinary, enc: encPlain},
				{op: OpText, enc: enc(flate.BestCompression), fs: 256},
				{op: OpText, enc: encPlain, fs: 256},
				{op: OpBinary, enc: enc(flate.HuffmanOnly)},
			}
			kinds := []payloadKind{kindJSON, kindRandom, kindRecords, kindJSON, kindUTF8, kindRecords}
			desc := fmt.Sprintf("offer %q: 6 text and binary messages of %s, whole and in frames of 256 B and 1 KiB: %s",
				o.offer, sizeName(n), describeEncodings(ms))
			cs = append(cs, pmdCase(fmt.Sprintf("10.%d.%d", 11+g, i+1), desc, o.offer, deflateAnswer(o.serverBits), func() pmdScript {
				for k := range ms {
					ms[k].p = kinds[k].payload(k, n)
				}
				return echoScript(ms...)
			}))
		}
	}
	return cs
}
