package testutil

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Buffer collects a child process's output while the test reads it. It
// keeps the first MiB: enough to say what went wrong, bounded for a child
// that logs without end.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p, or drops it past the first MiB.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 {
		return len(p), nil
	}
	return s.b.Write(p)
}

// String returns what was kept.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartServe starts cmd, a `ws4go serve` given both -addr and
// -metrics-addr, with its stderr into stderr, and returns the two addresses
// it prints once listening ("listening on", "metrics on") and a channel
// closed once it has exited (cmd.ProcessState is then set). When the test
// ends the process is killed if it is still running, and its stderr logged
// if the test failed.
func StartServe(t testing.TB, cmd *exec.Cmd, stderr *Buffer) (addr, ops string, exited <-chan struct{}) {
	t.Helper()
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
		if out := stderr.String(); t.Failed() && out != "" {
			t.Logf("ws4go stderr:\n%s", out)
		}
	})
	br := bufio.NewReader(stdout)
	// The output left is drained, so that the process never blocks on it,
	// and done closed when it exits.
	drain := func() {
		_, _ = io.Copy(io.Discard, br)
		_ = cmd.Wait()
		close(done)
	}
	for _, want := range []string{"listening on ", "metrics on "} {
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, want) {
			_ = cmd.Process.Kill()
			go drain()
			t.Fatalf("ws4go %v printed %q, %v; stderr:\n%s", cmd.Args[1:], line, err, stderr)
		}
		v := strings.TrimSpace(strings.TrimPrefix(line, want))
		if addr == "" {
			addr = v
		} else {
			ops = v
		}
	}
	go drain()
	return addr, ops, done
}
