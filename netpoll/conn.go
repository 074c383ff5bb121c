//go:build linux

package netpoll

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/mailru/easygo/netpoll"
	"golang.org/x/sys/unix"

	"github.com/ws4go/ws4go/internal/wsconn"
)

// epollClosed is easygo's unexported _EPOLLCLOSED: the callback is told
// that the epoll set was closed.
const epollClosed = 0x20

const (
	readEvents  netpoll.EpollEvent = netpoll.EPOLLIN | netpoll.EPOLLRDHUP | netpoll.EPOLLONESHOT
	writeEvents netpoll.EpollEvent = readEvents | netpoll.EPOLLOUT
	inputEvents netpoll.EpollEvent = netpoll.EPOLLIN | netpoll.EPOLLRDHUP | netpoll.EPOLLHUP | netpoll.EPOLLERR
)

// readsPerTurn bounds the reads of one activation, so a busy connection
// cannot keep a worker from the others; the level-triggered re-arm brings it
// back at once if more is waiting.
const readsPerTurn = 8

// Close requests.
const (
	closeHard     = 1
	closeGraceful = 2
)

// conn is one descriptor on the engine. It implements wsconn.Transport.
type conn struct {
	e  *Engine
	fd int
	x  *extra // what only some connections need, so idle ones stay small

	ev       atomic.Uint32 // epoll events not processed yet
	closeReq atomic.Uint32 // closeHard or closeGraceful

	mu      sync.Mutex // held while processing
	ws      *wsconn.Conn
	reading bool // the Conn still wants input

	wmu       sync.Mutex // guards fd against close while writing or re-arming
	closed    bool
	writeWait bool // waiting for EPOLLOUT to flush
}

type extra struct {
	head []byte   // the opening handshake read so far
	nc   net.Conn // adopted connections: closed instead of fd
}

// onEvent runs on the poller goroutine. A full queue blocks it: that is
// the engine's backpressure.
func (c *conn) onEvent(ev netpoll.EpollEvent) {
	if ev&epollClosed != 0 {
		return
	}
	c.ev.Or(uint32(ev))
	c.e.queue <- c
}

// process runs on a worker.
func (c *conn) process() {
	c.mu.Lock()
	ev := netpoll.EpollEvent(c.ev.Swap(0))
	if c.isClosed() {
		c.mu.Unlock()
		return
	}
	if ev&netpoll.EPOLLOUT != 0 {
		c.wmu.Lock()
		flush := c.writeWait
		c.writeWait = false
		c.wmu.Unlock()
		if flush && c.ws != nil {
			c.ws.Flush()
		}
	}
	if ev&inputEvents != 0 && c.closeReq.Load() == 0 {
		c.readAvailable()
	}
	c.finishProcessing()
}

func (c *conn) isClosed() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.closed
}

// readAvailable reads what the socket holds (up to readsPerTurn buffers)
// into a pooled buffer that goes back to the pool before returning: partial
// frames live in the parser's state, not in the buffer.
func (c *conn) readAvailable() {
	bp := c.e.bufs.Get().(*[]byte)
	buf := *bp
	defer c.e.bufs.Put(bp)
	for i := 0; i < readsPerTurn && c.closeReq.Load() == 0; i++ {
		n, err := unix.Read(c.fd, buf)
		switch {
		case n > 0:
			if c.ws == nil {
				c.handshakeBytes(buf[:n])
			} else if c.reading {
				c.reading = c.ws.Feed(buf[:n])
			}
			if n < len(buf) {
				// Most likely drained: let epoll say when there is more.
				i = readsPerTurn
			}
		case err == nil: // EOF
			c.readEnded(nil)
			return
		case errors.Is(err, unix.EAGAIN):
			i = readsPerTurn
		case errors.Is(err, unix.EINTR):
		default:
			c.readEnded(err)
			return
		}
	}
	if c.ws != nil {
		c.ws.ReleaseIdle()
	}
}

func (c *conn) readEnded(err error) {
	if c.ws == nil {
		c.requestClose(false)
		return
	}
	c.ws.ReadEnded(err)
}

// handshakeBytes accumulates the opening handshake and answers it once the
// head is complete.
func (c *conn) handshakeBytes(p []byte) {
	if c.x == nil {
		c.x = &extra{}
	}
	c.x.head = append(c.x.head, p...)
	n, refuse := c.e.cfg.HeadEnd(c.x.head)
	if refuse != nil {
		c.e.doneHandshake(c)
		c.writeAll(refuse)
		c.requestClose(true)
		return
	}
	if n == 0 {
		return
	}
	c.e.doneHandshake(c)
	read := c.x.head
	c.x = nil
	d := c.e.cfg.Decide(read[:n])
	switch {
	case d.Fallback != nil:
		c.handOff(d.Fallback, read)
	case !c.writeAll(d.Response):
		c.requestClose(false)
	case d.Accept == nil:
		c.requestClose(true)
	default:
		c.open(d.Accept, read[n:])
	}
}

// open makes the WebSocket connection. c.mu is held.
func (c *conn) open(mk func(wsconn.Transport) *wsconn.Conn, rest []byte) {
	c.ws = mk(c)
	c.reading = true
	c.ws.Start(c.e.cfg.Table)
	if len(rest) > 0 {
		c.reading = c.ws.Feed(rest)
	}
}

// handOff gives a plain HTTP connection to the fallback server as a
// net.Conn of its own.
func (c *conn) handOff(fallback func(net.Conn, []byte), read []byte) {
	c.wmu.Lock()
	_ = c.e.ep.Del(c.fd)
	c.closed = true
	c.wmu.Unlock()
	_ = unix.SetNonblock(c.fd, false)
	f := os.NewFile(uintptr(c.fd), "")
	nc, err := net.FileConn(f) // dups the descriptor
	f.Close()
	if err != nil {
		return
	}
	go fallback(nc, append([]byte(nil), read...))
}

// writeAll writes p whole; it reports false if the socket would not take it
// at once (a handshake response always fits an empty socket buffer).
func (c *conn) writeAll(p []byte) bool {
	n, err := c.Write([][]byte{p})
	return err == nil && n == len(p)
}

// finishProcessing re-arms the descriptor, or closes it if asked, and
// unlocks c.mu.
func (c *conn) finishProcessing() {
	if req := c.closeReq.Load(); req != 0 {
		c.doClose(req == closeGraceful)
		c.mu.Unlock()
		return
	}
	c.wmu.Lock()
	if !c.closed {
		ev := readEvents
		if c.writeWait {
			ev = writeEvents
		}
		if err := c.e.ep.Mod(c.fd, ev); err != nil {
			c.closeReq.CompareAndSwap(0, closeHard)
		}
	}
	c.wmu.Unlock()
	c.mu.Unlock()
	c.tryClose()
}

// requestClose asks for the descriptor to be closed by whoever holds c.mu,
// or now if nobody does.
func (c *conn) requestClose(graceful bool) {
	req := uint32(closeHard)
	if graceful {
		req = closeGraceful
	}
	c.closeReq.CompareAndSwap(0, req)
	c.tryClose()
}

// tryClose closes the connection if that was requested and c.mu is free;
// every holder of c.mu calls it after unlocking, so a request is never lost.
func (c *conn) tryClose() {
	if c.closeReq.Load() == 0 || !c.mu.TryLock() {
		return
	}
	c.doClose(c.closeReq.Load() == closeGraceful)
	c.mu.Unlock()
}

// doClose closes the descriptor and finishes the connection. c.mu is held.
// Graceful: the FIN follows what was written, and what the peer already
// sent is discarded first, so the kernel does not answer with a reset that
// could destroy the close frame in flight.
func (c *conn) doClose(graceful bool) {
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		return
	}
	c.closed = true
	_ = c.e.ep.Del(c.fd)
	if graceful {
		_ = unix.Shutdown(c.fd, unix.SHUT_WR)
		var buf [4096]byte
		for i := 0; i < 256; i++ {
			if n, err := unix.Read(c.fd, buf[:]); n <= 0 || err != nil {
				break
			}
		}
	}
	if c.x != nil && c.x.nc != nil {
		c.x.nc.Close()
	} else {
		_ = unix.Close(c.fd)
	}
	c.wmu.Unlock()
	if c.ws == nil {
		c.e.doneHandshake(c)
		return
	}
	c.ws.Finish()
}

// Write implements wsconn.Transport: a non-blocking writev that stops when
// the socket is full.
func (c *conn) Write(bufs [][]byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	total := 0
	for len(bufs) > 0 {
		iov := bufs
		if len(iov) > 1024 { // IOV_MAX
			iov = iov[:1024]
		}
		n, err := unix.Writev(c.fd, iov)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.EAGAIN) {
				return total, nil
			}
			return total, err
		}
		total += n
		// Skip what was written.
		for n > 0 && len(bufs) > 0 {
			if n >= len(bufs[0]) {
				n -= len(bufs[0])
				bufs = bufs[1:]
				continue
			}
			rest := make([][]byte, len(bufs))
			copy(rest, bufs)
			rest[0] = rest[0][n:]
			bufs, n = rest, 0
		}
		for len(bufs) > 0 && len(bufs[0]) == 0 {
			bufs = bufs[1:]
		}
	}
	return total, nil
}

// Blocking implements wsconn.Transport.
func (c *conn) Blocking() bool { return false }

// WaitWritable implements wsconn.Transport: the worker that sees EPOLLOUT
// calls Flush.
func (c *conn) WaitWritable() {
	c.wmu.Lock()
	if !c.closed {
		c.writeWait = true
		_ = c.e.ep.Mod(c.fd, writeEvents)
	}
	c.wmu.Unlock()
}

// Shutdown implements wsconn.Transport.
func (c *conn) Shutdown() { c.requestClose(true) }

// Close implements wsconn.Transport.
func (c *conn) Close() { c.requestClose(false) }

// LocalAddr implements wsconn.Transport.
func (c *conn) LocalAddr() net.Addr {
	if c.x != nil && c.x.nc != nil {
		return c.x.nc.LocalAddr()
	}
	sa, err := unix.Getsockname(c.fd)
	if err != nil {
		return nil
	}
	return sockaddr(sa)
}

// RemoteAddr implements wsconn.Transport.
func (c *conn) RemoteAddr() net.Addr {
	if c.x != nil && c.x.nc != nil {
		return c.x.nc.RemoteAddr()
	}
	sa, err := unix.Getpeername(c.fd)
	if err != nil {
		return nil
	}
	return sockaddr(sa)
}

func sockaddr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return nil
}
