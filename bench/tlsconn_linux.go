//go:build linux

package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// tlsConn is one open WebSocket of a tlsClient: a *tls.Conn of its own,
// or an HTTP/2 stream (an *h2stream.Conn read through an aheadConn).
type tlsConn struct {
	nc  net.Conn
	fr  frameReader
	buf []byte
	// Filled by the frameHandler methods as fr parses.
	gotMsg   bool
	head     [stampSize]byte
	gotClose bool
	dead     bool // the connection failed or the server closed it
}

func (c *tlsConn) message(_ byte, head []byte, _ int64) {
	c.gotMsg = true
	copy(c.head[:], head)
}

func (c *tlsConn) control(op byte, _ []byte) {
	if op == opClose {
		c.gotClose = true
	}
}

func (c *tlsClient) upgrade(ctx context.Context, conn *tlsConn) error {
	tc := conn.nc
	if dl, ok := ctx.Deadline(); ok {
		_ = tc.SetDeadline(dl)
		defer tc.SetDeadline(time.Time{})
	}
	if _, err := tc.Write(c.hsReq); err != nil {
		return err
	}
	var resp []byte
	for {
		n, err := tc.Read(conn.buf)
		if err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		resp = append(resp, conn.buf[:n]...)
		end, err := parseHandshakeResponse(resp)
		if err != nil {
			return err
		}
		if end > 0 {
			return conn.fr.feed(resp[end:], conn)
		}
	}
}

// drop closes a connection with a reset, leaving no TIME_WAIT behind (as
// the epoll generator does); an HTTP/2 stream is reset (RST_STREAM).
func drop(nc net.Conn) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if t, ok := nc.(*net.TCPConn); ok {
		_ = t.SetLinger(0)
	}
	_ = nc.Close()
}

// alive reports whether the server has closed the connection, with a read
// that times out at once if it has not (a read timeout leaves a tls.Conn,
// and an HTTP/2 stream read through an aheadConn, usable).
func (c *tlsConn) alive() error {
	_ = c.nc.SetReadDeadline(time.Now().Add(time.Millisecond))
	defer c.nc.SetReadDeadline(time.Time{})
	for {
		n, err := c.nc.Read(c.buf)
		if err == nil {
			err = c.fr.feed(c.buf[:n], c)
		}
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			return nil
		case err != nil:
			c.dead = true
			return err
		case c.gotClose:
			c.dead = true
			return errors.New("server sent a close frame")
		}
	}
}

// echoLoop sends size-byte messages and reads their echoes, one at a time,
// until end, counting and timing those answered between from and end.
func (c *tlsConn) echoLoop(ctx context.Context, size int, from, end time.Time, h *hdrhistogram.Histogram) (int64, error) {
	var recv int64
	// A write deadline left behind would reset an HTTP/2 stream later.
	defer c.nc.SetDeadline(time.Time{})
	payload := make([]byte, size)
	var frame []byte
	for seq := uint64(0); ctx.Err() == nil; seq++ {
		now := time.Now()
		if !now.Before(end) {
			return recv, nil
		}
		putStamp(payload, now.UnixNano(), seq)
		frame = appendClientFrame(frame[:0], opBinary, payload, maskKey())
		_ = c.nc.SetDeadline(now.Add(10 * time.Second))
		if _, err := c.nc.Write(frame); err != nil {
			c.dead = true
			return recv, err
		}
		c.gotMsg = false
		for !c.gotMsg {
			n, err := c.nc.Read(c.buf)
			if err == nil {
				err = c.fr.feed(c.buf[:n], c)
			}
			if err == nil && c.gotClose {
				err = errors.New("server sent a close frame")
			}
			if err != nil {
				c.dead = true
				return recv, err
			}
		}
		if done := time.Now(); !now.Before(from) && !done.After(end) {
			ts, _ := readStamp(c.head[:])
			recordUS(h, done.UnixNano()-ts)
			recv++
		}
	}
	return recv, nil
}

// closeHandshake sends a close frame, waits for the server's (or its
// end of the connection) and drops the connection.
func (c *tlsConn) closeHandshake() error {
	defer drop(c.nc)
	_ = c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(appendClientFrame(nil, opClose, []byte{0x03, 0xe8}, maskKey())); err != nil {
		return err
	}
	for !c.gotClose {
		n, err := c.nc.Read(c.buf)
		if err != nil {
			return nil // the server closed the connection after its close frame
		}
		if err := c.fr.feed(c.buf[:n], c); err != nil {
			return err
		}
	}
	return nil
}

func maskKey() [4]byte {
	var k [4]byte
	v := rand.Uint32()
	k[0], k[1], k[2], k[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	return k
}
