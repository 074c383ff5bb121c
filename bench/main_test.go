package bench

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	_ "github.com/ws4go/ws4go/xconnect" // the HTTP/2 scenarios, client and server
)

// The test binary doubles as the child processes the benchmark starts: a
// client worker, or the ws4go server under test.
const testRoleEnv = "WS4GO_BENCH_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(testRoleEnv) {
	case "worker":
		if err := ServeWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "server":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := ServeWS4Go(ctx, os.Args[1:], os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
