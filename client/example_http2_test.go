package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"time"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
	_ "github.com/ws4go/ws4go/xconnect" // RFC 8441 in Go's HTTP/2
)

// Two WebSockets over HTTP/2, sharing one TCP connection of the pool. The
// server is ws4go's behind net/http's HTTP/2 server.
func ExampleHTTP2Pool() {
	ws := &server.Server{NewHandler: handler.NewEcho, Logger: slog.New(slog.DiscardHandler)}
	hs := httptest.NewUnstartedServer(ws)
	hs.EnableHTTP2 = true
	hs.StartTLS()
	defer hs.Close()
	roots := x509.NewCertPool()
	roots.AddCert(hs.Certificate())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opts := &client.Options{TLSConfig: &tls.Config{RootCAs: roots}, HTTP2: new(client.HTTP2Pool)}
	events := make(chan string, 16)
	var conns []*client.Conn
	for range 2 {
		c, err := client.Dial(ctx, "wss://"+hs.Listener.Addr().String()+"/", greeter{events: events}, opts)
		if err != nil {
			panic(err)
		}
		fmt.Println(c.Proto(), <-events)
		conns = append(conns, c)
	}
	fmt.Println("one TCP connection:", conns[0].LocalAddr().String() == conns[1].LocalAddr().String())
	for _, c := range conns {
		_ = c.Close(handler.CloseNormal, "done")
		<-c.Done()
		fmt.Println(<-events)
	}
	// Output:
	// HTTP/2.0 got hello
	// HTTP/2.0 got hello
	// one TCP connection: true
	// closed 1000 done
	// closed 1000 done
}
