package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/ws4go/ws4go/chat"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/realclients"
	"github.com/ws4go/ws4go/internal/testutil"
)

// startServe runs `ws4go serve args...` in-process and returns its address
// and a function that stops it (as SIGTERM would) and returns the exit code.
func startServe(t *testing.T, args ...string) (string, func() int) {
	t.Helper()
	v, stop := startRun(t, append([]string{"serve"}, args...), "listening on ")
	return v[0], stop
}

// startRun runs the program with args in-process, reads one line of its
// output for each prefix and returns what follows each prefix, and a
// function that stops it (as SIGTERM would) and returns the exit code.
func startRun(t *testing.T, args []string, prefixes ...string) ([]string, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, args, pw, io.Discard)
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	var values []string
	for _, want := range prefixes {
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, want) {
			cancel()
			t.Fatalf("ws4go %s printed %q, %v (exit %d)", args[0], line, err, <-code)
		}
		values = append(values, strings.TrimSpace(strings.TrimPrefix(line, want)))
	}
	go func() { _, _ = io.Copy(io.Discard, br) }()
	stop := func() int {
		cancel()
		select {
		case c := <-code:
			return c
		case <-time.After(15 * time.Second):
			t.Fatalf("ws4go %s did not stop", args[0])
			return -1
		}
	}
	return values, stop
}

// TestDemoPage loads the page at / in headless Chromium; the page connects
// to /ws, sends a message as if typed, and shows the echo.
func TestDemoPage(t *testing.T) {
	testutil.Slow(t)
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
	var help strings.Builder
	if code := run(context.Background(), []string{"serve", "-h"}, &help, io.Discard); code != 0 {
		t.Errorf("serve -h: exit %d", code)
	}
	for _, want := range []string{
		"-addr host:port", "[$WS4GO_ADDR] (default \"127.0.0.1:9001\")", "unix:/path/to.sock",
		"-metrics-addr", "[$WS4GO_METRICS_ADDR]", "-pprof", "[$WS4GO_PPROF]",
		"-tls-cert file", "[$WS4GO_TLS_CERT]", "-tls-key file", "[$WS4GO_TLS_KEY]",
		"-shutdown-timeout duration", "[$WS4GO_SHUTDOWN_TIMEOUT] (default 10s)", "echo ",
		// The real defaults, and what 0 and -1 mean.
		"-max-connections n", "(0: the default; -1: no limit) [$WS4GO_MAX_CONNECTIONS] (default 100000)",
		"-max-message-size bytes", "[$WS4GO_MAX_MESSAGE_SIZE] (default 16777216)",
		"-ping-interval duration", "(0: the default; -1: no heartbeat) [$WS4GO_PING_INTERVAL] (default 30s)",
		"-workers n", "(0: 4×GOMAXPROCS",
	} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("serve -h does not show %q:\n%s", want, help.String())
		}
	}
	if code := run(context.Background(), []string{"bogus"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
	var top strings.Builder
	if code := run(context.Background(), []string{"-h"}, &top, io.Discard); code != 0 || (!strings.Contains(top.String(), "ws4go serve [flags]") || !strings.Contains(top.String(), "ws4go bench [flags]") || !strings.Contains(top.String(), "ws4go version ")) {
		t.Errorf("ws4go -h: exit %d, %q", code, top.String())
	}
}

// TestHandlerExtension: a handler added to the handlers map by another file
// gets its own flags (settable from the environment too), is built with the
// server, and is stopped after the server has shut down.
func TestHandlerExtension(t *testing.T) {
	var greeting string
	stopped := make(chan struct{})
	handlers["greeter"] = handlerDef{
		summary: "says hello",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&greeting, "greeting", "hello", "what to say")
		},
		build: func(env handlerEnv) (built, error) {
			if env.server == nil || env.log == nil {
				return built{}, errors.New("no server or logger")
			}
			g := greeting
			return built{
				factory: func() handler.Handler { return greeter{text: g} },
				stop:    func() { close(stopped) },
			}, nil
		},
	}
	defer delete(handlers, "greeter")
	t.Setenv("WS4GO_GREETING", "bonjour")
	addr, stop := startServe(t, "-addr", "127.0.0.1:0", "-handler", "greeter")
	nc := dialWS(t, "ws://"+addr+"/ws")
	if m, err := wsutil.ReadServerText(nc); err != nil || string(m) != "bonjour" {
		t.Fatalf("got %q, %v", m, err)
	}
	select {
	case <-stopped:
		t.Fatal("stopped while serving")
	default:
	}
	go func() {
		// Answer the 1001 of the shutdown.
		_, _ = wsutil.ReadServerText(nc)
		_ = ws.WriteFrame(nc, ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, ""))))
	}()
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the handler's stop did not run")
	}
}

type greeter struct {
	handler.Base
	text string
}

func (g greeter) Opened(c handler.Conn) { _ = c.SendText(g.text) }

// TestChatHandler: `ws4go serve -handler chat` serves chat rooms at -path
// and a chat page at /; a message reaches every member of its room, the
// sender included, and no one in another room.
func TestChatHandler(t *testing.T) {
	addr, ops, stop := startOps(t, "-addr", "127.0.0.1:0", "-handler", "chat", "-path", "/chat")
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `data-ws-path="/chat" data-mode="chat"`) {
		t.Fatalf("page at /: %s %.200q", resp.Status, body)
	}
	ann := dialWS(t, "ws://"+addr+"/chat?room=go&name=ann")
	bob := dialWS(t, "ws://"+addr+"/chat?room=go&name=bob")
	eve := dialWS(t, "ws://"+addr+"/chat?room=rust&name=eve")
	// Bob's own join tells him he is in the room; ann sees it too.
	waitEvent(t, bob, "join", "bob")
	waitEvent(t, ann, "join", "bob")
	if err := wsutil.WriteClientText(ann, []byte(`{"text":"hi"}`)); err != nil {
		t.Fatal(err)
	}
	for _, nc := range []net.Conn{ann, bob} {
		if ev := waitEvent(t, nc, "message", "ann"); ev.Text != "hi" || ev.Seq != 1 || ev.Room != "go" {
			t.Errorf("got %+v", ev)
		}
	}
	if err := wsutil.WriteClientText(eve, []byte("alone")); err != nil {
		t.Fatal(err)
	}
	// Eve's first message event is her own: ann's never reached her room.
	if ev := waitEvent(t, eve, "message", ""); ev.Name != "eve" || ev.Text != "alone" {
		t.Errorf("eve got %+v", ev)
	}
	// The room's fan-out shows in the server's metrics: ann's message
	// went to two members.
	_, text := get(t, nil, "http://"+ops+"/metrics")
	fams := parseExposition(t, text)
	if h := fams["ws4go_broadcast_recipients"]; h == nil || h.GetMetric()[0].GetHistogram().GetSampleSum() < 2 {
		t.Errorf("chat fan-out not in /metrics: %v", h)
	}
	for _, nc := range []net.Conn{ann, bob, eve} {
		go answerClose(nc)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// waitEvent reads chat events from nc until one of type typ (and from
// name, unless empty) arrives.
func waitEvent(t *testing.T, nc net.Conn, typ, name string) chat.Event {
	t.Helper()
	for {
		m, err := wsutil.ReadServerText(nc)
		if err != nil {
			t.Fatalf("waiting for %s from %q: %v", typ, name, err)
		}
		var ev chat.Event
		if err := json.Unmarshal(m, &ev); err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		if ev.Type == typ && (name == "" || ev.Name == name) {
			return ev
		}
	}
}

// answerClose reads until the server's close frame and answers it.
func answerClose(nc net.Conn) {
	for {
		h, err := ws.ReadHeader(nc)
		if err != nil {
			return
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(nc, p); err != nil {
			return
		}
		if h.OpCode == ws.OpClose {
			_ = ws.WriteFrame(nc, ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, ""))))
			return
		}
	}
}

// TestCompressionFlag: -compression negotiates permessage-deflate with a
// client that offers it; without it the offer is declined.
func TestCompressionFlag(t *testing.T) {
	for _, on := range []bool{false, true} {
		args := []string{"-addr", "127.0.0.1:0"}
		if on {
			args = append(args, "-compression")
		}
		addr, stop := startServe(t, args...)
		req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
		resp := testutil.RawHTTP(t, addr, req)
		ext := resp.Header.Get("Sec-WebSocket-Extensions")
		if resp.StatusCode != 101 || strings.HasPrefix(ext, "permessage-deflate") != on {
			t.Errorf("-compression=%v: %s, Sec-WebSocket-Extensions %q", on, resp.Status, ext)
		}
		if code := stop(); code != 0 {
			t.Fatalf("exit %d", code)
		}
	}
}

// TestChatBroker: two `ws4go serve -handler chat -broker nats://...`
// processes share their rooms through a real NATS server (in-process): a
// message sent on one node reaches the room's members on both.
func TestChatBroker(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	broker := "nats://" + ns.Addr().String()
	addrA, stopA := startServe(t, "-addr", "127.0.0.1:0", "-handler", "chat", "-broker", broker)
	addrB, stopB := startServe(t, "-addr", "127.0.0.1:0", "-handler", "chat", "-broker", broker, "-engine", "goroutine")
	ann := dialWS(t, "ws://"+addrA+"/ws?room=go&name=ann")
	waitEvent(t, ann, "join", "ann")
	bob := dialWS(t, "ws://"+addrB+"/ws?room=go&name=bob")
	waitEvent(t, bob, "join", "bob")
	// Bob's join crossed to node A: from here on ann's node relays to his.
	waitEvent(t, ann, "join", "bob")
	if err := wsutil.WriteClientText(ann, []byte("across")); err != nil {
		t.Fatal(err)
	}
	for _, nc := range []net.Conn{ann, bob} {
		if ev := waitEvent(t, nc, "message", "ann"); ev.Text != "across" || ev.Seq != 1 {
			t.Errorf("got %+v", ev)
		}
	}
	go answerClose(ann)
	go answerClose(bob)
	if code := stopA(); code != 0 {
		t.Fatalf("node A: exit %d", code)
	}
	if code := stopB(); code != 0 {
		t.Fatalf("node B: exit %d", code)
	}
}

// TestHsAllowedHosts: on a loopback address serve refuses a foreign Host
// (DNS rebinding) on the page and the WebSocket endpoint, serves loopback
// names, and -allowed-hosts widens the list.
func TestHsAllowedHosts(t *testing.T) {
	get := func(addr, host string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	upgrade := func(addr, host string) int {
		t.Helper()
		resp := testutil.RawHTTP(t, addr, "GET /ws HTTP/1.1\r\nHost: "+host+"\r\nOrigin: http://"+host+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		return resp.StatusCode
	}
	addr, stop := startServe(t, "-addr", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(addr)
	if got := upgrade(addr, "rebound.example:"+port); got != 403 {
		t.Errorf("WebSocket with a rebound Host: %d, want 403", got)
	}
	if got := upgrade(addr, addr); got != 101 {
		t.Errorf("WebSocket with a loopback Host: %d, want 101", got)
	}
	for host, want := range map[string]int{"rebound.example:" + port: 403, "localhost:" + port: 200, addr: 200, "[::1]:" + port: 200} {
		if got := get(addr, host); got != want {
			t.Errorf("default, Host %s: %d, want %d", host, got, want)
		}
	}
	stop()
	t.Setenv("WS4GO_ALLOWED_HOSTS", "app.example")
	addr, stop = startServe(t, "-addr", "127.0.0.1:0")
	if got := get(addr, "app.example"); got != 200 {
		t.Errorf("-allowed-hosts app.example: %d", got)
	}
	if got := get(addr, "localhost"); got != 403 {
		t.Errorf("-allowed-hosts app.example, Host localhost: %d", got)
	}
	stop()
	addr, stop = startServe(t, "-addr", "127.0.0.1:0", "-allowed-hosts", "*")
	if got := get(addr, "rebound.example"); got != 200 {
		t.Errorf("-allowed-hosts *: %d", got)
	}
	stop()
}

// TestMaxConnectionsFlag: -max-connections reaches the Server: past it a
// WebSocket handshake gets 503 with a Retry-After.
func TestMaxConnectionsFlag(t *testing.T) {
	addr, stop := startServe(t, "-addr", "127.0.0.1:0", "-max-connections", "1")
	defer stop()
	nc, _, _, err := ws.Dial(context.Background(), "ws://"+addr+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/ws", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "13")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("the second WebSocket with -max-connections 1: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
}
