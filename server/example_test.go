package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// inbox is the examples' client handler: it hands every message to the
// example's goroutine.
type inbox chan string

func (inbox) Opened(handler.Conn)                                  {}
func (inbox) Ponged(handler.Conn, []byte)                          {}
func (inbox) Closed(handler.Conn, handler.CloseCode, string)       {}
func (in inbox) ReceivedMessage(_ handler.Conn, m handler.Message) { in <- string(m.Data) }

// The README's "serve forever" program: a standalone echo server. It
// listens on a free port here, so that the example can talk to itself,
// where the program would call srv.ListenAndServe() with Addr set.
func ExampleServer_Serve() {
	srv := &server.Server{Handler: handler.Echo}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l) // returns ErrServerClosed after Shutdown

	in := make(inbox, 1)
	c, err := client.Dial(context.Background(), "ws://"+l.Addr().String()+"/", in, nil)
	if err != nil {
		panic(err)
	}
	_ = c.SendText("hello")
	fmt.Println(<-in)

	// Shutdown sends every connection 1001 and waits for them to close.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		panic(err)
	}
	<-c.Done()
	// Output: hello
}

// Shout answers every message in capitals.
type Shout struct{ handler.Base }

func (Shout) ReceivedMessage(c handler.Conn, m handler.Message) {
	_ = c.SendText(strings.ToUpper(string(m.Data)))
}

// The README's "embedded in net/http" program: a server.Server holds the
// settings and the connections; its HTTPHandler mounts a handler on a path
// of any net/http mux.
func ExampleServer_HTTPHandler() {
	ws := &server.Server{} // settings, connection table, Shutdown
	mux := http.NewServeMux()
	mux.Handle("/echo", ws.HTTPHandler(handler.Echo))
	mux.Handle("/shout", ws.HTTPHandler(func() handler.Handler { return Shout{} }))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	hs := &http.Server{Handler: mux}
	go hs.Serve(l)

	for _, path := range []string{"/echo", "/shout"} {
		in := make(inbox, 1)
		c, err := client.Dial(context.Background(), "ws://"+l.Addr().String()+path, in, nil)
		if err != nil {
			panic(err)
		}
		_ = c.SendText("hello")
		fmt.Println(path, <-in)
		_ = c.Close(handler.CloseNormal, "")
		<-c.Done()
	}

	// net/http forgets hijacked connections: ws's Shutdown closes the
	// WebSocket ones, hs's the rest.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ws.Shutdown(ctx)
	_ = hs.Shutdown(ctx)
	// Output:
	// /echo hello
	// /shout HELLO
}

// Broadcast sends one message to every open connection; the frame is
// encoded once.
func ExampleServer_Broadcast() {
	srv := &server.Server{Handler: handler.Echo}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)

	var inboxes []inbox
	for range 3 {
		in := make(inbox, 2)
		c, err := client.Dial(context.Background(), "ws://"+l.Addr().String()+"/", in, nil)
		if err != nil {
			panic(err)
		}
		// Once its echo is back, the connection is surely open at the
		// server: Broadcast reaches only open connections.
		_ = c.SendText("hi")
		<-in
		inboxes = append(inboxes, in)
	}

	n := srv.Broadcast(handler.Text, []byte("news"))
	fmt.Println("queued for", n)
	for _, in := range inboxes {
		fmt.Println(<-in)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	// Output:
	// queued for 3
	// news
	// news
	// news
}
