package conformance

import "fmt"

// opName names a data opcode for descriptions.
func opName(op byte) string {
	switch op {
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	case OpClose:
		return "close"
	case OpContinuation:
		return "continuation"
	}
	return fmt.Sprintf("opcode %d", op)
}

// dataPayload returns an n-byte payload suitable for op.
func dataPayload(op byte, n int) []byte {
	if op == OpText {
		return asciiPayload(n)
	}
	return binPayload(n)
}

// framingCases is family 1: payload lengths at the 7/16/64-bit length
// boundaries, whole and chopped into small TCP writes, several frames per
// write, and unmasked client frames.
func framingCases() []Case {
	var cs []Case
	whole := []int{0, 125, 126, 127, 128, 65535, 65536, 1 << 20}
	byteWise := []int{0, 125, 126, 127, 128, 65535, 65536}
	chops := []int{2, 3, 5, 7, 13, 127, 1021, 4093}
	for g, op := range []byte{OpText, OpBinary} {
		for i, n := range whole {
			p := dataPayload(op, n)
			cs = append(cs, echoCase(fmt.Sprintf("1.%d.%d", 1+g, i+1),
				fmt.Sprintf("%s message, %d-byte payload, one frame, one write", opName(op), n),
				acts(send(fr{fin: true, op: op, payload: p})), msgEv(op, p)))
		}
		for i, n := range byteWise {
			p := dataPayload(op, n)
			cs = append(cs, echoCase(fmt.Sprintf("1.%d.%d", 3+g, i+1),
				fmt.Sprintf("%s message, %d-byte payload, one frame, 1-byte writes", opName(op), n),
				acts(chopped(1, fr{fin: true, op: op, payload: p})), msgEv(op, p)))
		}
		for i, k := range chops {
			p := dataPayload(op, 65536)
			cs = append(cs, echoCase(fmt.Sprintf("1.%d.%d", 5+g, i+1),
				fmt.Sprintf("%s message, 65536-byte payload, one frame, %d-byte writes", opName(op), k),
				acts(chopped(k, fr{fin: true, op: op, payload: p})), msgEv(op, p)))
		}
	}

	// Several frames in one write, and the same stream chopped.
	sizes := []int{0, 1, 125, 126, 127, 128, 1000, 65535, 65536, 3}
	batch := func(ops func(i int) byte, sizes []int) ([]fr, []Event) {
		var frs []fr
		var evs []Event
		for i, n := range sizes {
			op := ops(i)
			p := dataPayload(op, n)
			frs = append(frs, fr{fin: true, op: op, payload: p})
			evs = append(evs, msgEv(op, p))
		}
		return frs, evs
	}
	frs, evs := batch(func(int) byte { return OpText }, sizes)
	cs = append(cs, echoCase("1.7.1", "10 text messages (0..65536 bytes) in a single write", acts(send(frs...)), evs...))
	frs, evs = batch(func(int) byte { return OpBinary }, sizes)
	cs = append(cs, echoCase("1.7.2", "10 binary messages (0..65536 bytes) in a single write", acts(send(frs...)), evs...))
	alt := func(i int) byte { return []byte{OpText, OpBinary}[i%2] }
	frs, evs = batch(alt, []int{0, 1, 125, 126, 127, 128, 3})
	cs = append(cs, echoCase("1.7.3", "7 alternating text/binary messages (0..128 bytes) back to back, 1-byte writes", acts(chopped(1, frs...)), evs...))
	frs, evs = batch(alt, sizes)
	cs = append(cs, echoCase("1.7.4", "10 alternating text/binary messages (0..65536 bytes) back to back, 7-byte writes", acts(chopped(7, frs...)), evs...))

	// RFC 6455 §5.1: a server MUST close the connection on an unmasked
	// frame and MAY send 1002; this suite requires the 1002.
	hello := []byte("Hello")
	cs = append(cs,
		failCase("1.8.1", "unmasked text frame", 1002, acts(send(fr{fin: true, op: OpText, payload: hello, unmasked: true}))),
		failCase("1.8.2", "unmasked binary frame", 1002, acts(send(fr{fin: true, op: OpBinary, payload: hello, unmasked: true}))),
		failCase("1.8.3", "unmasked ping frame (no pong expected)", 1002, acts(send(fr{fin: true, op: OpPing, payload: hello, unmasked: true}))),
		failCase("1.8.4", "unmasked close frame 1000", 1002, acts(send(fr{fin: true, op: OpClose, payload: closePayload(1000, ""), unmasked: true}))),
		failCase("1.8.5", "text message, then an unmasked text frame, one write", 1002,
			acts(send(textB(hello), fr{fin: true, op: OpText, payload: hello, unmasked: true})), msgEv(OpText, hello)),
		failCase("1.8.6", "unmasked text frame with an empty payload", 1002, acts(send(fr{fin: true, op: OpText, unmasked: true}))),
	)
	return cs
}
