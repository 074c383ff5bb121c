//go:build linux

package bench

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// --- connections ---------------------------------------------------------

func (l *loop) track(c *conn) {
	fd := int(c.fd)
	for fd >= len(l.byFD) {
		l.byFD = append(l.byFD, make([]*conn, max(1024, len(l.byFD)))...)
	}
	l.byFD[fd] = c
}

// dial starts a connection.
func (l *loop) dial(role uint8, now int64) (*conn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	g := l.g
	if len(g.sources) > 0 {
		src := g.sources[(l.srcNext*len(g.loops)+l.id)%len(g.sources)]
		l.srcNext++
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("IP_BIND_ADDRESS_NO_PORT: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src}); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("bind %v: %w", src, err)
		}
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	err = unix.Connect(fd, &l.dst)
	if err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return nil, fmt.Errorf("connect: %w", err)
	}
	c := &conn{fd: int32(fd), idx: -1, role: role, started: now}
	l.track(c)
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | epollET, Fd: int32(fd)}); err != nil {
		l.byFD[fd] = nil
		unix.Close(fd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	return c, nil
}

func (l *loop) onEvent(c *conn, ev uint32) {
	if c.state == stConnecting {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		soerr, err := unix.GetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && soerr != 0 {
			err = unix.Errno(soerr)
		}
		if err != nil {
			l.fail(c, fmt.Errorf("connect: %w", err))
			return
		}
		switch {
		case l.g.cfg.Raw && !l.g.cfg.RawHandshake:
			l.opened(c, time.Now().UnixNano())
		case l.g.cfg.Raw:
			c.state = stHandshake
			l.write(c, l.g.hsReq[:stampSize])
		default:
			c.state = stHandshake
			l.write(c, l.g.hsReq)
		}
		if c.state == stClosed {
			return
		}
	} else if ev&unix.EPOLLOUT != 0 && len(c.out) > 0 {
		l.flush(c)
		if c.state == stClosed {
			return
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		l.readable(c, ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
	}
}

// readable reads what the socket holds. With edge-triggered epoll a short
// read means the socket is drained, unless the peer has closed too.
func (l *loop) readable(c *conn, hup bool) {
	for c.state != stClosed {
		n, err := unix.Read(int(c.fd), l.rbuf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			l.onEOF(c, err)
			return
		}
		l.onData(c, l.rbuf[:n], time.Now().UnixNano())
		if n < len(l.rbuf) && !hup {
			return
		}
	}
}

func (l *loop) onData(c *conn, b []byte, now int64) {
	switch c.state {
	case stHandshake:
		if l.g.cfg.Raw { // the echo of the first StampSize bytes
			n := min(len(b), stampSize-int(c.rawGot))
			c.rawGot += int64(n)
			if c.rawGot < stampSize {
				return
			}
			c.rawGot = 0
			l.opened(c, now)
			if n < len(b) && c.state != stClosed {
				l.onData(c, b[n:], now)
			}
			return
		}
		c.in = append(c.in, b...)
		k, err := parseHandshakeResponse(c.in)
		if err != nil {
			l.fail(c, err)
			return
		}
		if k == 0 {
			return
		}
		rest := c.in[k:]
		c.in = nil
		l.opened(c, now)
		if len(rest) > 0 && c.state != stClosed {
			l.onData(c, rest, now)
		}
	case stOpen, stClosing:
		if l.g.cfg.Raw && !l.g.cfg.RawFrames {
			l.feedRaw(c, b, now)
			return
		}
		l.fctx.c, l.fctx.now = c, now
		if err := c.fr.feed(b, &l.fctx); err != nil {
			l.fail(c, err)
		}
	}
}

// feedRaw splits the raw TCP stream into messages of the run's size.
func (l *loop) feedRaw(c *conn, b []byte, now int64) {
	size := int64(stampSize)
	if l.rp != nil {
		size = int64(l.rp.spec.Size)
	} else if len(l.payload) > 0 {
		size = int64(len(l.payload))
	}
	for len(b) > 0 && c.state != stClosed {
		n := min(int64(len(b)), size-c.rawGot)
		if int(c.rawHeadN) < stampSize {
			k := copy(c.rawHead[c.rawHeadN:], b[:n])
			c.rawHeadN += uint8(k)
		}
		c.rawGot += n
		b = b[n:]
		if c.rawGot == size {
			c.rawGot, c.rawHeadN = 0, 0
			l.onMessage(c, opBinary, c.rawHead[:], now)
		}
	}
}

func (l *loop) onEOF(c *conn, err error) {
	if c.role == roleChurn && c.state == stClosing && c.closeRecv {
		l.churnDone(c, time.Now().UnixNano())
		return
	}
	if err == nil {
		err = errors.New("server closed the connection")
	}
	l.fail(c, err)
}

func (l *loop) opened(c *conn, now int64) {
	c.state = stOpen
	if c.role == roleChurn {
		if rp := l.rp; rp != nil {
			rp.seq++
			l.sendMsg(c, c.started, rp.seq)
		}
		return
	}
	c.idx = int32(len(l.open))
	l.open = append(l.open, c)
	l.nOpen.Add(1)
	if cp := l.cp; cp != nil {
		if _, ok := cp.pending[c]; ok {
			delete(cp.pending, c)
			cp.opened++
			cp.last = now
			recordUS(cp.hist, now-c.started)
		}
	}
}

// fail closes a connection that broke and counts it.
func (l *loop) fail(c *conn, err error) {
	if c.state == stClosed {
		return
	}
	msg := err.Error()
	l.closeConn(c, false)
	if cp := l.cp; cp != nil {
		if _, ok := cp.pending[c]; ok {
			delete(cp.pending, c)
			cp.failed++
			cp.last = time.Now().UnixNano()
			if cp.firstErr == "" {
				cp.firstErr = msg
			}
			return
		}
	}
	if rp := l.rp; rp != nil {
		if c.role == roleChurn {
			delete(rp.churn, c)
			rp.churnWant++
		}
		rp.errors++
		if rp.firstErr == "" {
			rp.firstErr = msg
		}
		return
	}
	if c.role == roleHeld {
		l.dropped++
		l.lastErr = msg
	}
}

// closeConn closes the socket; with reset, it sends RST and leaves no
// TIME_WAIT behind.
func (l *loop) closeConn(c *conn, reset bool) {
	if c.state == stClosed {
		return
	}
	c.state = stClosed
	if c.idx >= 0 {
		last := l.open[len(l.open)-1]
		l.open[c.idx] = last
		last.idx = c.idx
		l.open = l.open[:len(l.open)-1]
		c.idx = -1
	}
	if reset {
		_ = unix.SetsockoptLinger(int(c.fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	l.byFD[c.fd] = nil
	unix.Close(int(c.fd))
	c.in, c.out, c.fr.ctl = nil, nil, nil
}

// write sends b, queueing what the socket does not take.
func (l *loop) write(c *conn, b []byte) {
	if len(c.out) > 0 {
		c.out = append(c.out, b...)
		return
	}
	n, err := unix.Write(int(c.fd), b)
	if err != nil {
		if err != unix.EAGAIN && err != unix.EINTR {
			l.fail(c, fmt.Errorf("write: %w", err))
			return
		}
		n = 0
	}
	if n < len(b) {
		c.out = append(c.out, b[n:]...)
	}
}

func (l *loop) flush(c *conn) {
	for len(c.out) > 0 {
		n, err := unix.Write(int(c.fd), c.out)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if err != nil {
			l.fail(c, fmt.Errorf("write: %w", err))
			return
		}
		c.out = c.out[n:]
	}
	c.out = nil
}

func (l *loop) maskKey() [4]byte {
	l.rng ^= l.rng << 13
	l.rng ^= l.rng >> 7
	l.rng ^= l.rng << 17
	return [4]byte{byte(l.rng), byte(l.rng >> 8), byte(l.rng >> 16), byte(l.rng >> 24)}
}

// sendMsg sends one message stamped with ts and seq (the phase in its top
// 16 bits).
func (l *loop) sendMsg(c *conn, ts int64, seq uint64) {
	l.wbuf = l.appendMsg(l.wbuf[:0], -1, ts, seq)
	l.write(c, l.wbuf)
}

// appendMsg appends one message of the run's size stamped with ts and seq,
// as this client sends it: a masked binary frame, or the bytes alone to a
// raw server (with RawFrames, an unmasked frame). With topic >= 0 it is a
// publish to that topic: the topic's name and a space come first.
func (l *loop) appendMsg(dst []byte, topic int, ts int64, seq uint64) []byte {
	size := stampSize
	if l.rp != nil {
		size = l.rp.spec.Size
	}
	if len(l.payload) != size {
		l.payload = make([]byte, size)
		for i := range l.payload {
			l.payload[i] = 'a' + byte(i%26)
		}
	}
	phase := uint64(0)
	if l.rp != nil {
		phase = uint64(l.rp.phase)
	}
	putStamp(l.payload, ts, phase<<48|seq&(1<<48-1))
	p := l.payload
	if topic >= 0 {
		l.tbuf = append(appendTopic(l.tbuf[:0], topic), ' ')
		l.tbuf = append(l.tbuf, p...)
		p = l.tbuf
	}
	switch cfg := &l.g.cfg; {
	case cfg.Raw && cfg.RawFrames:
		return appendServerFrame(dst, opBinary, p)
	case cfg.Raw:
		return append(dst, p...)
	}
	return appendClientFrame(dst, opBinary, p, l.maskKey())
}

// sendFrame sends one frame of opcode op carrying p.
func (l *loop) sendFrame(c *conn, op byte, p []byte) {
	l.wbuf = appendClientFrame(l.wbuf[:0], op, p, l.maskKey())
	l.write(c, l.wbuf)
}

func (l *loop) onControl(c *conn, op byte, p []byte, now int64) {
	switch op {
	case opPing:
		l.sendFrame(c, opPong, p)
	case opClose:
		if c.role == roleChurn && c.state == stClosing {
			// Our close was answered: the server closes the TCP
			// connection next (RFC 6455 7.1.1), which ends the cycle.
			c.closeRecv = true
			return
		}
		if c.state == stOpen {
			l.sendFrame(c, opClose, p)
		}
		l.fail(c, fmt.Errorf("server closed the WebSocket (%s)", closeText(p)))
	}
}

func closeText(p []byte) string {
	if len(p) < 2 {
		return "no status"
	}
	return fmt.Sprintf("%d %s", int(p[0])<<8|int(p[1]), p[2:])
}
