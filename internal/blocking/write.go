package blocking

import (
	"sync"
	"time"
)

// Write implements wsconn.Transport. On a raw socket it writes what the
// socket takes now; the flusher (or, with Sync, every writer) then waits
// for the socket, WriteTimeout at most each time it makes no progress.
// Other sockets (TLS, an HTTP/2 stream) are written writeChunk at a time,
// each chunk within WriteTimeout. With Sync, Write returns once everything
// is written, or fails.
func (t *Transport) Write(bufs [][]byte) (int, error) {
	if t.cfg.Sync {
		t.wmu.Lock()
		defer t.wmu.Unlock()
	}
	if t.rc == nil {
		return t.writeChunks(bufs)
	}
	n, err := tryWritev(t.rc, bufs, false)
	if err != nil || !t.cfg.Sync && (n > 0 || !t.flushing.Load()) {
		// A sender other than the flusher never waits: the Conn
		// queues what the socket did not take.
		return n, err
	}
	// The flusher waits for the socket; so may a sender that took the
	// right to write just as the flusher let it go (the flag is cleared
	// after).
	return t.waitWrite(bufs, n)
}

// waitWrite finishes a write to a raw socket of which n bytes are written:
// it waits for the socket to take the rest (with Sync) or at least a byte
// (the flusher, which then writes on), WriteTimeout at most each time.
func (t *Transport) waitWrite(bufs [][]byte, n int) (int, error) {
	want := 0
	for _, b := range bufs {
		want += len(b)
	}
	if !t.cfg.Sync {
		want = min(want, 1)
	}
	if n >= want {
		return n, nil
	}
	total := n
	bufs = advance(append([][]byte(nil), bufs...), n) // the caller's stay as they are
	var err error
	for total < want && err == nil {
		t.beginWrite()
		n, err = tryWritev(t.rc, bufs, true)
		total += n
		bufs = advance(bufs, n)
	}
	t.endWrite()
	return total, err
}

// advance drops the first n bytes of bufs.
func advance(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n < len(bufs[0]) {
			bufs[0] = bufs[0][n:]
			return bufs
		}
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	return bufs
}

// writeChunk is what a write to a socket without a raw descriptor (TLS, an
// HTTP/2 stream) sends at a time: one TLS record's plaintext, one HTTP/2
// DATA frame.
const writeChunk = 16 << 10

var chunkBufs = sync.Pool{New: func() any { b := make([]byte, 0, writeChunk); return &b }}

// writeChunks writes bufs writeChunk at a time, small pieces (a frame's
// header, short frames) gathered into one chunk. Each chunk gets
// WriteTimeout of its own, so the timeout bounds a write that makes no
// progress, as on a raw socket, not a long message to a slow but steady
// reader. An HTTP/2 stream is flushed after each chunk.
func (t *Transport) writeChunks(bufs [][]byte) (int, error) {
	bp := chunkBufs.Get().(*[]byte)
	defer chunkBufs.Put(bp)
	defer t.endWrite()
	buf := (*bp)[:0]
	total := 0
	send := func(p []byte) error {
		t.beginWrite()
		n, err := t.nc.Write(p)
		total += n
		if err == nil && t.flush != nil {
			err = t.flush.Flush()
		}
		return err
	}
	for _, b := range bufs {
		for len(b) > 0 {
			if len(buf) == 0 && len(b) >= writeChunk {
				// A whole chunk of the caller's: no copy.
				if err := send(b[:writeChunk]); err != nil {
					return total, err
				}
				b = b[writeChunk:]
				continue
			}
			k := copy(buf[len(buf):cap(buf)], b)
			buf, b = buf[:len(buf)+k], b[k:]
			if len(buf) == cap(buf) {
				if err := send(buf); err != nil {
					return total, err
				}
				buf = buf[:0]
			}
		}
	}
	if len(buf) > 0 {
		if err := send(buf); err != nil {
			return total, err
		}
	}
	return total, nil
}

// beginWrite gives the write about to start WriteTimeout.
func (t *Transport) beginWrite() {
	if t.cfg.WriteTimeout <= 0 {
		return
	}
	t.mu.Lock()
	t.writing = true
	_ = t.nc.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
	t.mu.Unlock()
}

// endWrite ends a write's deadline. No deadline is left set (a passed one
// would reset an idle HTTP/2 stream), but on a TLS connection, whose
// reading goroutine's Read may need one (see arm): that one, or
// WriteTimeout from now if later.
func (t *Transport) endWrite() {
	if t.cfg.WriteTimeout <= 0 {
		return
	}
	t.mu.Lock()
	t.writing = false
	var d time.Time
	if !t.armed.IsZero() {
		d = time.Now().Add(t.cfg.WriteTimeout)
		if t.armed.After(d) {
			d = t.armed
		}
	}
	_ = t.nc.SetWriteDeadline(d)
	t.mu.Unlock()
}

// WaitWrite returns once the write in progress, if any, has (see
// wsconn's writeWaiter): with Sync, a sender whose frame was queued behind
// another goroutine's write is held back as if it wrote itself.
func (t *Transport) WaitWrite() {
	t.wmu.Lock()
	t.wmu.Unlock() //nolint:staticcheck // an empty critical section: waiting is the point
}
