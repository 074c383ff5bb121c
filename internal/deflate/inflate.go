package deflate

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ws4go/ws4go/internal/proto"
)

// This file, decoder.go and huffman.go are a push-style DEFLATE decoder
// (RFC 1951). compress/flate pulls its input from an io.Reader and cannot
// stop when the input runs out in the middle of a block and resume once more
// arrives, and it hands out its output only when its 32 KiB window fills or
// the stream ends. A server that reads frames as they come, on an event
// loop, needs the opposite: take whatever bytes a read returned, decode
// every symbol they complete, keep the rest as a few bits of state, and show
// the output at once, so that an invalid UTF-8 byte or an oversized message
// is caught when it is produced rather than when the message ends.
//
// The decoder keeps at most 64 unconsumed input bits between calls. Every
// decoding step needs at most 48 bits (a length/literal code of 15 bits, 5
// extra bits, a distance code of 15 bits and 13 extra bits), and the
// accumulator is refilled to more than 56 bits whenever input remains, so a
// step that lacks bits means the input is used up: the step is simply not
// taken, and is retried whole when the next bytes arrive. Nothing else needs
// to be remembered about a half-read symbol. The output is the message
// itself (it is delivered whole anyway), so it doubles as the LZ77 window:
// no separate 32 KiB history is kept. With context takeover (an Inflater
// from NewWindowInflater) the output starts with the end of the previous
// messages, which back-references may reach, as a preset dictionary would.

// Errors of an Inflater. A corrupt message fails with an error that wraps
// ErrCorrupt and says what was wrong.
var (
	// ErrTooBig: the message inflates past the limit, or its compressed
	// form is absurdly larger than the limit (nothing but empty blocks).
	ErrTooBig = errors.New("deflate: message too big once inflated")
	// ErrInvalidUTF8: a text message inflated to invalid UTF-8.
	ErrInvalidUTF8 = errors.New("deflate: invalid UTF-8 in text message")
	// ErrCorrupt: the data is not a valid DEFLATE stream, or it ends
	// inside a block.
	ErrCorrupt = errors.New("deflate: invalid compressed data")
)

func corrupt(why string) error { return fmt.Errorf("%w: %s", ErrCorrupt, why) }

// end is what the receiver appends to a message: the tail the sender
// removed (RFC 7692 section 7.2.2), then an empty stored block with BFINAL
// set, so that a message that ends at a block boundary, as it must, ends the
// DEFLATE stream cleanly, and one cut inside a block does not.
var end = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// checkEvery is how much output is produced between two checks of the
// limit and of UTF-8: a bound on how far past an invalid byte, or past the
// limit, the decoder runs before it stops.
const checkEvery = 16 << 10

// maxMatch is the longest LZ77 match: how far one step of the decoder may
// write past where it was asked to stop.
const maxMatch = 258

// keepBuffer is the largest output buffer an Inflater keeps for its next
// message when it goes back to the pool.
const keepBuffer = 64 << 10

// An Inflater decompresses one permessage-deflate message at a time as its
// compressed bytes arrive (Write), and completes it (Close). One from
// NewInflater assumes the sender keeps no context (no_context_takeover): a
// back-reference before the start of the message is an error; get one per
// message and return it with Release once the message has been delivered,
// so that between messages a connection holds none. One from
// NewWindowInflater serves a whole connection whose sender keeps its
// context: each message may refer back into the ones before it.
type Inflater struct {
	d       decoder
	out     []byte
	base    int   // start of the message in out
	floor   int   // back-references may reach out[floor:]
	window  int   // bytes of history kept for the next message; 0: none
	open    bool  // a message is in progress (Reset, not yet Closed)
	checked int   // out[:checked] has been checked
	limit   int64 // largest message, inflated; <= 0: none
	in      int64 // compressed bytes received
	maxIn   int64 // largest compressed size; <= 0: none
	text    bool
	utf     proto.UTF8
}

var inflaters = sync.Pool{New: func() any { return new(Inflater) }}

// NewInflater returns a pooled Inflater ready for a message: its inflated
// size is limited to limit bytes (<= 0: no limit), and a text message is
// checked to be UTF-8 as it is produced.
func NewInflater(limit int64, text bool) *Inflater {
	f := inflaters.Get().(*Inflater)
	f.Reset(limit, text)
	return f
}

// NewWindowInflater returns an Inflater for a connection whose sender keeps
// its compression context (no server_no_context_takeover, RFC 7692
// 7.1.1.1): it keeps the last 2^windowBits bytes of output from message to
// message, as the preset dictionary of the next one, as the sender's
// window may reach that far. Start each message with Reset; Open reports
// whether one is in progress.
func NewWindowInflater(windowBits int) *Inflater {
	f := inflaters.Get().(*Inflater)
	f.Reset(0, false) // a pooled Inflater has no window: this empties it
	f.window, f.open = 1<<windowBits, false
	return f
}

// KeepsContext reports whether f is from NewWindowInflater.
func (f *Inflater) KeepsContext() bool { return f.window > 0 }

// Open reports whether a message is in progress: Reset was called and
// Close has not completed it.
func (f *Inflater) Open() bool { return f.open }

// Reset starts a new message, as NewInflater describes; an Inflater from
// NewWindowInflater keeps the history of the messages before it.
func (f *Inflater) Reset(limit int64, text bool) {
	f.d.reset()
	f.open = true
	if f.window > 0 {
		// The history: what ends the output so far (the previous
		// messages, and the history before them), moved to the front.
		hist := f.out[len(f.out)-min(f.window, len(f.out)):]
		if cap(f.out) > keepBuffer {
			// A big message does not pin its buffer.
			f.out = append(make([]byte, 0, f.window), hist...)
		} else {
			f.out = f.out[:copy(f.out, hist)]
		}
		f.base, f.floor, f.checked = len(f.out), 0, len(f.out)
	} else {
		f.out, f.base, f.floor, f.checked = f.out[:0], 0, 0, 0
	}
	f.limit, f.in, f.text = limit, 0, text
	f.maxIn = 0
	if limit > 0 {
		// Legitimate compressed data is at worst a little larger than
		// its output (stored blocks, sync flushes); twice the limit can
		// only be a stream of empty blocks that would never end.
		f.maxIn = 2*limit + 4096
	}
	f.utf.Reset()
}

// Held is the memory f holds for the message in progress (and the history
// of the previous ones, with a window): the capacity of its output (which
// is also the LZ77 window), not the bytes in it.
func (f *Inflater) Held() int { return cap(f.out) }

// Release returns f to the pool. The message Close returned must no longer
// be used.
func (f *Inflater) Release() {
	if cap(f.out) > keepBuffer {
		f.out = nil
	}
	f.out, f.window = f.out[:0], 0
	inflaters.Put(f)
}

// Write decompresses p, the next bytes of the message's compressed data. It
// fails as soon as the output passes the limit (ErrTooBig), stops being
// UTF-8 in a text message (ErrInvalidUTF8), or the data is invalid
// (ErrCorrupt); the Inflater must then only be released.
func (f *Inflater) Write(p []byte) error {
	f.in += int64(len(p))
	if f.maxIn > 0 && f.in > f.maxIn {
		return ErrTooBig
	}
	return f.write(p)
}

func (f *Inflater) write(p []byte) error {
	for {
		stop := len(f.out) + checkEvery
		if f.limit > 0 {
			stop = min(stop, f.base+int(min(f.limit, 1<<62))+1)
		}
		// Room for the output up to stop, and the one match that may
		// pass it, so that run's appends never reallocate: the buffer
		// grows by doubling up to the limit (see proto.Grow), and a
		// bomb costs about the limit, not append's pile of copies.
		bound := int64(0)
		if f.limit > 0 {
			bound = int64(f.base) + f.limit + 1 + maxMatch
		}
		f.out = proto.Grow(f.out, stop-len(f.out)+maxMatch, bound)
		var n int
		var more bool
		var err error
		f.out, n, more, err = f.d.run(f.out, p, stop, f.floor)
		p = p[n:]
		if err != nil {
			return err
		}
		if err := f.check(); err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// check applies the limit and the UTF-8 check to the output produced since
// the last check.
func (f *Inflater) check() error {
	if f.limit > 0 && int64(len(f.out)-f.base) > f.limit {
		return ErrTooBig
	}
	if f.text && !f.utf.Write(f.out[f.checked:]) {
		return ErrInvalidUTF8
	}
	f.checked = len(f.out)
	return nil
}

// Close ends the message: it appends the tail the sender removed and returns
// the inflated message, which stays valid until f is reset or released. It
// fails if the data ends inside a block (ErrCorrupt) or, for text, inside a
// UTF-8 sequence (ErrInvalidUTF8).
func (f *Inflater) Close() ([]byte, error) {
	if err := f.write(end); err != nil {
		return nil, err
	}
	if f.d.state != stDone {
		return nil, corrupt("the message ends inside a DEFLATE block")
	}
	if f.text && !f.utf.Complete() {
		return nil, ErrInvalidUTF8
	}
	f.open = false
	return f.out[f.base:], nil
}

// Inflate appends the decompressed message p to dst. It fails with
// ErrTooBig as soon as the output passes limit (limit <= 0: no limit), so a
// decompression bomb costs at most about limit bytes, and with an error
// wrapping ErrCorrupt if p is not a complete, valid message.
func Inflate(dst, p []byte, limit int64) ([]byte, error) {
	f := NewInflater(limit, false)
	defer func() {
		f.out = nil // dst belongs to the caller
		f.Release()
	}()
	f.out, f.base, f.floor, f.checked = dst, len(dst), len(dst), len(dst)
	if err := f.Write(p); err != nil {
		return f.out, err
	}
	if _, err := f.Close(); err != nil {
		return f.out, err
	}
	return f.out, nil
}
