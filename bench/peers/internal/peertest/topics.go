// Package peertest checks that a peer server serves the benchmark
// protocol (see package peer), with gorilla/websocket's client.
package peertest

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ws4go/ws4go/bench/peers/internal/peer"
)

// Topics checks the server's /topics at addr (host:port): a subscriber
// gets what is published to its topics, in order, and nothing else; a
// publisher that did not subscribe gets nothing.
func Topics(t *testing.T, addr string) {
	t.Helper()
	dial := func(topics ...string) *websocket.Conn {
		t.Helper()
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/topics", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if len(topics) > 0 {
			if err := c.WriteMessage(websocket.TextMessage, []byte("sub "+strings.Join(topics, " "))); err != nil {
				t.Fatal(err)
			}
			if mt, p, err := c.ReadMessage(); err != nil || mt != websocket.TextMessage || string(p) != peer.OK {
				t.Fatalf("subscribing to %q: answered %d %q %v", topics, mt, p, err)
			}
		}
		return c
	}
	a, b, c := dial("t1", "t2", "t1"), dial("t2"), dial("t3")
	pub := dial()
	for _, m := range []string{"t2 one", "t1 two", "t9 lost", "t2 three", "t3 four", "t1 five"} {
		if err := pub.WriteMessage(websocket.BinaryMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(name string, c *websocket.Conn, want ...string) {
		t.Helper()
		for _, w := range want {
			mt, p, err := c.ReadMessage()
			if err != nil || mt != websocket.BinaryMessage || string(p) != w {
				t.Fatalf("%s: got %d %q %v, want binary %q", name, mt, p, err, w)
			}
		}
	}
	expect("a (t1, t2)", a, "one", "two", "three", "five")
	expect("b (t2)", b, "one", "three")
	expect("c (t3)", c, "four")
	// The publisher, subscribed to nothing, gets nothing: the next
	// thing it reads is what it is sent once it has subscribed.
	if err := pub.WriteMessage(websocket.TextMessage, []byte("sub t4")); err != nil {
		t.Fatal(err)
	}
	if mt, p, err := pub.ReadMessage(); err != nil || mt != websocket.TextMessage || string(p) != peer.OK {
		t.Fatalf("publisher got %d %q %v before its subscription's answer", mt, p, err)
	}
}
