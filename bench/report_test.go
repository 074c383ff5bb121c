package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPublish(t *testing.T) {
	from, dir := t.TempDir(), t.TempDir()
	for _, f := range []string{"results.md", "results.json", "echo.svg", "idle.svg", "logs/echo-gorilla.log"} {
		p := filepath.Join(from, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Left by an earlier publication: a chart this run has not.
	for _, f := range []string{"churn.svg", "results.md", "README.md"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := Publish(from, dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	if strings.Join(files, " ") != "echo.svg idle.svg results.json results.md" {
		t.Fatalf("copied %q", files)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "README.md echo.svg idle.svg results.json results.md" {
		t.Fatalf("published folder holds %q", names)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "results.md")); string(b) != "results.md" {
		t.Fatalf("results.md not replaced: %q", b)
	}
	if _, err := Publish(dir+"/none", t.TempDir()); err == nil {
		t.Fatal("publishing a folder without results: no error")
	}

	root := t.TempDir()
	for _, d := range []string{"20260101-000000", "20260102-000000", "20260103-000000"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "20260102-000000", "results.json"), nil, 0o644)
	if got, err := LatestResults(root); err != nil || filepath.Base(got) != "20260102-000000" {
		t.Fatalf("LatestResults = %q, %v", got, err)
	}
}

func TestGitState(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "bench", "latest"), 0o755)
	os.WriteFile(filepath.Join(dir, "bench", "latest", "results.md"), []byte("old\n"), 0o644)
	git("add", ".")
	git("commit", "-q", "-m", "one")
	// Untracked files and a changed bench/latest leave the tree clean.
	os.WriteFile(filepath.Join(dir, "untracked.txt"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "bench", "latest", "results.md"), []byte("new\n"), 0o644)
	commit, changed := gitState(dir)
	if len(commit) != 40 || len(changed) != 0 {
		t.Fatalf("clean tree: %q %q", commit, changed)
	}
	os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a // changed\n"), 0o644)
	if _, changed := gitState(dir); strings.Join(changed, ",") != "a.go" {
		t.Fatalf("changed tree: %q", changed)
	}
	m := DescribeMachine(dir)
	if m.Commit != commit || m.WS4Go != "commit "+commit+" with uncommitted changes to a.go" {
		t.Fatalf("DescribeMachine: %+v", m)
	}
}

// TestBuildDownloadFailure: building a peer that needs a module that
// cannot be downloaded says why and what to do.
func TestBuildDownloadFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	src, err := FindSource(".")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOFLAGS", "-mod=mod")
	t.Setenv("GOMODCACHE", t.TempDir())
	err = Build(t.Context(), src, t.TempDir(), []string{"gorilla"}, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "first build downloads through the Go module proxy") {
		t.Fatalf("Build with no module proxy: %v", err)
	}
	if !isDownloadFailure("dial tcp: lookup proxy.golang.org: no such host") || isDownloadFailure("main.go:3: undefined: x") {
		t.Fatal("isDownloadFailure")
	}
}
