package main

import (
	"sync"

	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/ws4go/ws4go/bench/peers/internal/peer"
)

// topics serves /topics as the broadcast endpoint does, with a map of
// topic to subscribers under a lock: a publish writes the message to each
// subscriber (WriteMessage queues the frame without blocking) from the
// goroutine of nbio's that read it.
type topics struct {
	mu     sync.RWMutex
	subs   map[string]map[*websocket.Conn]struct{}
	topics map[*websocket.Conn][]string // each connection's topics
}

func newTopics() *websocket.Upgrader {
	ts := &topics{subs: map[string]map[*websocket.Conn]struct{}{}, topics: map[*websocket.Conn][]string{}}
	u := newUpgrader()
	u.OnMessage(ts.message)
	u.OnClose(func(c *websocket.Conn, _ error) { ts.remove(c) })
	return u
}

func (ts *topics) message(c *websocket.Conn, mt websocket.MessageType, data []byte) {
	if mt == websocket.TextMessage {
		names, ok := peer.ParseSubscribe(data)
		if !ok {
			c.Close()
			return
		}
		ts.mu.Lock()
		for _, t := range names {
			s := ts.subs[t]
			if s == nil {
				s = map[*websocket.Conn]struct{}{}
				ts.subs[t] = s
			}
			if _, ok := s[c]; !ok {
				s[c] = struct{}{}
				ts.topics[c] = append(ts.topics[c], t)
			}
		}
		ts.mu.Unlock()
		_ = c.WriteMessage(websocket.TextMessage, []byte(peer.OK))
		return
	}
	topic, payload, ok := peer.SplitPublish(data)
	if !ok {
		c.Close()
		return
	}
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	for s := range ts.subs[string(topic)] {
		_ = s.WriteMessage(websocket.BinaryMessage, payload)
	}
}

func (ts *topics) remove(c *websocket.Conn) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, t := range ts.topics[c] {
		delete(ts.subs[t], c)
		if len(ts.subs[t]) == 0 {
			delete(ts.subs, t)
		}
	}
	delete(ts.topics, c)
}
