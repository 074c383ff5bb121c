package server_test

import (
	"context"
	"fmt"
	"net"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// Room joins each connection to the room its URL names, and publishes what
// it says to the room.
type Room struct {
	handler.Base
	srv *server.Server
}

func (r Room) Opened(c handler.Conn) {
	topic := "room:" + c.Request().URL.Query().Get("room")
	if err := r.srv.Subscribe(c, topic); err != nil {
		_ = c.Close(handler.ClosePolicyViolation, err.Error())
		return
	}
	c.SetData(topic)
	_ = c.SendText("welcome")
}

func (r Room) ReceivedMessage(c handler.Conn, m handler.Message) {
	_, _ = r.srv.Publish(c.Data().(string), m.Type, m.Data)
}

// Topics: a handler subscribes its connection (here in Opened), and
// Publish sends to every subscriber; subscriptions end with the
// connection. An application publishes from anywhere too.
func ExampleServer_Publish() {
	srv := &server.Server{}
	srv.NewHandler = func() handler.Handler { return Room{srv: srv} }
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	url := "ws://" + l.Addr().String() + "/?room=go"
	alice, bob := make(inbox, 1), make(inbox, 1)
	a, err := client.Dial(context.Background(), url, alice, nil)
	if err != nil {
		panic(err)
	}
	if _, err := client.Dial(context.Background(), url, bob, nil); err != nil {
		panic(err)
	}
	fmt.Println(<-alice, <-bob)
	_ = a.SendText("hello, room")
	fmt.Println(<-alice, "/", <-bob)

	n, err := srv.Publish("room:go", handler.Text, []byte("from the server"))
	fmt.Println(n, err, <-alice, "/", <-bob)
	// Output:
	// welcome welcome
	// hello, room / hello, room
	// 2 <nil> from the server / from the server
}

// A message prepared once is encoded once, and every write queue it is
// sent to refers to the same frame: publish it to a topic, broadcast it,
// send it to one connection.
func ExamplePrepare() {
	srv := &server.Server{}
	srv.NewHandler = func() handler.Handler {
		return &opener{f: func(c handler.Conn) {
			_ = srv.Subscribe(c, "ticks")
			_ = c.SendText("subscribed")
		}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	in := make(inbox, 3)
	if _, err := client.Dial(context.Background(), "ws://"+l.Addr().String()+"/", in, nil); err != nil {
		panic(err)
	}
	fmt.Println(<-in)

	pm, err := server.Prepare(handler.Text, []byte("tick"))
	if err != nil {
		panic(err)
	}
	n, _ := srv.PublishPrepared("ticks", pm)
	m := srv.BroadcastPrepared(pm)
	fmt.Println(n, m, <-in, <-in)
	// Output:
	// subscribed
	// 1 1 tick tick
}

// Producer streams numbered messages to its connection as fast as the peer
// reads them: it stops while more than 64 KiB wait unsent and resumes when
// the queue has drained (see handler.Drainer).
type Producer struct {
	handler.Base
	srv  *server.Server
	next int
}

func (p *Producer) Opened(c handler.Conn)  { p.produce(c) }
func (p *Producer) Drained(c handler.Conn) { p.produce(c) }

func (p *Producer) produce(c handler.Conn) {
	for p.srv.BufferedAmount(c) < 64<<10 && p.next < 1000 {
		_ = c.SendText(fmt.Sprint(p.next))
		p.next++
	}
}

// Backpressure: BufferedAmount says how much waits for a slow reader, and
// the handler's Drained is called when it has caught up.
func ExampleServer_BufferedAmount() {
	srv := &server.Server{}
	srv.NewHandler = func() handler.Handler { return &Producer{srv: srv} }
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	in := make(inbox, 1)
	if _, err := client.Dial(context.Background(), "ws://"+l.Addr().String()+"/", in, nil); err != nil {
		panic(err)
	}
	var last string
	for range 1000 {
		last = <-in
	}
	fmt.Println(last)
	// Output: 999
}
