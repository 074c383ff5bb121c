// Command nbio is the benchmark's server on github.com/lesismal/nbio: its
// nbhttp engine (epoll, a small pool of goroutines) with a websocket
// Upgrader whose OnMessage echoes; broadcast writes the message to every
// connection of a locked set.
package main

import (
	"log"
	"net/http"
	"sync"
	"time"

	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/ws4go/ws4go/bench/peers/internal/peer"
)

func newUpgrader() *websocket.Upgrader {
	u := websocket.NewUpgrader()
	u.KeepaliveTime = 0 // no read deadline: idle connections stay
	u.MessageLengthLimit = peer.MaxMessage
	return u
}

func main() {
	f := peer.Parse()
	peer.ServeMetrics(f.Metrics)

	echo := newUpgrader()
	echo.OnMessage(func(c *websocket.Conn, mt websocket.MessageType, data []byte) {
		_ = c.WriteMessage(mt, data)
	})

	var mu sync.RWMutex
	conns := map[*websocket.Conn]struct{}{}
	bcast := newUpgrader()
	bcast.OnOpen(func(c *websocket.Conn) {
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
	})
	bcast.OnClose(func(c *websocket.Conn, err error) {
		mu.Lock()
		delete(conns, c)
		mu.Unlock()
	})
	bcast.OnMessage(func(_ *websocket.Conn, mt websocket.MessageType, data []byte) {
		mu.RLock()
		defer mu.RUnlock()
		for c := range conns {
			_ = c.WriteMessage(mt, data)
		}
	})

	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) { _, _ = echo.Upgrade(w, r, nil) })
	mux.HandleFunc("/broadcast", func(w http.ResponseWriter, r *http.Request) { _, _ = bcast.Upgrade(w, r, nil) })

	engine := nbhttp.NewEngine(nbhttp.Config{
		Network:                 "tcp",
		Addrs:                   []string{f.Addr},
		MaxLoad:                 1 << 20,
		ReleaseWebsocketPayload: true,
		KeepaliveTime:           time.Hour,
		Handler:                 mux,
	})
	if err := engine.Start(); err != nil {
		log.Fatal(err)
	}
	peer.Wait()
	engine.Stop()
}
