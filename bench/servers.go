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
//	-addr 127.0.0.1:PORT -metrics 127.0.0.1:PORT+1 [-mode echo|broadcast] [Args...]
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
}

// Servers are every server the benchmark knows, in the order it runs them.
var Servers = []ServerSpec{
	{Name: "ws4go-goroutine", Binary: "ws4go-server", Args: []string{"-engine", "goroutine"}, WS4Go: true, Module: "github.com/ws4go/ws4go"},
	{Name: "ws4go-netpoll", Binary: "ws4go-server", Args: []string{"-engine", "netpoll"}, WS4Go: true, Module: "github.com/ws4go/ws4go"},
	{Name: "gorilla", Binary: "gorilla", Module: "github.com/gorilla/websocket"},
	{Name: "nbio", Binary: "nbio", Module: "github.com/lesismal/nbio"},
	{Name: "coder", Binary: "coder", Module: "github.com/coder/websocket"},
	{Name: "gobwas", Binary: "gobwas", Module: "github.com/gobwas/ws"},
	{Name: "rawtcp", Binary: "rawtcp", Raw: true, Module: "golang.org/x/sys"},
}

// ServerNames lists the names of Servers.
func ServerNames() []string {
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
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module github.com/ws4go/ws4go\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bench: not inside the ws4go source tree (no go.mod of github.com/ws4go/ws4go); give -bin with built servers")
		}
		dir = parent
	}
}

// Build compiles every server into binDir: ws4go's from the main module,
// the peers from their own module in bench/peers.
func Build(ctx context.Context, src, binDir string, log io.Writer) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	abs, err := filepath.Abs(binDir)
	if err != nil {
		return err
	}
	steps := []struct {
		dir  string
		args []string
	}{
		{src, []string{"build", "-o", filepath.Join(abs, "ws4go-server"), "./bench/cmd/ws4go-server"}},
		{filepath.Join(src, "bench", "peers"), []string{"build", "-o", abs + string(filepath.Separator), "./cmd/..."}},
	}
	for _, s := range steps {
		fmt.Fprintf(log, "bench: (cd %s && go %s)\n", s.dir, strings.Join(s.args, " "))
		cmd := exec.CommandContext(ctx, "go", s.args...)
		cmd.Dir = s.dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("bench: go build in %s: %v\n%s", s.dir, err, out.Bytes())
		}
	}
	return nil
}

// serverProc is a running server under test.
type serverProc struct {
	spec       ServerSpec
	cmd        *exec.Cmd
	addr       string
	metricsURL string
	log        *os.File
	logPath    string
	exited     chan struct{}
}

// startServer runs spec on port (WebSocket) and port+1 (metrics), its
// output going to logPath, and waits until it accepts connections.
func startServer(ctx context.Context, binDir string, spec ServerSpec, port int, mode, logPath string) (*serverProc, error) {
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
	p := &serverProc{spec: spec, cmd: cmd, addr: addr, metricsURL: "http://" + maddr + "/metrics", log: lf, logPath: logPath, exited: make(chan struct{})}
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

func (p *serverProc) stats() (ProcStats, error) {
	if !p.alive() {
		return ProcStats{}, fmt.Errorf("%s died: %s", p.spec.Name, p.logTail())
	}
	return ReadProcStats(p.pid())
}

// goroutines reads go_goroutines from the server's /metrics.
func (p *serverProc) goroutines(ctx context.Context) (float64, bool) {
	return scrapeMetric(ctx, p.metricsURL, "go_goroutines")
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
