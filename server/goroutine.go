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
	"syscall"
	"time"

	"github.com/ws4go/ws4go/internal/blocking"
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
	bp := blocking.ReadBufs.Get().(*[]byte)
	buf := append((*bp)[:0], read...)
	release := func() {
		if cap(buf) == blocking.ReadBufSize {
			*bp = buf[:blocking.ReadBufSize]
		}
		blocking.ReadBufs.Put(bp)
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
		// Both: a TLS connection's write deadline is the handshake's
		// too, which would cut a response that ends later.
		_ = nc.SetDeadline(noDeadline)
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

// run runs one connection on a blocking transport, reading on this
// goroutine.
func (e goroutineEngine) run(nc net.Conn, mk func(wsconn.Transport) *wsconn.Conn, rest []byte) {
	tr, c := blocking.New(nc, &e.s.bcfg, mk)
	c.Start(e.s.table)
	tr.Run(rest)
}

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
