//go:build linux

package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/ws4go/ws4go/internal/h2stream"
)

// h2Conn is one TLS connection of a tlsClient in HTTP/2 mode, opened by
// the first stream that needs it.
type h2Conn struct {
	ready chan struct{} // closed once dialled
	tc    *tls.Conn
	cc    *http2.ClientConn
	err   error
}

// h2Conn returns TLS connection i, which the first stream that needs it
// dials (a failed dial is retried by the next).
func (c *tlsClient) h2Conn(ctx context.Context, i int) (*h2Conn, error) {
	c.h2mu.Lock()
	for len(c.h2conns) <= i {
		c.h2conns = append(c.h2conns, nil)
	}
	hc := c.h2conns[i]
	mine := hc == nil
	if mine {
		hc = &h2Conn{ready: make(chan struct{})}
		c.h2conns[i] = hc
	}
	c.h2mu.Unlock()
	if mine {
		hc.tc, hc.err = c.dialTLS(ctx)
		if hc.err == nil {
			if hc.cc, hc.err = c.h2tr.NewClientConn(hc.tc); hc.err != nil {
				drop(hc.tc)
			}
		}
		if hc.err != nil {
			c.h2mu.Lock()
			c.h2conns[i] = nil
			c.h2mu.Unlock()
		}
		close(hc.ready)
	}
	select {
	case <-hc.ready:
		return hc, hc.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// openStream opens a WebSocket as the next stream (RFC 8441).
func (c *tlsClient) openStream(ctx context.Context) (*tlsConn, error) {
	hc, err := c.h2Conn(ctx, int(c.streams.Add(1)-1)/c.h2Streams)
	if err != nil {
		return nil, err
	}
	resp, sc, err := h2stream.Open(ctx, hc.cc, c.h2URL, c.target.Addr, http.Header{"Sec-Websocket-Version": {"13"}})
	if err != nil {
		return nil, err
	}
	if sc == nil {
		resp.Body.Close()
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	return &tlsConn{nc: newAheadConn(sc), buf: make([]byte, 4096)}, nil
}

// aheadConn reads an HTTP/2 stream ahead in a goroutine of its own, so
// that a read deadline that passes fails that read alone, as on a TCP
// connection. The stream's own deadline resets it (h2stream.Conn), which
// the idle check, a read that times out at once, must not do; and a check
// that sent something (a ping) would grow the server's state for the
// stream (its goroutine's stack: about 12 KiB more RSS per idle WebSocket
// when tried).
type aheadConn struct {
	net.Conn // the stream: writes, write deadline
	got      chan aheadRead
	free     chan []byte
	done     chan struct{}
	once     sync.Once
	mu       sync.Mutex
	rdl      time.Time // read deadline
	cur      aheadRead // being read (by one goroutine at a time)
}

type aheadRead struct {
	b, buf []byte // b: what is left of the bytes read into buf
	err    error
}

func newAheadConn(c net.Conn) *aheadConn {
	// Two buffers: one being read into while the other is consumed.
	a := &aheadConn{Conn: c, got: make(chan aheadRead, 2), free: make(chan []byte, 2), done: make(chan struct{})}
	a.free <- make([]byte, 4096)
	a.free <- make([]byte, 4096)
	go a.readAhead()
	return a
}

func (a *aheadConn) readAhead() {
	for {
		var buf []byte
		select {
		case buf = <-a.free:
		case <-a.done:
			return
		}
		n, err := a.Conn.Read(buf)
		a.got <- aheadRead{b: buf[:n], buf: buf, err: err} // room for every buffer: never blocks
		if err != nil {
			return
		}
	}
}

func (a *aheadConn) Read(p []byte) (int, error) {
	if len(a.cur.b) == 0 && a.cur.err == nil {
		if a.cur.buf != nil {
			a.free <- a.cur.buf
			a.cur.buf = nil
		}
		a.mu.Lock()
		dl := a.rdl
		a.mu.Unlock()
		var timeout <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case a.cur = <-a.got:
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		}
	}
	n := copy(p, a.cur.b)
	a.cur.b = a.cur.b[n:]
	if len(a.cur.b) == 0 {
		return n, a.cur.err
	}
	return n, nil
}

// SetDeadline sets the read deadline here and the write deadline on the
// stream.
func (a *aheadConn) SetDeadline(t time.Time) error {
	_ = a.SetReadDeadline(t)
	return a.Conn.SetWriteDeadline(t)
}

func (a *aheadConn) SetReadDeadline(t time.Time) error {
	a.mu.Lock()
	a.rdl = t
	a.mu.Unlock()
	return nil
}

// Close resets the stream and ends the reading goroutine.
func (a *aheadConn) Close() error {
	a.once.Do(func() { close(a.done) })
	return a.Conn.Close()
}

// tcpConns is the number of TLS connections the HTTP/2 streams run on.
func (c *tlsClient) tcpConns() int {
	c.h2mu.Lock()
	defer c.h2mu.Unlock()
	n := 0
	for _, hc := range c.h2conns {
		if hc != nil && hc.cc != nil {
			n++
		}
	}
	return n
}
