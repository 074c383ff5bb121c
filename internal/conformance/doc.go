// Package conformance is an adversarial RFC 6455 WebSocket client that checks
// an echo server against the case families of the Autobahn|Testsuite
// (fuzzingclient), strictly.
//
// The suite deliberately shares no code with the server it tests: it performs
// the HTTP/1.1 upgrade itself, encodes and masks every client frame itself and
// decodes every server frame itself, over a raw TCP connection. A bug in the
// server's frame code therefore cannot be hidden by the same bug here.
// With Target.HTTP2 each case runs on an RFC 8441 stream instead (the
// HTTP/2 framing is golang.org/x/net/http2's, the stream's adapter
// internal/h2stream, which the server does not use): the stream's
// END_STREAM and RST_STREAM stand for the TCP close and reset the cases
// expect ("tcp-closed").
//
// The server under test must be an echo server: every text or binary message
// is sent back with the same type and payload, every ping is answered with a
// pong carrying the same payload, and a received Close frame is answered as
// RFC 6455 §5.5.1 says, echoing the status code.
//
// Each case runs on a fresh connection. Its expectation is an exact sequence
// of events seen by the client, for example
//
//	text(5:"Hello"), close(1000), tcp-closed
//
// where a data event is a complete (reassembled) message, control frames are
// events of their own, and tcp-closed means the server closed the TCP
// connection (FIN or RST) within CloseTimeout of its Close frame. A case is OK
// only when the observed sequence is exactly the expected one. For "fail the
// connection" cases that means a Close frame with the exact expected status
// code (1002, 1007 or 1009) followed by the server closing TCP.
//
// Case families (IDs follow the Autobahn style, "family.group.case"):
//
//	1 framing              6 UTF-8 handling
//	2 ping/pong            7 close handshake and status codes
//	3 reserved bits        8 limits and performance
//	4 reserved opcodes     9 auto-fragmented messages
//	5 fragmentation       10 permessage-deflate (RFC 7692)
//
// Use [Cases] (or [Quick]) with [Run] and [WriteTable] to run families 1–9,
// which need no extension, or [Dial] and the [Client] methods to write a
// single check by hand.
//
// Family 10 is separate, [CompressionCases]: it is for a server with
// permessage-deflate enabled, and takes the place of Autobahn's 12.x and
// 13.x (as groups 10.7–10.24) with negotiation, client-side compression
// variants, protocol errors, fail-fast cases and decompression bombs added,
// and re-runs families 1–9 over the extension (10.25 with the client's
// messages compressed frame by frame, 10.26 with them uncompressed). Each of
// its cases makes its own offer and requires the exact answer:
// [DeflateResponse], with server_max_window_bits=N appended when the
// accepted offer asked for a window of N bits (or no extension, for an
// offer the server must decline); outcomes start with that answer, for
// example
//
//	ext(permessage-deflate; server_no_context_takeover; client_no_context_takeover), text(300 crc=…), close(1000), tcp-closed
//
// The client inflates the server's compressed messages strictly (a message
// cut inside a DEFLATE block, or with its 00 00 ff ff tail left on, is a
// violation, and so is a back-reference beyond the window the server
// announced, found by a small decoder of the suite's own) and compresses
// its own without context takeover, with compress/flate at every level and
// with a fixed-Huffman encoder of its own. A server with compression
// enabled still passes families 1–9: they make no offer.
package conformance
