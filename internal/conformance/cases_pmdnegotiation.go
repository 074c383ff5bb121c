package conformance

import (
	"compress/flate"
	"fmt"
)

// acceptedScript is the exchange after an accepted offer: compressed and
// plain messages, whole and fragmented, then a ping and a tiny compressed
// message. bits > 0 makes the client compress with a window of 1<<bits.
func acceptedScript(bits int) pmdScript {
	enc := encLevel(flate.DefaultCompression)
	if bits > 0 {
		enc = encFixed(bits)
	}
	ms := []pmdMsg{
		{op: OpText, p: kindJSON.payload(0, 300), enc: enc},
		{op: OpText, p: []byte("Hello"), enc: encPlain},
		{op: OpBinary, p: kindRecords.payload(0, 1000), enc: enc, fs: 100},
	}
	hi := pmdMsg{op: OpText, p: []byte("Hi"), enc: enc}
	ping := []byte("ping")
	return pmdScript{
		actions: acts(send(framesOf(ms...)...), waitN(3), send(pingFr(ping)), waitN(4), send(hi.frames()...)),
		expect:  []Event{ms[0].event(), ms[1].event(), ms[2].event(), pongEv(ping), hi.event()},
	}
}

// pmdNegotiationCases is group 10.1: acceptable offers.
func pmdNegotiationCases() []Case {
	offers := []struct {
		offer      string
		serverBits int // server_max_window_bits of the accepted offer
		bits       int // client_max_window_bits the client keeps to
	}{
		{"permessage-deflate", 0, 0},
		{"permessage-deflate; client_no_context_takeover", 0, 0},
		{"permessage-deflate; server_no_context_takeover", 0, 0},
		{"permessage-deflate; client_no_context_takeover; server_no_context_takeover", 0, 0},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", 0, 0},
		{"permessage-deflate; client_max_window_bits", 0, 0},
		{"permessage-deflate; client_max_window_bits=9", 0, 9},
		{"permessage-deflate; client_max_window_bits=8", 0, 8},
		{"permessage-deflate; client_max_window_bits=15", 0, 0},
		{"permessage-deflate; server_max_window_bits=15", 15, 0},
		{"permessage-deflate; client_max_window_bits; server_max_window_bits=15; client_no_context_takeover; server_no_context_takeover", 15, 0},
		{`permessage-deflate; client_max_window_bits="10"`, 0, 10},
		{"permessage-deflate;client_no_context_takeover;client_max_window_bits=12", 0, 12},
		{"x-webkit-deflate-frame, permessage-deflate", 0, 0},
		{"permessage-deflate; server_max_window_bits=9, permessage-deflate", 9, 0},
		{"permessage-deflate; foo, permessage-deflate; client_max_window_bits", 0, 0},
		{"permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=14, permessage-deflate; server_max_window_bits=15", 8, 0},
		{"foo-extension; bar=1, permessage-deflate; client_no_context_takeover", 0, 0},
		{"permessage-deflate; server_max_window_bits=8", 8, 0},
		{"permessage-deflate; server_max_window_bits=9", 9, 0},
		{"permessage-deflate; server_max_window_bits=14", 14, 0},
		{"permessage-deflate; server_max_window_bits=11; client_max_window_bits=8", 11, 8},
		{`permessage-deflate; server_max_window_bits="13"`, 13, 0},
		{"permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=10", 10, 0},
	}
	var cs []Case
	for i, o := range offers {
		desc := fmt.Sprintf("offer %q is accepted; then compressed and uncompressed messages, a ping", o.offer)
		if o.bits > 0 {
			desc += fmt.Sprintf("; the client compresses with a %s window", sizeName(1<<o.bits))
		}
		if o.serverBits > 0 {
			desc += fmt.Sprintf(" with server_max_window_bits=%d echoed", o.serverBits)
		}
		cs = append(cs, pmdCase(fmt.Sprintf("10.1.%d", i+1), desc, o.offer, deflateAnswer(o.serverBits),
			func() pmdScript { return acceptedScript(o.bits) }))
	}
	return cs
}

// pmdDeclinedCases is group 10.2: offers the server must decline; the
// connection then works without compression, and the server must not set
// RSV1 on its messages.
func pmdDeclinedCases() []Case {
	offers := []string{
		"permessage-deflate; server_max_window_bits=7",
		"permessage-deflate; server_max_window_bits=08",
		"permessage-deflate; server_max_window_bits=+9",
		"permessage-deflate; server_max_window_bits",
		"permessage-deflate; server_max_window_bits=16",
		"permessage-deflate; client_max_window_bits=16",
		"permessage-deflate; client_max_window_bits=7",
		"permessage-deflate; client_max_window_bits=0",
		"permessage-deflate; client_max_window_bits=abc",
		"permessage-deflate; server_no_context_takeover=1",
		"permessage-deflate; client_no_context_takeover=true",
		"permessage-deflate; client_no_context_takeover; client_no_context_takeover",
		"permessage-deflate; client_max_window_bits=10; client_max_window_bits=10",
		"permessage-deflate; server_max_window_bits=15; server_max_window_bits=15",
		"permessage-deflate; foo",
		"permessage-deflate; foo=1",
		"x-webkit-deflate-frame",
		"permessage-deflate; server_max_window_bits=7, permessage-deflate; foo, permessage-deflate; client_max_window_bits=16",
		"permessage-deflate; client_max_window_bits; client_max_window_bits",
		"permessage-deflate; client_max_window_bits; client_max_window_bits=9",
	}
	var cs []Case
	for i, offer := range offers {
		cs = append(cs, pmdCase(fmt.Sprintf("10.2.%d", i+1),
			fmt.Sprintf("offer %q is declined; then uncompressed messages of 300 and 1000 bytes and a ping", offer),
			offer, "", func() pmdScript {
				ms := []pmdMsg{
					{op: OpText, p: kindJSON.payload(0, 300), enc: encPlain},
					{op: OpBinary, p: kindRecords.payload(0, 1000), enc: encPlain, fs: 100},
				}
				ping := []byte("ping")
				return pmdScript{
					actions: acts(send(framesOf(ms...)...), waitN(2), send(pingFr(ping))),
					expect:  []Event{ms[0].event(), ms[1].event(), pongEv(ping)},
				}
			}))
	}
	return cs
}

// pmdNotNegotiatedCases is group 10.3: RSV1 is a protocol error when
// permessage-deflate is not in use, even on a server that supports it.
func pmdNotNegotiatedCases() []Case {
	hello := pmdMsg{op: OpText, p: []byte("Hello"), enc: encRaw(rfcHello)}
	plain := pmdMsg{op: OpText, p: kindJSON.payload(0, 300), enc: encPlain}
	zbin := pmdMsg{op: OpBinary, p: kindRecords.payload(0, 1000), enc: encLevel(flate.DefaultCompression)}
	return []Case{
		pmdCase("10.3.1", "no offer; a compressed (RSV1) text message", "", "",
			func() pmdScript { return failScript(1002, hello.frames()) }),
		pmdCase("10.3.2", "no offer; an uncompressed text message of 300 bytes (echoed uncompressed), then a compressed binary message", "", "",
			func() pmdScript { return failScript(1002, framesOf(plain, zbin), plain.event()) }),
		pmdCase("10.3.3", `declined offer "permessage-deflate; server_max_window_bits=7"; a compressed text message`,
			"permessage-deflate; server_max_window_bits=7", "",
			func() pmdScript { return failScript(1002, hello.frames()) }),
		pmdCase("10.3.4", `offer "x-webkit-deflate-frame" (not supported); a compressed text message`, "x-webkit-deflate-frame", "",
			func() pmdScript { return failScript(1002, hello.frames()) }),
		pmdCase("10.3.5", `declined offer "permessage-deflate; foo"; an uncompressed message, then a compressed one`,
			"permessage-deflate; foo", "",
			func() pmdScript { return failScript(1002, framesOf(plain, zbin), plain.event()) }),
	}
}
