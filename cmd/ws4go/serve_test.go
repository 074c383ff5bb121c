package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ws4go/ws4go/internal/realclients"
)

// startServe runs `ws4go serve args...` in-process and returns its address
// and a function that stops it (as SIGTERM would) and returns the exit code.
func startServe(t *testing.T, args ...string) (string, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, append([]string{"serve"}, args...), pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("ws4go serve printed no address: %v (exit %d)", err, <-code)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	addr := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	stop := func() int {
		cancel()
		select {
		case c := <-code:
			return c
		case <-time.After(15 * time.Second):
			t.Fatal("ws4go serve did not stop")
			return -1
		}
	}
	return addr, stop
}

// TestDemoPage loads the page at / in headless Chromium; the page connects
// to /ws, sends a message as if typed, and shows the echo.
func TestDemoPage(t *testing.T) {
	t.Setenv("WS4GO_ADDR", "127.0.0.1:0") // flags come from the environment too
	for _, engine := range []string{"goroutine", "netpoll"} {
		t.Run(engine, func(t *testing.T) {
			addr, stop := startServe(t, "-engine", engine)
			resp, err := http.Get("http://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "new WebSocket(") {
				t.Fatalf("page at /: %s %.80q", resp.Status, body)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dom, err := realclients.RunChromium(ctx, "http://"+addr+"/#selftest")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(dom, `<div id="done">hello from the demo page ✓</div>`) {
				t.Fatalf("the page did not show the echo:\n%s", dom)
			}
			if code := stop(); code != 0 {
				t.Fatalf("exit code %d after SIGTERM-like stop", code)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	if code := run(context.Background(), []string{"serve", "-h"}, io.Discard, io.Discard); code != 0 {
		t.Errorf("serve -h: exit %d", code)
	}
	t.Setenv("WS4GO_ENGINE", "nonsense")
	var stderr strings.Builder
	if code := run(context.Background(), []string{"serve"}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), `unknown engine "nonsense"`) {
		t.Errorf("WS4GO_ENGINE=nonsense: exit %d, %q", code, stderr.String())
	}
	if code := run(context.Background(), []string{"bogus"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}
