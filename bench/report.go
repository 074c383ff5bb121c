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
	"strconv"
	"strings"
)

// Machine is what a report says about where it was measured.
type Machine struct {
	OS        string            `json:"os"`
	Kernel    string            `json:"kernel"`
	CPU       string            `json:"cpu"`
	Cores     int               `json:"cores"`
	MemoryGiB float64           `json:"memory_gib"`
	Go        string            `json:"go"`
	WS4Go     string            `json:"ws4go,omitempty"`
	Libraries map[string]string `json:"libraries,omitempty"`
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
	if src == "" {
		return m
	}
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = src
	if out, err := cmd.Output(); err == nil {
		m.WS4Go = strings.TrimSpace(string(out))
	} else {
		m.WS4Go = "working tree (no commit)"
	}
	m.Libraries = peerVersions(filepath.Join(src, "bench", "peers", "go.mod"))
	return m
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
		if !WriteChart(&svg, &sr) {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, string(sr.Scenario)+".svg"), svg.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
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
			if v, ok := m.Libraries[s.Module]; ok {
				libs = append(libs, s.Module+" "+v)
			}
		}
		if v, ok := m.Libraries["github.com/mailru/easygo"]; ok {
			libs = append(libs, "github.com/mailru/easygo "+v)
		}
		fmt.Fprintf(w, "Peers: %s.\n", strings.Join(libs, ", "))
	}
	fmt.Fprintf(w, "Every server ran as its own process, one after another, with the client (%d event loops per process) on the same machine.\n", max(rep.Config.Loops, 1))
	if command != "" {
		fmt.Fprintf(w, "\nCommand:\n\n    %s\n", command)
	}
	for _, sr := range rep.Scenarios {
		fmt.Fprintf(w, "\n## %s\n\n%s.\n\n", sr.Scenario, sr.Description)
		if charts {
			fmt.Fprintf(w, "![%s](%s.svg)\n\n", sr.Scenario, sr.Scenario)
		}
		writeScenarioTables(w, &sr)
	}
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
				line = append(line, FormatValue(v))
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
		for _, n := range r.Notes {
			fmt.Fprintf(w, "\n- %s: %s", r.Server, n)
		}
	}
	fmt.Fprintln(w)
	for _, ws := range sr.Results {
		spec, _ := LookupServer(ws.Server)
		if !spec.WS4Go || ws.Error != "" {
			continue
		}
		var peers []ServerResult
		for _, r := range sr.Results {
			if s, _ := LookupServer(r.Server); !s.WS4Go && r.Error == "" {
				peers = append(peers, r)
			}
		}
		if len(peers) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s ÷ each peer (✓: %s is better):\n\n", ws.Server, ws.Server)
		head := []string{"", "better"}
		for _, p := range peers {
			head = append(head, p.Server)
		}
		var table [][]string
		for _, m := range rows {
			if m.Better == "" {
				continue
			}
			name := m.Name
			line := []string{name, arrow(m.Better)}
			mine, ok := ws.Get(m.Name)
			for _, p := range peers {
				theirs, ok2 := p.Get(m.Name)
				line = append(line, formatRatio(mine, theirs, ok && ok2, m.Better))
			}
			table = append(table, line)
		}
		writeTable(w, head, table)
	}
}

// Ratio is a/b, and whether it is defined.
func Ratio(a, b float64) (float64, bool) {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return 0, false
	}
	return a / b, true
}

func formatRatio(mine, theirs float64, ok bool, better string) string {
	if !ok {
		return "—"
	}
	r, ok := Ratio(mine, theirs)
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

// FormatValue prints a figure with as many digits as it deserves.
func FormatValue(v float64) string {
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
