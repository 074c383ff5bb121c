package conformance

import "fmt"

// pingCases is family 2: ping/pong handling (Autobahn 2.x and more).
func pingCases() []Case {
	hello := []byte("Hello, world!")
	bin8 := []byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff}
	p125 := binPayload(125)
	var ten []fr
	var tenPongs []Event
	for i := range 10 {
		p := fmt.Appendf(nil, "ping %d", i)
		ten = append(ten, pingFr(p))
		tenPongs = append(tenPongs, pongEv(p))
	}
	return []Case{
		echoCase("2.1", "ping with an empty payload", acts(send(pingFr(nil))), pongEv(nil)),
		echoCase("2.2", "ping with a short text payload", acts(send(pingFr(hello))), pongEv(hello)),
		echoCase("2.3", "ping with a short binary payload", acts(send(pingFr(bin8))), pongEv(bin8)),
		echoCase("2.4", "ping with a 125-byte binary payload", acts(send(pingFr(p125))), pongEv(p125)),
		failCase("2.5", "ping with a 126-byte payload (control frame too long)", 1002, acts(send(pingFr(binPayload(126))))),
		echoCase("2.6", "ping with a 125-byte payload, 1-byte writes", acts(chopped(1, pingFr(p125))), pongEv(p125)),
		echoCase("2.7", "unsolicited empty pong is ignored, then a text message is echoed",
			acts(send(pongFr(nil), textFr("Hello"))), textEv("Hello")),
		echoCase("2.8", "unsolicited pong with payload is ignored, then a text message is echoed",
			acts(send(pongFr([]byte("unsolicited")), textFr("Hello"))), textEv("Hello")),
		echoCase("2.9", "unsolicited pong, then a ping: only the ping is answered",
			acts(send(pongFr([]byte("unsolicited")), pingFr([]byte("solicited")))), pongEv([]byte("solicited"))),
		echoCase("2.10", "10 pings in one write are answered by 10 pongs in order", acts(send(ten...)), tenPongs...),
		echoCase("2.11", "10 pings in 1-byte writes are answered by 10 pongs in order", acts(chopped(1, ten...)), tenPongs...),
		failCase("2.12", "fragmented ping: first frame with FIN=0, nothing more", 1002,
			acts(send(fr{op: OpPing, payload: []byte("frag")}))),
		failCase("2.13", "fragmented ping: FIN=0 ping then a FIN=1 continuation", 1002,
			acts(send(fr{op: OpPing, payload: []byte("frag")}, contFr(true, []byte("ment"))))),
		failCase("2.14", "ping with a 65536-byte payload (64-bit length on a control frame)", 1002,
			acts(send(pingFr(binPayload(65536))))),
		failCase("2.15", "pong with a 126-byte payload (control frame too long)", 1002, acts(send(pongFr(binPayload(126))))),
		failCase("2.16", "fragmented pong: FIN=0 pong then a FIN=1 continuation", 1002,
			acts(send(fr{op: OpPong, payload: []byte("frag")}, contFr(true, []byte("ment"))))),
		echoCase("2.17", "text message, then after its echo a ping",
			acts(send(textFr("Hello")), waitN(1), send(pingFr(hello))), textEv("Hello"), pongEv(hello)),
		failCase("2.18", "ping with a 126-byte payload, 1-byte writes", 1002, acts(chopped(1, pingFr(binPayload(126))))),
	}
}
