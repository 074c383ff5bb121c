// Package deflate is the server side of permessage-deflate (RFC 7692):
// negotiation of the extension's parameters, and per-message compression and
// decompression with pooled state.
//
// The server always answers with server_no_context_takeover and
// client_no_context_takeover: each message is compressed on its own, so a
// connection keeps no sliding window between messages and an idle
// connection with compression costs no more memory than one without.
package deflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"sync"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws/wsflate"
)

// Response is the extension answer the server gives to an accepted offer.
const Response = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// Negotiate answers a Sec-WebSocket-Extensions offer: Response for the first
// acceptable permessage-deflate offer, "" if there is none. An offer with an
// unknown, duplicate or invalid parameter is declined (RFC 7692 section 5),
// and so is one that asks for server_max_window_bits below 15, a window Go's
// compressor cannot keep to.
func Negotiate(offer string) (string, error) {
	opts, ok := httphead.ParseOptions([]byte(offer), nil)
	if !ok {
		return "", nil // a malformed header is treated as no offer
	}
	for _, opt := range opts {
		if !bytes.Equal(opt.Name, wsflate.ExtensionNameBytes) {
			continue
		}
		var p wsflate.Parameters
		if err := p.Parse(opt); err != nil {
			continue
		}
		if p.ServerMaxWindowBits.Defined() && p.ServerMaxWindowBits < 15 {
			continue
		}
		return Response, nil
	}
	return "", nil
}

// tail ends every compressed message; the sender strips it (RFC 7692 7.2.1).
var tail = []byte{0x00, 0x00, 0xff, 0xff}

// end is what the receiver appends: the tail, then an empty final block, so
// that a complete message ends the deflate stream cleanly and a truncated
// one does not.
var end = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// ErrTooBig is returned by Inflate when the message inflates past the limit.
var ErrTooBig = errors.New("deflate: message too big once inflated")

var readers = sync.Pool{New: func() any { return flate.NewReader(nil) }}

// Inflate appends the decompressed message p to dst. It fails with ErrTooBig
// as soon as the output passes limit bytes (limit <= 0: no limit), so a
// decompression bomb costs at most limit bytes, and with an error if p is
// not a complete deflate message.
func Inflate(dst, p []byte, limit int64) ([]byte, error) {
	fr := readers.Get().(io.ReadCloser)
	defer readers.Put(fr)
	if err := fr.(flate.Resetter).Reset(io.MultiReader(bytes.NewReader(p), bytes.NewReader(end)), nil); err != nil {
		return dst, err
	}
	buf := bytes.NewBuffer(dst)
	var r io.Reader = fr
	if limit > 0 {
		r = io.LimitReader(fr, limit+1)
	}
	n, err := buf.ReadFrom(r)
	if err != nil {
		return buf.Bytes(), err // corrupt or truncated (io.ErrUnexpectedEOF)
	}
	if limit > 0 && n > limit {
		return buf.Bytes(), ErrTooBig
	}
	return buf.Bytes(), nil
}

var writers = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// Deflate appends the compressed form of p to dst, without the tail.
func Deflate(dst, p []byte) []byte {
	fw := writers.Get().(*flate.Writer)
	defer writers.Put(fw)
	out := &appender{b: dst}
	fw.Reset(out)
	_, _ = fw.Write(p)
	_ = fw.Flush()
	return bytes.TrimSuffix(out.b, tail)
}
