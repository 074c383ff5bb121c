package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ws4go/ws4go/internal/testcert"
	"github.com/ws4go/ws4go/server"
)

// Config is a benchmark run: which scenarios, which servers, how much load.
type Config struct {
	Scenarios []Scenario
	Servers   []string // names from Servers (default: ServerNames, all but the extras)
	BinDir    string   // built servers (see Build)
	Out       string   // results folder (for the servers' logs; WriteResults writes the rest)
	Port      int      // first port; server i uses Port+10*i and the next (default 9400)

	// Client processes: 0 picks ceil(conns/PerProcess()) per scenario.
	Procs      int
	WorkerArgs []string // command that runs a worker (ws4go bench -worker)
	Loops      int      // event loops per client process (default 2)
	SourcesPer int      // source addresses per client process (default 8)

	IdleConns      int     // idle: connections held (default 15,000)
	Ramp           float64 // idle and broadcast: connections started per second (0: unlimited)
	EchoConns      int     // echo: connections (default 500)
	BroadcastConns int     // broadcast: connections, the publisher included (default 15,000)
	Window         int     // broadcast closed loop: messages in flight (default 1)
	ChurnConc      int     // churn: cycles in flight (default 50)
	H2Streams      int     // idle-h2, echo-h2: WebSockets per TLS connection (default server.H2MaxStreams, ws4go's limit)
	Size           int     // message size in bytes (default 64)
	Rate           float64 // echo fixed-rate phase: messages/s for every server (0: half of the lowest closed-loop peak)
	Duration       time.Duration
	Warmup         time.Duration
	Hold           time.Duration // idle: how long the connections are held (default Duration)
	Pause          time.Duration // between two servers (default 1 s)

	RateConns     int     // broadcast-rate, generator: connections, the publisher included (default 10,000)
	BroadcastRate float64 // broadcast-rate: messages published per second (default 40)
	GenBatch      int     // generator: frames the publisher writes at once (default 16)

	TopicsConns      int     // topics: subscribing connections (default 15,000)
	Topics           int     // topics: topics (default 1,000)
	TopicsPerConn    int     // topics: topics each connection subscribes to (default 10)
	TopicsPublishers int     // topics: publishing connections, besides TopicsConns (default 10)
	TopicsRate       float64 // topics: messages published per second over all topics (default 2,500)

	// Gather is how long a client event loop waits for more events after
	// an epoll_wait that returned few, in the fan-out scenarios (see
	// runSpec.Gather; default 500 µs, negative: none).
	Gather time.Duration

	// Progress receives the progress bar or lines; Log the notes.
	Progress io.Writer
	Log      io.Writer

	// tlsArgs are the servers' -tls-cert and -tls-key for the wss://
	// scenarios (Run writes a certificate for the run).
	tlsArgs []string
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
	def(&c.RateConns, 10000)
	def(&c.GenBatch, 16)
	def(&c.TopicsConns, 15000)
	def(&c.Topics, 1000)
	def(&c.TopicsPerConn, 10)
	def(&c.TopicsPublishers, 10)
	if c.BroadcastRate <= 0 {
		c.BroadcastRate = 40
	}
	if c.TopicsRate <= 0 {
		c.TopicsRate = 2500
	}
	switch {
	case c.Gather == 0:
		c.Gather = 500 * time.Microsecond
	case c.Gather < 0:
		c.Gather = 0
	}
	def(&c.ChurnConc, 50)
	if c.H2Streams <= 0 {
		c.H2Streams = server.H2MaxStreams
	}
	def(&c.Size, 64)
	if c.Size < stampSize {
		c.Size = stampSize
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
	// Warnings say what makes the figures doubtful without spoiling the
	// run: lost connections or messages, a fixed rate not delivered, a
	// machine busy with other work. The tables mark the ratios of a
	// result with warnings.
	Warnings []string `json:"warnings,omitempty"`
	// Notes say how the figures were obtained where that differs from
	// the usual (several client processes).
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

func (r *ServerResult) warn(format string, a ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, a...))
}

// ScenarioReport is every server's result in one scenario.
type ScenarioReport struct {
	Scenario    Scenario       `json:"scenario"`
	Description string         `json:"description"`
	Results     []ServerResult `json:"results"`
	// Rate is the echo scenario's fixed rate, the same for every server
	// (messages/s).
	Rate float64 `json:"rate,omitempty"`
}

// Report is a whole benchmark run.
type Report struct {
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished"`
	Machine   Machine          `json:"machine"`
	Config    ReportConfig     `json:"config"`
	Notes     []string         `json:"notes,omitempty"` // about the whole run
	Scenarios []ScenarioReport `json:"scenarios"`
}

// ReportConfig is the part of Config a report records.
type ReportConfig struct {
	Servers        []string `json:"servers"`
	IdleConns      int      `json:"idle_conns"`
	EchoConns      int      `json:"echo_conns"`
	BroadcastConns int      `json:"broadcast_conns"`
	ChurnConc      int      `json:"churn_concurrency"`
	H2Streams      int      `json:"h2_streams_per_conn,omitempty"` // set when an HTTP/2 scenario ran
	Size           int      `json:"size"`
	Rate           float64  `json:"rate,omitempty"` // -rate, 0: half of the lowest peak
	Duration       string   `json:"duration"`
	Warmup         string   `json:"warmup"`
	Hold           string   `json:"hold"`
	Ramp           float64  `json:"ramp"`
	Loops          int      `json:"client_loops"`
	Procs          int      `json:"client_procs"`
	PerProcess     int      `json:"conns_per_client_process"`

	// The fixed-rate fan-out scenarios (broadcast-rate, topics,
	// generator), when one of them ran.
	RateConns        int     `json:"rate_conns,omitempty"`
	BroadcastRate    float64 `json:"broadcast_rate,omitempty"`
	GenBatch         int     `json:"generator_batch,omitempty"`
	TopicsConns      int     `json:"topics_conns,omitempty"`
	Topics           int     `json:"topics,omitempty"`
	TopicsPerConn    int     `json:"topics_per_conn,omitempty"`
	TopicsPublishers int     `json:"topics_publishers,omitempty"`
	TopicsRate       float64 `json:"topics_rate,omitempty"`
	Gather           string  `json:"client_gather,omitempty"`
}

// busyThreshold is the share of a core (%) the rest of the machine may
// take during a measured phase before the result is flagged: above it,
// other work competed with server and client for the cores.
const busyThreshold = 10

// conns is the number of connections scenario sc opens.
func (c *Config) conns(sc Scenario) int {
	switch sc.plain() {
	case Idle:
		return c.IdleConns
	case Echo:
		return c.EchoConns
	case Broadcast:
		return c.BroadcastConns
	case BroadcastRate, Generator:
		return c.RateConns
	case Topics:
		return c.TopicsConns + c.TopicsPublishers
	case Churn, HandshakeWSS:
		return c.ChurnConc
	}
	return 0
}

// tcpConns is the number of TCP connections scenario sc opens: over
// HTTP/2, H2Streams WebSockets share one.
func (c *Config) tcpConns(sc Scenario) int {
	n := c.conns(sc)
	if sc.h2() {
		return (n + c.H2Streams - 1) / c.H2Streams
	}
	return n
}

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

// describe says in words what a scenario measures under cfg; for echo,
// rate is the fixed rate once known, from the server whose peak set it.
func describe(sc Scenario, cfg *Config, rate float64, from string) string {
	switch sc {
	case IdleWSS:
		return describe(Idle, cfg, rate, from) + "; " + wssClient
	case EchoWSS:
		return fmt.Sprintf("%d connections, %d-byte binary messages echoed in closed loop (one message in flight per connection; no fixed-rate phase) for %v after a %v warmup; latency is the round trip; %s", cfg.EchoConns, cfg.Size, cfg.Duration, cfg.Warmup, wssClient)
	case IdleH2, EchoH2:
		return strings.Replace(describe(sc.http1(), cfg, rate, from), wssClient, fmt.Sprintf(h2Client, cfg.H2Streams), 1)
	case HandshakeWSS:
		return fmt.Sprintf("%d cycles in flight, each: connect, TLS handshake, WebSocket handshake, closing handshake; %v measured after a %v warmup; %s", cfg.ChurnConc, cfg.Duration, cfg.Warmup, wssClient)
	case Idle:
		ramp := fmt.Sprintf("as fast as they are accepted (%d handshakes in flight)", defaultMaxPending)
		if cfg.Ramp > 0 {
			ramp = fmt.Sprintf("at %.0f/s", cfg.Ramp)
		}
		return fmt.Sprintf("%d connections opened %s, then held for %v; memory is read after the server collected its garbage and returned free memory to the OS (its /gc), before the first connection and after the hold, and divided by the connections held", cfg.IdleConns, ramp, cfg.Hold)
	case Echo:
		fixed := "half of the lowest closed-loop peak among the servers, the same for all"
		switch {
		case cfg.Rate > 0:
			fixed = fmt.Sprintf("%s msgs/s (-rate), the same for all", formatValue(cfg.Rate))
		case rate > 0:
			fixed = fmt.Sprintf("%s msgs/s for all: half of the lowest closed-loop peak (%s's)", formatValue(rate), from)
		}
		return fmt.Sprintf("%d connections, %d-byte binary messages echoed: closed loop (one message in flight per connection) for %v after a %v warmup; then, once every server's closed loop is done, each server again, in a fresh process, at a fixed rate of %s for %v after a %v warmup; latency is the round trip, from the time each message was due", cfg.EchoConns, cfg.Size, cfg.Duration, cfg.Warmup, fixed, cfg.Duration, cfg.Warmup)
	case Broadcast:
		return fmt.Sprintf("%d connections to /broadcast, one of which publishes %d-byte messages that the server sends to all of them (the publisher too); closed loop, %d message(s) in flight: the next is published when the last has reached every connection; %v measured after a %v warmup%s", cfg.BroadcastConns, cfg.Size, cfg.Window, cfg.Duration, cfg.Warmup, gatherNote(cfg))
	case BroadcastRate, Topics, Generator:
		return describeFanout(sc, cfg)
	case Churn:
		return fmt.Sprintf("%d cycles in flight, each: connect, handshake, one %d-byte message echoed, closing handshake, server closes; %v measured after a %v warmup", cfg.ChurnConc, cfg.Size, cfg.Duration, cfg.Warmup)
	}
	return string(sc)
}

// wssClient describes the client of the wss:// scenarios.
const wssClient = "over wss://: TLS 1.3 with an ECDSA P-256 certificate made for the run, from a crypto/tls client (a goroutine per connection, Go's default key exchange X25519MLKEM768, no session resumption: every handshake is a full one)"

// h2Client describes the client of the HTTP/2 scenarios (%d: streams per
// TLS connection).
const h2Client = "each connection a WebSocket over HTTP/2 (RFC 8441 extended CONNECT), up to %d streams sharing each TLS connection; TLS as in the wss:// scenarios (TLS 1.3, an ECDSA P-256 certificate made for the run, a crypto/tls client with Go's default key exchange X25519MLKEM768), x/net/http2's client connection; the client reads each stream ahead in a goroutine, so that the idle check is a read that times out as over wss:// (the stream's own deadline would reset it)"

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

// bout is one scenario against one server.
type bout struct {
	ctx    context.Context
	cfg    *Config
	prog   *progress
	proc   *serverProc
	client loadClient
	procs  int // client processes
	res    *ServerResult
	label  string
}

// connect opens n connections, with the progress bar counting.
func (b *bout) connect(n int, rate float64) (connectResult, error) {
	stop := b.prog.phase(b.label+": connecting", 0, b.counter(n))
	cr, err := b.client.Connect(b.ctx, connectSpec{Conns: n, Rate: rate})
	stop()
	if cr.Failed > 0 {
		b.res.warn("%d of %d connections failed: %s", cr.Failed, n, cr.FirstError)
	}
	if err == nil && cr.Opened == 0 {
		err = fmt.Errorf("no connection opened: %s", cr.FirstError)
	}
	return cr, err
}

// counter reports connections opened, for the progress bar, when the client
// is this process.
func (b *bout) counter(total int) func() (int64, int64) {
	g, ok := b.client.(interface{ Opened() int64 })
	if !ok {
		return nil
	}
	return func() (int64, int64) { return g.Opened(), int64(total) }
}

// cpuUse is the CPU a measured phase used, in % of one core.
type cpuUse struct {
	server float64
	client float64 // over the warmup and the measured time
	rest   float64 // everything else on the machine (NaN: unknown)
}

// measure runs spec while reading the server's CPU time around it. It
// also notes how busy the rest of the machine was: on a shared machine,
// other processes take CPU from both server and client, and a phase where
// they took more than busyThreshold is flagged.
func (b *bout) measure(what string, spec runSpec) (runResult, cpuUse, error) {
	s0, err := b.proc.stats()
	if err != nil {
		return runResult{}, cpuUse{}, err
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
	cpu := cpuUse{server: pct(s1.CPU-s0.CPU, wall), client: pct(r.CPU, spec.Warmup+spec.Duration), rest: math.NaN()}
	if merr == nil && merr2 == nil && err == nil {
		cpu.rest = max(0, pct(m1-m0-(s1.CPU-s0.CPU)-r.CPU, wall))
		if cpu.rest > busyThreshold {
			b.res.warn("%s: the rest of the machine was busy (%.0f%% of a core): other work competed with server and client", what, cpu.rest)
		}
	}
	if r.Errors > 0 {
		b.res.warn("%s: %d connections lost or cycles failed: %s", what, r.Errors, r.FirstError)
	}
	if r.Incomplete > 0 {
		b.res.warn("%s: %d broadcasts did not reach every connection in %v", what, r.Incomplete, broadcastTimeout)
	}
	return r, cpu, err
}

// addCPU adds cpu's three figures, their names ending in suffix;
// serverBetter ranks the servers' CPU ("" where their load differs).
func (b *bout) addCPU(suffix, serverBetter string, cpu cpuUse) {
	b.res.add("server CPU"+suffix, "%", serverBetter, cpu.server)
	b.res.add("client CPU"+suffix, "%", "", cpu.client)
	b.res.add("rest of machine CPU"+suffix, "%", "", cpu.rest)
}

// addRSS adds the server's RSS now.
func (b *bout) addRSS() {
	if st, err := b.proc.stats(); err == nil {
		b.res.add("server RSS", "MiB", "lower", float64(st.RSS)/(1<<20))
	}
}

// cpuPer is the server's CPU time per operation, in µs, at rate
// operations/s while it used cpuPct % of a core.
func cpuPer(rate, cpuPct float64) float64 {
	if rate <= 0 {
		return math.NaN()
	}
	return cpuPct / 100 / rate * 1e6
}

func pct(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}

// perCore is a rate divided by the server's CPU use in cores: what one
// busy core of the server delivers.
func perCore(rate, cpuPct float64) float64 {
	if cpuPct <= 0 {
		return math.NaN()
	}
	return rate / (cpuPct / 100)
}

func quantiles(s *hdrhistogram.Snapshot) (p50, p99, p999 float64) {
	if s == nil {
		return
	}
	h := hdrhistogram.Import(s)
	if h.TotalCount() == 0 {
		return
	}
	return float64(h.ValueAtQuantile(50)), float64(h.ValueAtQuantile(99)), float64(h.ValueAtQuantile(99.9))
}

// settle lets the server finish what the last phase left it (handshakes
// in flight) before it is measured.
func (b *bout) settle(d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-b.ctx.Done():
		return b.ctx.Err()
	}
}

// memory is a server's memory after a forced collection.
type memory struct {
	rss  int64
	heap float64 // go_memstats_heap_inuse_bytes
	gc   bool    // the collection was done (its /gc answered)
	ok   bool    // heap was read
}

// memory asks the server to collect its garbage and return free memory to
// the OS (its /gc), then reads its RSS and heap in use. Every server goes
// through the same procedure.
func (b *bout) memory() (memory, error) {
	var m memory
	m.gc = b.proc.gc(b.ctx) == nil
	st, err := b.proc.stats()
	if err != nil {
		return m, err
	}
	m.rss = st.RSS
	m.heap, m.ok = b.proc.heapInuse(b.ctx)
	return m, nil
}

func (b *bout) idle() error {
	before, err := b.memory()
	if err != nil {
		return err
	}
	cr, err := b.connect(b.cfg.IdleConns, b.cfg.Ramp)
	if err != nil {
		return err
	}
	r, cpu, err := b.measure("holding", runSpec{Scenario: Idle, Duration: b.cfg.Hold})
	if err != nil {
		return err
	}
	held := r.Open
	res := b.res
	res.add("connections held", "", "", float64(held))
	if cr.Elapsed > 0 {
		res.add("handshakes/s", "1/s", "higher", float64(cr.Opened)/cr.Elapsed.Seconds())
	}
	_, p99, _ := quantiles(cr.Handshake)
	res.add("handshake p99", "ms", "lower", p99/1000)
	if g, ok := b.proc.goroutines(b.ctx); ok {
		res.add("server goroutines", "", "lower", g)
	}
	// Read before the collection: what the server holds in use.
	st, err := b.proc.stats()
	if err != nil {
		return err
	}
	after, err := b.memory()
	if err != nil {
		return err
	}
	if !before.gc || !after.gc {
		res.warn("the server's /gc did not answer: RSS read without a forced collection")
	}
	if held > 0 {
		res.add("server RSS per connection", "KiB", "lower", float64(after.rss-before.rss)/1024/float64(held))
		if before.ok && after.ok {
			res.add("server heap per connection", "KiB", "lower", (after.heap-before.heap)/1024/float64(held))
		}
	}
	res.add("server RSS", "MiB", "lower", float64(after.rss)/(1<<20))
	res.add("server RSS before collection", "MiB", "", float64(st.RSS)/(1<<20))
	res.add("server peak RSS", "MiB", "", float64(st.HWM)/(1<<20))
	res.add("server threads", "", "", float64(st.Threads))
	res.add("server CPU while idle", "%", "lower", cpu.server)
	res.add("client CPU while connecting", "%", "", pct(cr.CPU, cr.Elapsed))
	res.add("client CPU while idle", "%", "", cpu.client)
	res.add("rest of machine CPU while idle", "%", "", cpu.rest)
	return nil
}

// echoClosed is the echo scenario's closed loop: the peak.
func (b *bout) echoClosed() error {
	if _, err := b.connect(b.cfg.EchoConns, 0); err != nil {
		return err
	}
	spec := runSpec{Scenario: Echo, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, Size: b.cfg.Size}
	r, cpu, err := b.measure("closed loop", spec)
	if err != nil {
		return err
	}
	res := b.res
	peak := float64(r.Received) / b.cfg.Duration.Seconds()
	if peak <= 0 {
		return errors.New("closed loop delivered nothing")
	}
	res.add("msgs/s", "1/s", "higher", peak)
	res.add("msgs/s per server core", "1/s", "higher", perCore(peak, cpu.server))
	res.add("server CPU per message", "µs", "lower", cpuPer(peak, cpu.server))
	p50, p99, p999 := quantiles(r.Latency)
	res.add("p50", "µs", "lower", p50)
	res.add("p99", "µs", "lower", p99)
	res.add("p99.9", "µs", "lower", p999)
	b.addCPU("", "", cpu)
	b.addRSS()
	return nil
}

// echoFixed is the echo scenario's fixed-rate phase, at rate messages/s
// (the same for every server).
func (b *bout) echoFixed(rate float64) error {
	if _, err := b.connect(b.cfg.EchoConns, 0); err != nil {
		return err
	}
	spec := runSpec{Scenario: Echo, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, Size: b.cfg.Size, Rate: rate}
	r, cpu, err := b.measure(fmt.Sprintf("fixed rate %s msgs/s", formatValue(rate)), spec)
	if err != nil {
		return err
	}
	res := b.res
	got := float64(r.Received) / b.cfg.Duration.Seconds()
	res.add("fixed rate", "1/s", "", rate)
	if got < 0.95*rate {
		res.warn("fixed rate: %.0f msgs/s delivered of %.0f offered", got, rate)
	}
	p50, p99, p999 := quantiles(r.Latency)
	res.add("p50 at fixed rate", "µs", "lower", p50)
	res.add("p99 at fixed rate", "µs", "lower", p99)
	res.add("p99.9 at fixed rate", "µs", "lower", p999)
	b.addCPU(" at fixed rate", "lower", cpu)
	return nil
}

func (b *bout) churn() error {
	spec := runSpec{Scenario: Churn, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, Size: b.cfg.Size, Concurrency: b.cfg.ChurnConc}
	return b.cycles(spec, "churning", "connections/s", "")
}

// handshakes is the handshake-wss scenario: full TLS and WebSocket
// handshakes, each connection closed after its handshake.
func (b *bout) handshakes() error {
	spec := runSpec{Scenario: HandshakeWSS, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, Concurrency: b.cfg.ChurnConc}
	return b.cycles(spec, "handshaking", "handshakes/s", "server CPU per handshake")
}

// cycles runs a scenario of connect-handshake-close cycles and reports
// their rate (as rate, "connections/s"), per server core, the server's CPU
// per cycle (as cpuRow, if named), the cycles' latency and failures.
func (b *bout) cycles(spec runSpec, phase, rate, cpuRow string) error {
	r, cpu, err := b.measure(phase, spec)
	if err != nil {
		return err
	}
	res := b.res
	n := float64(r.Completed) / b.cfg.Duration.Seconds()
	res.add(rate, "1/s", "higher", n)
	res.add(rate+" per server core", "1/s", "higher", perCore(n, cpu.server))
	if cpuRow != "" {
		res.add(cpuRow, "µs", "lower", cpuPer(n, cpu.server))
	}
	p50, p99, _ := quantiles(r.Latency)
	res.add("cycle p50", "ms", "lower", p50/1000)
	res.add("cycle p99", "ms", "lower", p99/1000)
	res.add("failed cycles", "", "lower", float64(r.Errors))
	b.addCPU("", "", cpu)
	b.addRSS()
	return nil
}
