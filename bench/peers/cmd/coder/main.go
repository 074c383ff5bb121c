// Command coder is the benchmark's server on github.com/coder/websocket: a
// goroutine per connection with Read and Write on a context; broadcast the
// way its chat example does, with a writer goroutine and a buffered channel
// per subscriber (16 messages, as there), and topics the same way with a
// locked map of topic to subscribers (topics.go). Write sends each message
// as one frame through the connection's buffered writer, flushed once.
package main

import (
	"context"
	"net/http"
	"sync"

	"github.com/coder/websocket"

	"github.com/ws4go/ws4go/bench/peers/internal/peer"
)

var opts = &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled}

func echo(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(peer.MaxMessage)
	ctx := context.Background()
	for {
		typ, p, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, p); err != nil {
			return
		}
	}
}

type message struct {
	typ websocket.MessageType
	p   []byte
}

type subscriber struct {
	msgs chan message
	c    *websocket.Conn
}

type chat struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

func (ch *chat) serve(w http.ResponseWriter, r *http.Request) {
	serveSubscriber(w, r, func(s *subscriber) func() {
		ch.mu.Lock()
		ch.subs[s] = struct{}{}
		ch.mu.Unlock()
		return func() {
			ch.mu.Lock()
			delete(ch.subs, s)
			ch.mu.Unlock()
		}
	}, func(_ *subscriber, m message) bool {
		ch.mu.Lock()
		defer ch.mu.Unlock()
		for s := range ch.subs {
			s.offer(m)
		}
		return true
	})
}

// serveSubscriber serves a connection as the chat example does: a
// subscriber with a buffered channel of messages, written by this
// goroutine, and a reader goroutine that hands each message read to
// received (false ends the connection). join registers the subscriber and
// returns what unregisters it.
func serveSubscriber(w http.ResponseWriter, r *http.Request, join func(*subscriber) func(), received func(*subscriber, message) bool) {
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(peer.MaxMessage)
	s := &subscriber{msgs: make(chan message, 16), c: c}
	defer join(s)()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // reader
		defer cancel()
		for {
			typ, p, err := c.Read(ctx)
			if err != nil || !received(s, message{typ, p}) {
				return
			}
		}
	}()
	for {
		select {
		case m := <-s.msgs:
			if err := c.Write(ctx, m.typ, m.p); err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// offer queues m for s without waiting.
func (s *subscriber) offer(m message) {
	select {
	case s.msgs <- m:
	default: // too slow: dropped, as in the chat example
		go s.c.Close(websocket.StatusPolicyViolation, "too slow")
	}
}

func main() {
	f := peer.Parse()
	peer.ServeMetrics(f.Metrics)
	ch := &chat{subs: map[*subscriber]struct{}{}}
	ts := &topics{subs: map[string]map[*subscriber]struct{}{}}
	peer.ServeHTTP(f, peer.Routes(echo, ch.serve, ts.serve))
}
