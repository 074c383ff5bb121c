package client_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
)

// scriptServer runs a third-party echo server script (testdata/) that prints
// "PORT n" once listening and exits when its stdin closes; it returns
// "127.0.0.1:n". A missing interpreter or library fails the test with the
// Debian package to install: nothing is skipped.
func scriptServer(t *testing.T, hint string, env []string, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stderr = os.Stderr
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
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
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
			t.Fatalf("%s %s did not start (printed %q); %s", bin, strings.Join(args, " "), line, hint)
		}
		return "127.0.0.1:" + port
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not print its port in 30 s", bin)
	}
	return ""
}

// pythonServer runs testdata/echo_server.py; config is its optional JSON
// argument (permessage-deflate settings).
func pythonServer(t *testing.T, config ...string) string {
	python := os.Getenv("WS4GO_PYTHON")
	if python == "" {
		python = "/usr/bin/python3" // Debian's, which sees python3-websockets
	}
	args := append([]string{filepath.Join("testdata", "echo_server.py")}, config...)
	return scriptServer(t, "install the Debian package python3-websockets", nil, python, args...)
}

// nodeServer runs testdata/echo_server.js; config is its optional JSON
// argument (ws's perMessageDeflate option).
func nodeServer(t *testing.T, config ...string) string {
	env := append(os.Environ(), "NODE_PATH=/usr/share/nodejs")
	args := append([]string{filepath.Join("testdata", "echo_server.js")}, config...)
	return scriptServer(t, "install the Debian packages nodejs and node-ws", env, "node", args...)
}

func thirdParty(t *testing.T, addr string) {
	t.Run("echo", func(t *testing.T) { echoChecks(t, "ws://"+addr+"/", nil) })
	t.Run("echo uncompressed", func(t *testing.T) {
		echoChecks(t, "ws://"+addr+"/", &client.Options{Compression: client.Compression{Disable: true}})
	})
	t.Run("server closes", func(t *testing.T) {
		r := newRecorder()
		c := dial(t, "ws://"+addr+"/", r, nil)
		_ = c.SendText("close-me 4002 going")
		r.expectClosed(t, 4002, "going")
	})
	t.Run("subprotocol", func(t *testing.T) {
		r := newRecorder()
		c := dial(t, "ws://"+addr+"/", r, &client.Options{Subprotocols: []string{"x.v9", "chat.v1"}})
		if c.Subprotocol() != "chat.v1" {
			t.Fatalf("Subprotocol %q, want chat.v1", c.Subprotocol())
		}
		_ = c.Close(handler.CloseGoingAway, "")
		r.expectClosed(t, handler.CloseGoingAway, "")
	})
}

func TestPythonWebsocketsServer(t *testing.T) { thirdParty(t, pythonServer(t)) }

func TestNodeWsServer(t *testing.T) { thirdParty(t, nodeServer(t)) }
