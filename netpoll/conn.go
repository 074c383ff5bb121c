//go:build linux

package netpoll

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mailru/easygo/netpoll"
	"golang.org/x/sys/unix"

	"github.com/ws4go/ws4go/internal/handshake"
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
	ln *listener // nil for adopted connections
	x  *extra    // what only some connections need, so idle ones stay small

	ev       atomic.Uint32 // epoll events not processed yet
	closeReq atomic.Uint32 // closeHard or closeGraceful

	mu      sync.Mutex // held while processing
	ws      *wsconn.Conn
	reading bool // the Conn still wants input

	wmu       sync.Mutex // guards fd against close while writing or re-arming
	closed    bool
	writeWait bool // waiting for EPOLLOUT to flush

	// The peer's address as accept4 gave it (the descriptor cannot be
	// asked once closed, and its number may then be reused).
	raddr [16]byte
	rzone uint32
	rport uint16
	rfam  uint8 // unix.AF_INET, unix.AF_INET6, unix.AF_UNIX or 0
}

type extra struct {
	head  []byte   // the opening handshake read so far
	nc    net.Conn // adopted connections: closed instead of fd
	laddr net.Addr // the local address, once asked for
}

func (c *conn) extra() *extra {
	if c.x == nil {
		c.x = &extra{}
	}
	return c.x
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
	c.finishProcessing(true)
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

var headTerminator = []byte("\r\n\r\n")

// handshakeBytes accumulates the opening handshake and answers it once the
// head is complete. Each read is scanned only from where the last one
// stopped (a client sending a byte at a time costs linear time), and the
// head never grows past handshake.MaxHeadSize before it is refused.
func (c *conn) handshakeBytes(p []byte) {
	x := c.extra()
	from := max(len(x.head)-len(headTerminator)+1, 0)
	cut := min(len(p), handshake.MaxHeadSize-len(x.head))
	x.head = append(x.head, p[:cut]...)
	if bytes.Index(x.head[from:], headTerminator) >= 0 {
		// What follows the head is the start of the WebSocket stream.
		x.head = append(x.head, p[cut:]...)
	} else if len(x.head) < handshake.MaxHeadSize {
		return
	}
	// Complete or too large: the server's HeadEnd decides, once.
	n, refuse := c.e.cfg.HeadEnd(x.head)
	if refuse != nil {
		c.e.doneHandshake(c)
		c.writeAll(refuse)
		c.requestClose(true)
		return
	}
	if n == 0 {
		return // cannot happen with a HeadEnd that agrees on the terminator
	}
	c.e.doneHandshake(c)
	read := x.head
	x.head = nil
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
	c.e.unregister(c)
	_ = unix.SetNonblock(c.fd, false)
	f := os.NewFile(uintptr(c.fd), "")
	nc, err := net.FileConn(f) // dups the descriptor
	f.Close()
	c.e.finished()
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
// unlocks c.mu. Only a worker closes (and so runs Handler.Closed): off a
// worker, a close is scheduled instead.
func (c *conn) finishProcessing(onWorker bool) {
	if c.closeReq.Load() != 0 && onWorker {
		c.doClose()
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
	// A request made while c.mu was held is ours to carry out.
	if c.closeReq.Load() != 0 && c.mu.TryLock() {
		if onWorker {
			c.doClose()
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.e.schedule(c)
	}
}

// requestClose asks for the descriptor to be closed by a worker: the one
// processing c now (it checks on its way out), or one it is handed to. It
// never closes on the caller's goroutine, which may hold locks that the
// handler's Closed takes.
func (c *conn) requestClose(graceful bool) {
	req := uint32(closeHard)
	if graceful {
		req = closeGraceful
	}
	c.closeReq.CompareAndSwap(0, req)
	if c.mu.TryLock() {
		if c.isClosed() {
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.e.schedule(c)
	}
}

// doClose closes the descriptor and finishes the connection. c.mu is held.
// Graceful: the FIN follows what was written, and what the peer already
// sent is discarded first, so the kernel does not answer with a reset that
// could destroy the close frame in flight.
func (c *conn) doClose() {
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		return
	}
	c.closed = true
	_ = c.e.ep.Del(c.fd)
	if c.closeReq.Load() == closeGraceful {
		_ = unix.Shutdown(c.fd, unix.SHUT_WR)
		var buf [4096]byte
		for i := 0; i < 256; i++ {
			if n, err := unix.Read(c.fd, buf[:]); n <= 0 || err != nil {
				break
			}
		}
	}
	c.e.unregister(c)
	if c.x != nil && c.x.nc != nil {
		c.x.nc.Close()
	} else {
		_ = unix.Close(c.fd)
	}
	c.wmu.Unlock()
	if c.ws != nil {
		c.ws.Finish()
	}
	c.e.finished()
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
// calls Flush. If the descriptor cannot be re-armed, the connection is
// closed: nobody would ever flush it.
func (c *conn) WaitWritable() {
	c.wmu.Lock()
	failed := false
	if !c.closed {
		c.writeWait = true
		failed = c.e.ep.Mod(c.fd, writeEvents) != nil
	}
	c.wmu.Unlock()
	if failed {
		c.requestClose(false)
	}
}

// Shutdown implements wsconn.Transport.
func (c *conn) Shutdown() { c.requestClose(true) }

// Close implements wsconn.Transport.
func (c *conn) Close() { c.requestClose(false) }

// setRemote keeps the peer's address from accept4.
func (c *conn) setRemote(sa unix.Sockaddr) {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		c.rfam, c.rport = unix.AF_INET, uint16(sa.Port)
		copy(c.raddr[:], sa.Addr[:])
	case *unix.SockaddrInet6:
		c.rfam, c.rport, c.rzone = unix.AF_INET6, uint16(sa.Port), sa.ZoneId
		c.raddr = sa.Addr
	case *unix.SockaddrUnix:
		c.rfam = unix.AF_UNIX
	}
}

// RemoteAddr implements wsconn.Transport. It is the address accept4
// reported, so it stays right after the connection has closed.
func (c *conn) RemoteAddr() net.Addr {
	if c.ln == nil { // adopted: x.nc never changes
		return c.x.nc.RemoteAddr()
	}
	switch c.rfam {
	case unix.AF_INET:
		return &net.TCPAddr{IP: net.IPv4(c.raddr[0], c.raddr[1], c.raddr[2], c.raddr[3]), Port: int(c.rport)}
	case unix.AF_INET6:
		a := &net.TCPAddr{IP: append(net.IP(nil), c.raddr[:]...), Port: int(c.rport)}
		if c.rzone != 0 {
			a.Zone = zoneName(c.rzone)
		}
		return a
	case unix.AF_UNIX:
		return &net.UnixAddr{Net: "unix"} // an unnamed client socket, as net reports it
	}
	return nil
}

func zoneName(i uint32) string {
	if ifi, err := net.InterfaceByIndex(int(i)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(i), 10)
}

// LocalAddr implements wsconn.Transport: the listener's address, unless
// the listener is on every address; then the socket's own, asked once
// (while the descriptor is surely still this connection's).
func (c *conn) LocalAddr() net.Addr {
	if c.ln == nil { // adopted: x.nc never changes
		return c.x.nc.LocalAddr()
	}
	if !c.ln.wildcard {
		return c.ln.addr
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.x != nil && c.x.laddr != nil {
		return c.x.laddr
	}
	if c.closed {
		return c.ln.addr
	}
	sa, err := unix.Getsockname(c.fd)
	if err != nil {
		return c.ln.addr
	}
	a := sockaddr(sa)
	c.extra().laddr = a
	return a
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
