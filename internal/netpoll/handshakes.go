//go:build linux

package netpoll

import (
	"errors"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ws4go/ws4go/internal/wsconn"
)

func (e *Engine) doneHandshake(c *conn) {
	e.mu.Lock()
	e.doneHandshakeLocked(c)
	e.mu.Unlock()
}

func (e *Engine) doneHandshakeLocked(c *conn) {
	if _, ok := e.handshake[c]; !ok {
		return
	}
	delete(e.handshake, c)
	if len(e.handshake) == 0 && e.hsStop != nil {
		close(e.hsStop)
		e.hsStop = nil
	}
}

// sweepHandshakes drops connections past their handshake deadline; it runs
// only while some connection is in its handshake.
func (e *Engine) sweepHandshakes(stop chan struct{}) {
	tk := time.NewTicker(max(e.cfg.HandshakeTimeout/4, 5*time.Millisecond))
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tk.C:
			var late []*conn
			e.mu.Lock()
			for c, d := range e.handshake {
				if now.UnixNano() > d {
					late = append(late, c)
					// Reported once: its worker may take
					// more than a tick to close it.
					e.doneHandshakeLocked(c)
				}
			}
			e.mu.Unlock()
			for _, c := range late {
				if e.cfg.TimedOut != nil {
					e.cfg.TimedOut()
				}
				c.requestClose(false)
			}
		}
	}
}

// fdOf returns the descriptor of nc, which stays nc's (nc closes it).
func fdOf(nc net.Conn) (int, error) {
	rc, ok := nc.(rawConner)
	if !ok {
		return -1, errors.New("ws4go netpoll: the connection has no descriptor")
	}
	raw, err := rc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1, err
	}
	return fd, nil
}

// Adopt runs a connection whose handshake was done elsewhere (a hijacked
// net/http connection); rest are bytes already read after the handshake.
// On success nc is closed (the engine has a descriptor of its own); on an
// error it is untouched. Opened runs on the caller's goroutine; everything
// after it on the workers.
func (e *Engine) Adopt(nc net.Conn, mk func(wsconn.Transport) *wsconn.Conn, rest []byte) error {
	c, err := e.adopt(nc, nil, mk, rest)
	if err != nil {
		return err
	}
	if c.pend.Add(-1) > 0 {
		e.push(c) // what happened meanwhile is for a worker
	}
	return nil
}

// adopt registers a connection whose handshake ran on nc (t: its tlsIO if
// TLS, made fed) and runs Opened; the conn returned keeps its turn (pend
// is 1) for the caller to give up. The engine takes a duplicate of the
// descriptor and closes nc, so that nc's netFD, addresses, and the Go
// runtime's poll descriptor and epoll entry (about half a KiB) are not kept
// for the connection's life; the socket stays open through the duplicate.
// On an error nc (and t) are as they were.
func (e *Engine) adopt(nc net.Conn, t *tlsIO, mk func(wsconn.Transport) *wsconn.Conn, rest []byte) (*conn, error) {
	fd, err := fdOf(nc)
	if err != nil {
		return nil, err
	}
	// The peer's address as the accepted connection has it (nc's goes
	// with nc); a peer already gone fails the adoption.
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return nil, err
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	c := &conn{e: e, fd: int32(dup), x: &extra{laddr: nc.LocalAddr(), tls: t}, tls: t != nil}
	c.setRemote(sa)
	if t != nil {
		t.Conn, t.c, t.fd, t.fed = nil, c, dup, true
	}
	c.pend.Store(1) // ours until Opened has run
	if !e.register(c, false) {
		err = net.ErrClosed
	} else if err = epollAdd(e.epfd, dup, connEvents, c.gen); err != nil {
		e.unregister(c)
		e.finished()
	}
	if err != nil {
		if t != nil {
			t.Conn, t.c, t.fd, t.fed = nc, nil, 0, false
		}
		_ = unix.Close(dup)
		return nil, err
	}
	_ = nc.Close()
	c.open(mk, rest)
	return c, nil
}
