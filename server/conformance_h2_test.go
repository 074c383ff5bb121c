package server_test

import (
	"crypto/tls"
	"testing"

	"golang.org/x/net/http2"

	"github.com/ws4go/ws4go/internal/conformance"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
	_ "github.com/ws4go/ws4go/xconnect"
)

// TestConformanceHTTP2 runs the suite (families 1–9, and 10 with
// compression on) with every case's WebSocket on an HTTP/2 stream (RFC
// 8441) of the standalone TLS listener, on each engine. The streams of
// consecutive cases share the transport's TCP connections; the stream's
// END_STREAM stands for the TCP close the cases expect. Family 10 runs on
// the netpoll engine only: past ALPN both engines hand the connection to
// the same net/http server and the same stream loop, and its 1,180 cases
// would double the package's time for no other path.
func TestConformanceHTTP2(t *testing.T) {
	testutil.Slow(t)
	t.Parallel() // two runs at a time: see TestConformance
	cases := conformance.Cases()
	var deflate []conformance.Case
	for _, c := range conformance.CompressionCases() {
		if !testing.Short() || !c.Heavy {
			deflate = append(deflate, c)
		}
	}
	if testing.Short() {
		cases = conformance.Quick()
	}
	forEngine(t, func(t *testing.T, e server.Engine) {
		cert, pool := testutil.SelfSigned(t)
		for _, run := range []struct {
			name     string
			compress bool
			cases    []conformance.Case
		}{{"plain", false, cases}, {"deflate", true, deflate}} {
			if run.compress && e != server.EngineNetpoll {
				continue
			}
			t.Run(run.name, func(t *testing.T) {
				addr := start(t, e, &server.Server{MaxMessageSize: 32 << 20, PingInterval: -1, Compression: run.compress,
					TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}})
				tr := &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
				t.Cleanup(tr.CloseIdleConnections)
				checkConformanceTarget(t, conformance.Target{Addr: addr, Path: "/ws", HTTP2: tr}, run.cases)
			})
		}
	})
}
