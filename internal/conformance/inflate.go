package conformance

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
)

// finalEmptyBlock is an empty stored block with BFINAL set. The inflater
// appends it after the tail: a message that ends, as it must, at a block
// boundary then reaches a clean end of stream, while one cut inside a block
// does not.
var finalEmptyBlock = []byte{0x01, 0x00, 0x00, 0xff, 0xff}

// errInflateLimit reports a message that inflates past the client's limit.
var errInflateLimit = errors.New("permessage-deflate: message inflates past the client's limit")

// receivedStream is the DEFLATE stream a receiver decodes for the message
// p: a copy of p, the tail, then finalEmptyBlock.
func receivedStream(p []byte) []byte {
	in := make([]byte, 0, len(p)+len(deflateTail)+len(finalEmptyBlock))
	return append(append(append(in, p...), deflateTail...), finalEmptyBlock...)
}

// inflateMessage decompresses the payload of a message whose first frame had
// RSV1 set (RFC 7692 §7.2.2): it appends the tail and decompresses, with dict
// as the preceding LZ77 window (nil without context takeover). Stricter than
// "append and decompress what you can", it fails unless the data is a valid
// sequence of DEFLATE blocks that ends at a block boundary (after the
// appended tail) or with a final block; truncated or corrupt data is an
// error. The output is limited to limit bytes.
func inflateMessage(p, dict []byte, limit int) ([]byte, error) {
	src := bytes.NewReader(receivedStream(p)) // an io.ByteReader: flate reads no further than it needs
	r := flate.NewReaderDict(src, dict)
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	switch {
	case len(out) > limit:
		return nil, errInflateLimit
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, errors.New("permessage-deflate: compressed data ends inside a DEFLATE block")
	case err != nil:
		return nil, fmt.Errorf("permessage-deflate: %v", err)
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// inflater is the receiving side of a negotiated permessage-deflate for one
// connection.
type inflater struct {
	noContext bool   // server_no_context_takeover: a fresh window per message
	maxWindow int    // the server's window (server_max_window_bits), bytes
	window    []byte // the server's LZ77 window so far, with context takeover
	limit     int
}

// transform is a Client.Transform: it inflates a message whose first frame
// had RSV1 set, and clears RSV1 so that the event compares equal to the
// plain message the case expects. Other messages pass unchanged.
func (f *inflater) transform(e *Event) error {
	if e.Rsv&RSV1 == 0 {
		return nil
	}
	var dict []byte
	if !f.noContext {
		dict = f.window
	}
	out, err := inflateMessage(e.Payload, dict, f.limit)
	if err != nil {
		return fmt.Errorf("RSV1 message does not inflate: %w", err)
	}
	if f.maxWindow < maxWindow {
		// compress/flate accepts any distance up to 32 KiB; the
		// window the server announced is checked separately.
		refs, err := InspectDeflate(e.Payload)
		if err == nil && refs.BeforeStart {
			err = errors.New("distance too far back")
		}
		if err != nil {
			return fmt.Errorf("RSV1 message does not inflate: %w", err)
		}
		if refs.Farthest > f.maxWindow {
			return fmt.Errorf("RSV1 message refers %d bytes back, beyond the server's window of %d (server_max_window_bits)", refs.Farthest, f.maxWindow)
		}
	}
	if !f.noContext {
		w := append(f.window, out...)
		if len(w) > f.maxWindow {
			w = append([]byte(nil), w[len(w)-f.maxWindow:]...)
		}
		f.window = w
	}
	e.Payload, e.Rsv = out, e.Rsv&^RSV1
	return nil
}

// UseDeflate configures the client for the permessage-deflate extension the
// server accepted, if any, as c.Extensions says: AllowRSV becomes RSV1 and
// Transform inflates every message whose first frame has RSV1 set (with a
// fresh LZ77 window per message when the server agreed to
// server_no_context_takeover, with the server's running window otherwise)
// and reports it with RSV1 cleared. If the answer limits the server's window
// (server_max_window_bits below 15), a message that refers back farther is
// a violation (RFC 7692 section 7.1.2.1). It reports whether the extension is in
// use; an error means the answer is not a valid permessage-deflate response,
// and leaves the client unchanged.
func (c *Client) UseDeflate() (bool, error) {
	ok, p, err := parseDeflateAnswer(c.Extensions)
	if err != nil || !ok {
		return false, err
	}
	f := &inflater{noContext: p.serverNoContext, maxWindow: maxWindow, limit: maxFramePayload}
	if p.serverMaxWindow > 0 {
		f.maxWindow = 1 << p.serverMaxWindow
	}
	c.AllowRSV, c.Transform = RSV1, f.transform
	return true, nil
}
