package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ws4go/ws4go/internal/conformance"
	"github.com/ws4go/ws4go/server"
)

// TestConformanceDeflate runs the suite's permessage-deflate family (RFC
// 7692, family 10: negotiation, compressed echoes in the shape of Autobahn's
// 12.x and 13.x, protocol errors, decompression bombs) against each engine
// with compression enabled. Every case must be OK; the table is printed with
// -v and on failure.
func TestConformanceDeflate(t *testing.T) {
	cases := conformance.CompressionCases()
	if testing.Short() {
		var quick []conformance.Case
		for _, c := range cases {
			if !c.Heavy {
				quick = append(quick, c)
			}
		}
		cases = quick
	}
	forEngine(t, func(t *testing.T, e server.Engine) {
		addr := start(t, e, &server.Server{Compression: true, MaxMessageSize: 32 << 20, PingInterval: -1})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		results := conformance.Run(ctx, conformance.Target{Addr: addr, Path: "/ws"}, cases)
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
	})
}
