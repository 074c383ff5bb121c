package client_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
)

// pythonServer runs testutil's reference echo server on Python websockets;
// config is its optional JSON argument (permessage-deflate settings).
func pythonServer(t *testing.T, config ...string) string {
	t.Helper()
	return testutil.PythonEchoServer(t, strings.Join(config, ""))
}

// nodeServer runs testdata/echo_server.js; config is its optional JSON
// argument (ws's perMessageDeflate option).
func nodeServer(t *testing.T, config ...string) string {
	env := append(os.Environ(), "NODE_PATH=/usr/share/nodejs")
	args := append([]string{filepath.Join("testdata", "echo_server.js")}, config...)
	return testutil.ScriptServer(t, "install the Debian packages nodejs and node-ws", env, "node", args...)
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
