package deflate

import (
	"compress/flate"
	"fmt"
	"sync"
)

// compressor is a pooled compressor with the appender it writes to, so that
// a message costs no allocation.
type compressor struct {
	fw    *flate.Writer
	out   appender
	level int
}

// compressors hold pooled compressors by level (index level+2: HuffmanOnly
// is -2).
var compressors [flate.BestCompression + 3]sync.Pool

func init() {
	for i := range compressors {
		level := i - 2
		compressors[i].New = func() any {
			c := &compressor{level: level}
			c.fw, _ = flate.NewWriter(&c.out, level) // every level here is valid
			return c
		}
	}
}

// getCompressor returns a pooled compressor of the given level, to be
// Reset before use (a reset clears up to 640 KiB of hash tables: not done
// twice) and given back with put.
func getCompressor(level int) *compressor {
	return compressors[level+2].Get().(*compressor)
}

// put returns c to its pool, without a hold on the buffer it wrote to.
func (c *compressor) put() {
	c.out.b = nil
	compressors[c.level+2].Put(c)
}

type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// CheckLevel reports whether level is a compress/flate level a Compressor
// takes: 1 (flate.BestSpeed) to 9 (flate.BestCompression),
// flate.DefaultCompression (-1), flate.HuffmanOnly (-2), or 0 for BestSpeed.
func CheckLevel(level int) error {
	if level >= flate.HuffmanOnly && level <= flate.BestCompression {
		return nil
	}
	return fmt.Errorf("bad compression level %d", level)
}

// Compressor compresses the messages of one connection with settings of
// its own (the client's): a level, a threshold below which messages are not
// compressed, messages written in fragments (StreamWrite, StreamClose), and
// optionally context takeover, a compressor kept from one message to the
// next. It is not safe for concurrent use: a connection calls it one
// message at a time. Each result is valid until the next call.
//
// Go's compressor always uses a 32 KiB window. Within a smaller window
// (client_max_window_bits below 15), the messages longer than it, and
// every fragmented message, are coded with Huffman codes only
// (flate.HuffmanOnly): no back-references at all, so no window is ever
// exceeded, at a worse ratio.
type Compressor struct {
	level     int
	threshold int
	// takeover: fw keeps its history from one message to the next.
	takeover bool
	// windowBits is the LZ77 window the peer allowed.
	windowBits int
	fw         *flate.Writer // the connection's own, when takeover
	out        appender
	// The message being written in fragments: its compressor (pooled,
	// unless takeover), and the end of its output so far, not sent yet.
	sc    *compressor
	held  []byte
	wrote bool // StreamWrite was called since the last StreamClose
}

// NewCompressor returns a Compressor: level as CheckLevel allows (0 means
// flate.BestSpeed), messages shorter than threshold bytes left
// uncompressed, context takeover if asked for and the window is the full
// 15 bits (within a smaller one, every message that could reach past it is
// Huffman-coded, so takeover would buy nothing).
func NewCompressor(level, threshold int, takeover bool, windowBits int) *Compressor {
	if level == 0 {
		level = flate.BestSpeed
	}
	return &Compressor{level: level, threshold: threshold, windowBits: windowBits,
		takeover: takeover && windowBits >= MaxWindowBits}
}

// levelFor is the level that keeps a message of n bytes (n < 0: unknown, a
// fragmented message) within the negotiated window. compress/flate looks up
// to 32 KiB back, but never before the start of its input: so a message
// compressed on its own and no longer than the window cannot reach past it.
// (Only messages compressed on their own ask: see writer.)
func (d *Compressor) levelFor(n int) int {
	if d.windowBits >= MaxWindowBits || (n >= 0 && n <= 1<<d.windowBits) {
		return d.level
	}
	return flate.HuffmanOnly
}

// writer returns the compressor for a message of n bytes (n < 0: unknown),
// writing to d.out: the connection's own with takeover, else a pooled one
// to give back with release.
func (d *Compressor) writer(n int) (*flate.Writer, *compressor) {
	if d.takeover {
		if d.fw == nil {
			d.fw, _ = flate.NewWriter(&d.out, d.level) // the level was checked
		}
		return d.fw, nil
	}
	c := getCompressor(d.levelFor(n))
	c.fw.Reset(&d.out)
	return c.fw, c
}

// release gives back a pooled compressor (nil: the connection's own).
func (d *Compressor) release(c *compressor) {
	if c != nil {
		c.put()
	}
	if cap(d.out.b) > maxKeptBuffer {
		d.out.b = nil // a rare big message does not pin its buffer
	}
}

// maxKeptBuffer is the largest buffer a connection keeps between messages,
// so that an idle connection stays small.
const maxKeptBuffer = 16 << 10

// Compress returns the compressed form of p, without the tail, or nil when
// p is below the threshold.
func (d *Compressor) Compress(p []byte) []byte {
	if len(p) < d.threshold {
		return nil
	}
	fw, c := d.writer(len(p))
	d.out.b = d.out.b[:0]
	_, _ = fw.Write(p) // d.out cannot fail
	_ = fw.Flush()     // a sync flush ends the output with tail
	z := d.out.b[:len(d.out.b)-len(tail)]
	d.release(c)
	return z
}

// StreamWrite compresses p, the next piece of a message sent in fragments,
// flushed into its fragment: the result is that fragment's payload. The end
// of the output is held back: if nothing follows, it is the tail that RFC
// 7692 7.2.1 removes.
func (d *Compressor) StreamWrite(p []byte) []byte {
	fw := d.streamWriter()
	d.wrote = true
	d.out.b = append(d.out.b[:0], d.held...)
	_, _ = fw.Write(p)
	_ = fw.Flush()
	n := len(d.out.b) - len(tail)
	d.held = append(d.held[:0], d.out.b[n:]...)
	return d.out.b[:n]
}

// StreamClose ends a message sent in fragments: the payload of its final
// fragment, empty, or for a message that had no StreamWrite, the compressed
// empty message.
func (d *Compressor) StreamClose() []byte {
	var frame []byte
	if !d.wrote {
		fw := d.streamWriter()
		d.out.b = d.out.b[:0]
		_ = fw.Flush()
		frame = d.out.b[:len(d.out.b)-len(tail)]
	}
	d.release(d.sc)
	d.sc, d.held, d.wrote = nil, d.held[:0], false
	return frame
}

// streamWriter is the compressor of the fragmented message in progress.
func (d *Compressor) streamWriter() *flate.Writer {
	if d.takeover {
		fw, _ := d.writer(-1)
		return fw
	}
	if d.sc == nil {
		_, d.sc = d.writer(-1)
	}
	return d.sc.fw
}
