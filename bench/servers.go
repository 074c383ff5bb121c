package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A ServerSpec is a server under test: a binary that takes
//
//	-addr 127.0.0.1:PORT -metrics 127.0.0.1:PORT+1 [-mode echo|broadcast|topics] [Args...]
//
// and serves the benchmark protocol (see the package documentation).
type ServerSpec struct {
	Name   string
	Binary string   // file name in the binaries folder
	Args   []string // extra arguments
	// Raw: plain TCP, no WebSocket (the floor); it takes -mode.
	Raw bool
	// WS4Go marks ws4go's own servers: the tables give their ratio to
	// every other server.
	WS4Go bool
	// Module is the Go module the server is built with (for the report).
	Module string
	// Extra servers run only when named (-servers), not by default.
	Extra bool
	// TLS: it serves wss:// given -tls-cert and -tls-key (the wss://
	// scenarios run only such servers).
	TLS bool
	// H2: with TLS and -h2, it also serves WebSockets over HTTP/2 (RFC
	// 8441; the HTTP/2 scenarios run only such servers).
	H2 bool
	// Topics: it serves /topics (the topics scenario runs only such
	// servers; ws4go's always do).
	Topics bool
}

// servesTopics reports whether the server serves /topics.
func (s ServerSpec) servesTopics() bool {
	return s.Topics || s.WS4Go
}

// Servers are every server the benchmark knows, in the order it runs them.
var Servers = []ServerSpec{
	{Name: "ws4go-goroutine", Binary: "ws4go-server", Args: []string{"-engine", "goroutine"}, WS4Go: true, TLS: true, H2: true, Module: "github.com/ws4go/ws4go"},
	{Name: "ws4go-netpoll", Binary: "ws4go-server", Args: []string{"-engine", "netpoll"}, WS4Go: true, TLS: true, H2: true, Module: "github.com/ws4go/ws4go"},
	{Name: "gorilla", Binary: "gorilla", TLS: true, Topics: true, Module: "github.com/gorilla/websocket"},
	{Name: "nbio", Binary: "nbio", TLS: true, Topics: true, Module: "github.com/lesismal/nbio"},
	// nbio's README suggests IOModMixed for services with not too many
	// connections; it is an extra to keep the standard run short (see
	// bench/README.md).
	{Name: "nbio-mixed", Binary: "nbio", Args: []string{"-iomod", "mixed"}, TLS: true, Topics: true, Module: "github.com/lesismal/nbio", Extra: true},
	{Name: "coder", Binary: "coder", TLS: true, Topics: true, Module: "github.com/coder/websocket"},
	{Name: "gobwas", Binary: "gobwas", Module: "github.com/gobwas/ws"},
	{Name: "rawtcp", Binary: "rawtcp", Raw: true, Module: "golang.org/x/sys"},
}

// ServerNames lists the names of the servers run by default: Servers but
// the extras.
func ServerNames() []string {
	var out []string
	for _, s := range Servers {
		if !s.Extra {
			out = append(out, s.Name)
		}
	}
	return out
}

// AllServerNames lists the names of every server in Servers.
func AllServerNames() []string {
	var out []string
	for _, s := range Servers {
		out = append(out, s.Name)
	}
	return out
}

// LookupServer returns the spec named name.
func LookupServer(name string) (ServerSpec, bool) {
	for _, s := range Servers {
		if s.Name == name {
			return s, true
		}
	}
	return ServerSpec{}, false
}

// FindSource returns the root of the ws4go source tree: dir or the first of
// its parents whose go.mod declares module github.com/ws4go/ws4go.
func FindSource(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		first, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte("\n"))
		if err == nil && string(bytes.TrimSpace(first)) == "module github.com/ws4go/ws4go" {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bench: not inside the ws4go source tree (no go.mod of github.com/ws4go/ws4go); give -bin with built servers")
		}
		dir = parent
	}
}

// Build compiles the servers named (every server if none) into binDir:
// ws4go's from the main module, the peers from their own module in
// bench/peers, each only if one of its servers is named.
func Build(ctx context.Context, src, binDir string, names []string, log io.Writer) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	abs, err := filepath.Abs(binDir)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		names = AllServerNames()
	}
	var ws4go, peers bool
	for _, n := range names {
		s, ok := LookupServer(n)
		if !ok {
			return fmt.Errorf("bench: unknown server %q", n)
		}
		if s.WS4Go {
			ws4go = true
		} else {
			peers = true
		}
	}
	type step struct {
		dir   string
		args  []string
		peers bool
	}
	var steps []step
	if ws4go {
		steps = append(steps, step{src, []string{"build", "-o", filepath.Join(abs, "ws4go-server"), "./bench/cmd/ws4go-server"}, false})
	}
	if peers {
		steps = append(steps, step{filepath.Join(src, "bench", "peers"), []string{"build", "-o", abs + string(filepath.Separator), "./cmd/..."}, true})
	}
	for _, s := range steps {
		fmt.Fprintf(log, "bench: (cd %s && go %s)\n", s.dir, strings.Join(s.args, " "))
		cmd := exec.CommandContext(ctx, "go", s.args...)
		cmd.Dir = s.dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			msg := fmt.Sprintf("bench: go build in %s: %v\n%s", s.dir, err, bytes.TrimSpace(out.Bytes()))
			if s.peers && isDownloadFailure(out.String()) {
				msg += "\n" + peersDownloadHint
			}
			return errors.New(msg)
		}
	}
	return nil
}

// peersDownloadHint explains a failed build of the peers: their modules
// are not in the main module's go.sum, so the first build downloads them.
const peersDownloadHint = `bench: the peers (bench/peers, their own Go module) need their libraries
(gorilla/websocket, nbio, coder/websocket, gobwas/ws, easygo), which the
first build downloads through the Go module proxy (go env GOPROXY), and the
download failed. Run "cd bench/peers && go mod download" where the proxy is
reachable (or set GOPROXY to one that is), or measure ws4go alone:
-servers ws4go-goroutine,ws4go-netpoll.`

// isDownloadFailure reports whether go build's output says a module could
// not be downloaded or verified.
func isDownloadFailure(out string) bool {
	for _, s := range []string{
		"GOPROXY", "proxy.golang.org", "dial tcp", "no such host", "i/o timeout",
		"connection refused", "missing go.sum entry", "verifying ", "reading https://",
		"unrecognized import path", "module lookup disabled", "network is unreachable",
		"TLS handshake", "x509:",
	} {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}

// serverProc is a running server under test.
type serverProc struct {
	spec       ServerSpec
	cmd        *exec.Cmd
	addr       string
	metricsURL string // http://HOST:PORT/metrics
	gcURL      string // http://HOST:PORT/gc
	log        *os.File
	logPath    string
	exited     chan struct{}
}

// startServer runs spec on port (WebSocket) and port+1 (metrics), with
// extra arguments, its output going to logPath, and waits until it accepts
// connections.
func startServer(ctx context.Context, binDir string, spec ServerSpec, port int, mode, logPath string, extra []string) (*serverProc, error) {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	maddr := "127.0.0.1:" + strconv.Itoa(port+1)
	for _, a := range []string{addr, maddr} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("port of %s is taken", a)
		}
	}
	bin := filepath.Join(binDir, spec.Binary)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("no binary: %v", err)
	}
	args := []string{"-addr", addr, "-metrics", maddr}
	if spec.Raw {
		args = append(args, "-mode", mode)
	}
	args = append(args, spec.Args...)
	args = append(args, extra...)
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	p := &serverProc{spec: spec, cmd: cmd, addr: addr, metricsURL: "http://" + maddr + "/metrics", gcURL: "http://" + maddr + "/gc", log: lf, logPath: logPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-p.exited:
			p.stop()
			return nil, fmt.Errorf("exited at start: %s", p.logTail())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("not listening on %s after 15 s: %s", addr, p.logTail())
		}
	}
}

func (p *serverProc) pid() int { return p.cmd.Process.Pid }

// alive reports whether the server process still runs.
func (p *serverProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *serverProc) stats() (procStats, error) {
	if !p.alive() {
		return procStats{}, fmt.Errorf("%s died: %s", p.spec.Name, p.logTail())
	}
	return readProcStats(p.pid())
}

// goroutines reads go_goroutines from the server's /metrics.
func (p *serverProc) goroutines(ctx context.Context) (float64, bool) {
	return scrapeMetric(ctx, p.metricsURL, "go_goroutines")
}

// heapInuse reads go_memstats_heap_inuse_bytes from the server's /metrics.
func (p *serverProc) heapInuse(ctx context.Context) (float64, bool) {
	return scrapeMetric(ctx, p.metricsURL, "go_memstats_heap_inuse_bytes")
}

// gc asks the server to collect its garbage and return free memory to the
// operating system (its /gc), and waits for it to be done.
func (p *serverProc) gc(ctx context.Context) error {
	return postGC(ctx, p.gcURL)
}

// stop ends the server: SIGTERM, then SIGKILL after 3 s.
func (p *serverProc) stop() {
	if p.alive() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(3 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	p.log.Close()
}

// logTail is the last lines of the server's output, for error messages.
func (p *serverProc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	b = bytes.TrimSpace(b)
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	if len(lines) == 0 {
		return "(no output)"
	}
	return strings.Join(lines, " | ")
}
