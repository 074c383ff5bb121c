//go:build !linux

package bench

import (
	"context"
	"errors"
)

// Generator is the load generator; it runs on Linux only (epoll).
type Generator struct{}

var errNotLinux = errors.New("bench: the load generator needs Linux (epoll)")

// NewGenerator fails: the load generator needs Linux.
func NewGenerator(cfg ClientConfig) (*Generator, error) { return nil, errNotLinux }

// Connect fails: the load generator needs Linux.
func (*Generator) Connect(context.Context, ConnectSpec) (ConnectResult, error) {
	return ConnectResult{}, errNotLinux
}

// Run fails: the load generator needs Linux.
func (*Generator) Run(context.Context, RunSpec) (RunResult, error) { return RunResult{}, errNotLinux }

// Close does nothing.
func (*Generator) Close() error { return nil }

// Opened is 0.
func (*Generator) Opened() int64 { return 0 }
