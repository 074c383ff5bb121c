package main

import (
	"log/slog"

	"github.com/ws4go/ws4go/chat"
	"github.com/ws4go/ws4go/handler"
)

// chatHandler builds the handler of `ws4go serve -handler chat`: chat rooms
// (the room is the query parameter "room", the display name "name"), kept in
// memory, or, when broker is a nats://host:port URL, on that NATS server, so
// that every ws4go process connected to it shares the rooms. The returned
// stop releases the broker connection; call it once the server has shut
// down, so that the last leave notices are flushed.
func chatHandler(broker string, log *slog.Logger) (f handler.Factory, stop func(), err error) {
	opts := chat.Options{Logger: log}
	stop = func() {}
	if broker != "" {
		nt, err := chat.ConnectNATS(broker, chat.NATSOptions{Logger: log})
		if err != nil {
			return nil, nil, err
		}
		log.Info("chat rooms on NATS", "broker", broker)
		opts.Transport = nt
		stop = func() {
			if err := nt.Close(); err != nil {
				log.Warn("closing the NATS connection", "err", err)
			}
		}
	}
	return chat.New(opts).Handler, stop, nil
}
