package conformance

import (
	"bytes"
	"fmt"
	"time"
)

// fragmentationCases is family 5 (RFC 6455 §5.4).
func fragmentationCases() []Case {
	var cs []Case
	for g, op := range []byte{OpText, OpBinary} {
		p := utf8Payload(1000)
		if op == OpBinary {
			p = binPayload(1000)
		}
		for i, n := range []int{1, 2, 3, 4, 10, 100, 1000} {
			desc := fmt.Sprintf("%s message of 1000 bytes in %d fragments, one write", opName(op), n)
			if n == 1 {
				desc = fmt.Sprintf("%s message of 1000 bytes as a single FIN=1 frame (reference)", opName(op))
			}
			cs = append(cs, echoCase(fmt.Sprintf("5.%d.%d", 1+g, i+1), desc,
				acts(send(fragments(op, split(p, n))...)), msgEv(op, p)))
		}
	}

	// Empty fragments.
	e := []byte{}
	cs = append(cs,
		echoCase("5.3.1", "empty text message as an empty FIN=0 frame and an empty continuation",
			acts(send(fragments(OpText, [][]byte{e, e})...)), textEv("")),
		echoCase("5.3.2", "text \"Hello\" as \"Hel\", empty, \"lo\"",
			acts(send(fragments(OpText, [][]byte{[]byte("Hel"), e, []byte("lo")})...)), textEv("Hello")),
		echoCase("5.3.3", "text \"Hello\" as an empty first fragment and \"Hello\"",
			acts(send(fragments(OpText, [][]byte{e, []byte("Hello")})...)), textEv("Hello")),
		echoCase("5.3.4", "text \"Hello\" as \"Hello\" and an empty final continuation",
			acts(send(fragments(OpText, [][]byte{[]byte("Hello"), e})...)), textEv("Hello")),
		echoCase("5.3.5", "empty binary message as an empty FIN=0 frame and an empty continuation",
			acts(send(fragments(OpBinary, [][]byte{e, e})...)), msgEv(OpBinary, nil)),
		echoCase("5.3.6", "binary message as 10 empty fragments and a final 1-byte one",
			acts(send(fragments(OpBinary, [][]byte{e, e, e, e, e, e, e, e, e, e, {0x42}})...)), msgEv(OpBinary, []byte{0x42})),
	)

	// Control frames between fragments: the pong comes before the echo.
	p1, p2 := []byte("ping-1"), []byte("ping-2")
	five := split([]byte("fragment-1|fragment-2|fragment-3|fragment-4|fragment-5"), 5)
	withPings := func(op byte, parts [][]byte) ([]fr, []Event) {
		frs := fragments(op, parts)
		var out []fr
		var pongs []Event
		for i, f := range frs {
			out = append(out, f)
			if i < len(frs)-1 {
				pp := fmt.Appendf(nil, "ping between %d and %d", i+1, i+2)
				out = append(out, pingFr(pp))
				pongs = append(pongs, pongEv(pp))
			}
		}
		return out, pongs
	}
	fivePing, fivePongs := withPings(OpText, five)
	fiveMsg := textEv("fragment-1|fragment-2|fragment-3|fragment-4|fragment-5")
	binParts := split(binPayload(300), 3)
	binPing, binPongs := withPings(OpBinary, binParts)
	cs = append(cs,
		echoCase("5.4.1", "text in 2 fragments with a ping between them",
			acts(send(frag(OpText, false, []byte("Hel")), pingFr(p1), contFr(true, []byte("lo")))), pongEv(p1), textEv("Hello")),
		echoCase("5.4.2", "text in 2 fragments with an unsolicited pong between them (ignored)",
			acts(send(frag(OpText, false, []byte("Hel")), pongFr(p1), contFr(true, []byte("lo")))), textEv("Hello")),
		echoCase("5.4.3", "text in 5 fragments with a ping between each pair",
			acts(send(fivePing...)), append(fivePongs, fiveMsg)...),
		echoCase("5.4.4", "text in 5 fragments with a ping between each pair, 1-byte writes",
			acts(chopped(1, fivePing...)), append(fivePongs, fiveMsg)...),
		echoCase("5.4.5", "binary in 3 fragments with a ping between each pair",
			acts(send(binPing...)), append(binPongs, msgEv(OpBinary, binPayload(300)))...),
		echoCase("5.4.6", "text in 3 fragments, each ping answered before the next fragment is sent",
			acts(send(frag(OpText, false, []byte("frag-1 "))), pause(20*time.Millisecond), send(pingFr(p1)), waitN(1),
				send(contFr(false, []byte("frag-2 "))), pause(20*time.Millisecond), send(pingFr(p2)), waitN(2),
				send(contFr(true, []byte("frag-3")))),
			pongEv(p1), pongEv(p2), textEv("frag-1 frag-2 frag-3")),
		echoCase("5.4.7", "text in 2 fragments with a ping and an unsolicited pong between them",
			acts(send(frag(OpText, false, []byte("Hel")), pongFr(p2), pingFr(p1), contFr(true, []byte("lo")))), pongEv(p1), textEv("Hello")),
		echoCase("5.4.8", "text in 2 fragments with 10 pings between them",
			acts(send(append(append([]fr{frag(OpText, false, []byte("Hel"))}, tenPings()...), contFr(true, []byte("lo")))...)),
			append(tenPongEvs(), textEv("Hello"))...),
	)

	// Continuation with no message started.
	cs = append(cs,
		failCase("5.5.1", "continuation frame with FIN=1 and no message started", 1002,
			acts(send(contFr(true, []byte("Hello"))))),
		failCase("5.5.2", "continuation frame with FIN=0 and no message started", 1002,
			acts(send(contFr(false, []byte("Hello"))))),
		failCase("5.5.3", "text message, then a FIN=1 continuation, one write", 1002,
			acts(send(textFr("Hello"), contFr(true, []byte("world")))), textEv("Hello")),
		failCase("5.5.4", "text in 2 fragments, then a FIN=0 continuation, then a FIN=1 continuation", 1002,
			acts(send(frag(OpText, false, []byte("Hel")), contFr(true, []byte("lo")), contFr(false, []byte("x")), contFr(true, []byte("y")))),
			textEv("Hello")),
		failCase("5.5.5", "continuation frame with FIN=1 and no message started, 1-byte writes", 1002,
			acts(chopped(1, contFr(true, []byte("Hello"))))),
		failCase("5.5.6", "binary message, then a FIN=1 continuation, one write", 1002,
			acts(send(binFr([]byte{1, 2, 3}), contFr(true, []byte{4, 5}))), msgEv(OpBinary, []byte{1, 2, 3})),
		failCase("5.5.7", "empty continuation frame with FIN=1 and no message started", 1002,
			acts(send(contFr(true, nil)))),
	)

	// New data frame while a fragmented message is open.
	open := func(op byte) fr { return frag(op, false, []byte("open")) }
	cs = append(cs,
		failCase("5.6.1", "text FIN=0, then a text FIN=1 frame", 1002, acts(send(open(OpText), textFr("new")))),
		failCase("5.6.2", "text FIN=0, then a binary FIN=1 frame", 1002, acts(send(open(OpText), binFr([]byte("new"))))),
		failCase("5.6.3", "binary FIN=0, then a text FIN=1 frame", 1002, acts(send(open(OpBinary), textFr("new")))),
		failCase("5.6.4", "binary FIN=0, then a binary FIN=0 frame", 1002, acts(send(open(OpBinary), frag(OpBinary, false, []byte("new"))))),
		failCase("5.6.5", "text FIN=0, continuation FIN=0, then a text FIN=0 frame", 1002,
			acts(send(open(OpText), contFr(false, []byte("more")), frag(OpText, false, []byte("new"))))),
		failCase("5.6.6", "text FIN=0, a ping, then a text FIN=1 frame", 1002,
			acts(send(open(OpText), pingFr(p1), textFr("new"))), pongEv(p1)),
		failCase("5.6.7", "text FIN=0, then a text FIN=1 frame, 1-byte writes", 1002, acts(chopped(1, open(OpText), textFr("new")))),
	)

	// Fragmented control frames.
	cs = append(cs,
		failCase("5.7.1", "ping FIN=0 then a FIN=1 continuation", 1002,
			acts(send(fr{op: OpPing, payload: []byte("ping")}, contFr(true, []byte("!"))))),
		failCase("5.7.2", "pong FIN=0 then a FIN=1 continuation", 1002,
			acts(send(fr{op: OpPong, payload: []byte("pong")}, contFr(true, []byte("!"))))),
		failCase("5.7.3", "close 1000 FIN=0 then a FIN=1 continuation", 1002,
			acts(send(fr{op: OpClose, payload: closePayload(1000, "")}, contFr(true, []byte("!"))))),
		failCase("5.7.4", "ping FIN=0 between the fragments of a text message", 1002,
			acts(send(frag(OpText, false, []byte("Hel")), fr{op: OpPing, payload: []byte("ping")}, contFr(true, []byte("lo"))))),
		failCase("5.7.5", "ping FIN=0 alone, nothing more", 1002, acts(send(fr{op: OpPing, payload: []byte("ping")}))),
		failCase("5.7.6", "close FIN=0 alone, nothing more", 1002, acts(send(fr{op: OpClose, payload: closePayload(1000, "")}))),
	)

	// Fragments chopped at every byte.
	big := utf8Payload(65536 + 126)
	bigParts := [][]byte{big[:125], big[125 : 125+126], big[125+126:]}
	tp := utf8Payload(100)
	cs = append(cs,
		echoCase("5.8.1", "text in 2 fragments, 1-byte writes",
			acts(chopped(1, frag(OpText, false, []byte("Hel")), contFr(true, []byte("lo")))), textEv("Hello")),
		echoCase("5.8.2", "binary in 3 fragments, 1-byte writes",
			acts(chopped(1, fragments(OpBinary, split(binPayload(90), 3))...)), msgEv(OpBinary, binPayload(90))),
		echoCase("5.8.3", "text of 100 bytes in 10 fragments with pings between, 1-byte writes",
			acts(chopped(1, withPingsOnly(fragments(OpText, split(tp, 10)))...)), append(pongsFor(9), msgEv(OpText, tp))...),
		echoCase("5.8.4", "text in fragments of 125, 126 and 65535 bytes (all length encodings), 1-byte writes",
			acts(chopped(1, fragments(OpText, bigParts)...)), msgEv(OpText, big)),
		echoCase("5.8.5", "text in fragments of 125, 126 and 65535 bytes, one write",
			acts(send(fragments(OpText, bigParts)...)), msgEv(OpText, big)),
		echoCase("5.8.6", "two fragmented messages back to back, 3-byte writes",
			acts(chopped(3, append(fragments(OpText, split([]byte("first message"), 3)), fragments(OpBinary, split(binPayload(50), 4))...)...)),
			textEv("first message"), msgEv(OpBinary, binPayload(50))),
	)
	if !bytes.Equal(bytes.Join(bigParts, nil), big) {
		panic("conformance: bad split")
	}
	return cs
}

// tenPings returns ten pings with payloads "ping 0" .. "ping 9".
func tenPings() []fr {
	var out []fr
	for i := range 10 {
		out = append(out, pingFr(fmt.Appendf(nil, "ping %d", i)))
	}
	return out
}

// tenPongEvs returns the pongs answering tenPings.
func tenPongEvs() []Event {
	var out []Event
	for i := range 10 {
		out = append(out, pongEv(fmt.Appendf(nil, "ping %d", i)))
	}
	return out
}

// withPingsOnly puts a ping "ping N" after every frame but the last.
func withPingsOnly(frs []fr) []fr {
	var out []fr
	for i, f := range frs {
		out = append(out, f)
		if i < len(frs)-1 {
			out = append(out, pingFr(fmt.Appendf(nil, "ping %d", i)))
		}
	}
	return out
}

// pongsFor returns the pongs answering withPingsOnly's n pings.
func pongsFor(n int) []Event {
	var out []Event
	for i := range n {
		out = append(out, pongEv(fmt.Appendf(nil, "ping %d", i)))
	}
	return out
}
