package metrics_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/metrics"
	"github.com/ws4go/ws4go/server"
)

type waiter chan struct{}

func (w waiter) Opened(handler.Conn)                            {}
func (w waiter) Ponged(handler.Conn, []byte)                    {}
func (w waiter) Closed(handler.Conn, handler.CloseCode, string) {}
func (w waiter) ReceivedMessage(handler.Conn, handler.Message)  { w <- struct{}{} }

// Metrics on a registry of one's own, read back after some traffic. (A
// service would serve the registry with promhttp.HandlerFor.)
func ExampleNew() {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, nil)
	if err != nil {
		panic(err)
	}
	srv := &server.Server{NewHandler: handler.NewEcho, Observer: m}
	m.Watch(srv) // the gauges read from srv.Stats()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)

	w := make(waiter, 1)
	c, err := client.Dial(context.Background(), "ws://"+l.Addr().String()+"/", w, nil)
	if err != nil {
		panic(err)
	}
	for range 3 {
		_ = c.SendText("hello")
		<-w // echoed
	}
	_ = c.Close(handler.CloseNormal, "")
	<-c.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx) // every connection ended: the counts are final

	families, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, f := range families {
		switch f.GetName() {
		case "ws4go_connections_opened_total", "ws4go_received_messages_total":
			for _, s := range f.GetMetric() {
				labels := ""
				for _, l := range s.GetLabel() {
					labels += fmt.Sprintf("{%s=%q}", l.GetName(), l.GetValue())
				}
				if v := s.GetCounter().GetValue(); v > 0 {
					fmt.Println(f.GetName()+labels, v)
				}
			}
		}
	}
	// Output:
	// ws4go_connections_opened_total{http="1.1"} 1
	// ws4go_received_messages_total{type="close"} 1
	// ws4go_received_messages_total{type="text"} 3
}
