package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/ws4go/ws4go/internal/testutil"
)

// TestInvalidSettings: every flag and WS4GO_ variable is checked before
// anything listens; a value refused gets exit status 2 and one line on
// stderr naming the flag (or the variable and its flag), the value and
// what is wanted, and no usage text.
func TestInvalidSettings(t *testing.T) {
	clearEnv(t)
	for _, c := range []struct {
		env  map[string]string
		args []string
		want []string // in the line, besides "ws4go serve: "
	}{
		// Values the Server refuses (Validate), by flag and by variable.
		{nil, []string{"-path", "ws"}, []string{`-path "ws": want a path that starts with "/"`}},
		{map[string]string{"WS4GO_PATH": "ws"}, nil, []string{`WS4GO_PATH (-path) "ws": want a path`}},
		{nil, []string{"-allowed-hosts", "localhost,10.0.0.0/99"}, []string{`-allowed-hosts "10.0.0.0/99": want`, "prefix length out of range"}},
		{nil, []string{"-origins", "[bad"}, []string{`-origins "[bad": want a path.Match pattern`, "syntax error in pattern"}},
		{nil, []string{"-subprotocols", "chat,a b"}, []string{`-subprotocols "a b": want an HTTP token`}},
		{nil, []string{"-workers", "-3"}, []string{`-workers "-3": want a positive number`}},
		{map[string]string{"WS4GO_ENGINE": "epoll"}, nil, []string{`WS4GO_ENGINE (-engine) "epoll": want "netpoll" or "goroutine"`}},
		// Values that do not parse.
		{nil, []string{"-workers", "many"}, []string{`-workers "many": want a whole number`}},
		{nil, []string{"-max-connections", "1e6"}, []string{`-max-connections "1e6": want a whole number (0: the default; -1: no limit)`}},
		{map[string]string{"WS4GO_MAX_MESSAGE_SIZE": "16MiB"}, nil, []string{`WS4GO_MAX_MESSAGE_SIZE (-max-message-size) "16MiB": want a whole number`}},
		{nil, []string{"-ping-interval", "30"}, []string{`-ping-interval "30": want a duration such as 30s`, "-1: no heartbeat"}},
		{map[string]string{"WS4GO_CLOSE_TIMEOUT": "soon"}, nil, []string{`WS4GO_CLOSE_TIMEOUT (-close-timeout) "soon": want a duration`}},
		{nil, []string{"-compression=maybe"}, []string{`-compression "maybe": want true or false`}},
		{map[string]string{"WS4GO_PPROF": "yes please"}, nil, []string{`WS4GO_PPROF (-pprof) "yes please": want true or false`}},
		{nil, []string{"-addr", "nonsense"}, []string{`-addr "nonsense": want host:port`, "missing port"}},
		{nil, []string{"-addr", "127.0.0.1:99999"}, []string{`-addr "127.0.0.1:99999": want host:port`}},
		{nil, []string{"-metrics-addr", "unix:"}, []string{`-metrics-addr "unix:": want a socket path`}},
		{nil, []string{"-log-level", "loud"}, []string{`-log-level "loud": want debug, info, warn or error`}},
		{map[string]string{"WS4GO_LOG_FORMAT": "xml"}, nil, []string{`WS4GO_LOG_FORMAT (-log-format) "xml": want text or json`}},
		{map[string]string{"WS4GO_HANDLER": "nope"}, nil, []string{`WS4GO_HANDLER (-handler) "nope": want one of chat, echo`}},
		// Flags that need another one, or another handler.
		{nil, []string{"-broker", "nats://127.0.0.1:4222"}, []string{`-broker "nats://127.0.0.1:4222": want -handler chat`, "this is -handler echo"}},
		{map[string]string{"WS4GO_BROKER": "nats://127.0.0.1:4222"}, nil, []string{`WS4GO_BROKER (-broker) "nats://127.0.0.1:4222": want -handler chat`}},
		{map[string]string{"WS4GO_PPROF": "true"}, nil, []string{`WS4GO_PPROF (-pprof) "true": want -metrics-addr too`}},
		{nil, []string{"-tls-cert", "x.pem"}, []string{`-tls-cert "x.pem": want -tls-key with it`}},
		{nil, []string{"-tls-cert", "missing.pem", "-tls-key", "missing.key"}, []string{`-tls-cert "missing.pem": want a PEM certificate`, "no such file"}},
		{nil, []string{"-http2=false"}, []string{`-http2 "false": want -tls-cert and -tls-key`}},
		{map[string]string{"WS4GO_TLS_RELOAD_CHECK": "1m"}, nil, []string{`WS4GO_TLS_RELOAD_CHECK (-tls-reload-check) "1m0s": want -tls-cert`}},
		// The command line itself.
		{nil, []string{"-nope"}, []string{"flag provided but not defined: -nope", "ws4go serve -h lists the flags"}},
		{nil, []string{"stray"}, []string{`unexpected arguments ["stray"]`}},
	} {
		name := strings.Join(c.args, " ")
		for k, v := range c.env {
			name += " " + k + "=" + v
		}
		t.Run(name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			// A port of its own, should a case wrongly start serving.
			args := append([]string{"serve", "-addr", "127.0.0.1:0"}, c.args...)
			if c.args != nil && c.args[0] == "-addr" {
				args = append([]string{"serve"}, c.args...)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stdout, stderr strings.Builder
			code := run(ctx, args, &stdout, &stderr)
			line, rest, _ := strings.Cut(stderr.String(), "\n")
			if code != 2 || rest != "" || stdout.Len() != 0 || !strings.HasPrefix(line, "ws4go serve: ") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and one line on stderr", code, stdout.String(), stderr.String())
			}
			for _, w := range c.want {
				if !strings.Contains(line, w) {
					t.Errorf("%q lacks %q", line, w)
				}
			}
		})
	}
}

// TestHelpToStdout: ws4go serve -h and ws4go -h write their help to
// stdout and exit 0; nothing goes to stderr.
func TestHelpToStdout(t *testing.T) {
	for _, args := range [][]string{{"serve", "-h"}, {"serve", "--help"}, {"-h"}, {"help"}} {
		var stdout, stderr strings.Builder
		if code := run(context.Background(), args, &stdout, &stderr); code != 0 || stderr.Len() != 0 || !strings.Contains(stdout.String(), "Usage:") {
			t.Errorf("ws4go %q: exit %d, stderr %q, stdout %.60q", args, code, stderr.String(), stdout.String())
		}
	}
}

// TestZeroAndNegative: 0 (the default) and -1 (no limit) are valid for
// every size, count and duration flag, as for the Server's fields: the
// server serves with either (-workers takes 0 only: the pool is always
// bounded). A flag on the command line wins over its variable, which is
// then not read.
func TestZeroAndNegative(t *testing.T) {
	t.Setenv("WS4GO_WORKERS", "not a number") // overridden by -workers
	flags := []string{"max-message-size", "max-write-queue", "max-buffered", "max-connections", "ping-interval", "pong-timeout",
		"idle-timeout", "message-timeout", "write-timeout", "close-timeout", "handshake-timeout", "shutdown-timeout"}
	for _, v := range []string{"0", "-1"} {
		args := []string{"-addr", "127.0.0.1:0", "-workers", "0"}
		for _, f := range flags {
			args = append(args, "-"+f, v)
		}
		addr, stop := startServe(t, args...)
		nc := dialWS(t, "ws://"+addr+"/ws")
		if err := wsutil.WriteClientText(nc, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		if m, err := wsutil.ReadServerText(nc); err != nil || string(m) != "hi" {
			t.Fatalf("%s everywhere: echo %q, %v", v, m, err)
		}
		go answerClose(nc)
		if code := stop(); code != 0 {
			t.Fatalf("%s everywhere: exit %d", v, code)
		}
	}
}

// TestUnknownVariable: a WS4GO_ variable that names no flag (a typo) is
// logged, not silently ignored; it does not stop the server (tests and
// tools set WS4GO_ variables of their own).
func TestUnknownVariable(t *testing.T) {
	t.Setenv("WS4GO_MAX_CONECTIONS", "5")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr testutil.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"serve", "-addr", "127.0.0.1:0"}, pw, &stderr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening on ") {
		t.Fatalf("printed %q, %v; stderr:\n%s", line, err, stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	resp, err := http.Get("http://" + strings.TrimSpace(strings.TrimPrefix(line, "listening on ")) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if c := <-code; c != 0 {
		t.Errorf("exit %d", c)
	}
	if !strings.Contains(stderr.String(), "level=WARN") || !strings.Contains(stderr.String(), "var=WS4GO_MAX_CONECTIONS") {
		t.Errorf("no warning about WS4GO_MAX_CONECTIONS:\n%s", stderr.String())
	}
}

// clearEnv unsets every WS4GO_ variable of the test's environment until t
// ends, so a developer's own settings neither change a case nor add a
// warning line to its stderr.
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "WS4GO_") {
			t.Setenv(k, "") // restores the value when t ends
			os.Unsetenv(k)
		}
	}
}
