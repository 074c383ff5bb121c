package main

import (
	"flag"
	"log/slog"
	"net/http"
	"slices"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// A handlerDef is a handler that `ws4go serve -handler NAME` can serve.
// Other files of this package add theirs to handlers in an init function,
// with flags of their own if they need some (chat.go does).
type handlerDef struct {
	// summary is shown by ws4go serve -h.
	summary string
	// flags, if set, registers the handler's own flags on ws4go serve's
	// flag set (each also settable by its WS4GO_ variable). They are
	// registered whichever handler is chosen, so their names must not
	// clash with other flags.
	flags func(fs *flag.FlagSet)
	// build makes the handler once the flags are parsed.
	build func(env handlerEnv) (built, error)
}

// handlerEnv is what a handler is built with.
type handlerEnv struct {
	log *slog.Logger
	// server is configured but not serving yet; its Routes are set from
	// built.factory afterwards.
	server *server.Server
	// path is where the handler is served (-path).
	path string
}

// built is a handler ready to serve.
type built struct {
	factory handler.Factory
	// page, if set, is served at / instead of the echo demo page.
	page http.Handler
	// stop, if set, runs once the server has shut down.
	stop func()
}

// handlers are the handlers the binary can serve, by name.
var handlers = map[string]handlerDef{
	"echo": {
		summary: "sends every message back (the demo page at / talks to it)",
		build:   func(handlerEnv) (built, error) { return built{factory: handler.NewEcho}, nil },
	},
}

func handlerNames() []string {
	names := make([]string, 0, len(handlers))
	for n := range handlers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
