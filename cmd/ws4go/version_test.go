package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionText: the version, the module, the revision with its time
// and whether the tree was modified, and the toolchain.
func TestVersionText(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/ws4go/ws4go", Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "bb71b08e3c9f"}, {Key: "vcs.time", Value: "2026-12-07T10:15:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	want := "ws4go v1.2.3\nmodule github.com/ws4go/ws4go\nrevision bb71b08e3c9f (2026-12-07T10:15:00Z, modified)\ngo go1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if got := versionText(bi); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	bi.Settings = nil // go install ...@v1.2.3: no VCS information
	if got := versionText(bi); strings.Contains(got, "revision") {
		t.Errorf("a revision without VCS information:\n%s", got)
	}
	var stderr strings.Builder
	if code := run(context.Background(), []string{"version", "extra"}, &stderr, &stderr); code != 2 {
		t.Errorf("version extra: exit %d, %q", code, stderr.String())
	}
}

// TestVersion builds the binary and checks that ws4go version (and
// -version) print what the build recorded, as go version -m reads it.
func TestVersion(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("ws4go version: %v", err)
	}
	alias, err := exec.Command(bin, "-version").Output()
	if err != nil || string(alias) != string(out) {
		t.Errorf("ws4go -version: %q, %v; want what version prints", alias, err)
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	m, err := exec.Command(goBin, "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	info := map[string]string{}
	for _, line := range strings.Split(string(m), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "mod":
			info["version"] = f[2]
		case len(f) == 2 && f[0] == "build":
			k, v, _ := strings.Cut(f[1], "=")
			info[k] = v
		}
	}
	text := string(out)
	for _, want := range []string{
		"ws4go " + info["version"] + "\n",
		"module github.com/ws4go/ws4go\n",
		"go " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("ws4go version lacks %q:\n%s", want, text)
		}
	}
	if rev := info["vcs.revision"]; rev != "" {
		if !strings.Contains(text, "revision "+rev+" ("+info["vcs.time"]) {
			t.Errorf("ws4go version lacks the revision %s:\n%s", rev, text)
		}
		if head, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil && strings.TrimSpace(string(head)) != rev {
			t.Errorf("stamped revision %s, HEAD is %s", rev, head)
		}
	} else {
		// A checkout the go command does not stamp (a git worktree,
		// GOFLAGS=-buildvcs=false elsewhere, a module download).
		t.Logf("this build records no revision:\n%s", text)
	}
}
