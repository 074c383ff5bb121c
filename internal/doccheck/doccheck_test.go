package doccheck

import (
	"bufio"
	"bytes"
	"fmt"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// snippet is one ```go block of a Markdown file.
type snippet struct {
	file    string // relative to the repository's root, slash-separated
	path    string // the file's absolute path, for the compiler's messages
	line    int    // of the block's first line of code
	code    string // the fence's indentation removed
	ctx     string // the go:context comment's Go code, if any
	ctxLine int    // of the context's first line of code
}

func (s snippet) String() string { return fmt.Sprintf("%s:%d", s.file, s.line) }

// complete reports whether the snippet is a whole file: it starts with a
// package clause.
func (s snippet) complete() bool {
	return strings.HasPrefix(strings.TrimSpace(s.code), "package ")
}

// TestSnippetsCompile compiles every ```go block of the repository's
// Markdown files (see the package documentation for the rule).
func TestSnippetsCompile(t *testing.T) {
	root := moduleRoot(t)
	var snippets []snippet
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "results") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".md") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		s, err := extract(filepath.ToSlash(rel), path)
		snippets = append(snippets, s...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(snippets) == 0 {
		t.Fatal("found no ```go block: the extractor is broken")
	}

	mod := t.TempDir()
	writeModule(t, root, mod)
	for i, s := range snippets {
		if got, err := format.Source([]byte(s.code)); err != nil {
			t.Errorf("%s: %v", s, err)
		} else if n, have, want := firstDiff(s.code, string(got)); n >= 0 {
			t.Errorf("%s:%d: not gofmt'd:\n\thave %q\n\tgofmt %q", s.file, s.line+n, have, want)
		}
		dir := filepath.Join(mod, fmt.Sprintf("s%03d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "snippet.go"), source(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if t.Failed() {
		return
	}

	cmd := exec.Command(goCommand(t), "vet", "./...")
	cmd.Dir = mod
	// The snippets build from this module's go.mod and go.sum and the
	// module cache: nothing is downloaded, nothing is updated.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go vet of the %d snippets: %v\n%s", len(snippets), err, out)
	}
	t.Logf("%d snippets compiled and vetted", len(snippets))
}

// source is the Go file a snippet is compiled as. //line directives make
// the compiler's positions those of the Markdown file.
func source(s snippet) []byte {
	if s.complete() {
		return fmt.Appendf(nil, "//line %s:%d\n%s", s.path, s.line, s.code)
	}
	var b bytes.Buffer
	b.WriteString("package snippet\n\n")
	if s.ctx != "" {
		fmt.Fprintf(&b, "//line %s:%d\n%s\n", s.path, s.ctxLine, s.ctx)
	}
	top := b.String() + fmt.Sprintf("//line %s:%d\n%s", s.path, s.line, s.code)
	if _, err := parser.ParseFile(token.NewFileSet(), "", top, 0); err == nil {
		return []byte(top)
	}
	fmt.Fprintf(&b, "func _() {\n//line %s:%d\n%s}\n", s.path, s.line, s.code)
	return b.Bytes()
}

var (
	fenceRE   = regexp.MustCompile("^([ \t]*)```+\\s*([^\\s`]*)")
	contextRE = regexp.MustCompile(`^[ \t]*<!--\s*go:context\s*$`)
)

// extract returns the ```go blocks of the Markdown file at path, each with
// the go:context comment that precedes it, if any.
func extract(rel, path string) ([]snippet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var (
		out     []snippet
		sc      = bufio.NewScanner(bytes.NewReader(data))
		inFence bool
		isGo    bool
		indent  string
		cur     snippet
		ctx     []string // the open go:context comment's lines
		inCtx   bool
		ctxLine int
		pending *snippet // the context waiting for its block
	)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case inCtx:
			if strings.TrimSpace(line) == "-->" {
				inCtx = false
				pending = &snippet{ctx: dedent(ctx, indent), ctxLine: ctxLine}
				continue
			}
			ctx = append(ctx, line)
		case inFence:
			if t := strings.TrimSpace(line); len(t) >= 3 && strings.Trim(t, "`") == "" {
				inFence = false
				if isGo {
					cur.code = dedent(strings.Split(cur.code, "\n"), indent)
					out = append(out, cur)
				}
				continue
			}
			if isGo {
				if cur.code != "" {
					cur.code += "\n"
				}
				cur.code += line
			}
		case contextRE.MatchString(line):
			inCtx, ctx, ctxLine = true, nil, n+1
			indent = line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		default:
			m := fenceRE.FindStringSubmatch(line)
			if m == nil {
				if strings.TrimSpace(line) != "" && pending != nil {
					return out, fmt.Errorf("%s:%d: a go:context comment not followed by a ```go block", rel, pending.ctxLine-1)
				}
				continue
			}
			inFence, isGo, indent = true, m[2] == "go", m[1]
			cur = snippet{file: rel, path: path, line: n + 1}
			if pending != nil {
				if !isGo {
					return out, fmt.Errorf("%s:%d: a go:context comment before a ```%s block", rel, n, m[2])
				}
				cur.ctx, cur.ctxLine = pending.ctx, pending.ctxLine
				pending = nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	if inFence || inCtx || pending != nil {
		return out, fmt.Errorf("%s: a block or go:context comment is not closed", rel)
	}
	for _, s := range out {
		if s.complete() && s.ctx != "" {
			return out, fmt.Errorf("%s: a complete file has a go:context comment", s)
		}
	}
	return out, nil
}

// firstDiff returns the index of the first line in which a and b differ,
// and those lines; -1 if they do not.
func firstDiff(a, b string) (int, string, string) {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return i, x, y
		}
	}
	return -1, "", ""
}

// dedent removes prefix (a list item's indentation) from each line and
// joins them, ending with a newline.
func dedent(lines []string, prefix string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.TrimPrefix(l, prefix))
		b.WriteByte('\n')
	}
	return b.String()
}

// writeModule makes mod a module that requires this one, found at root,
// with root's requirements and checksums, so that the snippets build
// exactly as this module does.
func writeModule(t *testing.T, root, mod string) {
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	const self = "module github.com/ws4go/ws4go\n"
	if !bytes.HasPrefix(gomod, []byte(self)) {
		t.Fatalf("%s/go.mod does not start with %q", root, self)
	}
	gomod = append([]byte("module doccheck.example\n"), gomod[len(self):]...)
	gomod = fmt.Appendf(gomod, "\nrequire github.com/ws4go/ws4go v0.0.0-00010101000000-000000000000\n\nreplace github.com/ws4go/ws4go => %s\n", root)
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), gomod, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
}

// moduleRoot is the directory of this module's go.mod.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// goCommand is the go command that runs this test.
func goCommand(t *testing.T) string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatal("no go command on PATH or in $GOROOT/bin")
	}
	return p
}
