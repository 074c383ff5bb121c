// Package xconnect, imported for its side effect, turns on RFC 8441
// extended CONNECT (WebSocket over HTTP/2) in Go's HTTP/2 code:
//
//	import _ "github.com/ws4go/ws4go/xconnect"
//
// Go 1.26's net/http (and golang.org/x/net/http2) speak extended CONNECT
// only when the GODEBUG environment variable holds http2xconnect=1 as they
// initialise (Go issue 71128); it is not a registered GODEBUG setting, so a
// //go:debug directive does not set it. This package adds it to GODEBUG in
// its own init, which Go runs before net/http's: since Go 1.21 packages are
// initialised in import-path order among those whose imports are ready,
// this package imports only os and strings (both imported by net/http), and
// "github.com/..." sorts before "net/http" and "golang.org/x/net/http2".
//
// The variable is then also in the environment of child processes. A
// GODEBUG that already says http2xconnect=0 is left alone. Setting
// GODEBUG=http2xconnect=1 before the program starts does the same.
package xconnect

import (
	"os"
	"strings"
)

func init() {
	e := os.Getenv("GODEBUG")
	if strings.Contains(e, "http2xconnect=") {
		return
	}
	if e != "" {
		e += ","
	}
	_ = os.Setenv("GODEBUG", e+"http2xconnect=1")
}
