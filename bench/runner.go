package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Config is a benchmark run: which scenarios, which servers, how much load.
type Config struct {
	Scenarios []Scenario
	Servers   []string // names from Servers (default: all)
	BinDir    string   // built servers (see Build)
	Out       string   // results folder
	Port      int      // first port; server i uses Port+10*i and the next (default 9400)

	// Client processes: 0 picks ceil(conns/PerProcess) per scenario.
	Procs      int
	WorkerArgs []string // command that runs a worker (ws4go bench -worker)
	Loops      int      // event loops per client process (default 2)
	SourcesPer int      // source addresses per client process (default 8)

	IdleConns      int     // idle: connections held (default 15,000)
	Ramp           float64 // idle and broadcast: connections started per second (0: unlimited)
	EchoConns      int     // echo: connections (default 500)
	BroadcastConns int     // broadcast: connections, the publisher included (default 15,000)
	BroadcastRate  float64 // broadcast: messages published per second (0: closed loop)
	Window         int     // broadcast closed loop: messages in flight (default 1)
	ChurnConc      int     // churn: cycles in flight (default 50)
	Size           int     // message size in bytes (default 64)
	Rate           float64 // echo fixed-rate phase: messages/s (0: half of each server's closed-loop peak)
	Duration       time.Duration
	Warmup         time.Duration
	Hold           time.Duration // idle: how long the connections are held (default Duration)
	Pause          time.Duration // between two servers (default 1 s)

	// Progress receives the progress bar or lines; Log the notes.
	Progress io.Writer
	Log      io.Writer
}

func (c *Config) defaults() {
	if len(c.Scenarios) == 0 {
		c.Scenarios = Scenarios
	}
	if len(c.Servers) == 0 {
		c.Servers = ServerNames()
	}
	if c.Port == 0 {
		c.Port = 9400
	}
	if c.Loops == 0 {
		c.Loops = 2
	}
	if c.SourcesPer == 0 {
		c.SourcesPer = 8
	}
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.IdleConns, 15000)
	def(&c.EchoConns, 500)
	def(&c.BroadcastConns, 15000)
	def(&c.Window, 1)
	def(&c.ChurnConc, 50)
	def(&c.Size, 64)
	if c.Size < StampSize {
		c.Size = StampSize
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Hold == 0 {
		c.Hold = c.Duration
	}
	if c.Pause == 0 {
		c.Pause = time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// Metric is one figure of one server in one scenario.
type Metric struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit,omitempty"`
	Value float64 `json:"value"`
	// Better is "higher" or "lower" for figures that rank servers (the
	// tables give ratios for those), "" for context.
	Better string `json:"better,omitempty"`
}

// ServerResult is one server's figures in one scenario.
type ServerResult struct {
	Server  string   `json:"server"`
	Error   string   `json:"error,omitempty"`
	Metrics []Metric `json:"metrics,omitempty"`
	// Notes say what went wrong without spoiling the run (failed
	// connections, lost messages).
	Notes []string `json:"notes,omitempty"`
}

// Get returns the value of metric name.
func (r *ServerResult) Get(name string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}

func (r *ServerResult) add(name, unit, better string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	r.Metrics = append(r.Metrics, Metric{Name: name, Unit: unit, Value: v, Better: better})
}

func (r *ServerResult) note(format string, a ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, a...))
}

// ScenarioReport is every server's result in one scenario.
type ScenarioReport struct {
	Scenario    Scenario       `json:"scenario"`
	Description string         `json:"description"`
	Results     []ServerResult `json:"results"`
}

// Report is a whole benchmark run.
type Report struct {
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished"`
	Machine   Machine          `json:"machine"`
	Config    ReportConfig     `json:"config"`
	Scenarios []ScenarioReport `json:"scenarios"`
}

// ReportConfig is the part of Config a report records.
type ReportConfig struct {
	Servers        []string `json:"servers"`
	IdleConns      int      `json:"idle_conns"`
	EchoConns      int      `json:"echo_conns"`
	BroadcastConns int      `json:"broadcast_conns"`
	ChurnConc      int      `json:"churn_concurrency"`
	Size           int      `json:"size"`
	Duration       string   `json:"duration"`
	Warmup         string   `json:"warmup"`
	Hold           string   `json:"hold"`
	Ramp           float64  `json:"ramp"`
	Loops          int      `json:"client_loops"`
	Procs          int      `json:"client_procs"`
}

// Run runs every scenario against every server, one server process at a
// time, and writes the report, tables and charts to cfg.Out.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	var specs []ServerSpec
	for _, name := range cfg.Servers {
		s, ok := LookupServer(name)
		if !ok {
			return nil, fmt.Errorf("bench: unknown server %q (have %s)", name, strings.Join(ServerNames(), ", "))
		}
		specs = append(specs, s)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Out, "logs"), 0o755); err != nil {
		return nil, err
	}
	rep := &Report{
		Started: time.Now().UTC(),
		Config: ReportConfig{
			Servers: cfg.Servers, IdleConns: cfg.IdleConns, EchoConns: cfg.EchoConns,
			BroadcastConns: cfg.BroadcastConns, ChurnConc: cfg.ChurnConc, Size: cfg.Size,
			Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(), Hold: cfg.Hold.String(),
			Ramp: cfg.Ramp, Loops: cfg.Loops, Procs: cfg.Procs,
		},
	}
	prog := newProgress(cfg.Progress)
	step, steps := 0, len(cfg.Scenarios)*len(specs)
	for _, sc := range cfg.Scenarios {
		sr := ScenarioReport{Scenario: sc, Description: describe(sc, &cfg)}
		fmt.Fprintf(cfg.Log, "bench: %s: %s\n", sc, sr.Description)
		for i, spec := range specs {
			if ctx.Err() != nil {
				break
			}
			if i > 0 {
				select {
				case <-time.After(cfg.Pause):
				case <-ctx.Done():
				}
			}
			idx := serverIndex(spec.Name)
			step++
			label := fmt.Sprintf("[%d/%d] %s %s", step, steps, sc, spec.Name)
			r := runOne(ctx, &cfg, prog, label, sc, spec, cfg.Port+10*idx)
			if r.Error != "" {
				fmt.Fprintf(cfg.Log, "bench: %s %s: %s\n", sc, spec.Name, r.Error)
			}
			for _, n := range r.Notes {
				fmt.Fprintf(cfg.Log, "bench: %s %s: note: %s\n", sc, spec.Name, n)
			}
			sr.Results = append(sr.Results, r)
		}
		rep.Scenarios = append(rep.Scenarios, sr)
		if ctx.Err() != nil {
			break
		}
	}
	rep.Finished = time.Now().UTC()
	prog.done()
	return rep, ctx.Err()
}

func serverIndex(name string) int {
	for i, s := range Servers {
		if s.Name == name {
			return i
		}
	}
	return 0
}

// describe says in words what a scenario measures under cfg.
func describe(sc Scenario, cfg *Config) string {
	switch sc {
	case Idle:
		ramp := "as fast as they are accepted (256 handshakes in flight)"
		if cfg.Ramp > 0 {
			ramp = fmt.Sprintf("at %.0f/s", cfg.Ramp)
		}
		return fmt.Sprintf("%d connections opened %s, then held for %v; memory is the server's RSS growth over its RSS before the first connection", cfg.IdleConns, ramp, cfg.Hold)
	case Echo:
		rate := "half of each server's closed-loop peak"
		if cfg.Rate > 0 {
			rate = fmt.Sprintf("%.0f msgs/s", cfg.Rate)
		}
		return fmt.Sprintf("%d connections, %d-byte binary messages echoed: closed loop (one message in flight per connection) for %v after a %v warmup, then a fixed rate of %s for %v; latency is the round trip, from the time each message was due", cfg.EchoConns, cfg.Size, cfg.Duration, cfg.Warmup, rate, cfg.Duration)
	case Broadcast:
		mode := fmt.Sprintf("closed loop, %d message(s) in flight: the next is published when the last has reached every connection", cfg.Window)
		if cfg.BroadcastRate > 0 {
			mode = fmt.Sprintf("%.0f messages published per second", cfg.BroadcastRate)
		}
		return fmt.Sprintf("%d connections to /broadcast, one of which publishes %d-byte messages that the server sends to all of them (the publisher too); %s; %v measured after a %v warmup", cfg.BroadcastConns, cfg.Size, mode, cfg.Duration, cfg.Warmup)
	case Churn:
		return fmt.Sprintf("%d cycles in flight, each: connect, handshake, one %d-byte message echoed, closing handshake, server closes; %v measured after a %v warmup", cfg.ChurnConc, cfg.Size, cfg.Duration, cfg.Warmup)
	}
	return string(sc)
}

// newClient makes the load generator for conns connections to target:
// this process, or worker processes when one would not hold them.
func newClient(cfg *Config, target Target, conns int) (Client, int, error) {
	procs := cfg.Procs
	if procs <= 0 {
		procs = max(1, (conns+PerProcess-1)/PerProcess)
	}
	cc := ClientConfig{Target: target, Loops: cfg.Loops}
	if procs == 1 {
		cc.Sources = DefaultSources(cfg.SourcesPer, 0)
		g, err := NewGenerator(cc)
		if err != nil {
			return nil, 0, err
		}
		return g, 1, nil
	}
	if len(cfg.WorkerArgs) == 0 {
		return nil, 0, fmt.Errorf("bench: %d connections need %d client processes, and no worker command was given", conns, procs)
	}
	c, err := NewMultiClient(cfg.WorkerArgs, cc, procs, cfg.SourcesPer, os.Stderr)
	return c, procs, err
}

// runOne runs scenario sc against one server process.
func runOne(ctx context.Context, cfg *Config, prog *progress, label string, sc Scenario, spec ServerSpec, port int) (res ServerResult) {
	res.Server = spec.Name
	mode := "echo"
	path := "/ws"
	if sc == Broadcast {
		mode, path = "broadcast", "/broadcast"
	}
	logPath := filepath.Join(cfg.Out, "logs", fmt.Sprintf("%s-%s.log", sc, spec.Name))
	proc, err := startServer(ctx, cfg.BinDir, spec, port, mode, logPath)
	if err != nil {
		res.Error = "did not start: " + err.Error()
		return res
	}
	defer proc.stop()
	conns := map[Scenario]int{Idle: cfg.IdleConns, Echo: cfg.EchoConns, Broadcast: cfg.BroadcastConns, Churn: cfg.ChurnConc}[sc]
	client, procs, err := newClient(cfg, Target{Addr: proc.addr, Path: path, Raw: spec.Raw, RawHandshake: spec.Raw && mode == "echo"}, conns)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer client.Close()
	if procs > 1 {
		res.note("%d client processes", procs)
	}
	b := &bout{ctx: ctx, cfg: cfg, prog: prog, proc: proc, client: client, res: &res, label: label}
	switch sc {
	case Idle:
		err = b.idle()
	case Echo:
		err = b.echo()
	case Broadcast:
		err = b.broadcast()
	case Churn:
		err = b.churn()
	default:
		err = fmt.Errorf("unknown scenario %q", sc)
	}
	if err != nil {
		res.Error = err.Error()
	}
	if !proc.alive() && res.Error == "" {
		res.Error = "server died: " + proc.logTail()
	}
	return res
}

// bout is one scenario against one server.
type bout struct {
	ctx    context.Context
	cfg    *Config
	prog   *progress
	proc   *serverProc
	client Client
	res    *ServerResult
	label  string
	rest   float64 // CPU % of everything else on the machine in the last measure
}

// connect opens n connections, with the progress bar counting.
func (b *bout) connect(n int, rate float64) (ConnectResult, error) {
	stop := b.prog.phase(b.label+": connecting", 0, b.counter(n))
	cr, err := b.client.Connect(b.ctx, ConnectSpec{Conns: n, Rate: rate})
	stop()
	if cr.Failed > 0 {
		b.res.note("%d of %d connections failed: %s", cr.Failed, n, cr.FirstError)
	}
	if err == nil && cr.Opened == 0 {
		err = fmt.Errorf("no connection opened: %s", cr.FirstError)
	}
	return cr, err
}

// counter reports connections opened, for the progress bar, when the client
// is this process.
func (b *bout) counter(total int) func() (int64, int64) {
	g, ok := b.client.(*Generator)
	if !ok || g == nil {
		return nil
	}
	return func() (int64, int64) { return g.Opened(), int64(total) }
}

// measure runs spec while reading the server's CPU time around it. It
// also notes how busy the rest of the machine was: on a shared machine,
// other processes take CPU from both server and client.
func (b *bout) measure(what string, spec RunSpec) (RunResult, float64, error) {
	s0, err := b.proc.stats()
	if err != nil {
		return RunResult{}, 0, err
	}
	m0, merr := machineBusy()
	t0 := time.Now()
	stop := b.prog.phase(b.label+": "+what, spec.Warmup+spec.Duration, nil)
	r, err := b.client.Run(b.ctx, spec)
	stop()
	wall := time.Since(t0)
	s1, err2 := b.proc.stats()
	if err == nil {
		err = err2
	}
	m1, merr2 := machineBusy()
	if merr == nil && merr2 == nil && err == nil {
		b.rest = max(0, pct(m1-m0-(s1.CPU-s0.CPU)-r.CPU, wall))
	} else {
		b.rest = math.NaN()
	}
	if r.Errors > 0 {
		b.res.note("%s: %d connections lost or cycles failed: %s", what, r.Errors, r.FirstError)
	}
	if r.Incomplete > 0 {
		b.res.note("%s: %d broadcasts did not reach every connection in %v", what, r.Incomplete, broadcastTimeout)
	}
	return r, pct(s1.CPU-s0.CPU, wall), err
}

func pct(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}

func quantiles(s *hdrhistogram.Snapshot) (p50, p99, p999, maxv float64) {
	if s == nil {
		return
	}
	h := hdrhistogram.Import(s)
	if h.TotalCount() == 0 {
		return
	}
	return float64(h.ValueAtQuantile(50)), float64(h.ValueAtQuantile(99)), float64(h.ValueAtQuantile(99.9)), float64(h.Max())
}

// settle lets the server finish what the last phase left it (handshakes
// in flight, GC) before it is measured.
func (b *bout) settle(d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-b.ctx.Done():
		return b.ctx.Err()
	}
}

func (b *bout) idle() error {
	if err := b.settle(300 * time.Millisecond); err != nil {
		return err
	}
	base, err := b.proc.stats()
	if err != nil {
		return err
	}
	cr, err := b.connect(b.cfg.IdleConns, b.cfg.Ramp)
	if err != nil {
		return err
	}
	r, srvCPU, err := b.measure("holding", RunSpec{Scenario: Idle, Duration: b.cfg.Hold})
	if err != nil {
		return err
	}
	st, err := b.proc.stats()
	if err != nil {
		return err
	}
	held := r.Open
	res := b.res
	res.add("connections held", "", "", float64(held))
	if cr.Elapsed > 0 {
		res.add("handshakes/s", "1/s", "higher", float64(cr.Opened)/cr.Elapsed.Seconds())
	}
	_, p99, _, _ := quantiles(cr.Handshake)
	res.add("handshake p99", "ms", "lower", p99/1000)
	if held > 0 {
		res.add("server RSS per connection", "KiB", "lower", float64(st.RSS-base.RSS)/1024/float64(held))
	}
	res.add("server RSS", "MiB", "lower", float64(st.RSS)/(1<<20))
	if g, ok := b.proc.goroutines(b.ctx); ok {
		res.add("server goroutines", "", "lower", g)
	}
	res.add("server threads", "", "", float64(st.Threads))
	res.add("server CPU while idle", "%", "lower", srvCPU)
	res.add("client CPU while connecting", "%", "", pct(cr.CPU, cr.Elapsed))
	res.add("client CPU while idle", "%", "", pct(r.CPU, b.cfg.Hold))
	res.add("rest of machine CPU while idle", "%", "", b.rest)
	return nil
}

func (b *bout) echo() error {
	if _, err := b.connect(b.cfg.EchoConns, 0); err != nil {
		return err
	}
	spec := RunSpec{Scenario: Echo, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, Size: b.cfg.Size}
	r, srvCPU, err := b.measure("closed loop", spec)
	if err != nil {
		return err
	}
	res := b.res
	peak := float64(r.Received) / b.cfg.Duration.Seconds()
	res.add("msgs/s", "1/s", "higher", peak)
	p50, p99, p999, _ := quantiles(r.Latency)
	res.add("p50", "µs", "lower", p50)
	res.add("p99", "µs", "lower", p99)
	res.add("p99.9", "µs", "lower", p999)
	res.add("server CPU", "%", "", srvCPU)
	res.add("client CPU", "%", "", pct(r.CPU, spec.Warmup+spec.Duration))
	res.add("rest of machine CPU", "%", "", b.rest)
	if st, err := b.proc.stats(); err == nil {
		res.add("server RSS", "MiB", "lower", float64(st.RSS)/(1<<20))
	}
	rate := b.cfg.Rate
	if rate <= 0 {
		rate = peak / 2
	}
	if rate < 1 {
		return errors.New("closed loop delivered nothing")
	}
	spec.Rate = rate
	r, srvCPU, err = b.measure(fmt.Sprintf("fixed rate %.0f msgs/s", rate), spec)
	if err != nil {
		return err
	}
	got := float64(r.Received) / b.cfg.Duration.Seconds()
	res.add("fixed rate", "1/s", "", rate)
	if got < 0.95*rate {
		res.note("fixed rate: %.0f msgs/s delivered of %.0f offered", got, rate)
	}
	p50, p99, p999, _ = quantiles(r.Latency)
	res.add("p50 at fixed rate", "µs", "lower", p50)
	res.add("p99 at fixed rate", "µs", "lower", p99)
	res.add("p99.9 at fixed rate", "µs", "lower", p999)
	res.add("server CPU at fixed rate", "%", "lower", srvCPU)
	res.add("client CPU at fixed rate", "%", "", pct(r.CPU, spec.Warmup+spec.Duration))
	res.add("rest of machine CPU at fixed rate", "%", "", b.rest)
	return nil
}

func (b *bout) broadcast() error {
	if _, err := b.connect(b.cfg.BroadcastConns, b.cfg.Ramp); err != nil {
		return err
	}
	if err := b.settle(500 * time.Millisecond); err != nil {
		return err
	}
	spec := RunSpec{Scenario: Broadcast, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, Size: b.cfg.Size,
		Rate: b.cfg.BroadcastRate, Publisher: true, Window: b.cfg.Window}
	r, srvCPU, err := b.measure("broadcasting", spec)
	if err != nil {
		return err
	}
	res := b.res
	secs := b.cfg.Duration.Seconds()
	res.add("connections", "", "", float64(r.Open))
	res.add("broadcasts/s", "1/s", "higher", float64(r.Completed)/secs)
	res.add("deliveries/s", "1/s", "higher", float64(r.Received)/secs)
	p50, p99, _, _ := quantiles(r.Completion)
	res.add("fan-out p50", "ms", "lower", p50/1000)
	res.add("fan-out p99", "ms", "lower", p99/1000)
	d50, d99, d999, _ := quantiles(r.Latency)
	res.add("delivery p50", "ms", "lower", d50/1000)
	res.add("delivery p99", "ms", "lower", d99/1000)
	res.add("delivery p99.9", "ms", "lower", d999/1000)
	res.add("server CPU", "%", "", srvCPU)
	res.add("client CPU", "%", "", pct(r.CPU, spec.Warmup+spec.Duration))
	res.add("rest of machine CPU", "%", "", b.rest)
	if st, err := b.proc.stats(); err == nil {
		res.add("server RSS", "MiB", "lower", float64(st.RSS)/(1<<20))
	}
	return nil
}

func (b *bout) churn() error {
	spec := RunSpec{Scenario: Churn, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, Size: b.cfg.Size, Concurrency: b.cfg.ChurnConc}
	r, srvCPU, err := b.measure("churning", spec)
	if err != nil {
		return err
	}
	res := b.res
	res.add("connections/s", "1/s", "higher", float64(r.Completed)/b.cfg.Duration.Seconds())
	p50, p99, _, _ := quantiles(r.Latency)
	res.add("cycle p50", "ms", "lower", p50/1000)
	res.add("cycle p99", "ms", "lower", p99/1000)
	res.add("failed cycles", "", "lower", float64(r.Errors))
	res.add("server CPU", "%", "", srvCPU)
	res.add("client CPU", "%", "", pct(r.CPU, spec.Warmup+spec.Duration))
	res.add("rest of machine CPU", "%", "", b.rest)
	if st, err := b.proc.stats(); err == nil {
		res.add("server RSS", "MiB", "lower", float64(st.RSS)/(1<<20))
	}
	return nil
}
