//go:build unix

package blocking

import (
	"errors"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// drain discards, without blocking, whatever input the socket holds.
func drain(nc net.Conn) {
	rc := rawConnOf(nc)
	if rc == nil {
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	var buf [4096]byte
	_ = rc.Read(func(fd uintptr) bool {
		for {
			if n, err := syscall.Read(int(fd), buf[:]); n <= 0 || err != nil {
				return true
			}
		}
	})
}

// rawConnOf returns the raw connection of a socket, or nil (TLS, an HTTP/2
// stream).
func rawConnOf(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// tryWritev writes what the socket takes now. If wait, it first waits (in
// the runtime's poller, until the socket's write deadline) until the socket
// takes at least one byte; else it does not wait.
func tryWritev(rc syscall.RawConn, bufs [][]byte, wait bool) (int, error) {
	var n int
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = unix.Writev(int(fd), bufs)
			if !errors.Is(werr, unix.EINTR) {
				return !wait || !errors.Is(werr, unix.EAGAIN)
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if errors.Is(werr, unix.EAGAIN) {
		return 0, nil
	}
	if n < 0 {
		n = 0
	}
	return n, werr
}

// waitReadable waits, until the socket's read deadline, for input to read
// (or an end of input, or an error): it peeks at a byte without taking it.
func waitReadable(rc syscall.RawConn) error {
	var b [1]byte
	return rc.Read(func(fd uintptr) bool {
		for {
			_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			if !errors.Is(err, unix.EINTR) {
				return !errors.Is(err, unix.EAGAIN)
			}
		}
	})
}
