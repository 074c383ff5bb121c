package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Machine is what a report says about where it was measured.
type Machine struct {
	OS        string  `json:"os"`
	Kernel    string  `json:"kernel"`
	CPU       string  `json:"cpu"`
	Cores     int     `json:"cores"`
	MemoryGiB float64 `json:"memory_gib"`
	Go        string  `json:"go"`
	// WS4Go says which ws4go was measured: the commit, and whether the
	// working tree had uncommitted changes.
	WS4Go string `json:"ws4go,omitempty"`
	// Commit is the full hash of the commit checked out (HEAD);
	// Uncommitted lists the tracked files that differed from it.
	Commit      string            `json:"commit,omitempty"`
	Uncommitted []string          `json:"uncommitted,omitempty"`
	Libraries   map[string]string `json:"libraries,omitempty"`
	// FDLimit is the number of files a process could open
	// (RLIMIT_NOFILE).
	FDLimit uint64 `json:"fd_limit,omitempty"`
}

// DescribeMachine reads the machine's figures, and the versions of ws4go
// (git) and of the peers' libraries (bench/peers/go.mod) under src, if set.
func DescribeMachine(src string) Machine {
	m := Machine{OS: runtime.GOOS + "/" + runtime.GOARCH, Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`) + " " + runtime.GOARCH
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(v)
				if len(f) > 0 {
					kb, _ := strconv.ParseFloat(f[0], 64)
					m.MemoryGiB = math.Round(kb/(1<<20)*10) / 10
				}
			}
		}
	}
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.Go = strings.TrimSpace(string(out))
	}
	if _, hard, ok := fdLimits(); ok {
		m.FDLimit = hard
	}
	if src == "" {
		return m
	}
	m.Commit, m.Uncommitted = gitState(src)
	switch {
	case m.Commit == "":
		m.WS4Go = "working tree (no commit)"
	case len(m.Uncommitted) > 0:
		m.WS4Go = "commit " + m.Commit + " with uncommitted changes to " + strings.Join(m.Uncommitted, ", ")
	default:
		m.WS4Go = "commit " + m.Commit
	}
	m.Libraries = peerVersions(filepath.Join(src, "bench", "peers", "go.mod"))
	return m
}

// gitState returns the commit checked out in the git work tree src (full
// hash) and the tracked files that differ from it. Untracked files do not
// count (results folders are ignored), nor does bench/latest, where
// published results wait to be committed.
func gitState(src string) (commit string, changed []string) {
	cmd := exec.Command("git", "rev-parse", "HEAD")
	cmd.Dir = src
	out, err := cmd.Output()
	if err != nil {
		return "", nil
	}
	commit = strings.TrimSpace(string(out))
	cmd = exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench/latest")
	cmd.Dir = src
	out, err = cmd.Output()
	if err != nil {
		return commit, []string{"(git status failed)"}
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if len(line) < 4 {
			continue
		}
		path := line[3:]
		if _, to, ok := strings.Cut(path, " -> "); ok {
			path = to
		}
		changed = append(changed, path)
	}
	if len(changed) > 12 {
		changed = append(changed[:12], fmt.Sprintf("and %d more", len(changed)-12))
	}
	return commit, changed
}

// peerVersions reads the required module versions of bench/peers/go.mod.
func peerVersions(gomod string) map[string]string {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(f) >= 2 && strings.Contains(f[0], "/") && strings.HasPrefix(f[1], "v") {
			out[f[0]] = f[1]
		}
	}
	return out
}

// WriteResults writes report.json, results.md and one SVG chart per
// scenario to dir.
func WriteResults(dir string, rep *Report, command string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	var md bytes.Buffer
	WriteMarkdown(&md, rep, command, true)
	if err := os.WriteFile(filepath.Join(dir, "results.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	for _, sr := range rep.Scenarios {
		var svg bytes.Buffer
		if !writeChart(&svg, &sr) {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, string(sr.Scenario)+".svg"), svg.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// published are the files of a results folder that Publish copies: the
// tables, the figures and the charts, not the servers' logs.
var published = []string{"results.md", "results.json", "*.svg"}

// Publish copies the tables, the figures and the charts of the results
// folder from (results.md, results.json, *.svg: not the servers' logs) into
// dir (bench/latest, which the repository keeps), after removing
// those a previous publication left there, and returns the names copied.
func Publish(from, dir string) ([]string, error) {
	for _, f := range []string{"results.md", "results.json"} {
		if _, err := os.Stat(filepath.Join(from, f)); err != nil {
			return nil, fmt.Errorf("bench: %s is not a results folder: %v", from, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var copied []string
	for _, pat := range published {
		old, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return nil, err
			}
		}
		files, err := filepath.Glob(filepath.Join(from, pat))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
				return nil, err
			}
			copied = append(copied, filepath.Base(f))
		}
	}
	return copied, nil
}

// LatestResults returns the newest results folder under dir (named by
// their UTC start time, so the last in name order).
func LatestResults(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for i := len(ents) - 1; i >= 0; i-- {
		p := filepath.Join(dir, ents[i].Name())
		if _, err := os.Stat(filepath.Join(p, "results.json")); ents[i].IsDir() && err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("bench: no results folder in %s", dir)
}

// WriteMarkdown writes the report as Markdown tables: per scenario, every
// figure of every server, then each ws4go server's ratio to every other
// server. With charts, it links the scenario's chart.
func WriteMarkdown(w io.Writer, rep *Report, command string, charts bool) {
	m := rep.Machine
	fmt.Fprintf(w, "# ws4go bench results\n\n")
	fmt.Fprintf(w, "Measured %s on %s, %d cores (%s), %.0f GiB, Linux %s; %s; ws4go %s.\n",
		rep.Started.Format("2006-01-02 15:04 MST"), m.OS, m.Cores, m.CPU, m.MemoryGiB, m.Kernel, m.Go, m.WS4Go)
	if len(m.Libraries) > 0 {
		var libs []string
		for _, s := range Servers {
			if v, ok := m.Libraries[s.Module]; ok && !slices.Contains(libs, s.Module+" "+v) {
				libs = append(libs, s.Module+" "+v)
			}
		}
		if v, ok := m.Libraries["github.com/mailru/easygo"]; ok {
			libs = append(libs, "github.com/mailru/easygo "+v)
		}
		fmt.Fprintf(w, "Peers: %s.\n", strings.Join(libs, ", "))
	}
	fmt.Fprintf(w, "Every server ran as its own process, one after another, with the client (%d event loops per process) on the same machine.", max(rep.Config.Loops, 1))
	if m.FDLimit > 0 {
		fmt.Fprintf(w, " Open files limit: %s per process", formatValue(float64(m.FDLimit)))
		if rep.Config.PerProcess > 0 {
			fmt.Fprintf(w, "; a client process held up to %s connections", formatValue(float64(rep.Config.PerProcess)))
		}
		fmt.Fprint(w, ".")
	}
	fmt.Fprintln(w)
	if command != "" {
		fmt.Fprintf(w, "\nCommand:\n\n    %s\n", command)
	}
	if len(rep.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "- ⚠ %s\n", n)
		}
	}
	for _, sr := range rep.Scenarios {
		fmt.Fprintf(w, "\n## %s\n\n%s.\n\n", sr.Scenario, sr.Description)
		if charts {
			fmt.Fprintf(w, "![%s](%s.svg)\n\n", sr.Scenario, sr.Scenario)
		}
		writeScenarioTables(w, &sr)
		if h1 := rep.scenario(sr.Scenario.http1()); h1 != nil {
			writeVersusTable(w, &sr, h1)
		}
	}
}

// scenario returns the report of sc, nil if it did not run.
func (rep *Report) scenario(sc Scenario) *ScenarioReport {
	for i := range rep.Scenarios {
		if rep.Scenarios[i].Scenario == sc {
			return &rep.Scenarios[i]
		}
	}
	return nil
}

// writeVersusTable writes each server's figures in sr next to its own in
// scenario h1 (the same load over HTTP/1.1) and their ratio sr ÷ h1.
func writeVersusTable(w io.Writer, sr, h1 *ScenarioReport) {
	var servers []string
	for _, r := range sr.Results {
		if o := h1.result(r.Server); r.Error == "" && o != nil && o.Error == "" {
			servers = append(servers, r.Server)
		}
	}
	if len(servers) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s ÷ %s, each server against itself (%s → %s: ratio; ✓: better in %s):\n\n", sr.Scenario, h1.Scenario, h1.Scenario, sr.Scenario, sr.Scenario)
	head := append([]string{"", "better"}, servers...)
	var table [][]string
	marked := false
	for _, m := range sr.rows() {
		if m.Better == "" {
			continue
		}
		line := []string{m.Name, arrow(m.Better)}
		for _, name := range servers {
			mine, other := sr.result(name), h1.result(name)
			a, ok := mine.Get(m.Name)
			b, ok2 := other.Get(m.Name)
			cell := formatRatio(a, b, ok && ok2, m.Better)
			if ok && ok2 {
				cell = formatValue(b) + " → " + formatValue(a) + ": " + cell
				if len(mine.Warnings) > 0 || len(other.Warnings) > 0 {
					cell += " " + warnMark
					marked = true
				}
			}
			line = append(line, cell)
		}
		table = append(table, line)
	}
	writeTable(w, head, table)
	if marked {
		fmt.Fprintf(w, "\n%s: the server had warnings in one of the two scenarios (⚠ above): read that ratio with care.\n", warnMark)
	}
}

// result returns server's result in sr, nil if it has none.
func (sr *ScenarioReport) result(server string) *ServerResult {
	for i := range sr.Results {
		if sr.Results[i].Server == server {
			return &sr.Results[i]
		}
	}
	return nil
}

// rows lists the metric names of a scenario in the order they appear.
func (sr *ScenarioReport) rows() []Metric {
	var out []Metric
	seen := map[string]bool{}
	for _, r := range sr.Results {
		for _, m := range r.Metrics {
			if !seen[m.Name] {
				seen[m.Name] = true
				out = append(out, m)
			}
		}
	}
	return out
}

func arrow(better string) string {
	switch better {
	case "higher":
		return "↑"
	case "lower":
		return "↓"
	}
	return ""
}

func writeScenarioTables(w io.Writer, sr *ScenarioReport) {
	rows := sr.rows()
	head := []string{"", "better"}
	for _, r := range sr.Results {
		head = append(head, r.Server)
	}
	var table [][]string
	for _, m := range rows {
		name := m.Name
		if m.Unit != "" {
			name += " (" + m.Unit + ")"
		}
		line := []string{name, arrow(m.Better)}
		for _, r := range sr.Results {
			if v, ok := r.Get(m.Name); ok {
				line = append(line, formatValue(v))
			} else {
				line = append(line, "—")
			}
		}
		table = append(table, line)
	}
	writeTable(w, head, table)
	for _, r := range sr.Results {
		if r.Error != "" {
			fmt.Fprintf(w, "\n- %s: %s", r.Server, r.Error)
		}
		for _, n := range r.Warnings {
			fmt.Fprintf(w, "\n- %s: ⚠ %s", r.Server, n)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "\n- %s: %s", r.Server, n)
		}
	}
	fmt.Fprintln(w)
	var peers []ServerResult
	for _, r := range sr.Results {
		if s, _ := LookupServer(r.Server); !s.WS4Go && r.Error == "" {
			peers = append(peers, r)
		}
	}
	if len(peers) == 0 {
		return
	}
	for _, ws := range sr.Results {
		spec, _ := LookupServer(ws.Server)
		if !spec.WS4Go || ws.Error != "" {
			continue
		}
		fmt.Fprintf(w, "\n%s ÷ each peer (✓: %s is better):\n\n", ws.Server, ws.Server)
		head := []string{"", "better"}
		for _, p := range peers {
			head = append(head, p.Server)
		}
		var table [][]string
		marked := false
		for _, m := range rows {
			if m.Better == "" {
				continue
			}
			name := m.Name
			line := []string{name, arrow(m.Better)}
			mine, ok := ws.Get(m.Name)
			for _, p := range peers {
				theirs, ok2 := p.Get(m.Name)
				cell := formatRatio(mine, theirs, ok && ok2, m.Better)
				if ok && ok2 && (len(ws.Warnings) > 0 || len(p.Warnings) > 0) {
					cell += " " + warnMark
					marked = true
				}
				line = append(line, cell)
			}
			table = append(table, line)
		}
		writeTable(w, head, table)
		if marked {
			fmt.Fprintf(w, "\n%s: %s or the peer had warnings in this scenario (⚠ above): read that ratio with care.\n", warnMark, ws.Server)
		}
	}
}

// warnMark marks the ratios of results with warnings.
const warnMark = "†"

// ratio is a/b, and whether it is defined.
func ratio(a, b float64) (float64, bool) {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return 0, false
	}
	return a / b, true
}

func formatRatio(mine, theirs float64, ok bool, better string) string {
	if !ok {
		return "—"
	}
	r, ok := ratio(mine, theirs)
	if !ok {
		if mine == 0 {
			return "="
		}
		return "—"
	}
	s := fmt.Sprintf("%.2f×", r)
	if better == "higher" && r > 1 || better == "lower" && r < 1 {
		s += " ✓"
	}
	return s
}

// formatValue prints a figure with as many digits as it deserves.
func formatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1000:
		return groupThousands(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	case a >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// writeTable writes a Markdown table with padded columns (readable as
// plain text too); columns after the first are right-aligned.
func writeTable(w io.Writer, head []string, rows [][]string) {
	width := make([]int, len(head))
	for i, h := range head {
		width[i] = runeLen(h)
	}
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], runeLen(c))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-runeLen(c))
			if i == 0 {
				b.WriteString(" " + c + pad + " |")
			} else {
				b.WriteString(" " + pad + c + " |")
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(head)
	sep := make([]string, len(head))
	for i := range head {
		if i == 0 {
			sep[i] = strings.Repeat("-", width[i])
		} else {
			sep[i] = strings.Repeat("-", max(width[i]-1, 1)) + ":"
		}
	}
	var b strings.Builder
	b.WriteString("|")
	for _, s := range sep {
		b.WriteString(" " + s + " |")
	}
	fmt.Fprintln(w, b.String())
	for _, r := range rows {
		line(r)
	}
}

func runeLen(s string) int { return len([]rune(s)) }
