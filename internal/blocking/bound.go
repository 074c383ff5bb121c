package blocking

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// BoundWrites returns nc (the TCP connection under a TLS connection the
// server makes) with a bound on every write that has no deadline of its
// own: it fails once it has waited d (zero or negative: no bound). Whoever
// holds the TLS connection, net/http included, crypto/tls then cannot be
// held by a peer that does not read: its answer to a KeyUpdate, written
// from inside tls.Conn.Read with whatever deadline the socket has, alerts,
// a response written with none. crypto/tls writes a record (at most 16 KiB
// of plaintext) at a time, so a long write to a slow but steady reader is
// not cut. Deadlines set through it apply as set.
func BoundWrites(nc net.Conn, d time.Duration) net.Conn {
	if d <= 0 {
		return nc
	}
	return &boundConn{Conn: nc, d: d}
}

type boundConn struct {
	net.Conn
	d  time.Duration
	mu sync.Mutex
	// set is the write deadline set through the connection (zero:
	// none); own the one Write gave itself, while it runs (zero: none).
	set, own time.Time
}

func (c *boundConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.set.IsZero() {
		c.own = time.Now().Add(c.d)
		_ = c.Conn.SetWriteDeadline(c.own)
	}
	c.mu.Unlock()
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	if !c.own.IsZero() {
		c.own = time.Time{}
		if c.set.IsZero() {
			_ = c.Conn.SetWriteDeadline(time.Time{})
		}
	}
	c.mu.Unlock()
	return n, err
}

// SetWriteDeadline sets the write deadline; clearing it leaves the bound
// of a write in progress.
func (c *boundConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set = t
	if t.IsZero() {
		t = c.own
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *boundConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// NetConn returns the connection c wraps (see layers).
func (c *boundConn) NetConn() net.Conn { return c.Conn }

// SyscallConn returns the descriptor of the connection c wraps: the
// netpoll engine adopts it.
func (c *boundConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("ws4go: the connection has no descriptor")
	}
	return sc.SyscallConn()
}
