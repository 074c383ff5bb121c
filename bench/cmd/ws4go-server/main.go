// Command ws4go-server is ws4go as a server under test of ws4go bench: echo
// at /ws, broadcast at /broadcast (see package bench), no heartbeat, and
// /metrics and /gc at -metrics.
//
//	ws4go-server -addr 127.0.0.1:9400 -metrics 127.0.0.1:9401 -engine goroutine
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ws4go/ws4go/bench"
	_ "github.com/ws4go/ws4go/xconnect" // -h2: RFC 8441 in net/http
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench.ServeWS4Go(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ws4go-server:", err)
		os.Exit(1)
	}
}
