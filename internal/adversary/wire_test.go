//go:build linux

package adversary

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// WebSocket opcodes and close codes the scenarios use.
const (
	advOpCont   = 0x0
	advOpText   = 0x1
	advOpBinary = 0x2
	advOpClose  = 0x8
	advOpPing   = 0x9
	advOpPong   = 0xA
)

// advConn is a raw client connection past its handshake: the scenarios
// write frames by hand, valid or not.
type advConn struct {
	net.Conn
	br *bufio.Reader
}

// advDialOpts shape a dial.
type advDialOpts struct {
	// compression offers permessage-deflate without context takeover.
	compression bool
	// bufs, if positive, sets SO_RCVBUF and SO_SNDBUF before connecting,
	// so that a client that stops reading stops the server quickly.
	bufs int
	// tls, if set, speaks TLS with this configuration (wss://).
	tls *tls.Config
}

// advRequest is the opening handshake for addr.
func advRequest(addr string, compression bool) string {
	ext := ""
	if compression {
		ext = "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n"
	}
	return "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + ext + "\r\n"
}

// advDialTCP connects to addr, with small socket buffers if asked.
func advDialTCP(addr string, bufs int) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if bufs > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, bufs)
				if serr == nil {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, bufs)
				}
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	return d.Dial("tcp", addr)
}

// advDial opens a WebSocket connection to addr.
func advDial(addr string, o advDialOpts) (*advConn, error) {
	nc, err := advDialTCP(addr, o.bufs)
	if err != nil {
		return nil, err
	}
	if o.tls != nil {
		nc = tls.Client(nc, o.tls)
	}
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, advRequest(addr, o.compression)); err != nil {
		nc.Close()
		return nil, err
	}
	c := &advConn{Conn: nc, br: bufio.NewReaderSize(nc, 512)}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, fmt.Errorf("handshake: status %d", resp.StatusCode)
	}
	if o.compression && !strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		nc.Close()
		return nil, errors.New("handshake: permessage-deflate not negotiated")
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// advDialMany opens n connections with a few dialers in parallel (the
// listen backlog and the test process stay calm) and closes them all when
// the test ends.
func advDialMany(t *testing.T, addr string, n int, o advDialOpts) []*advConn {
	t.Helper()
	conns := make([]*advConn, n)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := advDial(addr, o)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("connection %d: %w", i, err)
					}
					mu.Unlock()
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	if first != nil {
		t.Fatal(first)
	}
	return conns
}

// advMaskKey masks every client frame; a fixed key keeps runs repeatable.
var advMaskKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// advHeader is a masked frame header announcing length payload bytes.
func advHeader(op byte, fin, rsv1 bool, length int) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	if rsv1 {
		b0 |= 0x40
	}
	h := []byte{b0, 0}
	switch {
	case length < 126:
		h[1] = byte(length)
	case length <= 0xffff:
		h[1] = 126
		h = binary.BigEndian.AppendUint16(h, uint16(length))
	default:
		h[1] = 127
		h = binary.BigEndian.AppendUint64(h, uint64(length))
	}
	h[1] |= 0x80
	return append(h, advMaskKey[:]...)
}

// advMasked is payload masked as the bytes that follow an advHeader whose
// payload starts at offset off.
func advMasked(payload []byte, off int) []byte {
	out := make([]byte, len(payload))
	for i, b := range payload {
		out[i] = b ^ advMaskKey[(off+i)%4]
	}
	return out
}

// advFrame is a whole masked client frame.
func advFrame(op byte, fin bool, payload []byte) []byte {
	return append(advHeader(op, fin, false, len(payload)), advMasked(payload, 0)...)
}

// advCloseFrame is a client close frame with a code.
func advCloseFrame(code int) []byte {
	return advFrame(advOpClose, true, binary.BigEndian.AppendUint16(nil, uint16(code)))
}

// advServerFrame is a frame read from the server.
type advServerFrame struct {
	fin, rsv1 bool
	op        byte
	payload   []byte
}

// advMaxRead bounds the payload readFrame accepts, against a server gone
// wrong.
const advMaxRead = 64 << 20

// readFrame reads one frame from the server (unmasked, as RFC 6455 wants;
// a masked one is an error).
func (c *advConn) readFrame() (advServerFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return advServerFrame{}, err
	}
	f := advServerFrame{fin: h[0]&0x80 != 0, rsv1: h[0]&0x40 != 0, op: h[0] & 0x0f}
	if h[1]&0x80 != 0 {
		return f, errors.New("masked server frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > advMaxRead {
		return f, fmt.Errorf("server frame of %d bytes", n)
	}
	f.payload = make([]byte, n)
	_, err := io.ReadFull(c.br, f.payload)
	return f, err
}

// closeCode is the code of a close frame's payload (1005: none).
func (f advServerFrame) closeCode() int {
	if len(f.payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(f.payload))
}

// advReadClose reads frames until the server's close frame and returns its
// code and the data frames and pongs seen before it.
func (c *advConn) readClose(within time.Duration) (code, data, pongs int, err error) {
	_ = c.SetReadDeadline(time.Now().Add(within))
	defer c.SetReadDeadline(time.Time{})
	for {
		f, err := c.readFrame()
		if err != nil {
			return 0, data, pongs, err
		}
		switch f.op {
		case advOpClose:
			return f.closeCode(), data, pongs, nil
		case advOpPong:
			pongs++
		case advOpText, advOpBinary, advOpCont:
			data++
		}
	}
}

// closedTCP reads until the server closes the TCP connection (EOF or a
// reset) and reports whether it did within the time given.
func (c *advConn) closedTCP(within time.Duration) (bool, error) {
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, err
	}
	return true, err
}

// echo sends a text message and reads its echo, skipping control frames.
func (c *advConn) echo(msg []byte, within time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(within))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(advFrame(advOpText, true, msg)); err != nil {
		return err
	}
	for {
		f, err := c.readFrame()
		if err != nil {
			return err
		}
		switch f.op {
		case advOpText:
			if string(f.payload) != string(msg) {
				return fmt.Errorf("echo %q, want %q", f.payload, msg)
			}
			return nil
		case advOpClose:
			return fmt.Errorf("close %d instead of the echo", f.closeCode())
		}
	}
}

// abort closes the connection with a reset (SO_LINGER 0) instead of a FIN.
func (c *advConn) abort() error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		if err := tc.SetLinger(0); err != nil {
			return err
		}
	}
	return c.Close()
}
