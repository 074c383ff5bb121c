package doccheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestServeFlagsDocumented checks that docs/binary.md's flag table names
// every flag of `ws4go serve`, with its environment variable, and no flag
// the binary does not have.
func TestServeFlagsDocumented(t *testing.T) {
	root := moduleRoot(t)
	// go run caches the binary it links, so that a run with nothing
	// changed costs no link. -h prints the usage and exits with status 0
	// or 2, as package flag does: the output is what counts.
	cmd := exec.Command(goCommand(t), "run", "./cmd/ws4go", "serve", "-h")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS=-mod=readonly")
	help, _ := cmd.CombinedOutput()
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(string(help), -1) {
		flags[m[1]] = true
	}
	if len(flags) < 10 {
		t.Fatalf("found %d flags in `ws4go serve -h`:\n%s", len(flags), help)
	}

	doc, err := os.ReadFile(filepath.Join(root, "docs", "binary.md"))
	if err != nil {
		t.Fatal(err)
	}
	table := string(doc)
	start := strings.Index(table, "\n## Flags\n")
	if start < 0 {
		t.Fatal("docs/binary.md has no \"## Flags\" section")
	}
	table = table[start+1:]
	if end := strings.Index(table[1:], "\n## "); end >= 0 {
		table = table[:end+1]
	}
	documented := map[string]bool{}
	for _, row := range strings.Split(table, "\n") {
		cells := strings.Split(row, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range regexp.MustCompile("`-([a-z0-9-]+)`").FindAllStringSubmatch(cells[1], -1) {
			documented[m[1]] = true
		}
	}
	for f := range flags {
		if !documented[f] {
			t.Errorf("docs/binary.md's flag table does not name -%s", f)
		}
		env := "WS4GO_" + strings.ToUpper(strings.ReplaceAll(f, "-", "_"))
		if !strings.Contains(table, "`"+env+"`") {
			t.Errorf("docs/binary.md's flag table does not name %s (-%s)", env, f)
		}
	}
	for f := range documented {
		if !flags[f] {
			t.Errorf("docs/binary.md's flag table names -%s, which ws4go serve does not have", f)
		}
	}
}
