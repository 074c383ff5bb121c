package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ws4go/ws4go/bench/peers/internal/peer"
	"github.com/ws4go/ws4go/bench/peers/internal/peertest"
)

func TestTopics(t *testing.T) {
	h := &hub{clients: map[*client]struct{}{}}
	srv := httptest.NewServer(peer.Routes(echo, h.serve, newTopicsHub().serve))
	defer srv.Close()
	peertest.Topics(t, strings.TrimPrefix(srv.URL, "http://"))
}
