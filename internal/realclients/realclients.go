// Package realclients drives real third-party WebSocket clients — Node's ws,
// Python's websockets and a headless Chromium — against a WebSocket echo
// server and reports what they saw, so that server tests can assert on it.
//
// The Node and Python clients run a fixed script (see RunNode) against an echo
// server and print a JSON report that is parsed into a Report. Chromium loads
// ChromiumTestPage (served by the test's server) through RunChromium; the page
// writes a report of the same shape that ParseChromiumResult extracts.
//
// The clients are Debian packages. Nothing here skips when one is missing: the
// Run functions fail with an error that wraps ErrNotInstalled and names the
// package to install. Install them with
//
//	apt-get install nodejs node-ws python3-websockets chromium
//
// The interpreters can be overridden with the environment variables
// WS4GO_NODE (default "node" from PATH), WS4GO_PYTHON (default
// "/usr/bin/python3", since another python3 first on PATH may not see
// Debian's packages) and WS4GO_CHROMIUM (default "/usr/bin/chromium").
package realclients

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed node_client.js
var nodeClientJS []byte

//go:embed python_client.py
var pythonClientPy []byte

// Values of the fixed client scripts, for assertions.
const (
	// EchoCloseCode is the close code the clients send at the end of
	// ModeEcho; an echo server answers with the same code.
	EchoCloseCode = 4001
	// EchoCloseReason is the close reason sent with EchoCloseCode.
	EchoCloseReason = "bye now"
	// ServerCloseMessage is the text message the clients send in
	// ModeServerClose. The server's test handler is expected to answer it by
	// closing the connection with ServerCloseCode and ServerCloseReason.
	ServerCloseMessage = "close-me 4002 going"
	// ServerCloseCode is the close code expected from the server in
	// ModeServerClose.
	ServerCloseCode = 4002
	// ServerCloseReason is the close reason expected from the server in
	// ModeServerClose.
	ServerCloseReason = "going"
	// PingPayload is the payload of the ping the Node and Python clients
	// send; Report.Pong is true when a pong with this payload came back.
	PingPayload = "p1"
)

// Mode selects the script a client runs.
type Mode string

const (
	// ModeEcho sends a fixed series of messages (text, multi-byte UTF-8,
	// binary 0..255, empty text, empty binary, 1 MiB binary, 1 MiB text,
	// fragmented messages), expects each to be echoed back unchanged, sends a
	// ping with PingPayload and finally closes with EchoCloseCode and
	// EchoCloseReason, recording the close code and reason the server
	// answered with.
	ModeEcho Mode = "echo"
	// ModeServerClose sends ServerCloseMessage and records the close code and
	// reason the server then closes the connection with.
	ModeServerClose Mode = "server-close"
)

// Options configures RunNode and RunPython. The zero value runs ModeEcho
// without compression.
type Options struct {
	// Mode is the script to run; empty means ModeEcho.
	Mode Mode
	// Deflate makes the client offer permessage-deflate (RFC 7692). Node's ws
	// is then configured to compress every message (threshold 0), not only
	// those of 1 KiB or more; Python's websockets compresses every message.
	Deflate bool
	// Origin, if not empty, is sent as the Origin header. Non-browser
	// clients send none by default.
	Origin string
	// Subprotocols are offered in Sec-WebSocket-Protocol; the negotiated one
	// is reported in Report.Protocol. Node's ws fails the handshake ("Server
	// sent no subprotocol") when the server then selects none; Python's
	// websockets accepts that.
	Subprotocols []string
	// StepTimeout bounds each step of the script (one echo, the pong, the
	// closing handshake); zero means 10 s. A step that times out is reported
	// as failed and the steps after it are not run.
	StepTimeout time.Duration
}

// Echo is the outcome of one step of the script.
type Echo struct {
	// Name identifies the step, e.g. "text", "1mib-binary",
	// "fragmented-text", or "no-unexpected-messages" (the server sent no
	// message that no step asked for).
	Name string `json:"name"`
	// OK is true when the expected message came back unchanged, with the
	// right type (text or binary).
	OK bool `json:"ok"`
	// Detail describes what was received (type, length, sha256 prefix) or
	// why the step failed.
	Detail string `json:"detail"`
}

// Report is what a client saw. It is decoded from the JSON the client scripts
// and ChromiumTestPage produce.
type Report struct {
	// Client names the client and its version, e.g. "node-ws 8.11.0".
	Client string `json:"client"`
	// Mode is the script that ran.
	Mode Mode `json:"mode"`
	// Echoes lists the steps of ModeEcho in order. In ModeServerClose it
	// holds only a failed "no-unexpected-messages" entry if the server sent a
	// message before closing.
	Echoes []Echo `json:"echoes"`
	// Pong is true when a pong carrying PingPayload answered the client's
	// ping. Browsers cannot send pings, so it is always false for Chromium.
	Pong bool `json:"pong"`
	// PongPayload is the payload of the pong received, if any.
	PongPayload string `json:"pong_payload"`
	// CloseCode is the status code of the close frame the client received
	// from the server: 1005 if it carried none, 1006 if the connection ended
	// without one.
	CloseCode int `json:"close_code"`
	// CloseReason is the reason of the close frame the client received.
	CloseReason string `json:"close_reason"`
	// CloseClean is the browser's CloseEvent.wasClean (Chromium only).
	CloseClean bool `json:"close_clean"`
	// Extensions is the negotiated Sec-WebSocket-Extensions response header
	// (for Chromium, WebSocket.extensions), empty when none.
	Extensions string `json:"extensions"`
	// Protocol is the negotiated subprotocol, empty when none.
	Protocol string `json:"protocol"`
	// Error reports a failure outside the steps: a failed handshake
	// ("handshake failed: ..."), a protocol error the client detected, or a
	// closing handshake that did not complete.
	Error string `json:"error"`
}

// Failures lists everything in r that differs from a correct echo server's
// behaviour, for the script r.Mode: in ModeEcho, a non-empty Error, each step
// that failed, a missing pong (except for Chromium, which cannot ping) and a
// close other than EchoCloseCode/EchoCloseReason; in ModeServerClose, a
// non-empty Error, unexpected messages and a close other than
// ServerCloseCode/ServerCloseReason. It returns nil when all is well.
func (r Report) Failures() []string {
	var out []string
	if r.Error != "" {
		out = append(out, "error: "+r.Error)
	}
	for _, e := range r.Echoes {
		if !e.OK {
			out = append(out, fmt.Sprintf("step %s failed: %s", e.Name, e.Detail))
		}
	}
	wantCode, wantReason := EchoCloseCode, EchoCloseReason
	if r.Mode == ModeServerClose {
		wantCode, wantReason = ServerCloseCode, ServerCloseReason
	} else {
		if len(r.Echoes) == 0 {
			out = append(out, "no step ran")
		}
		if !r.Pong && !strings.HasPrefix(r.Client, "chromium") {
			out = append(out, fmt.Sprintf("no pong with payload %q (got %q)", PingPayload, r.PongPayload))
		}
	}
	if r.CloseCode != wantCode || r.CloseReason != wantReason {
		out = append(out, fmt.Sprintf("close: got %d %q, want %d %q", r.CloseCode, r.CloseReason, wantCode, wantReason))
	}
	return out
}

// ErrNotInstalled is wrapped by the errors the Run functions return when the
// client program or its WebSocket library is not installed.
var ErrNotInstalled = errors.New("realclients: client not installed")

const (
	nodeInstallHint     = "install the Debian packages nodejs and node-ws (apt-get install nodejs node-ws)"
	pythonInstallHint   = "install the Debian package python3-websockets (apt-get install python3-websockets)"
	chromiumInstallHint = "install the Debian package chromium (apt-get install chromium)"
)

func nodeBin() string   { return envOr("WS4GO_NODE", "node") }
func pythonBin() string { return envOr("WS4GO_PYTHON", "/usr/bin/python3") }

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// nodeEnv is the environment for node: NODE_PATH gains Debian's module
// directory, where node-ws installs ws.
func nodeEnv() []string {
	p := "/usr/share/nodejs"
	if old := os.Getenv("NODE_PATH"); old != "" {
		p = old + string(os.PathListSeparator) + p
	}
	return append(os.Environ(), "NODE_PATH="+p)
}

// availability caches the result of probing for a client.
type availability struct {
	once sync.Once
	err  error
}

func (a *availability) check(probe func() error) error {
	a.once.Do(func() { a.err = probe() })
	return a.err
}

var nodeAvail, pythonAvail, chromiumAvail availability

func probe(hint string, env []string, name string, args ...string) error {
	path, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("%w: %s not found (%v); %s", ErrNotInstalled, name, err, hint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v: %s; %s", ErrNotInstalled, path, strings.Join(args, " "), err,
			bytes.TrimSpace(out), hint)
	}
	return nil
}

func nodeCheck() error {
	return nodeAvail.check(func() error {
		return probe(nodeInstallHint, nodeEnv(), nodeBin(), "-e", "require('ws')")
	})
}

func pythonCheck() error {
	return pythonAvail.check(func() error {
		return probe(pythonInstallHint, nil, pythonBin(), "-c",
			"import websockets, sys; sys.exit(0 if int(websockets.__version__.split('.')[0]) >= 10 else 'websockets >= 10 needed, have ' + websockets.__version__)")
	})
}

// NodeAvailable reports whether node and its ws module (Debian node-ws) can be
// run. The probe runs once per process.
func NodeAvailable() bool { return nodeCheck() == nil }

// PythonAvailable reports whether the Python interpreter (WS4GO_PYTHON,
// default /usr/bin/python3) can import websockets 10 or later (Debian
// python3-websockets). The probe runs once per process.
func PythonAvailable() bool { return pythonCheck() == nil }

// RunNode runs the Node ws client script against the echo server at url
// (ws:// or wss://) and returns its report. Failed checks are reported in the
// Report, not as an error; the error is non-nil only when the client could not
// run (see ErrNotInstalled), crashed, or ctx ended first.
//
// ModeEcho runs these steps, in order: "text", "utf8-text", "binary-0-255",
// "empty-text", "empty-binary", "1mib-binary" (random bytes), "1mib-text"
// (multi-byte UTF-8), "fragmented-text" (three frames), "fragmented-utf8-split"
// (one 4-byte UTF-8 character split over three frames), "fragmented-binary",
// the ping, "no-unexpected-messages", then the close.
func RunNode(ctx context.Context, url string, opts Options) (Report, error) {
	if err := nodeCheck(); err != nil {
		return Report{}, err
	}
	return runScript(ctx, "node", nodeBin(), nodeEnv(), "node_client.js", nodeClientJS, url, opts)
}

// RunPython runs the Python websockets client script against the echo server
// at url and returns its report; see RunNode. The steps are those of RunNode
// except "fragmented-utf8-split": websockets encodes each text fragment on its
// own, so it cannot split a character. Its fragmented messages are sent from
// a list (text) and from an async generator (binary).
func RunPython(ctx context.Context, url string, opts Options) (Report, error) {
	if err := pythonCheck(); err != nil {
		return Report{}, err
	}
	return runScript(ctx, "python", pythonBin(), nil, "python_client.py", pythonClientPy, url, opts)
}

func runScript(ctx context.Context, what, bin string, env []string, file string, script []byte, url string, opts Options) (Report, error) {
	dir, err := os.MkdirTemp("", "realclients-")
	if err != nil {
		return Report{}, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, script, 0o600); err != nil {
		return Report{}, err
	}

	mode := opts.Mode
	if mode == "" {
		mode = ModeEcho
	}
	step := opts.StepTimeout
	if step <= 0 {
		step = 10 * time.Second
	}
	deflate := "0"
	if opts.Deflate {
		deflate = "1"
	}
	args := []string{path,
		"--mode=" + string(mode),
		"--deflate=" + deflate,
		"--step-timeout-ms=" + strconv.FormatInt(step.Milliseconds(), 10),
	}
	if opts.Origin != "" {
		args = append(args, "--origin="+opts.Origin)
	}
	if len(opts.Subprotocols) > 0 {
		args = append(args, "--protocols="+strings.Join(opts.Subprotocols, ","))
	}
	args = append(args, url)

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	if ctx.Err() != nil {
		return Report{}, fmt.Errorf("realclients: %s client stopped after %v: %w; stderr: %s",
			what, time.Since(start).Round(time.Millisecond), ctx.Err(), tail(stderr.Bytes()))
	}
	if err != nil {
		return Report{}, fmt.Errorf("realclients: %s client crashed: %v; stderr: %s", what, err, tail(stderr.Bytes()))
	}
	var r Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return Report{}, fmt.Errorf("realclients: %s client printed no valid report (%v); stdout: %s; stderr: %s",
			what, err, tail(stdout.Bytes()), tail(stderr.Bytes()))
	}
	return r, nil
}

// tail returns the end of a process's output, for error messages.
func tail(b []byte) string {
	const max = 4096
	b = bytes.TrimSpace(b)
	if len(b) > max {
		b = append([]byte("..."), b[len(b)-max:]...)
	}
	if len(b) == 0 {
		return "(empty)"
	}
	return string(b)
}
