//go:build linux

package netpoll

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type rawConner interface {
	SyscallConn() (syscall.RawConn, error)
}

// CanServe reports whether ServeListener can take l (TCP and Unix
// listeners can).
func CanServe(l net.Listener) bool {
	switch l.(type) {
	case *net.TCPListener, *net.UnixListener:
		return true
	}
	return false
}

// ServeListener accepts raw descriptors from l and runs them (opening
// handshake included) on the engine, until StopListener(l) or Close. The
// listening descriptor is in the engine's epoll set; the worker that sees
// it ready accepts (accept4 until EAGAIN).
func (e *Engine) ServeListener(l net.Listener) error {
	if !CanServe(l) {
		return errors.New("ws4go netpoll: the listener is neither TCP nor Unix")
	}
	raw, err := l.(rawConner).SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return err
	}
	ln := &listener{fd: fd, stop: make(chan struct{}), addr: l.Addr()}
	if ta, ok := ln.addr.(*net.TCPAddr); ok && (ta.IP == nil || ta.IP.IsUnspecified()) {
		ln.wildcard = true
	}
	e.lmu.Lock()
	e.listeners[l] = ln
	e.lfds[int32(fd)] = ln
	e.lmu.Unlock()
	if err := epollAdd(e.epfd, fd, unix.EPOLLIN|unix.EPOLLET, tagListen); err != nil {
		e.StopListener(l)
		return err
	}
	<-ln.stop
	return net.ErrClosed
}

type listener struct {
	fd       int
	addr     net.Addr
	wildcard bool // a TCP listener on every address: ask each socket its own
	stop     chan struct{}
	stopOnce sync.Once
	stopped  atomic.Bool
}

// StopListener stops accepting from l; call it before closing l, since the
// descriptor must leave the epoll set while it is still open.
func (e *Engine) StopListener(l net.Listener) {
	e.lmu.Lock()
	ln := e.listeners[l]
	delete(e.listeners, l)
	if ln != nil {
		delete(e.lfds, int32(ln.fd))
	}
	e.lmu.Unlock()
	if ln == nil {
		return
	}
	ln.stopOnce.Do(func() {
		ln.stopped.Store(true)
		_ = epollDel(e.epfd, ln.fd)
		close(ln.stop)
	})
}

// acceptAll accepts every pending connection (the listener is
// edge-triggered: until EAGAIN).
func (e *Engine) acceptAll(ln *listener) {
	for !ln.stopped.Load() {
		nfd, sa, err := unix.Accept4(ln.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
			e.accept(nfd, sa, ln)
		case errors.Is(err, unix.EAGAIN):
			return
		case errors.Is(err, unix.ECONNABORTED), errors.Is(err, unix.EINTR):
		default:
			// Out of descriptors or memory: try again in a moment
			// (no new edge may come for what is waiting).
			e.cfg.Logger.Warn("ws4go netpoll: accept failed; pausing", "err", err)
			time.AfterFunc(50*time.Millisecond, func() { e.acceptAll(ln) })
			return
		}
	}
}

// accept starts the opening handshake of a new descriptor. It may run after
// Close has begun (a worker can be inside accept4 meanwhile): then the
// descriptor is closed at once.
func (e *Engine) accept(fd int, sa unix.Sockaddr, ln *listener) {
	if e.cfg.Accepted != nil {
		e.cfg.Accepted()
	}
	// As Go does for its own TCP connections: small frames (a pong, a
	// short echo) must not wait for the peer's delayed ACK (Nagle).
	// On a Unix socket this fails harmlessly.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c := &conn{e: e, fd: int32(fd), ln: ln}
	c.setRemote(sa)
	if !e.register(c, true) {
		_ = unix.Close(fd)
		return
	}
	if err := epollAdd(e.epfd, fd, connEvents, c.gen); err != nil {
		e.unregister(c)
		_ = unix.Close(fd)
		e.finished()
	}
}
