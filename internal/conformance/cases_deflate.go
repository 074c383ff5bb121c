package conformance

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// DeflateResponse is the Sec-WebSocket-Extensions answer family 10 expects
// to an acceptable permessage-deflate offer without server_max_window_bits:
// the server asks both sides to compress every message on its own, and
// accepts (without echoing it) an offered client_max_window_bits (RFC 7692
// section 7.1.2.2 lets a server leave it out). An offer with
// server_max_window_bits=N, 8 to 15, must be accepted with exactly N echoed
// (section 7.1.2.1), as [deflateAnswer] says, and the server must then keep
// its back-references within 2^N bytes.
const DeflateResponse = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// deflateAnswer is the answer family 10 expects to an accepted offer whose
// server_max_window_bits is bits (0: the offer had none, DeflateResponse).
func deflateAnswer(bits int) string {
	if bits == 0 {
		return DeflateResponse
	}
	return fmt.Sprintf("%s; server_max_window_bits=%d", DeflateResponse, bits)
}

// CompressionCases returns family 10, permessage-deflate (RFC 7692), in ID
// order. It is not part of [Cases]: it needs a server with compression
// enabled, whose policy is the one [DeflateResponse] describes, that fails a
// message inflating past its limit (below 33 MiB) with 1009 and accepts
// messages of 16 MiB. Every case sends its own Sec-WebSocket-Extensions
// offer (Target.Extensions is not used), checks the answer exactly, and
// inflates the server's RSV1 messages strictly (see [Client.UseDeflate]),
// holding the server to the window it announced; the server may compress
// any message or not. Outcomes of groups 10.1–10.24 start with the answer,
// as ext(...) or ext(none); the re-runs fail with an error if it is wrong.
//
// Groups (Autobahn's 12.x and 13.x become 10.7–10.24):
//
//	10.1  acceptable offers, server_max_window_bits 8 to 15 included: the
//	      exact answer, then compressed and plain echoes
//	10.2  offers to decline: no extension, plain echoes that must stay plain
//	10.3  RSV1 when the extension is not in use: 1002
//	10.4  client compression variants: the RFC 7692 §7.2.3 examples, every
//	      compress/flate level, a fixed-Huffman encoder with small windows,
//	      sync flushes inside a message, a final block, odd fragmentation
//	10.5  protocol errors: RSV bits (1002), invalid UTF-8 once inflated and
//	      invalid DEFLATE data (1007), also failing fast, in the middle of a
//	      DEFLATE block whose end never comes
//	10.6  limits: decompression bombs (1009), also in a first frame whose
//	      message never ends, and a large ratio under the limit
//	10.7–10.10   Autobahn 12.x shape, offer "permessage-deflate": JSON text,
//	      repetitive UTF-8 text, random and compressible binary; messages of
//	      16 B to 128 KiB, one frame each (cases 1–10) and fragmented
//	      (cases 11–20)
//	10.11–10.24  Autobahn 13.x shape: one group per offer (the parameter
//	      combinations, windows of 8 to 15 bits, lists whose first offer is
//	      declined or accepted), mixed messages of 16 B to 128 KiB
//	10.25, 10.26 families 1–9 (without their heavy cases; family 3 with
//	      RSV1 meaning compressed, family 8 at a sixteenth of the sizes)
//	      re-run over permessage-deflate, the offers above in turn: the
//	      client compresses its messages frame by frame (10.25) or sends
//	      them uncompressed (10.26); "10.25.6.5.3" is 6.5.3 re-run
func CompressionCases() []Case {
	var all []Case
	for _, g := range [][]Case{pmdNegotiationCases(), pmdDeclinedCases(), pmdNotNegotiatedCases(),
		pmdClientVariantCases(), pmdErrorCases(), pmdLimitCases(), pmdEchoGridCases(), pmdOfferGridCases(),
		pmdRerunCases()} {
		all = append(all, g...)
	}
	for i := range all {
		all[i].Family = "Compression"
	}
	slices.SortStableFunc(all, func(a, b Case) int { return compareIDs(a.ID, b.ID) })
	return all
}

// pmdScript is what a family-10 case does once connected: its actions and
// the events they must produce; then, if code is 0, the client closes with
// 1000 and expects close(1000), tcp-closed, else the server must fail the
// connection with close(code) and close TCP.
type pmdScript struct {
	actions []action
	expect  []Event
	code    int
}

// extString renders a negotiation answer for the outcome strings.
func extString(ans string) string {
	if ans == "" {
		return "ext(none)"
	}
	return "ext(" + ans + ")"
}

// pmdCase builds a family-10 case: the client offers offer ("" sends no
// Sec-WebSocket-Extensions header), requires the answer to be exactly
// answer ("" means no extension), configures itself from the answer it got,
// and runs the script, built only when the case runs.
func pmdCase(id, desc, offer, answer string, build func() pmdScript) Case {
	return Case{ID: id, Description: desc, Run: func(ctx context.Context, t *Target) Outcome {
		s := build()
		sc := scenario{actions: s.actions, wait: 30 * time.Second}
		if s.code == 0 {
			sc.expect = append(slices.Clip(s.expect), closeEv(1000), tcpClosed)
			sc.closeAfter = true
		} else {
			sc.expect = append(slices.Clip(s.expect), closeEv(s.code), tcpClosed)
		}
		tt := *t
		tt.Extensions = offer
		got, answered := "", false
		sc.prepare = func(c *Client) error {
			got, answered = c.Extensions, true
			_, err := c.UseDeflate()
			return err
		}
		o := sc.run(ctx, &tt)
		o.Expected = extString(answer) + ", " + o.Expected
		if answered {
			o.Got = extString(got) + ", " + o.Got
		}
		o.OK = o.OK && answered && got == answer
		return o
	}}
}

// echoScript sends the messages in one write and expects their echoes.
func echoScript(ms ...pmdMsg) pmdScript {
	s := pmdScript{actions: acts(send(framesOf(ms...)...))}
	for _, m := range ms {
		s.expect = append(s.expect, m.event())
	}
	return s
}

// failScript sends the frames in one write and expects the events pre, then
// close(code).
func failScript(code int, frs []fr, pre ...Event) pmdScript {
	return pmdScript{actions: acts(send(frs...)), expect: pre, code: code}
}
