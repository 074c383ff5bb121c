// Command ws4go serves WebSocket handlers forever.
//
//	ws4go serve -addr 127.0.0.1:9001 -handler echo
//
// serves the handler at /ws and, at /, a page that talks to it. Every flag
// can also be set by an environment variable: -addr by WS4GO_ADDR,
// -ping-interval by WS4GO_PING_INTERVAL, and so on; a flag given on the
// command line wins. A value that cannot work stops it before it listens,
// with one line and exit status 2. SIGINT or SIGTERM drains the server
// gracefully. ws4go version prints the version and VCS revision of the
// build.
package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	_ "github.com/ws4go/ws4go/xconnect" // WebSocket over HTTP/2 (RFC 8441) in net/http
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// The first signal starts the graceful drain; a second one
		// gets the default action and ends the process at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// A command is a subcommand of ws4go: run gets the arguments after its name
// and returns the exit code.
type command struct {
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	summary string
	// synopsis is how it is called ("NAME [flags]" if empty).
	synopsis string
}

// commands are ws4go's subcommands by name. Other files of this package add
// theirs in an init function (bench.go does).
var commands = map[string]command{
	"serve": {run: serve, summary: "serve a handler forever (ws4go serve -h for flags)"},
}

func usage() string {
	var b strings.Builder
	b.WriteString("ws4go: a WebSocket server\n\nUsage:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(&b, "  ws4go %-16s %s\n", cmp.Or(c.synopsis, n+" [flags]"), c.summary)
	}
	return b.String()
}

// run is the whole program, callable from tests; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return 2
	}
	if c, ok := commands[args[0]]; ok {
		return c.run(ctx, args[1:], stdout, stderr)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage())
		return 0
	case "-version", "--version":
		return versionCmd(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "ws4go: unknown command %q\n\n%s", args[0], usage())
	return 2
}
