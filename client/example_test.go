package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// greeter says hello when its connection opens and reports what happens to
// the example's goroutine.
type greeter struct {
	handler.Base
	events chan<- string
}

func (g greeter) Opened(c handler.Conn) {
	_ = c.SendText("hello")
}

func (g greeter) ReceivedMessage(_ handler.Conn, m handler.Message) {
	g.events <- "got " + string(m.Data)
}

func (g greeter) Closed(_ handler.Conn, code handler.CloseCode, reason string) {
	g.events <- fmt.Sprintf("closed %d %s", code, reason)
}

// Redial keeps a connection open: when the server closes it, a new one is
// dialled (after Backoff's delay) with a fresh handler.
func ExampleRedial() {
	srv := &server.Server{NewHandler: handler.NewEcho, Logger: slog.New(slog.DiscardHandler)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)

	events := make(chan string, 16)
	r := client.Redial(context.Background(), "ws://"+l.Addr().String()+"/",
		func() handler.Handler { return greeter{events: events} },
		&client.Options{Logger: slog.New(slog.DiscardHandler)},
		&client.Backoff{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond})

	fmt.Println(<-events) // the first connection's echo
	srv.CloseAll(handler.CloseServiceRestart, "restarting")
	fmt.Println(<-events) // its end
	fmt.Println(<-events) // the second connection's echo

	r.Stop()
	<-r.Done()
	fmt.Println(<-events, r.Err())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	// Output:
	// got hello
	// closed 1012 restarting
	// got hello
	// closed 1000  <nil>
}

// Dial opens one connection; the handler's callbacks run as on a server.
func ExampleDial() {
	srv := &server.Server{NewHandler: handler.NewEcho}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)

	events := make(chan string, 4)
	c, err := client.Dial(context.Background(), "ws://"+l.Addr().String()+"/", greeter{events: events}, nil)
	if err != nil {
		panic(err) // a *client.HandshakeError says what the server got wrong
	}
	fmt.Println(<-events)
	_ = c.Close(handler.CloseNormal, "done")
	<-c.Done()
	fmt.Println(<-events)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	// Output:
	// got hello
	// closed 1000 done
}

// ProxyFromEnvironment makes Dial go through the proxy the environment
// names, e.g. HTTPS_PROXY=https://proxy.corp:3128 or
// ALL_PROXY=socks5://user:secret@proxy.corp:1080, except for the hosts in
// NO_PROXY.
func ExampleProxyFromEnvironment() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := &client.Options{Proxy: client.ProxyFromEnvironment}
	c, err := client.Dial(ctx, "wss://echo.example/ws", handler.Base{}, opts)
	if errors.Is(err, client.ErrProxy) {
		fmt.Println("the proxy refused:", err) // a refusal, bad credentials
		return
	}
	if err != nil {
		fmt.Println(err) // the proxy or the server unreachable, a timeout, ...
		return
	}
	_ = c.Close(handler.CloseNormal, "")
	<-c.Done()
}
