package main

import (
	"net/http"
	"sync"

	"github.com/coder/websocket"

	"github.com/ws4go/ws4go/bench/peers/internal/peer"
)

// topics serves /topics as the chat endpoint is served, each subscriber in
// the set of every topic it subscribed to: a publish offers the message to
// each subscriber of its topic.
type topics struct {
	mu   sync.Mutex
	subs map[string]map[*subscriber]struct{}
}

var okMessage = message{websocket.MessageText, []byte(peer.OK)}

func (ts *topics) serve(w http.ResponseWriter, r *http.Request) {
	// The connection's topics, and whether it has left (the reader may
	// still be at work then): both under ts.mu.
	var mine []string
	var gone bool
	serveSubscriber(w, r, func(s *subscriber) func() {
		return func() {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			gone = true
			for _, t := range mine {
				delete(ts.subs[t], s)
				if len(ts.subs[t]) == 0 {
					delete(ts.subs, t)
				}
			}
		}
	}, func(s *subscriber, m message) bool {
		if m.typ == websocket.MessageText {
			names, ok := peer.ParseSubscribe(m.p)
			if !ok {
				return false
			}
			ts.mu.Lock()
			for _, t := range names {
				if gone {
					break
				}
				set := ts.subs[t]
				if set == nil {
					set = map[*subscriber]struct{}{}
					ts.subs[t] = set
				}
				if _, ok := set[s]; !ok {
					set[s] = struct{}{}
					mine = append(mine, t)
				}
			}
			ts.mu.Unlock()
			s.offer(okMessage)
			return true
		}
		topic, payload, ok := peer.SplitPublish(m.p)
		if !ok {
			return false
		}
		m.p = payload
		ts.mu.Lock()
		defer ts.mu.Unlock()
		for sub := range ts.subs[string(topic)] {
			sub.offer(m)
		}
		return true
	})
}
