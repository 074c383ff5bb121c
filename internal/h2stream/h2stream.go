// Package h2stream carries a WebSocket over an HTTP/2 stream, the client's
// side of RFC 8441: Open sends the extended CONNECT request through
// golang.org/x/net/http2 and returns the stream as a net.Conn, on which
// the client and the conformance suite run as they do over TCP.
//
// Go's HTTP/2 code speaks extended CONNECT only with GODEBUG
// http2xconnect=1 (package xconnect sets it); without it, or when the
// server does not send SETTINGS_ENABLE_CONNECT_PROTOCOL, Open fails with an
// error for which Unsupported is true.
//
// The transport's goroutines do the stream's I/O: per stream, one writes
// the request body (the WebSocket frames we send) while the stream is
// open; per TCP connection, one reads frames for all its streams.
package h2stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http2"
)

// Unsupported reports whether err says the server speaks no HTTP/2 or no
// extended CONNECT: a client may then use HTTP/1.1 instead.
func Unsupported(err error) bool {
	return errors.Is(err, ErrNoHTTP2) || err != nil && strings.Contains(err.Error(), "extended connect not supported by peer")
}

// ErrNoHTTP2 is returned by a dial function given to the transport when the
// server did not choose "h2" in the TLS handshake (ALPN).
var ErrNoHTTP2 = errors.New("the server does not speak HTTP/2 (ALPN)")

// Open sends an RFC 8441 extended CONNECT request through rt (an
// *http2.Transport, or one *http2.ClientConn) for u, an https URL whose
// host:port is dialled (and picks the pooled connection),
// with host as :authority and the headers h (:protocol websocket unless h
// names another), and returns the server's
// response. When
// its status is 2xx the WebSocket runs over the returned Conn; otherwise
// the Conn is nil and resp.Body holds the answer's body (close it).
// ctx bounds Open only.
func Open(ctx context.Context, rt http.RoundTripper, u *url.URL, host string, h http.Header) (*http.Response, *Conn, error) {
	h = h.Clone()
	if h == nil {
		h = http.Header{}
	}
	if _, ok := h[":protocol"]; !ok {
		h[":protocol"] = []string{"websocket"}
	}
	body := newPipe()
	// The stream lives on after Open; its own context ends it (Close).
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	req := (&http.Request{
		Method:        http.MethodConnect,
		URL:           u,
		Host:          host,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        h,
		Body:          body,
		ContentLength: -1,
	}).WithContext(sctx)
	var local, remote net.Addr
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		local, remote = i.Conn.LocalAddr(), i.Conn.RemoteAddr()
	}}
	req = req.WithContext(httptrace.WithClientTrace(sctx, trace))
	stop := context.AfterFunc(ctx, cancel)
	resp, err := rt.RoundTrip(req)
	if !stop() {
		if err == nil {
			resp.Body.Close()
		}
		cancel()
		return nil, nil, errors.Join(ctx.Err(), err)
	}
	if err != nil {
		cancel()
		return nil, nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body.end(io.EOF)
		return resp, nil, nil
	}
	if local == nil {
		local, remote = addr(""), addr(u.Host)
	}
	c := &Conn{body: body, resp: resp.Body, cancel: cancel, local: local, remote: remote}
	c.rd.c, c.wd.c = c, c
	return resp, c, nil
}

// Conn is one WebSocket's HTTP/2 stream as a net.Conn. Write blocks until
// the HTTP/2 transport has taken the bytes (as far as the stream's flow
// control lets it); Read returns the server's DATA. CloseWrite ends our
// side of the stream (END_STREAM), as a TCP half-close; Close resets it
// (RST_STREAM, CANCEL), as a TCP close does to unread data.
//
// A deadline that passes aborts the stream (unlike a TCP socket's, which
// only fails the call in progress): the client and the conformance suite
// treat a passed deadline as the end of the connection anyway.
type Conn struct {
	body   *pipe
	resp   io.ReadCloser
	cancel context.CancelFunc
	remote net.Addr
	rd, wd deadline

	local net.Addr // the TCP connection's, shared by its streams

	mu  sync.Mutex
	err error // why the stream was aborted
}

// Read reads the server's bytes. The server's END_STREAM is io.EOF; its
// RST_STREAM is syscall.ECONNRESET (RFC 8441 section 5: the equivalents of
// a TCP FIN and RST).
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.resp.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	if e := c.aborted(); e != nil {
		return n, e
	}
	var se http2.StreamError
	if errors.As(err, &se) {
		return n, fmt.Errorf("%w: %w", syscall.ECONNRESET, err)
	}
	return n, err
}

// Write writes p to the stream (see WriteBuffers).
func (c *Conn) Write(p []byte) (int, error) { return c.WriteBuffers([][]byte{p}) }

// WriteBuffers writes bufs in order; the transport may send them as one
// DATA frame. It returns once the transport has read them all.
func (c *Conn) WriteBuffers(bufs [][]byte) (int, error) {
	n, err := c.body.Write(bufs)
	if err != nil {
		if e := c.aborted(); e != nil {
			err = e
		}
	}
	return n, err
}

// CloseWrite sends END_STREAM after the bytes written so far.
func (c *Conn) CloseWrite() error {
	c.body.closeWrite()
	return nil
}

// Close resets the stream, unless both sides have ended it already.
func (c *Conn) Close() error {
	c.abort(net.ErrClosed)
	return nil
}

// abort ends the stream at once; later calls report err.
func (c *Conn) abort(err error) {
	c.mu.Lock()
	first := c.err == nil
	if first {
		c.err = err
	}
	c.mu.Unlock()
	if !first {
		return
	}
	c.rd.stop()
	c.wd.stop()
	c.body.end(err)
	c.cancel()
	// x/net's Close gives back the flow control of input not read yet,
	// under the TCP connection's write lock, which a write to a server
	// that reads nothing holds for up to x/net's write timeout: not on
	// the caller's goroutine (the client's timer sweeper terminates
	// connections for all the others).
	go c.resp.Close()
}

func (c *Conn) aborted() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// LocalAddr is the local address of the TCP connection the stream runs on,
// which other streams may share.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr is the server's address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline aborts the stream at t unless moved (see Conn).
func (c *Conn) SetReadDeadline(t time.Time) error { c.rd.set(t); return nil }

// SetWriteDeadline aborts the stream at t unless moved (see Conn).
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// deadline is one of a Conn's deadlines: a timer that aborts the stream.
type deadline struct {
	c  *Conn
	mu sync.Mutex
	at time.Time
	t  *time.Timer
}

func (d *deadline) set(at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.at = at
	if at.IsZero() {
		if d.t != nil {
			d.t.Stop()
		}
		return
	}
	if d.t == nil {
		d.t = time.AfterFunc(time.Until(at), d.fire)
		return
	}
	d.t.Reset(time.Until(at))
}

// fire aborts the stream unless the deadline was cleared or moved on since
// the timer was set.
func (d *deadline) fire() {
	d.mu.Lock()
	passed := !d.at.IsZero() && !time.Now().Before(d.at)
	d.mu.Unlock()
	if passed {
		d.c.abort(os.ErrDeadlineExceeded)
	}
}

func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.t != nil {
		d.t.Stop()
	}
}

// addr is a net.Addr for a stream's ends.
type addr string

func (a addr) Network() string { return "h2" }
func (a addr) String() string  { return string(a) }
