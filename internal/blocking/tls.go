package blocking

import (
	"errors"
	"io"
	"os"
	"time"
)

// crypto/tls writes from inside tls.Conn.Read: it answers a KeyUpdate that
// asks for one (RFC 8446 4.6.3), sends alerts, holding its write lock, with
// whatever write deadline the socket has at that moment. A peer that sends
// KeyUpdates and never reads would block the reading goroutine in that
// write for as long as it likes, and with it everything that needs the
// lock (tls.Conn.Close's close_notify among them). The socket cannot be
// wrapped to bound those writes (on the http.Handler path net/http made the
// tls.Conn), so the reading goroutine bounds them with deadlines: before
// each Read it makes sure that the socket's write deadline is at least
// WriteTimeout past the Read's read deadline (see arm). A read deadline is
// not fatal to crypto/tls (a timeout is a temporary error: it keeps a
// partial record and reads on). A Read that times out finds no input, so
// the reading goroutine then waits for the socket to have some, with no
// deadline of its own (peeking at the descriptor under crypto/tls), before
// it arms and reads again: an idle connection costs no wake-up. (Without a
// descriptor to wait on, the netpoll engine's TLS on the goroutine engine
// after a failed adoption, it wakes every tlsRead, re-arms and reads on.)
//
// The flusher's per-chunk deadlines and the reader's are set under one
// lock (Transport.mu), so neither clears or shortens the other's: a chunk's
// write gets WriteTimeout from its start, and when it ends the deadline
// goes back to the reader's (or WriteTimeout from then, if later: a write
// crypto/tls was waiting to make behind the chunk gets that long). A peer
// that keeps sending and never reads cannot keep a blocked write alive: the
// reading goroutine is inside that write and re-arms nothing; the flusher
// extends it at most once, by starting a chunk (which then waits for the
// write lock): such a write ends within WriteTimeout+tlsRead of its Read's
// start, plus WriteTimeout if a chunk waits behind it.

// readTLS reads from a TLS connection, bounding the writes crypto/tls
// makes meanwhile; it returns an error only when reading ends.
func (t *Transport) readTLS(p []byte) (int, error) {
	for {
		armed := t.arm()
		n, err := t.nc.Read(p)
		if time.Now().After(armed) && t.writeFailed() {
			return n, io.EOF
		}
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) || t.lingerOver() {
			return n, err
		}
		// Only the read deadline arm set, which crypto/tls survives:
		// no input for tlsRead. Wait for some.
		if t.rawRC != nil {
			if err := t.waitInput(); err != nil && t.lingerOver() {
				return 0, err
			}
		}
	}
}

// waitInput waits until the socket under crypto/tls has input (or its
// peer has closed it), or Shutdown's end of reading, with no other
// deadline: crypto/tls cannot write meanwhile, it is not reading.
func (t *Transport) waitInput() error {
	t.mu.Lock()
	t.armed = time.Time{} // the next arm sets both deadlines
	_ = t.nc.SetReadDeadline(t.readDeadlineLocked())
	t.mu.Unlock()
	return waitReadable(t.rawRC)
}

// tlsRead is how long a read of a TLS connection waits for input before
// its reading goroutine waits for the socket without a deadline: a write
// crypto/tls makes while reading waits at most WriteTimeout+tlsRead. It is
// WriteTimeout, at least a second: crypto/tls's own writes are bounded by
// about twice WriteTimeout, and a connection whose messages come more
// often than that never wakes for a deadline (the deadlines move every
// half tlsRead); one that goes quiet wakes once, tlsRead after its last
// input.
func (t *Transport) tlsRead() time.Duration { return max(t.cfg.WriteTimeout, time.Second) }

// arm sets the deadlines of the Read the reading goroutine is about to
// make: a write crypto/tls starts during it gets at least WriteTimeout.
// It returns the write deadline such a write has: a Read that returns
// later has waited in one. The deadlines move at most every half tlsRead
// (a busy connection does not pay two timer updates a read): until then
// the read deadline, tlsRead from the last move, still leaves a write
// WriteTimeout.
func (t *Transport) arm() time.Time {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.tlsRead()
	if t.armed.Sub(now) < t.cfg.WriteTimeout+r/2 {
		t.armed = now.Add(t.cfg.WriteTimeout + r)
		if !t.writing && t.until.IsZero() {
			// (After Shutdown's close_notify crypto/tls leaves a
			// passed deadline: nothing more may be sent.)
			_ = t.nc.SetWriteDeadline(t.armed)
		}
		_ = t.nc.SetReadDeadline(t.readDeadlineLocked())
	}
	return t.armed
}

// readDeadlineLocked is the read deadline: tlsRead after the last arm on a
// TLS connection that is not waiting for input, and no later than
// Shutdown's end of reading.
func (t *Transport) readDeadlineLocked() time.Time {
	d := t.until
	if !t.armed.IsZero() {
		if r := t.armed.Add(-t.cfg.WriteTimeout); d.IsZero() || r.Before(d) {
			d = r
		}
	}
	return d
}

// writeFailed asks crypto/tls whether a write it made during the last Read
// failed (it keeps the error for the next Write, and a zero-length Write
// returns it without sending anything); if so the reading goroutine ends
// the connection as after any write that timed out. It is asked only when
// the Read outlasted its write deadline, which only a write that waited
// for it does. (crypto/tls may name another error: when its answer to a
// KeyUpdate fails it does not move on to the peer's next keys, and fails
// the next record with bad_record_mac.)
func (t *Transport) writeFailed() bool {
	if t.shutDown() {
		return false // close_notify is sent: Write fails anyway
	}
	if _, err := t.tc.Write(nil); err != nil {
		t.mu.Lock()
		t.werr = errors.Join(os.ErrDeadlineExceeded, err)
		t.mu.Unlock()
		return true
	}
	return false
}
