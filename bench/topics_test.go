package bench

import (
	"testing"
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
