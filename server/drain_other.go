//go:build !unix

package server

import "net"

// drain does nothing where sockets cannot be read without blocking here.
func drain(net.Conn) {}
