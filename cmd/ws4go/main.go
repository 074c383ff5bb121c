// Command ws4go serves WebSocket handlers forever.
//
//	ws4go serve -addr 127.0.0.1:9001 -handler echo
//
// serves the handler at /ws and, at /, a page that talks to it. Every flag
// can also be set by an environment variable: -addr by WS4GO_ADDR,
// -ping-interval by WS4GO_PING_INTERVAL, and so on; a flag given on the
// command line wins. SIGINT or SIGTERM shuts the server down gracefully.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `ws4go: a WebSocket server

Usage:
  ws4go serve [flags]   serve a handler forever (ws4go serve -h for flags)
`

// run is the whole program, callable from tests; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "ws4go: unknown command %q\n\n%s", args[0], usage)
	return 2
}
