//go:build linux

package netpoll

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ws4go/ws4go/internal/wsconn"
)

// TLS on the engine. The handshake (and the HTTP upgrade head after it) runs
// blocking on a short-lived goroutine over the TCP connection, since
// crypto/tls cannot resume a handshake interrupted by "would block". Then
// the descriptor joins the epoll set and the tls.Conn is driven by the
// workers through a tlsIO in its fed mode:
//
//   - Read: a worker reads ciphertext from the descriptor into its buffer,
//     hands it to the tlsIO and calls tls.Conn.Read until the tlsIO says
//     "would block" with a temporary net.Error. crypto/tls keeps a partial
//     record as its own state on a temporary error (and does not fail the
//     connection), so half a record never holds a worker.
//   - Write: crypto/tls takes any error from the underlying Write as fatal,
//     so the tlsIO never fails for a full socket: it writes what the socket
//     takes and keeps the rest of the ciphertext (out); the connection's
//     Write then writes nothing more until out has gone, and returns 0, so
//     the plaintext waits in the wsconn queue under its bounds and
//     backpressure. Plaintext is encrypted at most tlsChunk at a time.
//     crypto/tls also writes on its own while it reads (a KeyUpdate a
//     peer asks for, an alert), so input is not read while ciphertext
//     is pending (see inputPaused): a peer that asks for answers and
//     never reads them is held back by TCP, and out stays within about
//     what one read decrypts, below tlsMaxPending, a hard cap.
//
// An idle connection holds no goroutine and no buffer of ours: what it holds
// is crypto/tls's own state (its record buffers, ciphers and session).

// tlsChunk is the most plaintext encrypted by one tls.Conn.Write: one full
// record.
const tlsChunk = 16 << 10

// tlsMaxPending is the most ciphertext a connection keeps for the socket:
// past it the connection fails. What is encrypted at a time, and what one
// read of input can make crypto/tls answer, stay well below it.
const tlsMaxPending = 4*tlsChunk + 4096

// errTooMuchPending fails a connection whose pending ciphertext would pass
// tlsMaxPending.
var errTooMuchPending = errors.New("ws4go netpoll: too much TLS output waits for the socket")

// tlsLinger bounds how long a graceful close waits for the socket to take
// the last ciphertext (the close frame, close_notify) before it drops the
// connection.
const tlsLinger = 5 * time.Second

var tlsScratch = sync.Pool{New: func() any { b := make([]byte, tlsChunk); return &b }}

// errWouldBlock is what a fed tlsIO's Read returns when it has nothing more:
// temporary, so crypto/tls keeps its state and reports it as it is.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "ws4go netpoll: would block" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

// tlsIO is the net.Conn under a TLS connection's tls.Conn. Until Adopt it
// passes everything to the TCP connection (the handshake runs blocking).
type tlsIO struct {
	net.Conn // the TCP connection until AdoptTLS; nil after
	tc       *tls.Conn
	c        *conn // the engine's connection, once adopted
	fed      bool  // adopted: set before the descriptor joins the epoll set
	primed   bool  // what the handshake goroutine left in tc was fed (the runner's)
	fd       int
	in       []byte // ciphertext read from the descriptor, not yet taken (the runner's)

	omu    sync.Mutex
	out    []byte // ciphertext the socket has not taken yet (omu)
	closed bool   // the descriptor is closed (omu)
	linger bool   // a graceful close waits for out (the runner's)
}

// TLSServer returns the server side of a TLS connection over nc, ready to
// run its handshake blocking; AdoptTLS later moves it onto the engine.
func TLSServer(nc net.Conn, cfg *tls.Config) *tls.Conn {
	t := &tlsIO{Conn: nc}
	t.tc = tls.Server(t, cfg)
	return t.tc
}

// Read implements net.Conn.
func (t *tlsIO) Read(p []byte) (int, error) {
	if !t.fed {
		return t.Conn.Read(p)
	}
	if len(t.in) == 0 {
		return 0, errWouldBlock
	}
	n := copy(p, t.in)
	t.in = t.in[n:]
	return n, nil
}

// Write implements net.Conn: once fed, it never blocks and never fails for a
// full socket.
func (t *tlsIO) Write(p []byte) (int, error) {
	if !t.fed {
		return t.Conn.Write(p)
	}
	t.omu.Lock()
	defer t.omu.Unlock()
	if t.closed {
		return 0, net.ErrClosed
	}
	if len(t.out) > 0 {
		if len(t.out)+len(p) > tlsMaxPending {
			return 0, errTooMuchPending
		}
		t.out = append(t.out, p...)
		return len(p), nil
	}
	n, err := writeSome(t.fd, p)
	if err != nil {
		return n, err
	}
	if n < len(p) {
		t.out = append([]byte(nil), p[n:]...)
	}
	return len(p), nil
}

// flush writes the pending ciphertext; it reports whether none is left.
func (t *tlsIO) flush() (bool, error) {
	t.omu.Lock()
	defer t.omu.Unlock()
	if len(t.out) == 0 {
		return true, nil
	}
	if t.closed {
		return false, net.ErrClosed
	}
	n, err := writeSome(t.fd, t.out)
	if err != nil {
		return false, err
	}
	if n < len(t.out) {
		t.out = t.out[n:] // no copy: the array goes once it is all written
		return false, nil
	}
	t.out = nil
	return true, nil
}

// Pending returns the bytes of ciphertext waiting for the socket.
func (t *tlsIO) Pending() int {
	t.omu.Lock()
	defer t.omu.Unlock()
	return len(t.out)
}

// markClosed stops writes to the descriptor; the caller closes it next.
func (t *tlsIO) markClosed() {
	t.omu.Lock()
	t.closed = true
	t.out = nil
	t.omu.Unlock()
}

// Close implements net.Conn: once adopted the engine closes the descriptor.
func (t *tlsIO) Close() error {
	if t.fed {
		return nil
	}
	return t.Conn.Close()
}

// LocalAddr implements net.Conn.
func (t *tlsIO) LocalAddr() net.Addr {
	if t.fed {
		return t.c.LocalAddr()
	}
	return t.Conn.LocalAddr()
}

// RemoteAddr implements net.Conn.
func (t *tlsIO) RemoteAddr() net.Addr {
	if t.fed {
		return t.c.RemoteAddr()
	}
	return t.Conn.RemoteAddr()
}

// Deadlines are the engine's business once fed (crypto/tls sets one
// around close_notify).
func (t *tlsIO) SetDeadline(d time.Time) error {
	if t.fed {
		return nil
	}
	return t.Conn.SetDeadline(d)
}

func (t *tlsIO) SetReadDeadline(d time.Time) error {
	if t.fed {
		return nil
	}
	return t.Conn.SetReadDeadline(d)
}

func (t *tlsIO) SetWriteDeadline(d time.Time) error {
	if t.fed {
		return nil
	}
	return t.Conn.SetWriteDeadline(d)
}

// AdoptTLS runs a TLS connection made by TLSServer whose TLS and WebSocket
// handshakes are done (rest: plaintext already read after the request
// head) on the engine. On an error tc is untouched and still blocking.
func (e *Engine) AdoptTLS(tc *tls.Conn, mk func(wsconn.Transport) *wsconn.Conn, rest []byte) error {
	t, ok := tc.NetConn().(*tlsIO)
	if !ok || t.fed {
		return errors.New("ws4go netpoll: not a connection from TLSServer")
	}
	c, err := e.adopt(t.Conn, t, mk, rest)
	if err != nil {
		return err
	}
	// Records the handshake goroutine read past the request head are
	// in crypto/tls's buffer, not in the socket: no event will come for
	// them, so a worker looks at once.
	c.ev.Or(unix.EPOLLIN)
	c.e.push(c) // keeps the turn
	return nil
}

// feedTLS decrypts the ciphertext raw (nil: only what crypto/tls holds)
// into plain and feeds the plaintext to the Conn. False: the connection's
// input has ended (close_notify, an error).
func (c *conn) feedTLS(raw, plain []byte) bool {
	t := c.tlsIO()
	t.in = raw
	defer func() { t.in = nil }()
	for {
		n, err := t.tc.Read(plain)
		if n > 0 && c.reading {
			c.reading = c.ws.Feed(plain[:n])
		}
		switch {
		case err == nil:
		case err == errWouldBlock:
			return true
		case errors.Is(err, io.EOF):
			c.readEnded(nil)
			return false
		default:
			c.readEnded(err)
			return false
		}
	}
}

// writeTLS encrypts head (a frame header, copied: it may live on the
// caller's stack) then bufs, and writes the records; the caller holds wmu
// and c is not closed. While ciphertext is pending it writes no more
// plaintext: the count returned then stops short, and the Conn waits for
// writability.
func (c *conn) writeTLS(head []byte, bufs [][]byte) (int, error) {
	t := c.tlsIO()
	if ok, err := t.flush(); !ok || err != nil {
		return 0, err
	}
	sp := tlsScratch.Get().(*[]byte)
	defer tlsScratch.Put(sp)
	scratch := *sp
	k := copy(scratch, head)
	total := 0
	i, off := 0, 0
	for k > 0 || i < len(bufs) {
		var chunk []byte
		if k == 0 && i < len(bufs) && len(bufs[i])-off >= tlsChunk {
			// A whole chunk from one buffer: no copy.
			chunk = bufs[i][off : off+tlsChunk]
			if off += tlsChunk; off == len(bufs[i]) {
				i, off = i+1, 0
			}
		} else {
			for i < len(bufs) && k < tlsChunk {
				m := copy(scratch[k:], bufs[i][off:])
				k += m
				if off += m; off == len(bufs[i]) {
					i, off = i+1, 0
				}
			}
			chunk = scratch[:k]
			k = 0
		}
		if len(chunk) == 0 {
			continue
		}
		if _, err := t.tc.Write(chunk); err != nil {
			return total, err
		}
		total += len(chunk)
		if t.Pending() > 0 {
			break
		}
	}
	return total, nil
}

// flushTLS writes pending ciphertext when the socket has room again; the
// caller has the turn.
func (c *conn) flushTLS() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return
	}
	if _, err := c.tlsIO().flush(); err != nil {
		c.requestClose(false)
	}
}

// lingerTLS reports whether a graceful close must wait for pending
// ciphertext; the caller holds wmu and has the turn. It waits at most
// tlsLinger, then the close is made hard.
func (c *conn) lingerTLS() bool {
	t := c.tlsIO()
	if ok, err := t.flush(); ok || err != nil {
		return false
	}
	if !t.linger {
		t.linger = true
		time.AfterFunc(tlsLinger, func() {
			c.closeReq.Store(closeHard)
			c.schedule()
		})
	}
	return true
}

// tlsIO returns the TLS transport of a TLS connection, nil for others. A
// TLS connection's tls flag and extra never change, so any goroutine may
// ask.
func (c *conn) tlsIO() *tlsIO {
	if !c.tls {
		return nil
	}
	return c.x.tls
}
