//go:build !linux

package bench

import (
	"context"
	"errors"
)

// generator is the load generator; it runs on Linux only (epoll).
type generator struct{}

var errNotLinux = errors.New("bench: the load generator needs Linux (epoll)")

// newGenerator fails: the load generator needs Linux.
func newGenerator(cfg clientConfig) (*generator, error) { return nil, errNotLinux }

// Connect fails: the load generator needs Linux.
func (*generator) Connect(context.Context, connectSpec) (connectResult, error) {
	return connectResult{}, errNotLinux
}

// Run fails: the load generator needs Linux.
func (*generator) Run(context.Context, runSpec) (runResult, error) { return runResult{}, errNotLinux }

// Close does nothing.
func (*generator) Close() error { return nil }

// Opened is 0.
func (*generator) Opened() int64 { return 0 }

// tlsClient is the wss:// load generator; it runs on Linux only.
type tlsClient struct{ generator }

// newTLSClient fails: the load generator needs Linux.
func newTLSClient(loadTarget, []string, int) (*tlsClient, error) { return nil, errNotLinux }

// Negotiated is "".
func (*tlsClient) Negotiated() string { return "" }

// tcpConns is 0.
func (*tlsClient) tcpConns() int { return 0 }
