package main

import (
	"flag"
	"log/slog"

	"github.com/ws4go/ws4go/chat"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/observe"
)

func init() {
	var broker string
	handlers["chat"] = handlerDef{
		summary: "chat rooms (?room=NAME&name=YOU), in memory or shared through -broker; the page at / is a chat client",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&broker, "broker", "", "with -handler chat: `nats://host:port` of a NATS server through which every ws4go node shares the rooms (empty: rooms in memory)")
		},
		build: func(env handlerEnv) (built, error) {
			f, stop, err := chatHandler(broker, env.log, env.server.Observer)
			if err != nil {
				return built{}, err
			}
			return built{factory: f, stop: stop, page: chat.Page(env.path, "chat")}, nil
		},
	}
}

// chatHandler builds the handler of `ws4go serve -handler chat`: chat rooms
// (the room is the query parameter "room", the display name "name"), kept in
// memory, or, when broker is a nats://host:port URL, on that NATS server, so
// that every ws4go process connected to it shares the rooms. The returned
// stop releases the broker connection; call it once the server has shut
// down, so that the last leave notices are flushed.
func chatHandler(broker string, log *slog.Logger, obs observe.Observer) (f handler.Factory, stop func(), err error) {
	opts := chat.Options{Logger: log, Observer: obs}
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
	return chat.New(opts).NewHandler, stop, nil
}
