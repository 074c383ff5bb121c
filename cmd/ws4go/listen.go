package main

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// listen listens on a TCP host:port or, for unix:/path, on a Unix socket,
// and returns the address to show (host:port or unix:/path).
func listen(addr string) (net.Listener, string, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, "", err
		}
		return l, l.Addr().String(), nil
	}
	l, err := net.Listen("unix", path)
	if err != nil && errors.Is(err, syscall.EADDRINUSE) && staleSocket(path) {
		// Left behind by a process that did not exit cleanly.
		if os.Remove(path) == nil {
			l, err = net.Listen("unix", path)
		}
	}
	if err != nil {
		return nil, "", err
	}
	// The socket file is removed when the listener closes.
	return l, "unix:" + path, nil
}

// staleSocket reports whether path is a Unix socket nobody listens on.
func staleSocket(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return false
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// hostOf is the authority of a URL for a listening address.
func hostOf(addr string) string {
	if strings.HasPrefix(addr, "unix:") {
		return "localhost"
	}
	return addr
}
