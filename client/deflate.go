package client

import (
	"fmt"
	"strings"

	"github.com/ws4go/ws4go/internal/deflate"
	"github.com/ws4go/ws4go/internal/wsconn"
)

// The client side of permessage-deflate (RFC 7692): its options, the offer
// and the strict check of the server's answer. Compression
// (deflate.Compressor) and inflation (the connection core's streaming
// inflater) are internal/deflate's.

// Compression configures permessage-deflate (RFC 7692). The zero value
// offers it: the client then compresses the messages it sends and inflates
// those the server compressed whenever the server accepts; against a server
// that declines, nothing changes.
//
// Go's compress/flate always uses a 32 KiB window (15 bits). A server that
// limits the client's window (client_max_window_bits below 15) therefore
// gets the messages longer than that window, and every message written
// through NewWriter, coded with Huffman codes only (flate.HuffmanOnly): no
// back-references at all, so no window is ever exceeded, at a worse ratio.
type Compression struct {
	// Disable stops the client from offering permessage-deflate.
	Disable bool
	// Level is the compress/flate level of the messages sent: 1
	// (flate.BestSpeed, the default) to 9 (flate.BestCompression),
	// flate.DefaultCompression (-1) or flate.HuffmanOnly (-2). The
	// negative levels keep compress/flate's meaning, and zero is the
	// default (BestSpeed), not flate.NoCompression: set Disable instead.
	Level int
	// Threshold: data messages shorter than this many bytes are sent
	// uncompressed, since deflate does not shrink short messages and
	// costs CPU on both ends (default 128; negative: compress every
	// message). Messages written through NewWriter are always compressed.
	Threshold int
	// ContextTakeover keeps the compressor's history from one message to
	// the next, so that a message can refer to earlier ones: a better
	// ratio for streams of similar small messages, but the connection
	// then holds a compressor (about 1.2 MiB with compress/flate at
	// BestSpeed) for its whole life. By default each message is
	// compressed on its own with a pooled compressor, and the offer says
	// so (client_no_context_takeover), which also spares the server the
	// client's window. A server can still forbid context takeover.
	ContextTakeover bool
	// ServerNoContextTakeover asks the server to compress each message on
	// its own too (server_no_context_takeover), so the connection keeps
	// no window of the server's past messages (up to 32 KiB); a server
	// that cannot do so declines compression. By default the server may
	// keep its context, which compresses better.
	ServerNoContextTakeover bool
	// FullWindow offers only a full 32 KiB window for the client's
	// messages. By default the client makes a second, fallback offer that
	// lets the server limit that window (client_max_window_bits), for
	// servers that insist on it (Python's websockets asks for 12 bits);
	// with FullWindow, such servers decline compression instead.
	FullWindow bool
}

// DefaultCompressionThreshold is the default Compression.Threshold.
const DefaultCompressionThreshold = 128

func (o *Compression) check() error {
	if o.Disable || deflate.CheckLevel(o.Level) == nil {
		return nil
	}
	return fmt.Errorf("ws4go client: bad Compression.Level %d", o.Level)
}

// compressor is the compressor of a connection with the permessage-deflate
// answer p.
func (o *Compression) compressor(p *deflate.Parameters) *deflate.Compressor {
	threshold := wsconn.OrDefault(o.Threshold, DefaultCompressionThreshold)
	return deflate.NewCompressor(o.Level, threshold, o.ContextTakeover && !p.ClientNoContextTakeover, p.ClientMaxWindowBits)
}

// offer is the Sec-WebSocket-Extensions value the client sends, "" when
// compression is disabled.
func (o *Compression) offer() string {
	if o.Disable {
		return ""
	}
	p := deflate.Parameters{ClientNoContextTakeover: !o.ContextTakeover, ServerNoContextTakeover: o.ServerNoContextTakeover}
	first := p.Offer()
	if o.FullWindow {
		return first
	}
	// The preferred offer comes first: servers accept the first offer they
	// can (RFC 7692 section 5), and the fallback is only for those that
	// must limit the client's window.
	p.ClientMaxWindowBits = deflate.NoValue
	return first + ", " + p.Offer()
}

// checkExtensions applies RFC 6455 section 9.1 and RFC 7692 section 7.1 to
// the server's Sec-WebSocket-Extensions values: nil params when the server
// accepted no extension; a HandshakeError (Err and Detail only; Err is
// ErrBadExtension or ErrBadExtensionParam) when its answer does not fit the
// offer. The window bits the server left out are 15 in the result.
func checkExtensions(vs []string, o *Compression) (*deflate.Parameters, *HandshakeError) {
	fail := func(err error, format string, args ...any) (*deflate.Parameters, *HandshakeError) {
		return nil, &HandshakeError{Err: err, Detail: fmt.Sprintf(format, args...)}
	}
	exts, err := deflate.ParseExtensions(vs)
	if err != nil {
		return fail(ErrBadExtension, "malformed Sec-WebSocket-Extensions %q: %v", vs, err)
	}
	if len(exts) == 0 {
		return nil, nil
	}
	if o.Disable {
		return fail(ErrBadExtension, "Sec-WebSocket-Extensions: %q, none offered", vs)
	}
	for _, e := range exts {
		if !strings.EqualFold(e.Name, deflate.Name) {
			return fail(ErrBadExtension, "%q in Sec-WebSocket-Extensions: %q, only %s offered", e.Name, vs, deflate.Name)
		}
	}
	if len(exts) > 1 {
		// Each offer is an alternative: the server must pick one.
		return fail(ErrBadExtension, "%s accepted %d times: %q", deflate.Name, len(exts), vs)
	}
	// The server may add either no_context_takeover without an offer
	// (RFC 7692 7.1.1.1, 7.1.1.2): it only restricts the compressors; and
	// it may limit its own window unasked (7.1.2.1).
	p, err := deflate.ParseParameters(exts[0], true)
	if err != nil {
		return fail(ErrBadExtensionParam, "%v (Sec-WebSocket-Extensions: %q)", err, vs)
	}
	if p.ClientMaxWindowBits != 0 && o.FullWindow {
		// RFC 7692 7.1.2.2: only allowed if offered.
		return fail(ErrBadExtensionParam, "client_max_window_bits, which was not offered (Sec-WebSocket-Extensions: %q)", vs)
	}
	if o.ServerNoContextTakeover && !p.ServerNoContextTakeover {
		// 7.1.1.1: a server that accepts this offer must confirm it.
		return fail(ErrBadExtensionParam, "server_no_context_takeover was offered but not confirmed (Sec-WebSocket-Extensions: %q)", vs)
	}
	for _, b := range []*int{&p.ServerMaxWindowBits, &p.ClientMaxWindowBits} {
		if *b == 0 {
			*b = deflate.MaxWindowBits
		}
	}
	return &p, nil
}
