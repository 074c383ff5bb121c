package conformance

import (
	"fmt"
	"strings"
)

// closeCase: the script (which sends its own Close frame) must produce
// exactly expect.
func closeCase(id, desc string, a []action, expect ...Event) Case {
	return scenarioCase(id, desc, scenario{actions: a, expect: expect})
}

// closeCases is family 7: the closing handshake and status codes
// (RFC 6455 §5.5.1, §7.4).
func closeCases() []Case {
	var cs []Case
	for i, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cs = append(cs, closeCase(fmt.Sprintf("7.1.%d", i+1), fmt.Sprintf("close with valid code %d is echoed", code),
			acts(send(closeFr(code, ""))), closeEv(code), tcpClosed))
	}
	for i, code := range []int{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cs = append(cs, failCase(fmt.Sprintf("7.2.%d", i+1), fmt.Sprintf("close with invalid code %d", code), 1002,
			acts(send(closeFr(code, "")))))
	}
	r123 := strings.Repeat("*", 123)
	r124 := strings.Repeat("*", 124)
	greek123 := strings.Repeat("κόσμε", 11) + strings.Repeat("*", 123-11*11) // 11 bytes each
	cs = append(cs,
		closeCase("7.3.1", "empty close is answered with an empty close", acts(send(closeFr(NoStatus, ""))), closeEv(NoStatus), tcpClosed),
		failCase("7.3.2", "close with a 1-byte body", 1002, acts(send(fr{fin: true, op: OpClose, payload: []byte{0x03}}))),
		closeCase("7.3.3", "close 1000 with reason \"Hello World!\"", acts(send(closeFr(1000, "Hello World!"))), closeEv(1000), tcpClosed),
		closeCase("7.3.4", "close 1000 with a 123-byte reason (125-byte body)", acts(send(closeFr(1000, r123))), closeEv(1000), tcpClosed),
		failCase("7.3.5", "close 1000 with a 124-byte reason (126-byte body, control frame too long)", 1002, acts(send(closeFr(1000, r124)))),
		failCase("7.3.6", "close 1000 with a reason that is not valid UTF-8", 1007, acts(send(closeFr(1000, kosmeEdited)))),
		closeCase("7.3.7", "close 1000 with reason \"κόσμε\"", acts(send(closeFr(1000, "κόσμε"))), closeEv(1000), tcpClosed),
		closeCase("7.3.8", "close 1000 with reason \"Hello World!\", 1-byte writes", acts(chopped(1, closeFr(1000, "Hello World!"))), closeEv(1000), tcpClosed),
		failCase("7.3.9", "close 1000 with a reason ending inside a UTF-8 sequence", 1007, acts(send(closeFr(1000, "Hello\xe2\x82")))),
		closeCase("7.3.10", "close 3000 with a 123-byte reason of multi-byte characters", acts(send(closeFr(3000, greek123))), closeEv(3000), tcpClosed),
		failCase("7.3.11", "close with a 1-byte body, 1-byte writes", 1002, acts(chopped(1, fr{fin: true, op: OpClose, payload: []byte{0x03}}))),
	)
	hello := []byte("Hello")
	cs = append(cs,
		closeCase("7.4.1", "text message and close 1000 in one write", acts(send(textB(hello), closeFr(1000, ""))),
			textEv("Hello"), closeEv(1000), tcpClosed),
		closeCase("7.4.2", "close 1000 then a text message in one write: data after close is ignored",
			acts(send(closeFr(1000, ""), textB(hello))), closeEv(1000), tcpClosed),
		closeCase("7.4.3", "close 1000 then a ping in one write: nothing after close is answered",
			acts(send(closeFr(1000, ""), pingFr(hello))), closeEv(1000), tcpClosed),
		closeCase("7.4.4", "close 1000 then close 1001 in one write: one close answered",
			acts(send(closeFr(1000, ""), closeFr(1001, ""))), closeEv(1000), tcpClosed),
		closeCase("7.4.5", "close 1000 right after the opening handshake, 1-byte writes",
			acts(chopped(1, closeFr(1000, ""))), closeEv(1000), tcpClosed),
		closeCase("7.4.6", "fragmented text left open (FIN=0), then close 1000: no echo",
			acts(send(frag(OpText, false, hello), closeFr(1000, ""))), closeEv(1000), tcpClosed),
		closeCase("7.4.7", "text, close 1000, text in one write: only the first is echoed",
			acts(send(textB(hello), closeFr(1000, ""), textFr("after"))), textEv("Hello"), closeEv(1000), tcpClosed),
		closeCase("7.4.8", "close 1000, wait for the answer, then a text message: ignored",
			acts(send(closeFr(1000, "")), waitN(1), sendAnyway(textB(hello))), closeEv(1000), tcpClosed),
		closeCase("7.4.9", "ping then close 1000 in one write", acts(send(pingFr(hello), closeFr(1000, ""))),
			pongEv(hello), closeEv(1000), tcpClosed),
		closeCase("7.4.10", "3 echoed messages, then close 1001 with a reason",
			acts(send(textB(hello)), waitN(1), send(binFr(hello)), waitN(2), send(textFr("κόσμε")), waitN(3), send(closeFr(1001, "going away"))),
			textEv("Hello"), msgEv(OpBinary, hello), textEv("κόσμε"), closeEv(1001), tcpClosed),
		closeCase("7.4.11", "close 1000 then a 65536-byte binary message in one write: ignored",
			acts(send(closeFr(1000, ""), binFr(binPayload(65536)))), closeEv(1000), tcpClosed),
		closeCase("7.4.12", "close 1000 then a reserved opcode frame in one write: ignored",
			acts(send(closeFr(1000, ""), fr{fin: true, op: 5})), closeEv(1000), tcpClosed),
	)
	return cs
}
