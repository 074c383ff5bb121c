//go:build !unix

package blocking

import (
	"net"
	"syscall"
)

// drain does nothing where sockets cannot be read without blocking here.
func drain(net.Conn) {}

func rawConnOf(net.Conn) syscall.RawConn { return nil }

func tryWritev(syscall.RawConn, [][]byte, bool) (int, error) { panic("unreachable") }

func waitReadable(syscall.RawConn) error { panic("unreachable") }
