//go:build !linux

package netpoll

import (
	"crypto/tls"
	"errors"
	"net"

	"github.com/ws4go/ws4go/internal/wsconn"
)

// errNotLinux: the engine is built on epoll.
var errNotLinux = errors.New("ws4go netpoll: the engine needs Linux (epoll)")

// Engine is not available on this system; New always fails, and the server
// uses its goroutine engine instead.
type Engine struct{}

// New fails: the engine needs Linux.
func New(Config) (*Engine, error) { return nil, errNotLinux }

// CanServe reports false.
func CanServe(net.Listener) bool { return false }

// Stats reports nothing.
func (*Engine) Stats() (busy, queued int) { return 0, 0 }

// DropHandshakes does nothing.
func (*Engine) DropHandshakes() {}

// Close does nothing.
func (*Engine) Close() {}

// ServeListener fails.
func (*Engine) ServeListener(net.Listener) error { return errNotLinux }

// StopListener does nothing.
func (*Engine) StopListener(net.Listener) {}

// Adopt fails.
func (*Engine) Adopt(net.Conn, func(wsconn.Transport) *wsconn.Conn, []byte) error {
	return errNotLinux
}

// TLSServer returns tls.Server(nc, cfg).
func TLSServer(nc net.Conn, cfg *tls.Config) *tls.Conn { return tls.Server(nc, cfg) }

// AdoptTLS fails.
func (*Engine) AdoptTLS(*tls.Conn, func(wsconn.Transport) *wsconn.Conn, []byte) error {
	return errNotLinux
}
