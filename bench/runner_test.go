//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// freePort returns a port p with p+1 free too (at the time of asking),
// below the ephemeral ports (32768 and up here): there, an outgoing
// connection of this or another process could take it before the server
// binds it.
func freePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		p := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", itoa(p)))
		if err != nil {
			continue
		}
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", itoa(p+1)))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no two free ports in a row")
	return 0
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestRunEndToEnd runs every scenario, small and short, against a ws4go
// server process (this test binary in the server role) and a server whose
// binary is missing, and checks the figures and the files written.
func TestRunEndToEnd(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(bin, "ws4go-server")); err != nil {
		t.Fatal(err)
	}
	t.Setenv(testRoleEnv, "server")
	out := t.TempDir()
	var progress bytes.Buffer
	cfg := Config{
		Servers: []string{"ws4go-goroutine", "gorilla"},
		BinDir:  bin, Out: out, Port: freePort(t),
		IdleConns: 200, EchoConns: 20, BroadcastConns: 50, ChurnConc: 4,
		RateConns: 50, BroadcastRate: 20,
		TopicsConns: 40, Topics: 20, TopicsPerConn: 3, TopicsPublishers: 2, TopicsRate: 200,
		Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond, Pause: 10 * time.Millisecond,
		Progress: &progress,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err, progress.String())
	}
	// Every default scenario but the generator's, which needs rawtcp.
	if len(rep.Scenarios) != len(Scenarios)-1 {
		t.Fatalf("%d scenarios", len(rep.Scenarios))
	}
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "generator: not run") {
		t.Errorf("notes: %q", rep.Notes)
	}
	want := map[Scenario][]string{
		Idle:          {"connections held", "handshakes/s", "server RSS per connection", "server heap per connection", "server goroutines"},
		Echo:          {"msgs/s", "msgs/s per server core", "p99", "fixed rate", "p99 at fixed rate", "server CPU", "client CPU"},
		Broadcast:     {"broadcasts/s", "deliveries/s", "deliveries/s per server core", "server CPU per delivery", "fan-out p99", "client CPU per delivery"},
		BroadcastRate: {"published/s", "offered deliveries/s", "deliveries/s", "delivered", "delivery p99"},
		Topics:        {"subscribers", "subscriptions", "published/s", "offered deliveries/s", "deliveries/s", "delivered", "delivery p99"},
		Churn:         {"connections/s", "cycle p99"},
	}
	for _, sr := range rep.Scenarios {
		if len(sr.Results) != 2 {
			t.Fatalf("%s: %d results", sr.Scenario, len(sr.Results))
		}
		ws, gorilla := sr.Results[0], sr.Results[1]
		if ws.Error != "" {
			t.Fatalf("%s: ws4go: %s", sr.Scenario, ws.Error)
		}
		if !strings.Contains(gorilla.Error, "no binary") {
			t.Errorf("%s: missing gorilla binary: error %q", sr.Scenario, gorilla.Error)
		}
		for _, name := range want[sr.Scenario] {
			v, ok := ws.Get(name)
			if !ok || v <= 0 {
				t.Errorf("%s: %s = %v, %v", sr.Scenario, name, v, ok)
			}
		}
		// 120 subscriptions are too few to weigh: the figure is there.
		if _, ok := ws.Get("server heap per subscription"); sr.Scenario == Topics && !ok {
			t.Errorf("topics: no heap per subscription")
		}
		for _, w := range ws.Warnings {
			// Warnings a busy machine (or the race detector) causes:
			// other work, a late client, a fixed rate not kept up.
			if !strings.Contains(w, "rest of the machine was busy") && !strings.Contains(w, "after it was due") &&
				!strings.Contains(w, "msgs/s delivered of") {
				t.Errorf("%s: warning %q", sr.Scenario, w)
			}
		}
		t.Logf("%s: %+v %v %v", sr.Scenario, ws.Metrics, ws.Warnings, ws.Notes)
	}
	// The fixed rate is half of the lowest closed-loop peak: here, of the
	// only server that ran.
	echo := rep.Scenarios[1]
	peak, _ := echo.Results[0].Get("msgs/s")
	if fixed, _ := echo.Results[0].Get("fixed rate"); echo.Rate != fixed || math.Abs(fixed-peak/2) > 1 {
		t.Errorf("echo: fixed rate %v (scenario %v), peak %v", fixed, echo.Rate, peak)
	}
	if !strings.Contains(echo.Description, "half of the lowest closed-loop peak (ws4go-goroutine's)") {
		t.Errorf("echo description: %s", echo.Description)
	}
	if v, _ := rep.Scenarios[0].Results[0].Get("connections held"); v != 200 {
		t.Errorf("idle held %v connections, want 200", v)
	}
	if !strings.Contains(progress.String(), "[1/14] idle ws4go-goroutine: connecting") ||
		!strings.Contains(progress.String(), "[5/14] echo ws4go-goroutine: fixed rate") {
		t.Errorf("no progress lines: %q", progress.String())
	}
	rep.Machine = DescribeMachine("")
	if err := WriteResults(out, rep, "ws4go bench -test"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"results.json", "results.md", "idle.svg", "echo.svg", "broadcast.svg", "broadcast-rate.svg", "topics.svg", "churn.svg", "logs/echo-ws4go-goroutine.log", "logs/echo-fixed-ws4go-goroutine.log"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestMultiClient(t *testing.T) {
	addr := startWS4Go(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(testRoleEnv, "worker")
	c, err := newMultiClient([]string{exe}, clientConfig{loadTarget: loadTarget{Addr: addr, Path: "/broadcast"}}, 2, 2, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	cr, err := c.Connect(ctx, connectSpec{Conns: 41})
	if err != nil || cr.Opened != 41 {
		t.Fatalf("connect: %+v %v", cr, err)
	}
	time.Sleep(200 * time.Millisecond) // see TestGeneratorBroadcast
	r, err := c.Run(ctx, runSpec{Scenario: Broadcast, Duration: 500 * time.Millisecond, Size: 32, Publisher: true})
	if err != nil {
		t.Fatal(err)
	}
	// The publisher's process paces the closed loop on its own 21
	// connections; the other process's 20 receive every message too, and
	// a message is complete when it reached all 41.
	if r.Open != 41 || r.Completed < 5 || r.Received < 40*r.Completed/2 || r.Messages != nil {
		t.Fatalf("broadcast over two processes: %+v", r)
	}
	if h := hdrhistogram.Import(r.Completion); h.TotalCount() != r.Completed {
		t.Fatalf("fan-out of %d messages for %d completed", h.TotalCount(), r.Completed)
	}
}

// TestMultiClientTopicsWorkers runs the topics scenario over two worker
// processes: each topic gets its 6 subscribers (40 connections on 3 of 20
// topics), whichever process holds them.
func TestMultiClientTopicsWorkers(t *testing.T) {
	addr := startWS4Go(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(testRoleEnv, "worker")
	c, err := newMultiClient([]string{exe}, clientConfig{loadTarget: loadTarget{Addr: addr, Path: "/topics"}}, 2, 2, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	runTopics(t, c)
}

// fakeClient records what it is asked.
type fakeClient struct {
	connect connectSpec
	run     runSpec
	result  runResult
}

func (f *fakeClient) Connect(_ context.Context, s connectSpec) (connectResult, error) {
	f.connect = s
	return connectResult{Opened: s.Conns}, nil
}

func (f *fakeClient) Run(_ context.Context, s runSpec) (runResult, error) {
	f.run = s
	return f.result, nil
}

func (f *fakeClient) Close() error { return nil }

// TestMultiClientMaxPending: the default bound on handshakes in flight is
// shared out over the processes, not a default of 0 (which left each
// process one handshake at a time).
func TestMultiClientMaxPending(t *testing.T) {
	parts := []*fakeClient{{}, {}, {}}
	m := &multiClient{}
	for _, p := range parts {
		m.parts = append(m.parts, p)
	}
	for _, tc := range []struct{ spec, each int }{{0, defaultMaxPending / 3}, {-1, defaultMaxPending / 3}, {90, 30}, {2, 1}} {
		cr, err := m.Connect(context.Background(), connectSpec{Conns: 1000, MaxPending: tc.spec})
		if err != nil || cr.Opened != 1000 {
			t.Fatalf("connect: %+v %v", cr, err)
		}
		for i, p := range parts {
			if p.connect.MaxPending != tc.each {
				t.Errorf("MaxPending %d: process %d got %d, want %d", tc.spec, i, p.connect.MaxPending, tc.each)
			}
		}
	}
	if parts[0].connect.Conns != 334 || parts[2].connect.Conns != 333 {
		t.Errorf("connections shared as %d, %d, %d", parts[0].connect.Conns, parts[1].connect.Conns, parts[2].connect.Conns)
	}
}

// TestMultiClientTopics: over several processes, the publishers and the
// rate are shared out, and the subscribers are numbered on from one
// process to the next (so topicsOf spreads them as in one process).
func TestMultiClientTopics(t *testing.T) {
	parts := []*fakeClient{{}, {}, {}}
	m := &multiClient{}
	for _, p := range parts {
		m.parts = append(m.parts, p)
	}
	if _, err := m.Connect(context.Background(), connectSpec{Conns: 104}); err != nil {
		t.Fatal(err)
	}
	// 35, 35 and 34 connections; 4 publishers: 2, 1, 1.
	if _, err := m.Run(context.Background(), runSpec{Scenario: topicsSubscribe, Topics: 20, PerConn: 3, Publishers: 4}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct{ pubs, first int }{{2, 0}, {1, 33}, {1, 67}} {
		if got := parts[i].run; got.Publishers != want.pubs || got.First != want.first || got.Topics != 20 || got.PerConn != 3 {
			t.Errorf("process %d: %+v, want %d publishers, first subscriber %d", i, got, want.pubs, want.first)
		}
	}
	if _, err := m.Run(context.Background(), runSpec{Scenario: Topics, Topics: 20, Publishers: 4, Rate: 400}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{200, 100, 100} {
		if got := parts[i].run.Rate; got != want {
			t.Errorf("process %d publishes %v msgs/s, want %v", i, got, want)
		}
	}
}

func TestMergeFanout(t *testing.T) {
	const ms = int64(time.Millisecond)
	timeout := int64(broadcastTimeout)
	end := 10 * timeout
	pub := runResult{From: 0, End: end, Incomplete: 1, Messages: []messageDone{
		{Seq: 1, Sent: 1 * ms, Last: 3 * ms},       // everywhere: fan-out 4 ms (other process)
		{Seq: 2, Sent: 10 * ms, Last: 11 * ms},     // missing in process 2, long before its end: incomplete
		{Seq: 3, Sent: end - ms, Last: end - ms/2}, // missing near the end: left out
		{Seq: 4, Sent: -5 * ms, Last: -ms},         // before the measured time
	}}
	other := runResult{End: end, Messages: []messageDone{{Seq: 1, Sent: ms, Last: 5 * ms}, {Seq: 4, Sent: -5 * ms, Last: 0}}}
	other2 := runResult{End: end, Messages: []messageDone{{Seq: 1, Sent: ms, Last: 4 * ms}}}
	completed, incomplete, snap := mergeFanout([]runResult{pub, other, other2})
	if completed != 1 || incomplete != 2 {
		t.Fatalf("completed %d, incomplete %d", completed, incomplete)
	}
	h := hdrhistogram.Import(snap)
	if h.TotalCount() != 1 || h.Max() < 3990 || h.Max() > 4010 {
		t.Fatalf("fan-out: %d values, max %d µs", h.TotalCount(), h.Max())
	}
}

func TestCommonRate(t *testing.T) {
	rs := []ServerResult{
		{Server: "a", Metrics: []Metric{{Name: "msgs/s", Value: 200000}}},
		{Server: "b", Metrics: []Metric{{Name: "msgs/s", Value: 130001}}},
		{Server: "c", Error: "did not start"},
		{Server: "d"},
	}
	if rate, who := commonRate(rs); rate != 65000 && rate != 65001 || who != "b" {
		t.Fatalf("commonRate = %v, %q", rate, who)
	}
	if rate, who := commonRate(rs[2:]); rate != 0 || who != "" {
		t.Fatalf("no peak: %v, %q", rate, who)
	}
}

func TestWriteResults(t *testing.T) {
	rep := &Report{
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Machine: Machine{OS: "linux/amd64", Cores: 2, CPU: "Test CPU", MemoryGiB: 24, Go: "go1.26",
			WS4Go:     "commit 0123456789abcdef with uncommitted changes to server/x.go",
			Libraries: map[string]string{"github.com/gorilla/websocket": "v1.5.3"}, FDLimit: 20000},
		Config: ReportConfig{Loops: 2, PerProcess: 18000},
		Notes:  []string{"fd hint"},
		Scenarios: []ScenarioReport{{
			Scenario: Echo, Description: "500 connections <&>",
			Results: []ServerResult{
				{Server: "ws4go-goroutine", Metrics: []Metric{
					{Name: "msgs/s", Unit: "1/s", Value: 150000, Better: "higher"},
					{Name: "p99 at fixed rate", Unit: "µs", Value: 500, Better: "lower"},
					{Name: "client CPU", Unit: "%", Value: 70},
				}},
				{Server: "gorilla", Metrics: []Metric{
					{Name: "msgs/s", Unit: "1/s", Value: 100000, Better: "higher"},
					{Name: "p99 at fixed rate", Unit: "µs", Value: 1000, Better: "lower"},
					{Name: "client CPU", Unit: "%", Value: 65},
				}, Notes: []string{"something odd"}},
				{Server: "coder", Metrics: []Metric{
					{Name: "msgs/s", Unit: "1/s", Value: 50000, Better: "higher"},
				}, Warnings: []string{"the rest of the machine was busy"}},
				{Server: "nbio", Error: "did not start: boom"},
			},
		}},
	}
	dir := t.TempDir()
	if err := WriteResults(dir, rep, "ws4go bench -x"); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"| msgs/s (1/s)", "150,000", "100,000", "1.50× ✓", "0.50× ✓", "ws4go-goroutine ÷ each peer",
		"nbio: did not start: boom", "gorilla: something odd", "ws4go bench -x", "2 cores (Test CPU)",
		"github.com/gorilla/websocket v1.5.3", "![echo](echo.svg)",
		"coder: ⚠ the rest of the machine was busy", "| 3.00× ✓ † |", "†: ws4go-goroutine or the peer had warnings",
		"ws4go commit 0123456789abcdef with uncommitted changes to server/x.go", "Open files limit: 20,000 per process; a client process held up to 18,000 connections",
		"- ⚠ fd hint",
	} {
		if !strings.Contains(string(md), s) {
			t.Errorf("results.md lacks %q:\n%s", s, md)
		}
	}
	var back Report
	js, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if v, ok := back.Scenarios[0].Results[1].Get("msgs/s"); !ok || v != 100000 {
		t.Fatalf("JSON round trip: %v %v", v, ok)
	}
	if strings.Contains(string(md), "| 1.50× ✓ †") {
		t.Errorf("a ratio to a peer without warnings is marked:\n%s", md)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "echo.svg"))
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		_, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("echo.svg is not well-formed XML: %v", err)
			}
			break
		}
	}
	if !bytes.Contains(svg, []byte("150k")) || !bytes.Contains(svg, []byte("nbio (n/a)")) {
		t.Errorf("chart lacks values or labels:\n%s", svg)
	}
}

func TestFormat(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 3: "3", 1.234: "1.23", 12.34: "12.3", 123.4: "123", 1234567: "1,234,567", -4321: "-4,321"} {
		if got := formatValue(v); got != want {
			t.Errorf("FormatValue(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{150000: "150k", 2500000: "2.5M", 9999: "9999", 0.5: "0.5"} {
		if got := shortValue(v); got != want {
			t.Errorf("shortValue(%v) = %q, want %q", v, got, want)
		}
	}
	if top, step := niceScale(97); top < 97 || step <= 0 || top/step > 6 {
		t.Errorf("niceScale(97) = %v, %v", top, step)
	}
	if got := formatRatio(0, 0, true, "lower"); got != "=" {
		t.Errorf("0/0 = %q", got)
	}
}

// TestRunWSS runs the wss:// scenarios against a ws4go server process
// given the run's certificate, and checks that a server without TLS is
// left out.
func TestRunWSS(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(bin, "ws4go-server")); err != nil {
		t.Fatal(err)
	}
	t.Setenv(testRoleEnv, "server")
	cfg := Config{
		Scenarios: []Scenario{IdleWSS, EchoWSS, HandshakeWSS},
		Servers:   []string{"ws4go-netpoll", "gobwas"},
		BinDir:    bin, Out: t.TempDir(), Port: freePort(t),
		IdleConns: 100, EchoConns: 10, ChurnConc: 4,
		Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond, Pause: 10 * time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[Scenario][]string{
		IdleWSS:      {"connections held", "handshakes/s", "server RSS per connection", "server heap per connection"},
		EchoWSS:      {"msgs/s", "msgs/s per server core", "server CPU per message", "p99"},
		HandshakeWSS: {"handshakes/s", "handshakes/s per server core", "server CPU per handshake", "cycle p99"},
	}
	if len(rep.Scenarios) != 3 {
		t.Fatalf("%d scenarios", len(rep.Scenarios))
	}
	for _, sr := range rep.Scenarios {
		if len(sr.Results) != 1 || sr.Results[0].Server != "ws4go-netpoll" {
			t.Fatalf("%s: results %+v, want ws4go-netpoll's alone", sr.Scenario, sr.Results)
		}
		res := sr.Results[0]
		if res.Error != "" {
			t.Fatalf("%s: %s", sr.Scenario, res.Error)
		}
		for _, name := range want[sr.Scenario] {
			if v, ok := res.Get(name); !ok || v <= 0 {
				t.Errorf("%s: %s = %v, %v", sr.Scenario, name, v, ok)
			}
		}
		if !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.HasPrefix(n, "TLS: TLS 1.3") }) {
			t.Errorf("%s: notes %q say nothing of TLS 1.3", sr.Scenario, res.Notes)
		}
		if !strings.Contains(sr.Description, "wss://") {
			t.Errorf("%s: description %q", sr.Scenario, sr.Description)
		}
	}
	if v, _ := rep.Scenarios[0].Results[0].Get("connections held"); v != 100 {
		t.Errorf("idle-wss held %v connections, want 100", v)
	}
}

// TestRunH2 runs idle-h2 and echo-h2 against a ws4go server process
// started with -h2, next to idle-wss and echo-wss: the WebSockets share
// TCP connections (H2Streams each), the figures are there, and the report
// gives each h2 figure's ratio to the same server's over HTTP/1.1.
func TestRunH2(t *testing.T) {
	var h2 []string
	for _, s := range scenarioSpecs(IdleH2, Servers) {
		h2 = append(h2, s.Name)
	}
	if !slices.Equal(h2, []string{"ws4go-goroutine", "ws4go-netpoll"}) {
		t.Errorf("the HTTP/2 scenarios run %v, want ws4go's servers alone", h2)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(bin, "ws4go-server")); err != nil {
		t.Fatal(err)
	}
	t.Setenv(testRoleEnv, "server")
	cfg := Config{
		Scenarios: []Scenario{IdleWSS, EchoWSS, IdleH2, EchoH2},
		Servers:   []string{"ws4go-netpoll", "gobwas"},
		BinDir:    bin, Out: t.TempDir(), Port: freePort(t),
		IdleConns: 150, EchoConns: 10, H2Streams: 30, // at most server.H2MaxStreams
		Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond, Pause: 10 * time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Scenarios) != 4 || rep.Config.H2Streams != 30 {
		t.Fatalf("%d scenarios, %d streams per connection", len(rep.Scenarios), rep.Config.H2Streams)
	}
	want := map[Scenario][]string{
		IdleH2: {"connections held", "handshakes/s", "server RSS per connection", "server heap per connection", "server goroutines"},
		EchoH2: {"msgs/s", "msgs/s per server core", "server CPU per message", "p99"},
	}
	tcp := map[Scenario]string{IdleH2: "HTTP/2: 150 WebSockets over 5 TCP connection(s)", EchoH2: "HTTP/2: 10 WebSockets over 1 TCP connection(s)"}
	for _, sr := range rep.Scenarios[2:] {
		if len(sr.Results) != 1 || sr.Results[0].Server != "ws4go-netpoll" {
			t.Fatalf("%s: results %+v, want ws4go-netpoll's alone", sr.Scenario, sr.Results)
		}
		res := sr.Results[0]
		if res.Error != "" {
			t.Fatalf("%s: %s", sr.Scenario, res.Error)
		}
		for _, name := range want[sr.Scenario] {
			if v, ok := res.Get(name); !ok || v <= 0 {
				t.Errorf("%s: %s = %v, %v", sr.Scenario, name, v, ok)
			}
		}
		if !slices.Contains(res.Notes, tcp[sr.Scenario]) || !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.HasSuffix(n, "ALPN h2") }) {
			t.Errorf("%s: notes %q, want %q and ALPN h2", sr.Scenario, res.Notes, tcp[sr.Scenario])
		}
		if !strings.Contains(sr.Description, "HTTP/2") {
			t.Errorf("%s: description %q", sr.Scenario, sr.Description)
		}
	}
	if v, _ := rep.Scenarios[2].Results[0].Get("connections held"); v != 150 {
		t.Errorf("idle-h2 held %v WebSockets, want 150", v)
	}
	var md strings.Builder
	WriteMarkdown(&md, rep, "", false)
	for _, s := range []string{"idle-h2 ÷ idle-wss, each server against itself", "echo-h2 ÷ echo-wss, each server against itself"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("the report has no %q table:\n%s", s, md.String())
		}
	}
	// A row of the idle table: wss figure → h2 figure: ratio.
	if !regexp.MustCompile(`\| server RSS per connection +\| +↓ \| +[0-9.]+ → [0-9.]+: [0-9.]+×`).MatchString(md.String()) {
		t.Errorf("no RSS ratio row in:\n%s", md.String())
	}
}
