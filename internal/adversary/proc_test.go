//go:build linux

package adversary

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ws4go/ws4go/internal/testutil"
)

// advBin is the ws4go binary TestMain builds once, without -race: the
// figures measured are those of the real server.
var advBin string

// advHelp is `ws4go serve -h`: scenarios that need a flag not every
// version has probe it here.
var advHelp string

func TestMain(m *testing.M) {
	if !testutil.SlowEnabled() {
		fmt.Println("internal/adversary: a slow suite: set " + testutil.SlowEnv + "=1 to run it (make test does)")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "ws4go-adversary-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := advBuild(dir)
	if code == 0 {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// advBuild builds the binary, or takes $ADVERSARY_BIN (a ws4go built
// elsewhere, to attack another version).
func advBuild(dir string) int {
	if bin := os.Getenv("ADVERSARY_BIN"); bin != "" {
		advBin = bin
		out, _ := exec.Command(advBin, "serve", "-h").CombinedOutput()
		advHelp = string(out)
		return 0
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	advBin = filepath.Join(dir, "ws4go")
	cmd := exec.Command(goBin, "build", "-o", advBin, "github.com/ws4go/ws4go/cmd/ws4go")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	// serve -h prints its usage on stdout and exits 0.
	out, _ := exec.Command(advBin, "serve", "-h").CombinedOutput()
	advHelp = string(out)
	return 0
}

// advHasFlag reports whether ws4go serve has the flag -name.
func advHasFlag(name string) bool {
	// flag prints "  -name type" or, for a bool, "  -name" alone.
	return strings.Contains(advHelp, "\n  -"+name+" ") || strings.Contains(advHelp, "\n  -"+name+"\n")
}

// advEngines are the engines every scenario runs on.
var advEngines = []string{"netpoll", "goroutine"}

// advEachEngine runs f as a subtest per engine.
func advEachEngine(t *testing.T, f func(t *testing.T, engine string)) {
	for _, e := range advEngines {
		t.Run(e, func(t *testing.T) { f(t, e) })
	}
}

// advProc is a running `ws4go serve`.
type advProc struct {
	cmd       *exec.Cmd
	addr, ops string
	exited    <-chan struct{}
	stderr    *testutil.Buffer
	metrics   *http.Client
	// dial is how a client connects (TLS for advStartTLS).
	dial advDialOpts
}

// advStart runs ws4go serve on a free 127.0.0.1 port with the operations
// listener on another, the given engine and extra flags; the process is
// killed when the test ends if it is still running.
func advStart(t *testing.T, engine string, args ...string) *advProc {
	t.Helper()
	all := append([]string{"serve", "-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0",
		"-engine", engine, "-log-level", "warn"}, args...)
	cmd := exec.Command(advBin, all...)
	// Should the test process die without its cleanups, the server dies
	// with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// No WS4GO_ variable of the caller's environment changes the figures.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WS4GO_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	p := &advProc{
		cmd: cmd, stderr: &testutil.Buffer{},
		metrics: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	p.addr, p.ops, p.exited = testutil.StartServe(t, cmd, p.stderr)
	return p
}

// advStatus is what /proc/PID tells of the process.
type advStatus struct {
	RSS, HWM int64 // bytes
	// Anon is the anonymous part of RSS (the rest is the binary's
	// pages, mapped from its file as code runs for the first time).
	Anon    int64
	Threads int
	FDs     int
	// Rchar is the bytes the process has read by read(2) and its kind,
	// from sockets included (/proc/PID/io).
	Rchar int64
}

func (s advStatus) String() string {
	return fmt.Sprintf("rss=%.1fMiB hwm=%.1fMiB threads=%d fds=%d", advMiB(s.RSS), advMiB(s.HWM), s.Threads, s.FDs)
}

func advMiB(b int64) float64 { return float64(b) / (1 << 20) }

// status reads /proc/PID/status and counts /proc/PID/fd.
func (p *advProc) status(t *testing.T) advStatus {
	t.Helper()
	pid := p.cmd.Process.Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("ws4go gone? %v; stderr:\n%s", err, p.stderr)
	}
	var s advStatus
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			s.RSS = n << 10
		case "VmHWM":
			s.HWM = n << 10
		case "RssAnon":
			s.Anon = n << 10
		case "Threads":
			s.Threads = int(n)
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	s.FDs = len(fds)
	if io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid)); err == nil {
		for _, line := range strings.Split(string(io), "\n") {
			if v, ok := strings.CutPrefix(line, "rchar: "); ok {
				s.Rchar, _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return s
}

// advMetrics is one scrape of /metrics: the value of every series, keyed
// by its name and labels as exposed (name{label="v",...}).
type advMetrics map[string]float64

// scrape reads the binary's /metrics.
func (p *advProc) scrape(t *testing.T) advMetrics {
	t.Helper()
	resp, err := p.metrics.Get("http://" + p.ops + "/metrics")
	if err != nil {
		t.Fatalf("/metrics: %v; stderr:\n%s", err, p.stderr)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	m := advMetrics{}
	for _, line := range bytes.Split(body, []byte("\n")) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		i := bytes.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(string(line[i+1:]), 64)
		if err == nil {
			m[string(line[:i])] = v
		}
	}
	return m
}

// sum adds every series of the metric name whose labels contain each of
// the given label="value" pairs.
func (m advMetrics) sum(name string, labels ...string) float64 {
	var total float64
next:
	for k, v := range m {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(k, l) {
				continue next
			}
		}
		total += v
	}
	return total
}

// advFigures are the figures a scenario compares with its baseline.
type advFigures struct {
	advStatus
	Open, Buffered, Goroutines float64
}

func (f advFigures) String() string {
	return fmt.Sprintf("%v open=%.0f buffered=%.0f goroutines=%.0f", f.advStatus, f.Open, f.Buffered, f.Goroutines)
}

func (p *advProc) figures(t *testing.T) advFigures {
	t.Helper()
	// /proc first: the scrape's own connection is then gone from both.
	st := p.status(t)
	m := p.scrape(t)
	return advFigures{
		advStatus:  st,
		Open:       m.sum("ws4go_connections_open"),
		Buffered:   m.sum("ws4go_buffered_bytes"),
		Goroutines: m.sum("go_goroutines"),
	}
}

// waitFigures polls the figures until ok accepts them or within passes;
// it returns the last figures and whether ok accepted them.
func (p *advProc) waitFigures(t *testing.T, within time.Duration, ok func(advFigures) bool) (advFigures, bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for {
		f := p.figures(t)
		if ok(f) {
			return f, true
		}
		if time.Now().After(deadline) {
			return f, false
		}
		<-tk.C
	}
}

// exitCode waits for the process to exit and returns its code, or -1 if
// it is still running after within.
func (p *advProc) exitCode(within time.Duration) int {
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		return -1
	}
}

// waitMetric polls /metrics until the sum of a metric's series (with the
// given labels) reaches want or within passes.
func (p *advProc) waitMetric(t *testing.T, within time.Duration, name string, want float64, labels ...string) (advMetrics, bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for {
		m := p.scrape(t)
		if m.sum(name, labels...) >= want {
			return m, true
		}
		if time.Now().After(deadline) {
			return m, false
		}
		<-tk.C
	}
}
