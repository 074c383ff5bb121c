package conformance

import "fmt"

// rsvCases is family 3: reserved bits set with no extension negotiated
// (RFC 6455 §5.2) must fail the connection with 1002. "After a message"
// variants pipeline a valid message first, whose echo must still arrive, and
// a ping after the bad frame, whose pong must not.
//
// With pmd, the cases are for a connection that negotiated
// permessage-deflate (RFC 7692 §6): RSV1 alone on the first frame of a data
// message then marks it compressed, and the family 10 re-runs send that
// frame compressed, so it is echoed; RSV1 on a control frame or a
// continuation, and RSV2 or RSV3 anywhere, still fail with 1002.
func rsvCases(pmd bool) []Case {
	var cs []Case
	hello := []byte("Hello")
	after := []byte("after")
	for r := byte(1); r <= 7; r++ {
		bits := fmt.Sprintf("RSV=%d (%03b)", r, r)
		id := func(g int) string { return fmt.Sprintf("3.%d.%d", g, r) }
		bad := func(op byte, p []byte) fr { return fr{fin: true, rsv: r, op: op, payload: p} }
		// dataCase is a case whose bad frame is a data message's first
		// frame: compressed, not bad, under pmd with RSV1 alone.
		dataCase := func(id, desc string, a []action, pre []Event, echo ...Event) Case {
			if pmd && r == RSV1 {
				return echoCase(id, desc+" (compressed: echoed)", a, append(pre, echo...)...)
			}
			return failCase(id, desc, 1002, a, pre...)
		}
		bin8 := msgEv(OpBinary, binPayload(8))
		cs = append(cs,
			dataCase(id(1), "text frame with "+bits, acts(send(bad(OpText, hello))), nil, textEv("Hello")),
			dataCase(id(2), "text message, then a text frame with "+bits+", then a ping, one write",
				acts(send(textB(hello), bad(OpText, hello), pingFr(after))), []Event{textEv("Hello")}, textEv("Hello"), pongEv(after)),
			dataCase(id(3), "binary frame with "+bits, acts(send(bad(OpBinary, binPayload(8)))), nil, bin8),
			dataCase(id(4), "binary message, then a binary frame with "+bits+", then a ping, one write",
				acts(send(binFr(binPayload(8)), bad(OpBinary, binPayload(8)), pingFr(after))), []Event{bin8}, bin8, pongEv(after)),
			failCase(id(5), "ping with "+bits, 1002, acts(send(bad(OpPing, hello)))),
			failCase(id(6), "text message, then a ping with "+bits+", one write", 1002,
				acts(send(textB(hello), bad(OpPing, hello))), textEv("Hello")),
			failCase(id(7), "close 1000 with "+bits, 1002, acts(send(bad(OpClose, closePayload(1000, ""))))),
			failCase(id(8), "text message, then a close 1000 with "+bits+", one write", 1002,
				acts(send(textB(hello), bad(OpClose, closePayload(1000, "")))), textEv("Hello")),
			failCase(id(9), "pong with "+bits, 1002, acts(send(bad(OpPong, hello)))),
			failCase(id(10), "fragmented text whose FIN continuation has "+bits, 1002,
				acts(send(frag(OpText, false, []byte("Hel")), fr{fin: true, rsv: r, op: OpContinuation, payload: []byte("lo")}))),
			dataCase(id(11), "text message, then a text frame with "+bits+", then a ping, 1-byte writes",
				acts(chopped(1, textB(hello), bad(OpText, hello), pingFr(after))), []Event{textEv("Hello")}, textEv("Hello"), pongEv(after)),
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
