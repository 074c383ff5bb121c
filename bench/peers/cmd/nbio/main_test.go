// nbio v1.6.8's accept loop hands each net.Conn to its pollers in a way
// the race detector reports (nbhttp.(*Engine).listen against
// ServerProcessor.OnComplete, inside nbio): the test runs without it.

//go:build !race

package main

import (
	"net"
	"testing"

	"github.com/lesismal/nbio/nbhttp"

	"github.com/ws4go/ws4go/bench/peers/internal/peertest"
)

func TestTopics(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := nbhttp.NewEngine(nbhttp.Config{
		Network:                 "tcp",
		Addrs:                   []string{l.Addr().String()},
		Listen:                  func(string, string) (net.Listener, error) { return l, nil },
		ReleaseWebsocketPayload: true,
		Handler:                 routes(),
	})
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	peertest.Topics(t, l.Addr().String())
}
