package bench

import (
	"strings"
	"sync"
	"testing"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// TestTopicsOf: connection i's topics are distinct, and consecutive
// connections spread the subscriptions evenly over the topics.
func TestTopicsOf(t *testing.T) {
	for _, tc := range []struct{ conns, perConn, topics int }{{15000, 10, 1000}, {1000, 10, 1000}, {40, 3, 20}, {7, 5, 3}} {
		count := make([]int, tc.topics)
		for i := range tc.conns {
			seen := map[int]bool{}
			for j := range min(tc.perConn, tc.topics) {
				tp := topicsOf(i, j, tc.perConn, tc.topics)
				if seen[tp] || tp < 0 || tp >= tc.topics {
					t.Fatalf("%+v: connection %d: topic %d twice or out of range", tc, i, tp)
				}
				seen[tp] = true
				count[tp]++
			}
		}
		lo, hi := tc.conns, 0
		for _, n := range count {
			lo, hi = min(lo, n), max(hi, n)
		}
		if hi-lo > 1 {
			t.Errorf("%+v: %d to %d subscribers a topic", tc, lo, hi)
		}
		if tc.conns == 15000 && (lo != 150 || hi != 150) {
			t.Errorf("the scenario's 15,000 connections: %d to %d subscribers a topic, want 150", lo, hi)
		}
	}
}

func TestTopicsRequests(t *testing.T) {
	req := appendSubscribe(nil, 7, 3, 20)
	if string(req) != "sub t1 t2 t3" {
		t.Fatalf("subscribe request %q", req)
	}
	topics, ok := parseSubscribe(req)
	if !ok || len(topics) != 3 || string(topics[2]) != "t3" {
		t.Fatalf("parsed %q %v", topics, ok)
	}
	for _, bad := range []string{"sub", "sub ", "subscribe t1", "t1 payload", ""} {
		if topics, ok := parseSubscribe([]byte(bad)); ok {
			t.Errorf("parseSubscribe(%q) = %q, true", bad, topics)
		}
	}
	topic, payload, ok := splitPublish([]byte("t42 \x00\x01 rest"))
	if !ok || string(topic) != "t42" || string(payload) != "\x00\x01 rest" {
		t.Fatalf("splitPublish: %q %q %v", topic, payload, ok)
	}
	for _, bad := range []string{"t42", " payload", ""} {
		if _, _, ok := splitPublish([]byte(bad)); ok {
			t.Errorf("splitPublish(%q) ok", bad)
		}
	}
}

// The tests' ws4go servers serve /topics with testTopics until ws4go's own
// topics handler is built in (topics_ws4go.go), which they then use.
func init() {
	if ws4goTopics == nil {
		ws4goTopics = func(*server.Server) handler.Factory {
			ts := &testTopics{subs: map[string]map[handler.Conn]struct{}{}}
			return func() handler.Handler { return &testTopicsConn{ts: ts} }
		}
	}
}

// testTopics is the benchmark's topics protocol on handler.Conn alone: a
// locked map of topic to subscribers, each publish sent to each.
type testTopics struct {
	mu   sync.Mutex
	subs map[string]map[handler.Conn]struct{}
}

type testTopicsConn struct {
	handler.Base
	ts   *testTopics
	mine []string
}

func (h *testTopicsConn) ReceivedMessage(c handler.Conn, m handler.Message) {
	ts := h.ts
	if topics, ok := parseSubscribe(m.Data); ok && m.Type == handler.Text {
		ts.mu.Lock()
		for _, t := range topics {
			name := string(t)
			if ts.subs[name] == nil {
				ts.subs[name] = map[handler.Conn]struct{}{}
			}
			ts.subs[name][c] = struct{}{}
			h.mine = append(h.mine, name)
		}
		ts.mu.Unlock()
		_ = c.SendText(topicsOK)
		return
	}
	topic, payload, ok := splitPublish(m.Data)
	if !ok || m.Type != handler.Binary {
		_ = c.Close(handler.ClosePolicyViolation, "bad request: "+strings.ToValidUTF8(string(m.Data[:min(len(m.Data), 20)]), "?"))
		return
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for s := range ts.subs[string(topic)] {
		_ = s.Send(handler.Binary, payload)
	}
}

func (h *testTopicsConn) Closed(c handler.Conn, _ handler.CloseCode, _ string) {
	h.ts.mu.Lock()
	defer h.ts.mu.Unlock()
	for _, t := range h.mine {
		delete(h.ts.subs[t], c)
	}
}
