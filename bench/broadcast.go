package bench

import (
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// broadcastHandler returns the handler of the benchmark's broadcast
// endpoint on srv: every message a client sends is sent to every
// connection of the server, the sender included, with the same type (see
// the package documentation). It uses Server.Broadcast, which encodes the
// frame once.
func broadcastHandler(srv *server.Server) handler.Factory {
	return func() handler.Handler { return broadcaster{srv: srv} }
}

type broadcaster struct {
	handler.Base
	srv *server.Server
}

func (b broadcaster) ReceivedMessage(_ handler.Conn, m handler.Message) {
	b.srv.Broadcast(m.Type, m.Data)
}
