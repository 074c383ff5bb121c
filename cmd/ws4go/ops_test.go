package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ws4go/ws4go/internal/realclients"
	"github.com/ws4go/ws4go/internal/testutil"
)

var engines = []string{"goroutine", "netpoll"}

// dialWS opens a WebSocket connection (closed when the test ends, with a
// deadline against hangs).
func dialWS(t *testing.T, url string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, br, _, err := ws.Dial(ctx, url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	if br != nil {
		// What the server sent right after its handshake response.
		return &bufferedConn{Conn: nc, r: br}
	}
	return nc
}

type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// get fetches url and returns the status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// startOps runs ws4go serve with an operations listener and returns the
// WebSocket and operations addresses.
func startOps(t *testing.T, args ...string) (addr, ops string, stop func() int) {
	t.Helper()
	v, stop := startRun(t, append([]string{"serve", "-metrics-addr", "127.0.0.1:0"}, args...), "listening on ", "metrics on ")
	return v[0], v[1], stop
}

func parseExposition(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, text)
	}
	return fams
}

// TestOperations: the operations listener serves /metrics, /healthz,
// /readyz and, with -pprof, /debug/pprof/; the main listener serves the
// probes too. A short session shows up in /metrics. With WS4GOTEST_EXPOSITION
// set (make lint-metrics), the exposition is written there for promtool.
func TestOperations(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			addr, ops, stop := startOps(t, "-addr", "127.0.0.1:0", "-engine", engine, "-pprof")
			for _, u := range []string{"http://" + addr, "http://" + ops} {
				if code, body := get(t, nil, u+"/healthz"); code != 200 || body != "ok\n" {
					t.Errorf("%s/healthz: %d %q", u, code, body)
				}
				if code, body := get(t, nil, u+"/readyz"); code != 200 || body != "ready\n" {
					t.Errorf("%s/readyz: %d %q", u, code, body)
				}
			}
			if code, body := get(t, nil, "http://"+ops+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
				t.Errorf("/debug/pprof/: %d %.100q", code, body)
			}
			if code, _ := get(t, nil, "http://"+addr+"/debug/pprof/"); code != 404 {
				t.Errorf("pprof on the main listener: %d", code)
			}
			if code, _ := get(t, nil, "http://"+addr+"/metrics"); code != 404 {
				t.Errorf("metrics on the main listener: %d", code)
			}

			// A session: two echoes, a refused handshake, closes 1000
			// and 4001.
			for i, code := range []ws.StatusCode{1000, 4001} {
				nc := dialWS(t, "ws://"+addr+"/ws")
				msg := fmt.Sprintf("hello %d", i)
				if err := wsutil.WriteClientText(nc, []byte(msg)); err != nil {
					t.Fatal(err)
				}
				if got, err := wsutil.ReadServerText(nc); err != nil || string(got) != msg {
					t.Fatalf("echo %q, %v", got, err)
				}
				_ = ws.WriteFrame(nc, ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(code, ""))))
				_, _ = io.Copy(io.Discard, nc)
				nc.Close()
			}
			req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n"
			if resp := testutil.RawHTTP(t, addr, req); resp.StatusCode != 426 {
				t.Fatalf("version 7: %s", resp.Status)
			}

			var text string
			var fams map[string]*dto.MetricFamily
			deadline := time.Now().Add(10 * time.Second)
			for {
				var code int
				code, text = get(t, nil, "http://"+ops+"/metrics")
				if code != 200 {
					t.Fatalf("/metrics: %d", code)
				}
				fams = parseExposition(t, text)
				if value(fams, "ws4go_connections_closed_total", "code", "4xxx") == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the session did not show up:\n%s", text)
				}
				time.Sleep(10 * time.Millisecond)
			}
			for _, c := range []struct {
				name   string
				labels []string
				want   float64
			}{
				{"ws4go_connections_opened_total", []string{"http", "1.1"}, 2},
				{"ws4go_connections_open", nil, 0},
				{"ws4go_received_messages_total", []string{"type", "text"}, 2},
				{"ws4go_sent_messages_total", []string{"type", "text"}, 2},
				{"ws4go_received_bytes_total", []string{"type", "text"}, 14},
				{"ws4go_handshakes_rejected_total", []string{"status", "426"}, 1},
				{"ws4go_connections_closed_total", []string{"code", "1000", "initiator", "peer"}, 1},
				{"ws4go_connections_closed_total", []string{"code", "4xxx", "initiator", "peer"}, 1},
			} {
				if got := value(fams, c.name, c.labels...); got != c.want {
					t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
				}
			}
			for _, name := range []string{"go_goroutines", "process_open_fds", "ws4go_netpoll_workers_busy", "promhttp_metric_handler_requests_total"} {
				if fams[name] == nil {
					t.Errorf("no %s in /metrics", name)
				}
			}
			if path := os.Getenv("WS4GOTEST_EXPOSITION"); path != "" && engine == "netpoll" {
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if code := stop(); code != 0 {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

// value is the value of the first series of family name whose labels
// include the given name/value pairs (-1 if there is none).
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	return -1
}

// TestTLS: with -tls-cert and -tls-key the binary serves wss:// (Node's ws
// and Python's websockets run their whole echo script over it, trusting
// only the generated certificate) and the page over https://.
func TestTLS(t *testing.T) {
	testutil.Slow(t)
	certFile, keyFile, pool := testutil.WriteSelfSigned(t, t.TempDir())
	t.Setenv("NODE_EXTRA_CA_CERTS", certFile) // Node's ws
	t.Setenv("SSL_CERT_FILE", certFile)       // Python's ssl (OpenSSL)
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			addr, stop := startServe(t, "-addr", "127.0.0.1:0", "-engine", engine, "-tls-cert", certFile, "-tls-key", keyFile)
			https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			if code, body := get(t, https, "https://"+addr+"/"); code != 200 || !strings.Contains(body, "new WebSocket(") {
				t.Errorf("https page: %d %.80q", code, body)
			}
			if _, err := http.Get("http://" + addr + "/"); err == nil {
				t.Errorf("plain http on the TLS listener answered")
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for name, runClient := range map[string]func(context.Context, string, realclients.Options) (realclients.Report, error){
				"node": realclients.RunNode, "python": realclients.RunPython,
			} {
				r, err := runClient(ctx, "wss://"+addr+"/ws", realclients.Options{})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if f := r.Failures(); f != nil {
					t.Errorf("%s (%s) over wss: %s", name, r.Client, strings.Join(f, "; "))
				}
			}
			https.CloseIdleConnections()
			if code := stop(); code != 0 {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

// unixClient is Python websockets over a Unix socket (ws4py's unix-socket
// examples, on the client side): it echoes a text and a binary message and
// closes with 4001.
const unixClient = `
import asyncio, json, sys, websockets

async def main(path):
    out = {}
    async with websockets.unix_connect(path, "ws://localhost/ws") as ws:
        await ws.send("hello over a unix socket")
        out["text"] = await ws.recv()
        await ws.send(bytes(range(256)))
        out["binary"] = list(await ws.recv()) == list(range(256))
        await ws.close(code=4001, reason="bye")
        out["close"] = [ws.close_code, ws.close_reason]
    print(json.dumps(out))

asyncio.run(asyncio.wait_for(main(sys.argv[1]), 20))
`

// TestUnixSocket: -addr unix:/path serves on a Unix socket, on either
// engine; a stale socket file left by a crashed process is replaced, and
// the file is removed at exit.
func TestUnixSocket(t *testing.T) {
	testutil.Slow(t)
	script := filepath.Join(t.TempDir(), "unix_client.py")
	if err := os.WriteFile(script, []byte(unixClient), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "ws.sock")
			// A stale socket: bound, never unlinked.
			ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ul.SetUnlinkOnClose(false)
			ul.Close()

			addr, stop := startServe(t, "-addr", "unix:"+sock, "-engine", engine)
			if addr != "unix:"+sock {
				t.Fatalf("listening on %q", addr)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "/usr/bin/python3", script, sock).CombinedOutput()
			if err != nil {
				t.Fatalf("python client: %v\n%s", err, out)
			}
			var got struct {
				Text   string
				Binary bool
				Close  []any
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("python client printed %q", out)
			}
			if got.Text != "hello over a unix socket" || !got.Binary || fmt.Sprint(got.Close) != "[4001 bye]" {
				t.Errorf("python client over the Unix socket: %+v", got)
			}
			// The page too.
			c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", sock)
			}}}
			if code, _ := get(t, c, "http://localhost/healthz"); code != 200 {
				t.Errorf("/healthz over the socket: %d", code)
			}
			c.CloseIdleConnections()
			if code := stop(); code != 0 {
				t.Fatalf("exit %d", code)
			}
			if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket file left behind: %v", err)
			}
		})
	}
}

// buildBinary builds ws4go once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ws4go")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	// -buildvcs=auto: stamp the revision where the checkout allows it,
	// whatever GOFLAGS says (ws4go version prints it).
	out, err := exec.Command(goBin, "build", "-buildvcs=auto", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a ws4go serve process.
type proc struct {
	cmd       *exec.Cmd
	addr, ops string
	exited    <-chan struct{}
	stderr    *testutil.Buffer
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "WS4GO_LOG_LEVEL=debug")
	p := &proc{cmd: cmd, stderr: &testutil.Buffer{}}
	p.addr, p.ops, p.exited = testutil.StartServe(t, cmd, p.stderr)
	return p
}

// wait returns the exit code once the process has exited.
func (p *proc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("ws4go still running after %v; stderr:\n%s", within, p.stderr)
		return -1
	}
}

// TestSIGTERMDrain runs the binary as a process with clients connected and
// sends it SIGTERM: /readyz turns 503 (the operations listener stays up),
// new connections are refused, every client gets 1001, and the process
// exits 0 once they have all answered; or, when one never answers, once
// -shutdown-timeout has passed.
func TestSIGTERMDrain(t *testing.T) {
	bin := buildBinary(t)
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			p := startProc(t, bin, "-engine", engine, "-shutdown-timeout", "20s")
			var clients []net.Conn
			for range 3 {
				nc := dialWS(t, "ws://"+p.addr+"/ws")
				if err := wsutil.WriteClientText(nc, []byte("before")); err != nil {
					t.Fatal(err)
				}
				if m, err := wsutil.ReadServerText(nc); err != nil || string(m) != "before" {
					t.Fatalf("echo %q %v", m, err)
				}
				clients = append(clients, nc)
			}
			if code, _ := get(t, nil, "http://"+p.ops+"/readyz"); code != 200 {
				t.Fatalf("/readyz before SIGTERM: %d", code)
			}
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			for i, nc := range clients {
				f, err := ws.ReadFrame(nc)
				if err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
				if code, _ := ws.ParseCloseFrameData(f.Payload); f.Header.OpCode != ws.OpClose || code != ws.StatusGoingAway {
					t.Fatalf("client %d got %v %q, want close 1001", i, f.Header.OpCode, f.Payload)
				}
			}
			// The first two answer; the last one takes its time.
			for _, nc := range clients[:2] {
				_ = ws.WriteFrame(nc, ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, ""))))
			}
			if code, body := get(t, nil, "http://"+p.ops+"/readyz"); code != 503 || body != "draining\n" {
				t.Errorf("/readyz while draining: %d %q", code, body)
			}
			if code, _ := get(t, nil, "http://"+p.ops+"/healthz"); code != 200 {
				t.Errorf("/healthz while draining: %d", code)
			}
			if nc, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
				nc.Close()
				t.Errorf("a new connection was accepted while draining")
			}
			select {
			case <-p.exited:
				t.Fatalf("exited before the last client answered; stderr:\n%s", p.stderr)
			case <-time.After(100 * time.Millisecond):
			}
			_ = ws.WriteFrame(clients[2], ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, ""))))
			if code := p.wait(t, 10*time.Second); code != 0 {
				t.Fatalf("exit code %d; stderr:\n%s", code, p.stderr)
			}
			for i, nc := range clients {
				if n, err := io.Copy(io.Discard, nc); n != 0 || err != nil {
					t.Errorf("client %d: %d bytes, %v after the close", i, n, err)
				}
			}
		})
	}
	t.Run("deadline", func(t *testing.T) {
		p := startProc(t, bin, "-shutdown-timeout", "300ms", "-close-timeout", "1m")
		nc := dialWS(t, "ws://"+p.addr+"/ws")
		// An echo first: the connection is then surely open (see the
		// note on Shutdown and connections that join while it runs).
		if err := wsutil.WriteClientText(nc, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := wsutil.ReadServerText(nc); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("exit code %d; stderr:\n%s", code, p.stderr)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("exited after %v, before the deadline", d)
		}
		if !strings.Contains(p.stderr.String(), "shutdown deadline passed") {
			t.Errorf("no word of the deadline in the log:\n%s", p.stderr)
		}
	})
}
