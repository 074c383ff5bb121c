//go:build unix

package server

import (
	"net"
	"syscall"
)

// drain discards, without blocking, whatever input the socket holds.
func drain(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = nc.SetReadDeadline(noDeadline)
	var buf [4096]byte
	_ = rc.Read(func(fd uintptr) bool {
		for {
			if n, err := syscall.Read(int(fd), buf[:]); n <= 0 || err != nil {
				return true
			}
		}
	})
}
