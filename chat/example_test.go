package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/ws4go/ws4go/chat"
	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// events is the example's chat client: it decodes each event for the
// example's goroutine.
type events chan chat.Event

func (e events) Opened(handler.Conn)                            {}
func (e events) Ponged(handler.Conn, []byte)                    {}
func (e events) Closed(handler.Conn, handler.CloseCode, string) {}
func (e events) ReceivedMessage(_ handler.Conn, m handler.Message) {
	var ev chat.Event
	_ = json.Unmarshal(m.Data, &ev)
	e <- ev
}

// next returns the next event of type typ, skipping others.
func (e events) next(typ string) chat.Event {
	for ev := range e {
		if ev.Type == typ {
			return ev
		}
	}
	return chat.Event{}
}

// Two ws4go nodes share a chat room through NATS: a message sent to one
// node reaches the members on the other. The NATS server runs in process
// here; in production it is its own service.
func Example_nats() {
	quiet := slog.New(slog.DiscardHandler)
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		panic("NATS not ready")
	}

	// node starts a ws4go server whose rooms are on NATS.
	node := func() (addr string, stop func()) {
		nt, err := chat.ConnectNATS(ns.ClientURL(), chat.NATSOptions{Logger: quiet})
		if err != nil {
			panic(err)
		}
		ch := chat.New(chat.Options{Transport: nt, Logger: quiet})
		srv := &server.Server{Routes: map[string]handler.Factory{"/chat": ch.NewHandler}, Logger: quiet}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		go srv.Serve(l)
		return l.Addr().String(), func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
			_ = nt.Close()
		}
	}
	addrA, stopA := node()
	defer stopA()
	addrB, stopB := node()
	defer stopB()

	// join connects a member and waits for its own join notice: from then
	// on it receives the room's messages.
	join := func(addr, name string) (*client.Conn, events) {
		ev := make(events, 64)
		c, err := client.Dial(context.Background(), "ws://"+addr+"/chat?room=go&name="+name, ev, nil)
		if err != nil {
			panic(err)
		}
		ev.next(chat.TypeJoin)
		return c, ev
	}
	ann, _ := join(addrA, "ann")
	bob, bobEvents := join(addrB, "bob")

	_ = ann.SendText(`{"text": "hello from node A"}`)
	m := bobEvents.next(chat.TypeMessage)
	fmt.Printf("%s (seq %d): %s\n", m.Name, m.Seq, m.Text)

	for _, c := range []*client.Conn{ann, bob} {
		_ = c.Close(handler.CloseNormal, "")
		<-c.Done()
	}
	// Output: ann (seq 1): hello from node A
}
