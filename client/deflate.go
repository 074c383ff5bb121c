package client

import (
	"compress/flate"
	"fmt"
	"strings"
	"sync"

	"github.com/ws4go/ws4go/internal/deflate"
)

// The client side of permessage-deflate (RFC 7692): the offer, the strict
// check of the server's answer, and per-message compression with
// compress/flate.

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
	// flate.DefaultCompression (-1) or flate.HuffmanOnly (-2).
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
	if o.Disable {
		return nil
	}
	switch l := o.Level; {
	case l == flate.HuffmanOnly, l == flate.DefaultCompression, l >= 0 && l <= flate.BestCompression:
		return nil
	}
	return fmt.Errorf("ws4go client: bad Compression.Level %d", o.Level)
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

// tail ends every compressed message; the sender strips it (RFC 7692
// 7.2.1).
var tail = []byte{0x00, 0x00, 0xff, 0xff}

// deflater compresses the messages of one connection: the
// wsconn.Compressor of a client Conn, which calls it under its message
// lock only.
type deflater struct {
	level     int
	threshold int
	// takeover: fw keeps its history from one message to the next.
	takeover bool
	// windowBits is the client window the server allowed.
	windowBits int
	fw         *flate.Writer // the connection's own, when takeover
	out        appendWriter
	// The message being written with NewWriter: its compressor, and the
	// end of its output so far, not sent yet.
	sfw  *flate.Writer
	held []byte
}

func newDeflater(o *Compression, p *deflate.Parameters) *deflater {
	d := &deflater{level: o.Level, threshold: o.Threshold, windowBits: p.ClientMaxWindowBits}
	if d.level == 0 {
		d.level = flate.BestSpeed
	}
	switch {
	case d.threshold == 0:
		d.threshold = DefaultCompressionThreshold
	case d.threshold < 0:
		d.threshold = 0
	}
	// With a window below 15 bits, every message that could reach past it
	// is Huffman-coded (no history at all), so takeover buys nothing.
	d.takeover = o.ContextTakeover && !p.ClientNoContextTakeover && d.windowBits == 15
	return d
}

// levelFor is the level that keeps a message of n bytes (n < 0: unknown,
// a NewWriter stream) within the negotiated window. compress/flate looks
// up to 32 KiB back, but never before the start of its input: so a message
// compressed on its own and no longer than the window cannot reach past it.
func (d *deflater) levelFor(n int) int {
	if d.windowBits >= 15 || (!d.takeover && n >= 0 && n <= 1<<d.windowBits) {
		return d.level
	}
	return flate.HuffmanOnly
}

// writerPools hold compressors by level (index level+2: HuffmanOnly is -2).
var writerPools [flate.BestCompression + 3]sync.Pool

func init() {
	for i := range writerPools {
		level := i - 2
		writerPools[i].New = func() any {
			fw, err := flate.NewWriter(nil, level)
			if err != nil {
				panic(err) // level is always valid here
			}
			return fw
		}
	}
}

// writer returns the compressor for a message of n bytes (n < 0: unknown),
// writing to d.out; release gives it back.
func (d *deflater) writer(n int) *flate.Writer {
	if d.takeover {
		if d.fw == nil {
			d.fw, _ = flate.NewWriter(&d.out, d.level) // the level was checked by Dial
		}
		return d.fw
	}
	fw := writerPools[d.levelFor(n)+2].Get().(*flate.Writer)
	fw.Reset(&d.out)
	return fw
}

func (d *deflater) release(fw *flate.Writer, n int) {
	if fw != d.fw {
		// Not Reset here: writer resets it anyway, and a reset clears
		// up to 640 KiB of hash tables.
		writerPools[d.levelFor(n)+2].Put(fw)
	}
	if cap(d.out.b) > maxKeptBuffer {
		d.out.b = nil // a rare big message does not pin its buffer
	}
}

// maxKeptBuffer is the largest buffer a connection keeps between messages,
// so that an idle connection stays small.
const maxKeptBuffer = 16 << 10

// Compress implements wsconn.Compressor: the compressed form of p, without
// the tail, or nil when p is below the threshold. It is valid until the
// next call.
func (d *deflater) Compress(p []byte) []byte {
	if len(p) < d.threshold {
		return nil
	}
	fw := d.writer(len(p))
	d.out.b = d.out.b[:0]
	_, _ = fw.Write(p) // d.out cannot fail
	_ = fw.Flush()     // a sync flush ends the output with tail
	z := d.out.b[:len(d.out.b)-len(tail)]
	d.release(fw, len(p))
	return z
}

// StreamWrite implements wsconn.Compressor: p, the next Write of a
// NewWriter message, compressed and flushed into its fragment. The end of
// the output is held back: if nothing follows, it is the tail that RFC
// 7692 7.2.1 removes.
func (d *deflater) StreamWrite(p []byte) []byte {
	if d.sfw == nil {
		d.sfw = d.writer(-1)
	}
	d.out.b = append(d.out.b[:0], d.held...)
	_, _ = d.sfw.Write(p)
	_ = d.sfw.Flush()
	n := len(d.out.b) - len(tail)
	d.held = append(d.held[:0], d.out.b[n:]...)
	return d.out.b[:n]
}

// StreamClose implements wsconn.Compressor: the final fragment is empty,
// or for a message that had no Write, the compressed empty message.
func (d *deflater) StreamClose() []byte {
	var frame []byte
	if d.sfw == nil {
		d.sfw = d.writer(-1)
		d.out.b = d.out.b[:0]
		_ = d.sfw.Flush()
		frame = d.out.b[:len(d.out.b)-len(tail)]
	}
	d.release(d.sfw, -1)
	d.sfw, d.held = nil, d.held[:0]
	return frame
}

type appendWriter struct{ b []byte }

// Write appends p.
func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
