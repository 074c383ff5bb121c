// Command nbio is the benchmark's server on github.com/lesismal/nbio, as its
// websocket examples are: the nbhttp engine with a websocket Upgrader whose
// OnMessage echoes (nbio's WriteMessage queues the frame, header and
// payload in one buffer, without blocking); broadcast writes the message to
// every connection of a locked set, a publish to every subscriber of its
// topic in a locked map (topics.go).
//
// -iomod picks the engine's IOMod: nonblocking (nbio's default: every
// connection on its epoll pollers and goroutine pool) or mixed (nbio's
// README suggests it when there are not too many connections: the first
// MaxBlockingOnline, 10,000 by default, get a goroutine each, reading with
// blocking calls and writing from a goroutine of their own; the rest go to
// the pollers). The benchmark runs both, as nbio and nbio-mixed.
package main

import (
	"flag"
	"log"
	"net/http"
	"sync"
	"time"

	"github.com/lesismal/llib/std/crypto/tls"
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
	iomod := flag.String("iomod", "nonblocking", "nbhttp IOMod: nonblocking or mixed")
	f := peer.Parse()
	mod := map[string]int{"nonblocking": nbhttp.IOModNonBlocking, "mixed": nbhttp.IOModMixed}
	iom, ok := mod[*iomod]
	if !ok {
		log.Fatalf("-iomod %q: want nonblocking or mixed", *iomod)
	}
	peer.ServeMetrics(f.Metrics)
	conf := nbhttp.Config{
		Network:                 "tcp",
		Addrs:                   []string{f.Addr},
		MaxLoad:                 1 << 20,
		ReleaseWebsocketPayload: true,
		KeepaliveTime:           time.Hour,
		IOMod:                   iom,
		Handler:                 routes(),
	}
	if f.TLSCert != "" {
		// nbio's own non-blocking TLS engine (its fork of crypto/tls).
		cert, err := tls.LoadX509KeyPair(f.TLSCert, f.TLSKey)
		if err != nil {
			log.Fatal(err)
		}
		conf.Addrs, conf.AddrsTLS = nil, []string{f.Addr}
		conf.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	}
	engine := nbhttp.NewEngine(conf)
	if err := engine.Start(); err != nil {
		log.Fatal(err)
	}
	peer.Wait()
	engine.Stop()
}

// routes serves the benchmark's endpoints with nbio's upgraders.
func routes() *http.ServeMux {
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

	tops := newTopics()
	return peer.Routes(
		func(w http.ResponseWriter, r *http.Request) { _, _ = echo.Upgrade(w, r, nil) },
		func(w http.ResponseWriter, r *http.Request) { _, _ = bcast.Upgrade(w, r, nil) },
		func(w http.ResponseWriter, r *http.Request) { _, _ = tops.Upgrade(w, r, nil) },
	)
}
