package realclients

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ws4go/ws4go/internal/testutil"
)

// startEchoServer runs testutil's reference echo server on Python
// websockets on a free port of 127.0.0.1 and returns its host:port. Plain
// HTTP GETs are answered with page. The server is stopped when t ends.
func startEchoServer(t *testing.T, page string) string {
	t.Helper()
	if err := pythonCheck(); err != nil {
		t.Fatalf("the test's echo server needs Python websockets: %v", err)
	}
	cfg := map[string]string{"page": ""}
	if page != "" {
		cfg["page"] = filepath.Join(t.TempDir(), "page.html")
		if err := os.WriteFile(cfg["page"], []byte(page), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := testutil.PythonEchoServer(t, string(js))
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("echo server does not accept: %v", err)
	}
	conn.Close()
	return addr
}

var (
	nodeSteps = []string{"text", "utf8-text", "binary-0-255", "empty-text", "empty-binary",
		"1mib-binary", "1mib-text", "fragmented-text", "fragmented-utf8-split", "fragmented-binary",
		"no-unexpected-messages"}
	pythonSteps = []string{"text", "utf8-text", "binary-0-255", "empty-text", "empty-binary",
		"1mib-binary", "1mib-text", "fragmented-text", "fragmented-binary",
		"no-unexpected-messages"}
	chromiumSteps = []string{"text", "utf8-text", "binary-0-255", "empty-text", "empty-binary",
		"1mib-binary", "1mib-text", "no-unexpected-messages"}
)

func stepNames(r Report) []string {
	var names []string
	for _, e := range r.Echoes {
		names = append(names, e.Name)
	}
	return names
}

func checkReport(t *testing.T, r Report, wantSteps []string) {
	t.Helper()
	if f := r.Failures(); len(f) > 0 {
		t.Errorf("%s: failures:\n  %s\nreport: %+v", r.Client, strings.Join(f, "\n  "), r)
	}
	if got := stepNames(r); !slices.Equal(got, wantSteps) {
		t.Errorf("%s: steps %q, want %q", r.Client, got, wantSteps)
	}
}

type runFunc func(context.Context, string, Options) (Report, error)

func testClient(t *testing.T, run runFunc, steps []string) {
	addr := startEchoServer(t, "")
	url := "ws://" + addr + "/ws"
	for _, deflate := range []bool{false, true} {
		t.Run(fmt.Sprintf("echo/deflate=%v", deflate), func(t *testing.T) {
			start := time.Now()
			r, err := run(t.Context(), url, Options{Deflate: deflate})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %v", r.Client, time.Since(start))
			checkReport(t, r, steps)
			if got := strings.HasPrefix(r.Extensions, "permessage-deflate"); got != deflate {
				t.Errorf("extensions %q, want permessage-deflate: %v", r.Extensions, deflate)
			}
		})
	}
	t.Run("server-close", func(t *testing.T) {
		r, err := run(t.Context(), url, Options{Mode: ModeServerClose})
		if err != nil {
			t.Fatal(err)
		}
		if f := r.Failures(); len(f) > 0 {
			t.Errorf("failures: %q; report: %+v", f, r)
		}
	})
	t.Run("origin", func(t *testing.T) {
		r, err := run(t.Context(), url, Options{Origin: "http://" + addr})
		if err != nil {
			t.Fatal(err)
		}
		checkReport(t, r, steps)
	})
	t.Run("handshake-refused", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", http.StatusForbidden)
		}))
		defer srv.Close()
		r, err := run(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(r.Error, "handshake failed") || !strings.Contains(r.Error, "403") {
			t.Errorf("error %q, want a failed handshake with 403", r.Error)
		}
		if len(r.Failures()) == 0 {
			t.Errorf("Failures() is empty for %+v", r)
		}
	})
	t.Run("server-gone-mid-script", func(t *testing.T) {
		// A server that completes the handshake and then closes the TCP
		// connection: every step fails, the close is abnormal (1006).
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go hangUpAfterHandshake(ln)
		r, err := run(t.Context(), "ws://"+ln.Addr().String()+"/ws", Options{StepTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if r.CloseCode != 1006 || len(r.Echoes) == 0 || r.Echoes[0].OK {
			t.Errorf("report %+v, want close 1006 and failed steps", r)
		}
	})
}

// hangUpAfterHandshake accepts connections, answers each handshake and closes
// the connection.
func hangUpAfterHandshake(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			req, err := http.ReadRequest(bufio.NewReader(c))
			if err != nil {
				return
			}
			fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
				acceptKey(req.Header.Get("Sec-WebSocket-Key")))
		}()
	}
}

func TestNode(t *testing.T) {
	testutil.Slow(t)
	if err := nodeCheck(); err != nil {
		t.Fatal(err)
	}
	testClient(t, RunNode, nodeSteps)
}

func TestPython(t *testing.T) {
	testutil.Slow(t)
	testClient(t, RunPython, pythonSteps)
}

func TestRunNodeCanceled(t *testing.T) {
	testutil.Slow(t)
	if err := nodeCheck(); err != nil {
		t.Fatal(err)
	}
	// A server that never answers the handshake; the context ends first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err = RunNode(ctx, "ws://"+ln.Addr().String()+"/ws", Options{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

// watchChromium records the process group and user-data-dir of the next
// RunChromium call, and after it checks that both are gone.
func watchChromium(t *testing.T) (check func()) {
	t.Helper()
	var pid int
	var dir string
	chromiumStarted = func(p int, d string) { pid, dir = p, d }
	t.Cleanup(func() { chromiumStarted = nil })
	return func() {
		t.Helper()
		if pid == 0 {
			t.Fatal("chromium was not started")
		}
		if live := liveProcesses(pid, dir); len(live) > 0 {
			t.Errorf("chromium processes %v are still running", live)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("user-data-dir %s still exists (stat: %v)", dir, err)
		}
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			b, _ := os.ReadFile(p)
			if strings.Contains(string(b), dir) {
				t.Errorf("chromium process outlived RunChromium: %s: %q", p, b)
			}
		}
	}
}

func TestRunChromiumStaticPage(t *testing.T) {
	testutil.Slow(t)
	const page = `<!DOCTYPE html><html><body><pre id="result"></pre><script>
setTimeout(function () {
  document.getElementById("result").textContent = JSON.stringify({client: "chromium static", mode: "echo", error: "a<b & c"});
  var d = document.createElement("div"); d.id = "done"; document.body.appendChild(d);
}, 300);
</script></body></html>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	defer srv.Close()

	check := watchChromium(t)
	start := time.Now()
	dom, err := RunChromium(t.Context(), srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("chromium: %v", time.Since(start))
	check()
	if !strings.Contains(dom, `<div id="done"></div>`) {
		t.Errorf("DOM has no #done: %s", dom)
	}
	r, err := ParseChromiumResult(dom)
	if err != nil {
		t.Fatal(err)
	}
	if r.Client != "chromium static" || r.Error != "a<b & c" {
		t.Errorf("parsed %+v", r)
	}
}

func TestRunChromiumNoDone(t *testing.T) {
	testutil.Slow(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!DOCTYPE html><html><body><p id="stuck">never done</p></body></html>`)
	}))
	defer srv.Close()
	check := watchChromium(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	_, err := RunChromium(ctx, srv.URL+"/")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "never done") {
		t.Errorf("err = %v, want a deadline error showing the DOM", err)
	}
	check()
}

func TestRunChromiumNavigationFails(t *testing.T) {
	testutil.Slow(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	check := watchChromium(t)
	_, err = RunChromium(t.Context(), "http://"+addr+"/")
	if err == nil || !strings.Contains(err.Error(), "ERR_CONNECTION_REFUSED") {
		t.Errorf("err = %v, want a refused connection", err)
	}
	check()
}

func TestChromiumTestPage(t *testing.T) {
	testutil.Slow(t)
	addr := startEchoServer(t, ChromiumTestPage)
	t.Run("echo", func(t *testing.T) {
		check := watchChromium(t)
		start := time.Now()
		dom, err := RunChromium(t.Context(), "http://"+addr+"/")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("chromium: %v", time.Since(start))
		check()
		r, err := ParseChromiumResult(dom)
		if err != nil {
			t.Fatal(err)
		}
		checkReport(t, r, chromiumSteps)
		if !r.CloseClean {
			t.Errorf("close not clean: %+v", r)
		}
		// Chromium always offers permessage-deflate.
		if !strings.HasPrefix(r.Extensions, "permessage-deflate") {
			t.Errorf("extensions %q", r.Extensions)
		}
	})
	t.Run("server-close", func(t *testing.T) {
		dom, err := RunChromium(t.Context(), "http://"+addr+"/?mode=server-close")
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseChromiumResult(dom)
		if err != nil {
			t.Fatal(err)
		}
		if f := r.Failures(); len(f) > 0 || r.Mode != ModeServerClose {
			t.Errorf("failures: %q; report: %+v", f, r)
		}
	})
}

func TestFailures(t *testing.T) {
	good := Report{Client: "node-ws", Mode: ModeEcho, Echoes: []Echo{{Name: "text", OK: true}},
		Pong: true, CloseCode: EchoCloseCode, CloseReason: EchoCloseReason}
	if f := good.Failures(); f != nil {
		t.Errorf("good report: %q", f)
	}
	chromium := good
	chromium.Client, chromium.Pong = "chromium x", false
	if f := chromium.Failures(); f != nil {
		t.Errorf("chromium without pong: %q", f)
	}
	bad := good
	bad.Echoes = []Echo{{Name: "text", OK: false, Detail: "boom"}}
	bad.Pong = false
	bad.CloseCode = 1002
	bad.Error = "x"
	if f := bad.Failures(); len(f) != 4 {
		t.Errorf("bad report: %q, want 4 failures", f)
	}
	sc := Report{Mode: ModeServerClose, CloseCode: ServerCloseCode, CloseReason: ServerCloseReason}
	if f := sc.Failures(); f != nil {
		t.Errorf("server-close report: %q", f)
	}
}

// acceptKey computes Sec-WebSocket-Accept for key (RFC 6455, section 4.2.2).
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}
