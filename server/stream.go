package server

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/wsconn"
)

// serveStream accepts an RFC 8441 extended CONNECT (already checked) with a
// 200 and runs the WebSocket on the request's HTTP/2 stream, on this
// handler goroutine: net/http owns the TCP connection, so neither engine
// can take it over; returning ends the stream (END_STREAM).
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, res *handshake.Result, mk func(wsconn.Transport) *wsconn.Conn) {
	rc := http.NewResponseController(w)
	// The embedding server's ReadTimeout and WriteTimeout bound a
	// request, not a connection that lives for hours (as a hijacked
	// HTTP/1.1 connection escapes them): writes get WriteTimeout each.
	_ = rc.SetReadDeadline(noDeadline)
	_ = rc.SetWriteDeadline(deadline(s.writeTimeout()))
	handshake.AnswerStream(w.Header(), res)
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}
	_ = rc.SetWriteDeadline(noDeadline)
	sc := &streamConn{body: r.Body, w: w, rc: rc, local: stringAddr(""), remote: addrOf(r.RemoteAddr)}
	sc.writing.Store(true)
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		sc.local = a
	}
	defer sc.end()
	goroutineEngine{s}.run(sc, mk, nil)
}

// streamConn is an HTTP/2 stream as the net.Conn the goroutine engine's
// reading loop runs: reads take the request body, writes go to the
// response and are sent by Flush. Its buffers are net/http's: the peer's
// flow-control window bounds what waits unread (see Server.TLSConfig for
// the standalone listener's bounds), and a write waits for the peer's
// window at most its write deadline (WriteTimeout), after which net/http
// resets the stream.
type streamConn struct {
	body          io.ReadCloser
	w             http.ResponseWriter
	rc            *http.ResponseController
	local, remote net.Addr

	// mu is held (shared) by every use of w and rc, and taken whole by
	// end: net/http panics on a ResponseWriter used after its handler
	// returned, and a Close from another goroutine may come that late.
	mu      sync.RWMutex
	ended   bool
	writing atomic.Bool // CloseWrite was not called
}

func (c *streamConn) Read(p []byte) (int, error) { return c.body.Read(p) }

// Write buffers p in the response; Flush sends it.
func (c *streamConn) Write(p []byte) (int, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ended {
		return 0, net.ErrClosed
	}
	return c.w.Write(p)
}

// Flush sends what Write buffered, waiting for the peer's flow-control
// window until the write deadline. (net/http resets a stream whose write
// deadline passes even if nothing waits to be sent: the blocking transport
// clears it once a write is done.)
func (c *streamConn) Flush() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ended {
		return net.ErrClosed
	}
	return c.rc.Flush()
}

// CloseWrite marks the WebSocket's output done (its close frame is
// flushed): the stream's END_STREAM follows when the reading loop returns.
func (c *streamConn) CloseWrite() error {
	c.writing.Store(false)
	return nil
}

// Close ends the reading loop at once. While output is not done it also
// resets the stream, so a write waiting for the peer's window returns; a
// stream whose close frame is sent is left to end cleanly.
func (c *streamConn) Close() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ended {
		return nil
	}
	past := time.Unix(1, 0)
	if c.writing.Load() {
		_ = c.rc.SetWriteDeadline(past)
	}
	return c.rc.SetReadDeadline(past)
}

func (c *streamConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *streamConn) SetReadDeadline(t time.Time) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ended {
		return net.ErrClosed
	}
	return c.rc.SetReadDeadline(t)
}

func (c *streamConn) SetWriteDeadline(t time.Time) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ended {
		return net.ErrClosed
	}
	return c.rc.SetWriteDeadline(t)
}

func (c *streamConn) LocalAddr() net.Addr  { return c.local }
func (c *streamConn) RemoteAddr() net.Addr { return c.remote }

// end marks the handler returned; nothing touches w after it.
func (c *streamConn) end() {
	c.mu.Lock()
	c.ended = true
	c.mu.Unlock()
}

// addrOf parses a Request.RemoteAddr (ip:port) into a net.Addr.
func addrOf(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return stringAddr(s)
}

// stringAddr is an address net/http gave only as text.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }
