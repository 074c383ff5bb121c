//go:build linux

package netpoll

import (
	"errors"
	"net"
	"time"

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
// net/http connection): nc is kept for its descriptor and closed with it;
// rest are bytes already read after the handshake. Opened runs on the
// caller's goroutine; everything after it on the workers.
func (e *Engine) Adopt(nc net.Conn, mk func(wsconn.Transport) *wsconn.Conn, rest []byte) error {
	fd, err := fdOf(nc)
	if err != nil {
		return err
	}
	c := &conn{e: e, fd: int32(fd), x: &extra{nc: nc}}
	if err := e.adopt(c, mk, rest); err != nil {
		return err
	}
	if c.pend.Add(-1) > 0 {
		e.push(c) // what happened meanwhile is for a worker
	}
	return nil
}

// adopt registers c, a connection whose handshake is done, and runs
// Opened; c keeps its turn (pend is 1) for the caller to give up.
func (e *Engine) adopt(c *conn, mk func(wsconn.Transport) *wsconn.Conn, rest []byte) error {
	c.pend.Store(1) // ours until Opened has run
	if !e.register(c, false) {
		return net.ErrClosed
	}
	if err := epollAdd(e.epfd, int(c.fd), connEvents, c.gen); err != nil {
		e.unregister(c)
		e.finished()
		return err
	}
	c.open(mk, rest)
	return nil
}
