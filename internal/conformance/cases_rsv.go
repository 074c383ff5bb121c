package conformance

import "fmt"

// rsvCases is family 3: reserved bits set with no extension negotiated
// (RFC 6455 §5.2) must fail the connection with 1002. "After a message"
// variants pipeline a valid message first, whose echo must still arrive, and
// a ping after the bad frame, whose pong must not.
func rsvCases() []Case {
	var cs []Case
	hello := []byte("Hello")
	after := []byte("after")
	for r := byte(1); r <= 7; r++ {
		bits := fmt.Sprintf("RSV=%d (%03b)", r, r)
		id := func(g int) string { return fmt.Sprintf("3.%d.%d", g, r) }
		bad := func(op byte, p []byte) fr { return fr{fin: true, rsv: r, op: op, payload: p} }
		cs = append(cs,
			failCase(id(1), "text frame with "+bits, 1002, acts(send(bad(OpText, hello)))),
			failCase(id(2), "text message, then a text frame with "+bits+", then a ping, one write", 1002,
				acts(send(textB(hello), bad(OpText, hello), pingFr(after))), textEv("Hello")),
			failCase(id(3), "binary frame with "+bits, 1002, acts(send(bad(OpBinary, binPayload(8))))),
			failCase(id(4), "binary message, then a binary frame with "+bits+", then a ping, one write", 1002,
				acts(send(binFr(binPayload(8)), bad(OpBinary, binPayload(8)), pingFr(after))), msgEv(OpBinary, binPayload(8))),
			failCase(id(5), "ping with "+bits, 1002, acts(send(bad(OpPing, hello)))),
			failCase(id(6), "text message, then a ping with "+bits+", one write", 1002,
				acts(send(textB(hello), bad(OpPing, hello))), textEv("Hello")),
			failCase(id(7), "close 1000 with "+bits, 1002, acts(send(bad(OpClose, closePayload(1000, ""))))),
			failCase(id(8), "text message, then a close 1000 with "+bits+", one write", 1002,
				acts(send(textB(hello), bad(OpClose, closePayload(1000, "")))), textEv("Hello")),
			failCase(id(9), "pong with "+bits, 1002, acts(send(bad(OpPong, hello)))),
			failCase(id(10), "fragmented text whose FIN continuation has "+bits, 1002,
				acts(send(frag(OpText, false, []byte("Hel")), fr{fin: true, rsv: r, op: OpContinuation, payload: []byte("lo")}))),
			failCase(id(11), "text message, then a text frame with "+bits+", then a ping, 1-byte writes", 1002,
				acts(chopped(1, textB(hello), bad(OpText, hello), pingFr(after))), textEv("Hello")),
		)
	}
	return cs
}

// opcodeCases is family 4: reserved opcodes 3–7 (data) and 11–15 (control)
// must fail the connection with 1002, also after a valid message and inside
// a fragmented message.
func opcodeCases() []Case {
	var cs []Case
	hello := []byte("Hello")
	after := []byte("after")
	ops := [][]byte{{3, 4, 5, 6, 7}, {11, 12, 13, 14, 15}}
	for g, set := range ops {
		kind := []string{"non-control", "control"}[g]
		for i, op := range set {
			bad := fr{fin: true, op: op, payload: []byte("reserved")}
			cs = append(cs,
				failCase(fmt.Sprintf("4.%d.%d", 1+2*g, i+1), fmt.Sprintf("reserved %s opcode %d, empty payload", kind, op), 1002,
					acts(send(fr{fin: true, op: op}))),
				failCase(fmt.Sprintf("4.%d.%d", 2+2*g, i+1), fmt.Sprintf("text message, then reserved opcode %d with payload, then a ping, one write", op), 1002,
					acts(send(textB(hello), bad, pingFr(after))), textEv("Hello")),
			)
		}
	}
	for i, op := range []byte{3, 4, 5, 6, 7, 11, 12, 13, 14, 15} {
		cs = append(cs, failCase(fmt.Sprintf("4.5.%d", i+1),
			fmt.Sprintf("reserved opcode %d between the fragments of a text message", op), 1002,
			acts(send(frag(OpText, false, []byte("Hel")), fr{fin: true, op: op, payload: []byte("x")}, contFr(true, []byte("lo"))))))
	}
	for i, op := range []byte{3, 7, 11, 15} {
		cs = append(cs, failCase(fmt.Sprintf("4.6.%d", i+1),
			fmt.Sprintf("text message, then reserved opcode %d, then a ping, 1-byte writes", op), 1002,
			acts(chopped(1, textB(hello), fr{fin: true, op: op, payload: []byte("reserved")}, pingFr(after))), textEv("Hello")))
	}
	return cs
}
