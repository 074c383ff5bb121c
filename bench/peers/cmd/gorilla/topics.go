package main

import (
	"net/http"

	"github.com/gorilla/websocket"

	"github.com/ws4go/ws4go/bench/peers/internal/peer"
)

// topicsHub serves /topics the way gorilla's chat example runs its Hub:
// one goroutine owns every subscription and takes the clients' requests
// from channels; a publish becomes one PreparedMessage (the frame encoded
// once), handed to each subscriber's write pump through its buffered send
// channel, and a subscriber whose channel is full is dropped, as the
// example drops a slow client.
type topicsHub struct {
	register   chan *client
	unregister chan *client
	subscribe  chan subscription
	publish    chan publication

	clients map[*client][]string            // each client's topics
	topics  map[string]map[*client]struct{} // each topic's subscribers
}

type subscription struct {
	cl     *client
	topics []string
}

type publication struct {
	topic string
	pm    *websocket.PreparedMessage
}

// okMsg answers a subscribe request once the hub holds it.
var okMsg, _ = websocket.NewPreparedMessage(websocket.TextMessage, []byte(peer.OK))

func newTopicsHub() *topicsHub {
	h := &topicsHub{
		register:   make(chan *client),
		unregister: make(chan *client),
		subscribe:  make(chan subscription),
		publish:    make(chan publication, 256),
		clients:    map[*client][]string{},
		topics:     map[string]map[*client]struct{}{},
	}
	go h.run()
	return h
}

func (h *topicsHub) run() {
	for {
		select {
		case cl := <-h.register:
			h.clients[cl] = nil
		case cl := <-h.unregister:
			h.drop(cl)
		case s := <-h.subscribe:
			if _, ok := h.clients[s.cl]; !ok {
				continue // dropped already
			}
			for _, t := range s.topics {
				subs := h.topics[t]
				if subs == nil {
					subs = map[*client]struct{}{}
					h.topics[t] = subs
				}
				if _, ok := subs[s.cl]; !ok {
					subs[s.cl] = struct{}{}
					h.clients[s.cl] = append(h.clients[s.cl], t)
				}
			}
			h.send(s.cl, okMsg)
		case p := <-h.publish:
			for cl := range h.topics[p.topic] {
				h.send(cl, p.pm)
			}
		}
	}
}

func (h *topicsHub) send(cl *client, pm *websocket.PreparedMessage) {
	select {
	case cl.send <- pm:
	default:
		h.drop(cl)
	}
}

// drop forgets cl and closes its send channel, which ends its write pump.
func (h *topicsHub) drop(cl *client) {
	topics, ok := h.clients[cl]
	if !ok {
		return
	}
	for _, t := range topics {
		delete(h.topics[t], cl)
		if len(h.topics[t]) == 0 {
			delete(h.topics, t)
		}
	}
	delete(h.clients, cl)
	close(cl.send)
}

func (h *topicsHub) serve(w http.ResponseWriter, r *http.Request) {
	cl := newClient(w, r)
	if cl == nil {
		return
	}
	c := cl.c
	h.register <- cl
	go cl.writePump()
	defer func() { h.unregister <- cl }()
	for { // readPump
		mt, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if mt == websocket.TextMessage {
			topics, ok := peer.ParseSubscribe(msg)
			if !ok {
				return
			}
			h.subscribe <- subscription{cl, topics}
			continue
		}
		topic, payload, ok := peer.SplitPublish(msg)
		if !ok {
			return
		}
		pm, err := websocket.NewPreparedMessage(websocket.BinaryMessage, payload)
		if err != nil {
			return
		}
		h.publish <- publication{string(topic), pm}
	}
}
