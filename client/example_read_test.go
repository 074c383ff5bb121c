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

// feed sends two messages to each client, then closes.
type feed struct{ handler.Base }

func (feed) Opened(c handler.Conn) {
	_ = c.SendText("hello")
	_ = c.SendBinary([]byte{1, 2, 3})
	_ = c.Close(handler.CloseNormal, "that's all")
}

// A Conn dialled with a nil handler is read in a loop, as with gorilla or
// coder/websocket; the loop ends with a *client.CloseError once the
// connection has closed and every message before the close has been read.
func ExampleConn_Read() {
	srv := &server.Server{NewHandler: func() handler.Handler { return feed{} }, Logger: slog.New(slog.DiscardHandler)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws://"+l.Addr().String()+"/", nil, nil)
	if err != nil {
		panic(err)
	}
	for {
		typ, data, err := c.Read(ctx)
		var ce *client.CloseError
		if errors.As(err, &ce) {
			fmt.Printf("closed: %d %s\n", ce.Code, ce.Reason)
			break
		}
		if err != nil {
			panic(err) // ctx ended
		}
		fmt.Printf("%v %q\n", typ, data)
	}

	_ = srv.Shutdown(ctx)
	// Output:
	// text "hello"
	// binary "\x01\x02\x03"
	// closed: 1000 that's all
}
