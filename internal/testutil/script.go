package testutil

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ScriptServer runs a third-party server script that prints "PORT n" once
// listening on 127.0.0.1 and exits when its stdin closes, and returns
// "127.0.0.1:n". env nil is this process's environment. A missing
// interpreter or library fails the test with hint (the Debian package to
// install): nothing is skipped when the slow suites run (see Slow), and
// without them the test is skipped. When the test ends the script's stdin is
// closed, it is killed if it has not exited within 10 s, and the end of
// what it wrote to stderr is logged.
func ScriptServer(t testing.TB, hint string, env []string, bin string, args ...string) string {
	t.Helper()
	Slow(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	stderr := &Buffer{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v; %s", bin, err, hint)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if s := stderr.String(); s != "" {
			t.Logf("%s stderr: %s", filepath.Base(bin), s)
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case line, ok := <-lines:
		port, found := strings.CutPrefix(line, "PORT ")
		if !ok || !found {
			if !ok {
				<-exited // it has ended: its stderr is complete
			}
			t.Fatalf("%s %s did not start (printed %q; stderr: %s); %s", bin, strings.Join(args, " "), line, stderr.String(), hint)
		}
		return "127.0.0.1:" + port
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not print its port in 30 s; stderr: %s", bin, stderr.String())
	}
	return ""
}

// PythonEchoServer runs testdata/echo_server.py, the reference echo server
// on Python's websockets (see the script for what it does and its JSON
// config, "" for none), with WS4GO_PYTHON or else /usr/bin/python3 (Debian's,
// which sees python3-websockets).
func PythonEchoServer(t testing.TB, config string) string {
	t.Helper()
	python := os.Getenv("WS4GO_PYTHON")
	if python == "" {
		python = "/usr/bin/python3"
	}
	args := []string{filepath.Join(dir(), "testdata", "echo_server.py")}
	if config != "" {
		args = append(args, config)
	}
	return ScriptServer(t, "install the Debian package python3-websockets", nil, python, args...)
}

// dir is this package's source directory, where its testdata is, whichever
// package's test runs.
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}
