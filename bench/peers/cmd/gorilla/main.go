// Command gorilla is the benchmark's server on github.com/gorilla/websocket,
// written the way its examples are: a goroutine per connection reading with
// ReadMessage and writing with WriteMessage; broadcast through a hub with a
// writer goroutine and a buffered channel per client (the chat example),
// sending a PreparedMessage so the frame is encoded once; topics through a
// hub goroutine as the chat example's (topics.go). The Upgrader has
// the defaults of the examples: it reuses the HTTP server's 4 KiB read and
// write buffers for the connection's life (a WriteBufferPool, which gorilla
// offers for many mostly idle connections, is not set). WriteMessage sends
// header and payload in one write.
package main

import (
	"net/http"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/ws4go/ws4go/bench/peers/internal/peer"
)

var upgrader = websocket.Upgrader{}

func echo(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	c.SetReadLimit(peer.MaxMessage)
	for {
		mt, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(mt, msg); err != nil {
			return
		}
	}
}

// hub is the set of broadcast clients.
type hub struct {
	mu      sync.Mutex
	clients map[*client]struct{}
}

type client struct {
	c    *websocket.Conn
	send chan *websocket.PreparedMessage
}

// newClient upgrades the request to a client with a send channel of 256
// messages (nil if the upgrade failed).
func newClient(w http.ResponseWriter, r *http.Request) *client {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil
	}
	c.SetReadLimit(peer.MaxMessage)
	return &client{c: c, send: make(chan *websocket.PreparedMessage, 256)}
}

func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	cl := newClient(w, r)
	if cl == nil {
		return
	}
	c := cl.c
	h.mu.Lock()
	h.clients[cl] = struct{}{}
	h.mu.Unlock()
	go cl.writePump()
	defer h.remove(cl)
	for { // readPump
		mt, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		pm, err := websocket.NewPreparedMessage(mt, msg)
		if err != nil {
			return
		}
		h.broadcast(pm)
	}
}

// writePump writes what the client's send channel brings until it is
// closed, then closes the connection.
func (cl *client) writePump() {
	defer cl.c.Close()
	for pm := range cl.send {
		if err := cl.c.WritePreparedMessage(pm); err != nil {
			return
		}
	}
}

func (h *hub) remove(cl *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[cl]; ok {
		delete(h.clients, cl)
		close(cl.send)
	}
}

func (h *hub) broadcast(pm *websocket.PreparedMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for cl := range h.clients {
		select {
		case cl.send <- pm:
		default: // too slow: drop it, as the chat example does
			delete(h.clients, cl)
			close(cl.send)
		}
	}
}

func main() {
	f := peer.Parse()
	peer.ServeMetrics(f.Metrics)
	h := &hub{clients: map[*client]struct{}{}}
	peer.ServeHTTP(f, peer.Routes(echo, h.serve, newTopicsHub().serve))
}
