package conformance

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Equal reports whether two events are the same observation: same kind,
// opcode, reserved bits, payload and close code (the close reason is not
// compared; timeouts and errors compare their Detail).
func (e Event) Equal(o Event) bool {
	if e.Kind != o.Kind {
		return false
	}
	switch e.Kind {
	case EventMessage:
		return e.Opcode == o.Opcode && e.Rsv == o.Rsv && bytes.Equal(e.Payload, o.Payload)
	case EventPing, EventPong:
		return bytes.Equal(e.Payload, o.Payload)
	case EventClose:
		return e.Code == o.Code
	case EventTimeout, EventError:
		return e.Detail == o.Detail
	}
	return true
}

// String renders an event compactly, e.g. text(5:"Hello"), pong(),
// binary(65536 crc=1a2b3c4d), close(1002), close(empty), tcp-closed.
func (e Event) String() string {
	switch e.Kind {
	case EventMessage:
		name := "binary"
		switch e.Opcode {
		case OpText:
			name = "text"
		case OpBinary:
		default:
			name = fmt.Sprintf("op%d", e.Opcode)
		}
		if e.Rsv != 0 {
			name += fmt.Sprintf("[rsv=%03b]", e.Rsv)
		}
		return name + "(" + describePayload(e.Payload, e.Opcode == OpText) + ")"
	case EventPing:
		return "ping(" + describePayload(e.Payload, false) + ")"
	case EventPong:
		return "pong(" + describePayload(e.Payload, false) + ")"
	case EventClose:
		if e.Code == NoStatus {
			return "close(empty)"
		}
		return fmt.Sprintf("close(%d)", e.Code)
	case EventTCPClosed:
		return "tcp-closed"
	case EventTimeout:
		return "timeout(" + e.Detail + ")"
	case EventError:
		return "error(" + e.Detail + ")"
	}
	return fmt.Sprintf("event(%d)", e.Kind)
}

// describePayload renders a payload: short printable text quoted, short
// binary in hex, anything longer as its length and CRC-32.
func describePayload(p []byte, text bool) string {
	switch {
	case len(p) == 0:
		return ""
	case len(p) <= 24 && printable(p):
		return fmt.Sprintf("%d:%q", len(p), p)
	case len(p) <= 12 && !text:
		return fmt.Sprintf("%d:%x", len(p), p)
	}
	return fmt.Sprintf("%d crc=%08x", len(p), crc32.ChecksumIEEE(p))
}

// printable reports whether p is valid UTF-8 made of printable characters.
func printable(p []byte) bool {
	if !utf8.Valid(p) {
		return false
	}
	for _, r := range string(p) {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// summarize renders a sequence of events, collapsing runs of identical
// renderings into "x ×N".
func summarize(evs []Event) string {
	if len(evs) == 0 {
		return "(nothing)"
	}
	var parts []string
	prev, run := "", 0
	flush := func() {
		if run == 1 {
			parts = append(parts, prev)
		} else if run > 1 {
			parts = append(parts, fmt.Sprintf("%s ×%d", prev, run))
		}
	}
	for _, e := range evs {
		s := e.String()
		if s == prev {
			run++
			continue
		}
		flush()
		prev, run = s, 1
	}
	flush()
	return strings.Join(parts, ", ")
}

// sameEvents reports whether two event sequences are equal element-wise.
func sameEvents(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}
