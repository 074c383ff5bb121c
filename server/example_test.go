package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
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
	srv := &server.Server{NewHandler: handler.NewEcho}
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
	mux.Handle("/echo", ws.HTTPHandler(handler.NewEcho))
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

// session is the handler of one user's connection; the application reaches
// it through Notify.
type session struct {
	handler.Base
	user string
	mu   sync.Mutex
	conn handler.Conn // once open
}

func (s *session) Opened(c handler.Conn) {
	s.mu.Lock()
	s.conn = c
	s.mu.Unlock()
	_ = c.SendText("welcome, " + s.user)
}

// Notify sends msg to the session's user.
func (s *session) Notify(msg string) error {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		return handler.ErrClosed
	}
	return c.SendText(msg)
}

// The handler instance of a connection, in the code that served its HTTP
// request (ws4py's cherrypy.request.ws_handler): make the handler in your
// http.Handler, from the request, and give HTTPHandler a factory that
// returns it. The factory runs once the handshake is accepted, just before
// Opened, so it is where the instance is known to have a connection: here
// it files the handler under its user, for the application to reach later.
// (Over HTTP/1.1 ServeHTTP may return before the connection ends, or not,
// depending on the engine; do not wait for its return.)
//
// The accept hook does the same on every path, the standalone listener's
// included: for an h made from the hook's request, return
// Accepted{NewHandler: func() handler.Handler { return h }}.
func ExampleServer_HTTPHandler_handlerInstance() {
	ws := &server.Server{}
	var mu sync.Mutex
	sessions := map[string]*session{} // a real application removes them in Closed
	mux := http.NewServeMux()
	mux.HandleFunc("/chat", func(w http.ResponseWriter, r *http.Request) {
		h := &session{user: r.URL.Query().Get("user")}
		ws.HTTPHandler(func() handler.Handler {
			mu.Lock()
			sessions[h.user] = h
			mu.Unlock()
			return h
		}).ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	hs := &http.Server{Handler: mux}
	go hs.Serve(l)

	in := make(inbox, 2)
	c, err := client.Dial(context.Background(), "ws://"+l.Addr().String()+"/chat?user=ada", in, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(<-in)
	mu.Lock()
	h := sessions["ada"]
	mu.Unlock()
	_ = h.Notify("a message for " + h.user)
	fmt.Println(<-in)
	_ = c.Close(handler.CloseNormal, "")
	<-c.Done()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ws.Shutdown(ctx)
	_ = hs.Shutdown(ctx)
	// Output:
	// welcome, ada
	// a message for ada
}

// Broadcast sends one message to every open connection; the frame is
// encoded once.
func ExampleServer_Broadcast() {
	srv := &server.Server{NewHandler: handler.NewEcho}
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

// greeter greets its user by the name the accept hook attached to the
// connection.
type greeter struct{ handler.Base }

func (greeter) Opened(c handler.Conn) { _ = c.SendText("hello, " + c.Data().(string)) }

// An accept hook authenticates each handshake before the 101: here with a
// bearer token in the Authorization header (a cookie or a query parameter
// work the same way, from r). A refusal gets the hook's own status, header
// and body; an accepted connection carries the hook's per-connection value
// (Data) from Opened on. The hook runs on every path, standalone or
// http.Handler, on either engine.
func ExampleServer_accept() {
	users := map[string]string{"t0k3n": "ada"} // token -> user
	srv := &server.Server{
		NewHandler: func() handler.Handler { return greeter{} },
		Accept: func(r *http.Request) (server.Accepted, error) {
			user, ok := users[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
			if !ok {
				return server.Accepted{}, &server.Refusal{
					Status: http.StatusUnauthorized,
					Header: http.Header{"Www-Authenticate": {`Bearer realm="chat"`}},
					Body:   "unknown token\n",
				}
			}
			return server.Accepted{Data: user}, nil
		},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	url := "ws://" + l.Addr().String() + "/"

	for _, token := range []string{"wrong", "t0k3n"} {
		in := make(inbox, 1)
		opts := &client.Options{Header: http.Header{"Authorization": {"Bearer " + token}}}
		c, err := client.Dial(context.Background(), url, in, opts)
		var he *client.HandshakeError
		if errors.As(err, &he) {
			fmt.Println(he.StatusCode, he.Header.Get("WWW-Authenticate"), strings.TrimSpace(string(he.Body)))
			continue
		}
		if err != nil {
			panic(err)
		}
		fmt.Println(<-in)
		_ = c.Close(handler.CloseNormal, "")
		<-c.Done()
	}
	// Output:
	// 401 Bearer realm="chat" unknown token
	// hello, ada
}

// WebSocket over HTTP/2 (RFC 8441) on the standalone listener: offer "h2"
// by ALPN, and turn on net/http's extended CONNECT with a blank import of
// github.com/ws4go/ws4go/xconnect in package main. Browsers that load a
// page from this server then open their WebSockets as streams of the
// page's connection; HTTP/1.1 clients upgrade as before.
func ExampleServer_http2() {
	cert, err := tls.LoadX509KeyPair("cert.pem", "key.pem")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &server.Server{
		Addr:       ":443",
		NewHandler: handler.NewEcho,
		HTTP:       http.FileServer(http.Dir("static")),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"h2", "http/1.1"},
		},
	}
	fmt.Println(srv.ListenAndServe())
}

// Listen binds Addr before the server serves, so that the program knows
// the address, here a port the system chose. (Serve also logs it:
// "ws4go: serving".)
func ExampleServer_Listen() {
	srv := &server.Server{Addr: "127.0.0.1:0", NewHandler: handler.NewEcho}
	l, err := srv.Listen()
	if err != nil {
		panic(err) // an invalid setting (see Validate) or the listen's error
	}
	go srv.Serve(l)
	port := l.Addr().(*net.TCPAddr).Port
	fmt.Println("the system chose a port:", port != 0)

	in := make(inbox, 1)
	c, err := client.Dial(context.Background(), fmt.Sprintf("ws://127.0.0.1:%d/", port), in, nil)
	if err != nil {
		panic(err)
	}
	_ = c.SendText("hello")
	fmt.Println(<-in)
	srv.Close()
	<-c.Done()
	// Output:
	// the system chose a port: true
	// hello
}

// Validate names the setting that cannot work; ListenAndServe and Serve
// return the same error before they listen or accept.
func ExampleServer_Validate() {
	srv := &server.Server{
		Routes:       map[string]handler.Factory{"/chat": handler.NewEcho},
		AllowedHosts: []string{"app.example.com", "10.0.0.0/99"},
	}
	err := srv.Validate()
	var ce *server.ConfigError
	if errors.As(err, &ce) {
		fmt.Printf("%s %q\n", ce.Field, ce.Value)
	}
	fmt.Println(errors.As(srv.ListenAndServe(), &ce), ce.Field)
	// Output:
	// AllowedHosts "10.0.0.0/99"
	// true AllowedHosts
}
