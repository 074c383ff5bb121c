//go:build linux

package netpoll

import (
	"bytes"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/wsconn"
)

// readsPerTurn bounds the reads of one turn, so a connection that keeps
// sending cannot keep its worker from the others: past it, the connection
// yields its turn (it goes to the back of the pending list).
const readsPerTurn = 8

// Close requests.
const (
	closeHard     = 1
	closeGraceful = 2
)

// conn is one descriptor on the engine. It implements wsconn.Transport.
//
// Its events are processed by one worker at a time, in order, without
// re-arming the descriptor: whoever raises pend from 0 runs the connection
// (conn.run) until pend drops back to 0, and events or requests that arrive
// meanwhile only raise pend, so the runner goes round again.
type conn struct {
	e  *Engine
	ws *wsconn.Conn
	x  *extra    // what only some connections need, so idle ones stay small
	ln *listener // nil for adopted connections

	fd  int32
	gen int32 // registration generation, in the epoll event's Pad

	pend     atomic.Int32  // turns asked for and not yet run
	ev       atomic.Uint32 // epoll events not processed yet
	closeReq atomic.Uint32 // closeHard or closeGraceful

	// writeWait: the right to write waits for EPOLLOUT (see WaitWritable).
	writeWait atomic.Bool
	closed    atomic.Bool // the descriptor is closed (or handed off); set under wmu
	reading   bool        // the Conn still wants input (the runner's)
	// held: input events not acted on while the Conn's reading is paused
	// (the runner's); acted on once it resumes.
	held uint32

	wmu sync.Mutex // guards fd against close while writing

	// The peer's address as accept4 gave it (the descriptor cannot be
	// asked once closed, and its number may then be reused).
	raddr [16]byte
	rzone uint32
	rport uint16
	rfam  uint8 // unix.AF_INET, unix.AF_INET6, unix.AF_UNIX or 0
	tls   bool  // x.tls is set, for the connection's life (in padding)
}

type extra struct {
	head  []byte   // the opening handshake read so far
	laddr net.Addr // the local address: adopted connections' from the start, others' once asked for (wmu)
	tls   *tlsIO   // TLS connections: the tls.Conn's transport
}

func (c *conn) extra() *extra {
	if c.x == nil {
		c.x = &extra{}
	}
	return c.x
}

// event records epoll events and runs c unless a worker already does.
func (c *conn) event(ev uint32, buf []byte) {
	c.ev.Or(ev)
	if c.pend.Add(1) == 1 {
		c.run(buf)
	}
}

// schedule asks for a turn of c on a worker, for a caller that must not
// run it itself: it may hold locks a handler callback takes.
func (c *conn) schedule() {
	if c.pend.Add(1) == 1 {
		c.e.push(c)
	}
}

// run processes c until no more turns are asked for. The caller has
// raised pend from 0 (or was handed c with pend > 0).
func (c *conn) run(buf []byte) {
	for {
		n := c.pend.Load()
		if c.process(buf) {
			// Yield: keep the turn (pend stays above 0) but go to
			// the back of the pending list.
			c.pend.Add(1 - n)
			c.e.push(c)
			return
		}
		if c.pend.Add(-n) == 0 {
			return
		}
	}
}

// process is one turn on a worker. It reports whether c should yield (it
// still has input after readsPerTurn reads).
func (c *conn) process(buf []byte) bool {
	ev := c.ev.Swap(0)
	if c.closed.Load() {
		return false
	}
	if ev&unix.EPOLLOUT != 0 && c.tlsIO() != nil {
		c.flushTLS()
	}
	if ev&unix.EPOLLOUT != 0 && c.writeWait.Load() && c.writeWait.Swap(false) && c.ws != nil {
		c.ws.Flush()
	}
	if ev&evFlush != 0 {
		c.ws.Flush()
	}
	more := false
	c.held |= ev & inputEvents
	if c.held != 0 && c.closeReq.Load() == 0 && !c.closed.Load() && !c.inputPaused() {
		in := c.held
		c.held = 0
		more = c.readAvailable(buf, in&hangupEvents != 0)
	}
	if c.closeReq.Load() != 0 {
		c.doClose()
		return false
	}
	if more {
		c.ev.Or(unix.EPOLLIN)
	}
	return more
}

// readAvailable reads what the socket holds into the worker's buffer, which
// is free again on return: partial frames live in the parser's state. The
// descriptor is edge-triggered, so it reads until the socket is drained (a
// short read says so, unless the peer hung up) or readsPerTurn reads; true
// means more may be waiting.
func (c *conn) readAvailable(buf []byte, hangup bool) bool {
	defer func() {
		if c.ws != nil {
			c.ws.ReleaseIdle()
		}
	}()
	var plain []byte
	if t := c.tlsIO(); t != nil {
		// Half the buffer for ciphertext, half for plaintext; on the
		// first turn, first what crypto/tls already holds (records the
		// handshake goroutine read past the head). Later turns find
		// none: feedTLS always decrypts until crypto/tls needs more.
		buf, plain = buf[:len(buf)/2], buf[len(buf)/2:]
		if !t.primed {
			t.primed = true
			if !c.feedTLS(nil, plain) {
				return false
			}
		}
	}
	for i := 0; i < readsPerTurn; i++ {
		// Handed off or closed: the number may be another
		// connection's by now. Paused: output waits for the peer.
		paused := c.inputPaused()
		if c.closeReq.Load() != 0 || c.closed.Load() || paused {
			if paused {
				c.held |= unix.EPOLLIN
				if hangup {
					c.held |= unix.EPOLLRDHUP
				}
			}
			return false
		}
		n, err := unix.Read(int(c.fd), buf)
		switch {
		case n > 0:
			if c.ws == nil {
				c.handshakeBytes(buf[:n])
			} else if plain != nil {
				if !c.feedTLS(buf[:n], plain) {
					return false
				}
			} else if c.reading {
				c.reading = c.ws.Feed(buf[:n])
			}
			if n < len(buf) && !hangup {
				return false
			}
		case err == nil: // EOF
			c.readEnded(nil)
			return false
		case err == unix.EAGAIN:
			return false
		case err == unix.EINTR:
			i--
		default:
			c.readEnded(err)
			return false
		}
	}
	return true
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
	d := c.e.cfg.Decide(read[:n], c)
	switch {
	case d.Fallback != nil:
		c.handOff(d.Fallback, read)
	case !c.writeAll(d.Response):
		if d.Unsent != nil {
			d.Unsent()
		}
		c.requestClose(false)
	case d.Accept == nil:
		c.requestClose(true)
	default:
		c.open(d.Accept, read[n:])
	}
}

// open makes the WebSocket connection; the caller has the turn.
func (c *conn) open(mk func(wsconn.Transport) *wsconn.Conn, rest []byte) {
	c.ws = mk(c)
	c.reading = true
	c.ws.Start(c.e.cfg.Table)
	if len(rest) > 0 {
		c.reading = c.ws.Feed(rest)
	}
}

// handOff gives a plain HTTP connection to the fallback server as a
// net.Conn of its own (fallback starts what serves it).
func (c *conn) handOff(fallback func(net.Conn, []byte), read []byte) {
	c.wmu.Lock()
	_ = epollDel(c.e.epfd, int(c.fd))
	c.closed.Store(true)
	c.wmu.Unlock()
	c.e.unregister(c)
	_ = unix.SetNonblock(int(c.fd), false)
	f := os.NewFile(uintptr(c.fd), "")
	nc, err := net.FileConn(f) // dups the descriptor
	f.Close()
	c.e.finished()
	if err != nil {
		return
	}
	fallback(nc, append([]byte(nil), read...))
}

// writeAll writes p whole; it reports false if the socket would not take it
// at once (a handshake response always fits an empty socket buffer).
func (c *conn) writeAll(p []byte) bool {
	n, err := writeSome(int(c.fd), p)
	return err == nil && n == len(p)
}

// requestClose asks for the descriptor to be closed by a worker: the one
// running c now (it checks before its turn ends), or one c is handed to. It
// never closes on the caller's goroutine, which may hold locks that the
// handler's Closed takes.
func (c *conn) requestClose(graceful bool) {
	req := uint32(closeHard)
	if graceful {
		req = closeGraceful
	}
	if c.closeReq.CompareAndSwap(0, req) && !c.closed.Load() {
		c.schedule()
	}
}

// doClose closes the descriptor and finishes the connection; the caller
// has the turn. Graceful: the FIN follows what was written, and what the
// peer already sent is discarded first, so the kernel does not answer with a
// reset that could destroy the close frame in flight.
func (c *conn) doClose() {
	c.wmu.Lock()
	if c.closed.Load() {
		c.wmu.Unlock()
		return
	}
	if c.closeReq.Load() == closeGraceful && c.tlsIO() != nil && c.lingerTLS() {
		c.wmu.Unlock()
		return // again once the socket takes the rest (EPOLLOUT)
	}
	c.closed.Store(true)
	fd := int(c.fd)
	_ = epollDel(c.e.epfd, fd)
	if c.tlsIO() != nil {
		c.tlsIO().markClosed()
	}
	if c.closeReq.Load() == closeGraceful {
		_ = unix.Shutdown(fd, unix.SHUT_WR)
		var buf [4096]byte
		for i := 0; i < 256; i++ {
			if n, err := unix.Read(fd, buf[:]); n <= 0 || err != nil {
				break
			}
		}
	}
	c.e.unregister(c)
	_ = unix.Close(fd)
	c.wmu.Unlock()
	if c.ws != nil {
		c.ws.Finish()
	}
	c.e.finished()
}

// Write implements wsconn.Transport: non-blocking writevs that stop when the
// socket is full; nothing is allocated.
func (c *conn) Write(bufs [][]byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if c.tlsIO() != nil {
		return c.writeTLS(nil, bufs)
	}
	return writeBufs(int(c.fd), bufs)
}

// WriteFrame implements wsconn's frame writer: a small frame goes out with
// one write(2) of a copy on the stack, a large one with writev; nothing is
// allocated.
func (c *conn) WriteFrame(hdr [ws.MaxHeaderSize]byte, hn int, p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if c.tlsIO() != nil {
		return c.writeTLS(hdr[:hn], [][]byte{p})
	}
	return writeFrame(int(c.fd), &hdr, hn, p)
}

// Blocking implements wsconn.Transport.
func (c *conn) Blocking() bool { return false }

// WaitWritable implements wsconn.Transport: the right to write waits in
// writeWait for the worker that sees EPOLLOUT, which calls Flush. An
// EPOLLOUT that came between the write that filled the socket and this call
// found nobody waiting and is gone (edge-triggered), so if the socket has
// room already, a turn is asked for at once.
func (c *conn) WaitWritable() {
	c.writeWait.Store(true)
	c.wmu.Lock()
	ready := !c.closed.Load() && writable(int(c.fd))
	c.wmu.Unlock()
	if ready && c.writeWait.Load() {
		c.ev.Or(unix.EPOLLOUT)
		c.schedule()
	}
}

// FlushSoon implements wsconn's soonFlusher: a turn on a worker flushes the
// queue (the right to write passed to it). The caller makes no system call
// but, once per burst, the eventfd write that wakes the workers (see push).
// The connection goes to the back of the pending list, so a publish to many
// connections spreads its writes over the workers, and the frames queued
// before its turn comes leave in one writev.
func (c *conn) FlushSoon() {
	c.ev.Or(evFlush)
	c.schedule()
}

// inputPaused reports whether reading waits: for the Conn's output (see
// wsconn.Conn.ReadPaused), or for TLS output crypto/tls wrote on its own
// while reading (a peer that asks for KeyUpdates and never reads them must
// not make the server hold their answers).
func (c *conn) inputPaused() bool {
	if c.ws != nil && c.ws.ReadPaused() {
		return true
	}
	t := c.tlsIO()
	return t != nil && t.fed && t.Pending() > 0
}

// ResumeRead is called by the Conn when its reading is no longer paused:
// input that arrived meanwhile gets a turn.
func (c *conn) ResumeRead() {
	if !c.closed.Load() {
		c.schedule()
	}
}

// Shutdown implements wsconn.Transport.
func (c *conn) Shutdown() {
	if t := c.tlsIO(); t != nil {
		// close_notify after the close frame; the graceful close
		// that follows waits for the socket to take it.
		_ = t.tc.CloseWrite()
	}
	c.requestClose(true)
}

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
	if c.ln == nil { // adopted: kept from the start
		return c.x.laddr
	}
	if !c.ln.wildcard {
		return c.ln.addr
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.x != nil && c.x.laddr != nil {
		return c.x.laddr
	}
	if c.closed.Load() {
		return c.ln.addr
	}
	sa, err := unix.Getsockname(int(c.fd))
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
