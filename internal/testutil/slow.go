package testutil

import (
	"os"
	"testing"
)

// SlowEnv is the environment variable that turns on the slow suites: the
// conformance runs, the real third-party clients and servers (Node's ws,
// Python's websockets, Chromium) and the adversary suite. `make test` and
// CI set it; a plain `go test ./...` leaves them out so that the
// contributor's loop stays within minutes (and needs no Debian package).
const SlowEnv = "WS4GOTEST_SLOW"

// SlowEnabled reports whether the slow suites run.
func SlowEnabled() bool { return os.Getenv(SlowEnv) == "1" }

// Slow skips t unless the slow suites run (SlowEnv=1).
func Slow(t testing.TB) {
	t.Helper()
	if !SlowEnabled() {
		t.Skip("a slow suite: set " + SlowEnv + "=1 to run it (make test does)")
	}
}
