package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

func init() {
	commands["version"] = command{run: versionCmd, summary: "print the module version and VCS revision of this binary", synopsis: "version"}
}

// versionCmd is "ws4go version" (and "ws4go -version").
func versionCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "ws4go version: unexpected arguments %q\n", args)
		return 2
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintf(stdout, "ws4go (no build information) %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	}
	fmt.Fprint(stdout, versionText(bi))
	return 0
}

// versionText says what a build is: the module's version (a tag for
// go install ...@v1.2.3, a pseudo-version or "(devel)" for a build in a
// checkout), the commit it was built from, when the build stamped one, and
// the toolchain.
//
//	ws4go v0.0.0-20261207101500-bb71b08e3c9f+dirty
//	module github.com/ws4go/ws4go
//	revision bb71b08e3c9f0c1b2a3d4e5f60718293a4b5c6d7 (2026-12-07T10:15:00Z, modified)
//	go go1.26.8 linux/amd64
func versionText(bi *debug.BuildInfo) string {
	set := map[string]string{}
	for _, s := range bi.Settings {
		set[s.Key] = s.Value
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ws4go %s\nmodule %s\n", bi.Main.Version, bi.Main.Path)
	if rev := set["vcs.revision"]; rev != "" {
		var notes []string
		if t := set["vcs.time"]; t != "" {
			notes = append(notes, t)
		}
		if set["vcs.modified"] == "true" {
			notes = append(notes, "modified")
		}
		fmt.Fprintf(&b, "revision %s", rev)
		if len(notes) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(notes, ", "))
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "go %s %s/%s\n", bi.GoVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
