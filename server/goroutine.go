package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/wsconn"
	"github.com/ws4go/ws4go/observe"
)

var noDeadline time.Time

func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return noDeadline
	}
	return time.Now().Add(d)
}

func contextWithoutCancel(r *http.Request) context.Context {
	return context.WithoutCancel(r.Context())
}

// readBufSize is the goroutine engine's read buffer per connection.
const readBufSize = 4 << 10

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// goroutineEngine runs one reading goroutine per connection (the analogue of
// ws4py's gevent server): blocking reads, writes serialised by the Conn.
type goroutineEngine struct{ s *Server }

func (e goroutineEngine) close() {}

func (e goroutineEngine) serve(nc net.Conn) { e.serveWith(nc, e.run) }

// serveWith runs the handshake of nc on a goroutine of its own (the TLS
// handshake first, if nc is a *tls.Conn), then, if it succeeds, the
// connection with run.
func (e goroutineEngine) serveWith(nc net.Conn, run func(nc net.Conn, mk func(wsconn.Transport) *wsconn.Conn, rest []byte)) {
	s := e.s
	if !s.trackHandshake(nc, true) {
		nc.Close()
		return
	}
	if o := s.Observer; o != nil {
		o.Accepted()
	}
	go func() {
		defer s.wg.Done()
		s.handshake(nc, nil, run)
	}()
}

// handshake runs the TLS handshake of a *tls.Conn, reads the rest of the
// request head from nc (read holds the bytes read so far), all of it within
// one HandshakeTimeout (and the head bounded in size), answers it, and on
// success has run run the connection: on this goroutine (the goroutine
// engine), or on the netpoll engine's workers (TLS connections, and the
// handshakes it hands over when the accept hook is set: see
// decideNetpoll).
func (s *Server) handshake(nc net.Conn, read []byte, run func(net.Conn, func(wsconn.Transport) *wsconn.Conn, []byte)) {
	dl := deadline(s.handshakeTimeout())
	if tc, ok := nc.(*tls.Conn); ok {
		// Writes too: a client that does not read the server's
		// flight must not hold the goroutine past the timeout.
		_ = nc.SetDeadline(dl)
		h2, err := s.tlsHandshake(tc)
		if err != nil {
			if !s.closing.Load() {
				// (One Shutdown dropped is not the client's
				// failure, as for a plain handshake.)
				s.rejected(tlsReason(err))
			}
			s.trackHandshake(nc, false)
			nc.Close()
			return
		}
		if tc.ConnectionState().NegotiatedProtocol == http2ALPN {
			s.trackHandshake(nc, false)
			_ = nc.SetDeadline(noDeadline)
			s.serveH2(tc, dl, h2)
			return
		}
	}
	bp := readBufs.Get().(*[]byte)
	buf := append((*bp)[:0], read...)
	release := func() {
		if cap(buf) == readBufSize {
			*bp = buf[:readBufSize]
		}
		readBufs.Put(bp)
	}
	drop := func() {
		s.trackHandshake(nc, false)
		nc.Close()
		release()
	}
	_ = nc.SetReadDeadline(dl)
	headLen, rej := handshake.HeadEnd(buf)
	for headLen == 0 && rej == nil {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, len(buf))...)[:len(buf)]
		}
		n, err := nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		headLen, rej = handshake.HeadEnd(buf)
		if headLen == 0 && rej == nil && err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.rejected(observe.RejectTimeout)
			}
			drop()
			return
		}
	}
	if rej != nil {
		s.rejected(rej.Why)
		_, _ = nc.Write(handshake.AppendRejection(nil, rej))
		drop()
		return
	}
	head := buf[:headLen]
	var state *tls.ConnectionState
	if tc, ok := nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		state = &st
	}
	d := s.decideHead(head, nc, state)
	s.trackHandshake(nc, false)
	if d.fallback {
		// Plain HTTP: the fallback server gets the bytes read so far.
		rest := append([]byte(nil), buf...)
		release()
		_ = nc.SetReadDeadline(noDeadline)
		s.serveFallback(nc, rest)
		return
	}
	// The connection run makes holds d's place; if none is (the
	// response not written, the engine closing), it goes back here.
	defer d.place.Release()
	_ = nc.SetWriteDeadline(deadline(s.writeTimeout()))
	_, err := nc.Write(d.response)
	if err != nil || d.factory == nil {
		if err == nil {
			lingerClose(nc)
		} else {
			nc.Close()
		}
		release()
		return
	}
	_ = nc.SetDeadline(noDeadline)
	headCopy := string(head) // kept for Conn.Request
	rest := append([]byte(nil), buf[headLen:]...)
	release()
	run(nc, func(tr wsconn.Transport) *wsconn.Conn {
		return s.newConn(tr, d.factory, d.place, d.res, d.data, wsconn.Request{Head: headCopy, Req: d.req})
	}, rest)
}

func (e goroutineEngine) adopt(nc net.Conn, mk func(wsconn.Transport) *wsconn.Conn, rest []byte) {
	e.s.wg.Add(1)
	defer e.s.wg.Done()
	e.run(nc, mk, rest)
}

// run is the reading loop of one connection.
func (e goroutineEngine) run(nc net.Conn, mk func(wsconn.Transport) *wsconn.Conn, rest []byte) {
	tr := &blockingTransport{nc: nc, rc: rawConnOf(nc), s: e.s, resume: make(chan struct{}, 1)}
	c := mk(tr)
	tr.c = c
	c.Start(e.s.table)
	reading := len(rest) == 0 || c.Feed(rest)
	bp := readBufs.Get().(*[]byte)
	buf := *bp
	var err error
	for {
		// Input waits while output does (see wsconn.Conn.ReadPaused):
		// a peer that does not read is held back by TCP.
		for c.ReadPaused() {
			<-tr.resume
		}
		var n int
		n, err = nc.Read(buf)
		if n > 0 && reading {
			reading = c.Feed(buf[:n])
			// A large message's buffer is not kept for the
			// connection's lifetime between messages.
			c.ReleaseIdle()
		}
		if err != nil {
			if tr.shut.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
				drain(nc)
			}
			break
		}
	}
	readBufs.Put(bp)
	nc.Close()
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
		err = io.EOF
	}
	c.ReadEnded(err)
	c.Finish()
	tr.mu.Lock()
	tr.ended = true
	tr.mu.Unlock()
}

// blockingTransport is the goroutine engine's socket. Sends try a
// non-blocking write first (through the raw descriptor); what the socket does
// not take is queued and written by a short-lived goroutine that waits for
// the socket to take each next byte, so a peer that does not read never holds
// up the sender (the table's sweeper drops it after WriteTimeout without
// progress). Sockets without a raw descriptor (TLS, an HTTP/2 stream) are
// written only by that goroutine (sends queue and return, see
// wsconn.Conn.defersWrites), with blocking writes of writeChunk at a time,
// each bounded by WriteTimeout.
type blockingTransport struct {
	nc      net.Conn
	rc      syscall.RawConn // nil: blocking writes only
	s       *Server
	c       *wsconn.Conn
	shut    atomic.Bool   // Shutdown was called: drain and close
	flusher atomic.Bool   // the background flusher is writing
	resume  chan struct{} // ResumeRead wakes the reading goroutine
	mu      sync.Mutex
	ended   bool // the reading goroutine is done: no flusher starts
}

func (t *blockingTransport) Write(bufs [][]byte) (int, error) {
	if t.rc != nil {
		if !t.flusher.Load() {
			return tryWritev(t.rc, bufs, false)
		}
		// The flusher waits for the socket; so may a sender that took
		// the right to write just as the flusher let it go (the flag
		// is cleared after): either way no longer than WriteTimeout,
		// then the connection is dropped, as for any write that makes
		// no progress.
		_ = t.nc.SetWriteDeadline(deadline(t.s.writeTimeout()))
		n, err := tryWritev(t.rc, bufs, true)
		_ = t.nc.SetWriteDeadline(time.Time{})
		return n, err
	}
	return t.writeChunks(bufs)
}

// writeChunk is what a blocking write without a raw descriptor (TLS, an
// HTTP/2 stream) sends at a time: one TLS record's plaintext, one HTTP/2
// DATA frame.
const writeChunk = 16 << 10

var chunkBufs = sync.Pool{New: func() any { b := make([]byte, 0, writeChunk); return &b }}

// writeChunks writes bufs writeChunk at a time, small pieces (a frame's
// header, short frames) gathered into one chunk. Each chunk gets
// WriteTimeout of its own, so the timeout bounds a write that makes no
// progress, as on a raw socket, not a long message to a slow but steady
// reader.
func (t *blockingTransport) writeChunks(bufs [][]byte) (int, error) {
	bp := chunkBufs.Get().(*[]byte)
	defer chunkBufs.Put(bp)
	buf := (*bp)[:0]
	f, flushes := t.nc.(interface{ Flush() error }) // an HTTP/2 stream
	total := 0
	send := func(p []byte) error {
		_ = t.nc.SetWriteDeadline(deadline(t.s.writeTimeout()))
		n, err := t.nc.Write(p)
		total += n
		if err == nil && flushes {
			err = f.Flush()
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
	_ = t.nc.SetWriteDeadline(noDeadline)
	return total, nil
}

func (t *blockingTransport) Blocking() bool { return t.rc == nil }

// FlushSoon implements wsconn's soonFlusher: a raw socket is written by the
// server's flushers (see flushers); one whose writes block (TLS, an HTTP/2
// stream) by a flusher of its own. As for WaitWritable, nothing starts once
// the reading goroutine has returned (the server's WaitGroup counts them).
func (t *blockingTransport) FlushSoon() {
	if t.rc == nil {
		t.WaitWritable()
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.ended {
		t.s.flushers.add(t.s, t.c)
	}
}

// WaitWritable flushes in a goroutine of its own. It is counted in the
// server's WaitGroup, so it only starts while the connection's reading
// goroutine (counted too) has not returned: a sender that asks later finds
// the connection gone, with nothing to flush.
func (t *blockingTransport) WaitWritable() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return
	}
	t.s.wg.Add(1)
	go func() {
		defer t.s.wg.Done()
		t.flusher.Store(true)
		t.c.Flush()
		t.flusher.Store(false)
	}()
}

// Shutdown half-closes the connection (the FIN follows the close frame) and
// wakes the reading goroutine, which discards what the peer already sent and
// closes the socket: closing with unread input would make the kernel send a
// reset instead, which can destroy the close frame still in flight.
func (t *blockingTransport) Shutdown() {
	if tc, ok := t.nc.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
		t.shut.Store(true)
		_ = t.nc.SetReadDeadline(time.Now())
		return
	}
	t.nc.Close()
}

// ResumeRead wakes the reading goroutine waiting for ReadPaused to end.
func (t *blockingTransport) ResumeRead() {
	select {
	case t.resume <- struct{}{}:
	default:
	}
}

func (t *blockingTransport) Close()               { t.nc.Close() }
func (t *blockingTransport) LocalAddr() net.Addr  { return t.nc.LocalAddr() }
func (t *blockingTransport) RemoteAddr() net.Addr { return t.nc.RemoteAddr() }

// tlsReason classifies a failed TLS handshake for the Observer.
func tlsReason(err error) observe.Reason {
	var rh tls.RecordHeaderError
	var op *net.OpError
	msg := err.Error()
	switch {
	case errors.Is(err, errH2Full):
		return observe.RejectMaxH2Connections
	case errors.Is(err, os.ErrDeadlineExceeded):
		return observe.RejectTLSTimeout
	case errors.As(err, &rh):
		return observe.RejectTLSNotTLS
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		return observe.RejectTLSClosed
	case errors.As(err, &op) && op.Op == "remote error" && strings.Contains(msg, "certificate"):
		// bad_certificate, unknown_ca, certificate_expired, ...
		return observe.RejectTLSCertificate
	case strings.Contains(msg, "unsupported") || strings.Contains(msg, "no cipher suite") ||
		strings.Contains(msg, "no mutually supported") || strings.Contains(msg, "no ECDHE") ||
		strings.Contains(msg, "protocol version") || strings.Contains(msg, "insufficient security") ||
		strings.Contains(msg, "no application protocol"):
		return observe.RejectTLSUnsupported
	}
	return observe.RejectTLSOther
}

// lingerClose closes a connection after an HTTP error response without
// resetting it: it stops writing, then discards input briefly so the kernel
// does not answer unread bytes with a reset that would destroy the response.
func lingerClose(nc net.Conn) {
	if tc, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
		_ = nc.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, nc)
	}
	nc.Close()
}
