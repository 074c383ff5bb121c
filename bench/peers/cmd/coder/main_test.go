package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ws4go/ws4go/bench/peers/internal/peer"
	"github.com/ws4go/ws4go/bench/peers/internal/peertest"
)

func TestTopics(t *testing.T) {
	ch := &chat{subs: map[*subscriber]struct{}{}}
	ts := &topics{subs: map[string]map[*subscriber]struct{}{}}
	srv := httptest.NewServer(peer.Routes(echo, ch.serve, ts.serve))
	defer srv.Close()
	peertest.Topics(t, strings.TrimPrefix(srv.URL, "http://"))
}
