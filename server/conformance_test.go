package server_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/ws4go/ws4go/internal/conformance"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

// TestConformance runs the repository's strict RFC 6455 case suite (the
// Autobahn families 1–9) against each engine. Every case must be OK; the
// table is printed with -v and on failure.
func TestConformance(t *testing.T) {
	testutil.Slow(t)
	// The four conformance runs go two at a time (-parallel: GOMAXPROCS):
	// a run is one client and one server, about a core between them.
	t.Parallel()
	cases := conformance.Cases()
	if testing.Short() {
		cases = conformance.Quick()
	}
	forEngine(t, func(t *testing.T, e server.Engine) {
		addr := start(t, e, &server.Server{MaxMessageSize: 32 << 20, PingInterval: -1})
		checkConformance(t, addr, cases)
	})
}

// checkConformance runs cases against the server at addr and fails the test
// with the results table if any case failed (the table is logged with -v
// otherwise).
func checkConformance(t *testing.T, addr string, cases []conformance.Case) {
	t.Helper()
	checkConformanceTarget(t, conformance.Target{Addr: addr, Path: "/ws"}, cases)
}

// checkConformanceTarget is checkConformance against any target (over TLS).
func checkConformanceTarget(t *testing.T, target conformance.Target, cases []conformance.Case) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	results := conformance.Run(ctx, target, cases)
	var table strings.Builder
	conformance.WriteTable(&table, results)
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d cases FAILED:\n%s", failed, len(results), table.String())
	} else {
		t.Logf("%d cases, all OK:\n%s", len(results), table.String())
	}
}

// TestConformanceTLS runs the same suite over wss:// (Server.TLSConfig) on
// each engine: records split, joined and delayed by TLS must not change any
// outcome.
func TestConformanceTLS(t *testing.T) {
	testutil.Slow(t)
	t.Parallel() // two runs at a time: see TestConformance
	cases := conformance.Cases()
	if testing.Short() {
		cases = conformance.Quick()
	}
	forEngine(t, func(t *testing.T, e server.Engine) {
		cert, pool := testutil.SelfSigned(t)
		addr := start(t, e, &server.Server{MaxMessageSize: 32 << 20, PingInterval: -1,
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
		checkConformanceTarget(t, conformance.Target{Addr: addr, Path: "/ws",
			TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}, cases)
	})
}
