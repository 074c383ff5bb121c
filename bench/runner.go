package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ws4go/ws4go/internal/testcert"
)

// runner is the state of a Run.
type runner struct {
	ctx         context.Context
	cfg         *Config
	prog        *progress
	step, steps int
	ran         bool // a server has run already
}

// Run runs every scenario against every server, one server process at a
// time, and returns the report (WriteResults writes it out). In the echo
// scenario every server's closed loop runs first, then every server's
// fixed-rate phase, on a fresh process, at one rate for all.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	var specs []ServerSpec
	for _, name := range cfg.Servers {
		s, ok := LookupServer(name)
		if !ok {
			return nil, fmt.Errorf("bench: unknown server %q (have %s)", name, strings.Join(AllServerNames(), ", "))
		}
		specs = append(specs, s)
	}
	limitNotes, err := checkLimits(&cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.Out, "logs"), 0o755); err != nil {
		return nil, err
	}
	rep := &Report{
		Started: time.Now().UTC(),
		Config: ReportConfig{
			Servers: cfg.Servers, IdleConns: cfg.IdleConns, EchoConns: cfg.EchoConns,
			BroadcastConns: cfg.BroadcastConns, ChurnConc: cfg.ChurnConc, Size: cfg.Size, Rate: cfg.Rate,
			Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(), Hold: cfg.Hold.String(),
			Ramp: cfg.Ramp, Loops: cfg.Loops, Procs: cfg.Procs, PerProcess: PerProcess(),
		},
	}
	if slices.ContainsFunc(cfg.Scenarios, Scenario.h2) {
		rep.Config.H2Streams = cfg.H2Streams
	}
	if slices.ContainsFunc(cfg.Scenarios, Scenario.fanout) {
		rep.Config.Gather = cfg.Gather.String()
	}
	if slices.Contains(cfg.Scenarios, BroadcastRate) || slices.Contains(cfg.Scenarios, Generator) {
		rep.Config.RateConns, rep.Config.BroadcastRate, rep.Config.GenBatch = cfg.RateConns, cfg.BroadcastRate, cfg.GenBatch
	}
	if slices.Contains(cfg.Scenarios, Topics) {
		rep.Config.TopicsConns, rep.Config.Topics, rep.Config.TopicsPerConn = cfg.TopicsConns, cfg.Topics, cfg.TopicsPerConn
		rep.Config.TopicsPublishers, rep.Config.TopicsRate = cfg.TopicsPublishers, cfg.TopicsRate
	}
	for _, n := range limitNotes {
		fmt.Fprintf(cfg.Log, "bench: warning: %s\n", n)
		rep.Notes = append(rep.Notes, n)
	}
	if slices.ContainsFunc(cfg.Scenarios, Scenario.TLS) {
		dir, err := os.MkdirTemp("", "ws4go-bench-tls-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cert, key, _, err := testcert.Write(dir, 24*time.Hour)
		if err != nil {
			return nil, err
		}
		cfg.tlsArgs = []string{"-tls-cert", cert, "-tls-key", key}
	}
	r := &runner{ctx: ctx, cfg: &cfg, prog: newProgress(cfg.Progress)}
	for _, sc := range cfg.Scenarios {
		n := len(scenarioSpecs(sc, specs))
		r.steps += n
		if sc == Echo {
			r.steps += n // the fixed-rate pass
		}
	}
	for _, sc := range cfg.Scenarios {
		all := specs
		specs := scenarioSpecs(sc, specs)
		if note := skipped(sc, all, specs); note != "" {
			fmt.Fprintf(cfg.Log, "bench: %s\n", note)
			rep.Notes = append(rep.Notes, note)
		}
		if len(specs) == 0 {
			continue
		}
		sr := ScenarioReport{Scenario: sc, Description: describe(sc, &cfg, 0, "")}
		fmt.Fprintf(cfg.Log, "bench: %s: %s\n", sc, sr.Description)
		sr.Results = make([]ServerResult, len(specs))
		for i, spec := range specs {
			sr.Results[i].Server = spec.Name
		}
		body := map[Scenario]func(*bout) error{Idle: (*bout).idle, Echo: (*bout).echoClosed, Broadcast: (*bout).broadcast,
			BroadcastRate: (*bout).broadcastRate, Topics: (*bout).topics, Generator: (*bout).generator,
			Churn: (*bout).churn, HandshakeWSS: (*bout).handshakes}[sc.plain()]
		r.pass(sc, "", specs, sr.Results, body)
		if sc == Echo && ctx.Err() == nil {
			rate, from := r.cfg.Rate, ""
			if rate <= 0 {
				rate, from = commonRate(sr.Results)
			}
			if rate >= 1 {
				sr.Rate = rate
				sr.Description = describe(sc, &cfg, rate, from)
				fmt.Fprintf(cfg.Log, "bench: echo: fixed rate %.0f msgs/s for every server\n", rate)
				r.pass(sc, "-fixed", specs, sr.Results, func(b *bout) error { return b.echoFixed(rate) })
			}
		}
		for _, res := range sr.Results {
			r.logResult(sc, &res)
		}
		rep.Scenarios = append(rep.Scenarios, sr)
		if ctx.Err() != nil {
			break
		}
	}
	rep.Finished = time.Now().UTC()
	return rep, ctx.Err()
}

// scenarioSpecs are the servers of specs that run sc: for the wss://
// scenarios, those that serve TLS; for the HTTP/2 ones, those that serve
// WebSockets over HTTP/2; for topics, those that serve /topics; for the
// generator, the raw TCP server.
func scenarioSpecs(sc Scenario, specs []ServerSpec) []ServerSpec {
	var out []ServerSpec
	for _, s := range specs {
		switch {
		case sc == Generator && !s.Raw,
			sc == Topics && !s.servesTopics(),
			sc.TLS() && (!s.TLS || sc.h2() && !s.H2):
			continue
		}
		out = append(out, s)
	}
	return out
}

// skipped says which servers of all the topics and generator scenarios
// leave out ("" if none); the wss:// and HTTP/2 ones leave out those
// without TLS or HTTP/2 silently, as the README says.
func skipped(sc Scenario, all, run []ServerSpec) string {
	var names []string
	for _, s := range all {
		if !slices.ContainsFunc(run, func(r ServerSpec) bool { return r.Name == s.Name }) {
			names = append(names, s.Name)
		}
	}
	switch {
	case len(names) == 0:
		return ""
	case sc == Topics:
		return fmt.Sprintf("topics: not run against %s, which do not serve /topics", strings.Join(names, ", "))
	case sc == Generator && len(run) == 0:
		return "generator: not run: it measures the client against the raw TCP server (rawtcp), which -servers leaves out"
	}
	return ""
}

// pass runs body against every server in turn, each in a fresh process,
// adding to its result; a server whose result has an error already is
// skipped.
func (r *runner) pass(sc Scenario, logSuffix string, specs []ServerSpec, results []ServerResult, body func(*bout) error) {
	for i, spec := range specs {
		if r.ctx.Err() != nil {
			return
		}
		r.step++
		if results[i].Error != "" {
			continue
		}
		// Between two server processes, the kernel finishes with the
		// last one's sockets.
		if r.ran {
			select {
			case <-time.After(r.cfg.Pause):
			case <-r.ctx.Done():
				return
			}
		}
		label := fmt.Sprintf("[%d/%d] %s %s", r.step, r.steps, sc, spec.Name)
		logPath := filepath.Join(r.cfg.Out, "logs", fmt.Sprintf("%s%s-%s.log", sc, logSuffix, spec.Name))
		r.runOne(label, sc, spec, r.cfg.Port+10*serverIndex(spec.Name), logPath, &results[i], body)
		r.ran = true
	}
}

func (r *runner) logResult(sc Scenario, res *ServerResult) {
	if res.Error != "" {
		fmt.Fprintf(r.cfg.Log, "bench: %s %s: %s\n", sc, res.Server, res.Error)
	}
	for _, n := range res.Warnings {
		fmt.Fprintf(r.cfg.Log, "bench: %s %s: warning: %s\n", sc, res.Server, n)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(r.cfg.Log, "bench: %s %s: note: %s\n", sc, res.Server, n)
	}
}

// commonRate is the echo fixed rate when -rate is not given: half of the
// lowest closed-loop peak among the servers measured, so that every
// server's latency is measured at the same load, one that every server
// sustains. It also returns whose peak that was.
func commonRate(results []ServerResult) (float64, string) {
	low, who := math.Inf(1), ""
	for _, res := range results {
		if res.Error != "" {
			continue
		}
		if v, ok := res.Get("msgs/s"); ok && v > 0 && v < low {
			low, who = v, res.Server
		}
	}
	if who == "" {
		return 0, ""
	}
	return math.Round(low / 2), who
}

func serverIndex(name string) int {
	for i, s := range Servers {
		if s.Name == name {
			return i
		}
	}
	return 0
}

// newClient makes the load generator for conns connections to target:
// this process, or worker processes when one would not hold them.
func newClient(cfg *Config, target loadTarget, conns int) (loadClient, int, error) {
	procs := cfg.Procs
	if procs <= 0 {
		per := PerProcess()
		procs = max(1, (conns+per-1)/per)
	}
	cc := clientConfig{loadTarget: target, Loops: cfg.Loops}
	if procs == 1 {
		cc.Sources = defaultSources(cfg.SourcesPer, 0)
		g, err := newGenerator(cc)
		if err != nil {
			return nil, 0, err
		}
		return g, 1, nil
	}
	if len(cfg.WorkerArgs) == 0 {
		return nil, 0, fmt.Errorf("bench: %d connections need %d client processes, and no worker command was given", conns, procs)
	}
	c, err := newMultiClient(cfg.WorkerArgs, cc, procs, cfg.SourcesPer, os.Stderr)
	return c, procs, err
}

// runOne runs body against one server process of spec, on port, adding to
// res.
func (r *runner) runOne(label string, sc Scenario, spec ServerSpec, port int, logPath string, res *ServerResult, body func(*bout) error) {
	cfg := r.cfg
	mode := "echo"
	path := "/ws"
	switch sc {
	case Broadcast, BroadcastRate, Generator:
		mode, path = "broadcast", "/broadcast"
	case Topics:
		mode, path = "topics", "/topics"
	}
	var extra []string
	if sc.TLS() {
		extra = cfg.tlsArgs
	}
	if sc.h2() {
		extra = append(slices.Clone(extra), "-h2")
	}
	proc, err := startServer(r.ctx, cfg.BinDir, spec, port, mode, logPath, extra)
	if err != nil {
		res.Error = "did not start: " + err.Error()
		return
	}
	defer proc.stop()
	target := loadTarget{Addr: proc.addr, Path: path, Raw: spec.Raw, RawHandshake: spec.Raw && mode == "echo", RawFrames: spec.Raw && sc == Generator}
	var client loadClient
	procs := 1
	if sc.TLS() {
		// One process: the crypto/tls client has no workers.
		var c *tlsClient
		h2Streams := 0
		if sc.h2() {
			h2Streams = cfg.H2Streams
		}
		c, err = newTLSClient(target, defaultSources(cfg.SourcesPer, 0), h2Streams)
		client = c
		if n := cfg.tcpConns(sc); err == nil && n > PerProcess() {
			err = fmt.Errorf("bench: %s runs one client process, which holds %d connections, not %d", sc, PerProcess(), n)
		}
	} else {
		client, procs, err = newClient(cfg, target, cfg.conns(sc))
	}
	if err != nil {
		res.Error = err.Error()
		return
	}
	defer client.Close()
	if procs > 1 && !slices.Contains(res.Notes, fmt.Sprintf("%d client processes", procs)) {
		res.note("%d client processes", procs)
	}
	b := &bout{ctx: r.ctx, cfg: cfg, prog: r.prog, proc: proc, client: client, procs: procs, res: res, label: label}
	if err := body(b); err != nil {
		res.Error = err.Error()
	}
	if c, ok := client.(*tlsClient); ok && c.Negotiated() != "" {
		if n := "TLS: " + c.Negotiated(); !slices.Contains(res.Notes, n) {
			res.note("%s", n)
		}
		if sc.h2() {
			res.note("HTTP/2: %d WebSockets over %d TCP connection(s)", c.Opened(), c.tcpConns())
		}
	}
	if !proc.alive() && res.Error == "" {
		res.Error = "server died: " + proc.logTail()
	}
}
