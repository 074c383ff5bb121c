package bench

import (
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// topicsHandler returns the handler of the benchmark's topics endpoint on
// srv (see the package documentation): "sub T1 T2 ..." subscribes the
// sender with Server.Subscribe and is answered "ok"; "T PAYLOAD" goes to
// Server.Publish, which encodes the frame once for every subscriber.
func topicsHandler(srv *server.Server) handler.Factory {
	return func() handler.Handler { return topicsConn{srv: srv} }
}

type topicsConn struct {
	handler.Base
	srv *server.Server
}

func (h topicsConn) ReceivedMessage(c handler.Conn, m handler.Message) {
	if m.Type == handler.Text {
		topics, ok := parseSubscribe(m.Data)
		for _, t := range topics {
			if ok && h.srv.Subscribe(c, string(t)) != nil {
				ok = false
			}
		}
		if !ok {
			_ = c.Close(handler.ClosePolicyViolation, "bad subscribe request")
			return
		}
		_ = c.SendText(topicsOK)
		return
	}
	topic, payload, ok := splitPublish(m.Data)
	if !ok {
		_ = c.Close(handler.ClosePolicyViolation, "bad publish request")
		return
	}
	_, _ = h.srv.Publish(string(topic), handler.Binary, payload)
}
