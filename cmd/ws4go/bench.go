package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ws4go/ws4go/bench"
	"github.com/ws4go/ws4go/server"
)

func init() {
	commands["bench"] = command{run: benchCmd, summary: "measure ws4go against other Go WebSocket servers (ws4go bench -h)"}
}

const benchUsage = `Usage: ws4go bench [flags]

Measures ws4go side by side with gorilla/websocket, nbio, coder/websocket,
gobwas/ws + easygo and a raw TCP epoll echo (the floor): each server runs as
its own process, one after another, under the same load from an epoll load
generator on 127.0.0.0/8, in these scenarios:

  generator       the load generator's own capacity: the raw TCP server
                  hands it batches of frames as written (rawtcp only)
  idle            N connections held: server RSS and Go heap per connection
                  (each read after the server's /gc), goroutines, handshake rate
  echo            C connections echoing messages: closed loop for every
                  server (msgs/s, msgs/s per server core, latency), then every
                  server at one fixed rate (default: half of the lowest
                  closed-loop peak)
  broadcast       one publisher, N receivers on /broadcast, closed loop:
                  deliveries/s, per server core, fan-out time
  broadcast-rate  the same at a fixed offered rate (-broadcast-rate to
                  -rate-conns): deliveries/s against offered, per server
                  core, delivery latency
  topics          N connections subscribe to 10 of 1,000 topics each on
                  /topics, publishers publish at a fixed rate: memory per
                  subscription, deliveries/s, delivery latency
  churn           connect, one message, close, over and over: connections/s

and, when named in -scenarios, over wss:// (TLS 1.3, a crypto/tls client;
ws4go, gorilla, nbio, coder):

  idle-wss       idle over TLS
  echo-wss       echo's closed loop over TLS, with server CPU per message
  handshake-wss  connect, TLS and WebSocket handshakes, close, over and
                 over (-churn-concurrency in flight): handshakes/s and
                 server CPU per handshake

and, when named, over HTTP/2 (RFC 8441 streams, -h2-streams of them on
each TLS connection; ws4go's servers, started with -h2), each with a table
of its ratio to the same server's wss:// figures when those ran too:

  idle-h2        idle-wss with the WebSockets as HTTP/2 streams
  echo-h2        echo-wss with the WebSockets as HTTP/2 streams

It builds the servers (the peers from their own module in bench/peers; the
first build downloads their libraries through the Go module proxy), prints
a Markdown table with ws4go's ratio to each peer, and writes results.json,
results.md, one SVG chart per scenario and the servers' logs to the -out
folder (default bench/results/<UTC time>, which git ignores).

  ws4go bench -publish DIR   copies results.md, results.json and the charts
                             of results folder DIR ("last": the newest in
                             bench/results) into bench/latest, to commit

Flags:
`

// benchCmd is "ws4go bench".
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "-worker" {
		// A client process of a run that needs more connections than
		// one process holds (driven over stdin/stdout).
		if err := bench.ServeWorker(ctx, os.Stdin, stdout); err != nil {
			fmt.Fprintln(stderr, "ws4go bench worker:", err)
			return 1
		}
		return 0
	}
	fs := flag.NewFlagSet("ws4go bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		scenarios = fs.String("scenarios", scenarioList(bench.Scenarios), "scenarios to run, comma-separated")
		servers   = fs.String("servers", strings.Join(bench.ServerNames(), ","), "servers to measure, comma-separated, or all (adds "+strings.Join(extraServers(), ", ")+")")
		out       = fs.String("out", "", "results folder (default: bench/results/<UTC time> in the source tree)")
		binDir    = fs.String("bin", "", "folder of built servers; empty: build them from the source tree into a temporary folder")
		src       = fs.String("src", ".", "ws4go source tree (found upwards from here)")
		quick     = fs.Bool("quick", false, "a short, small run to try things out (1,000 connections where there are many, 2 s phases)")
		publish   = fs.String("publish", "", "publish results folder `DIR` (or last) into bench/latest, and run nothing")
		cfg       bench.Config
	)
	fs.IntVar(&cfg.IdleConns, "idle-conns", 15000, "idle: connections held")
	fs.IntVar(&cfg.EchoConns, "echo-conns", 500, "echo: connections")
	fs.IntVar(&cfg.BroadcastConns, "broadcast-conns", 15000, "broadcast: connections, the publisher included")
	fs.IntVar(&cfg.ChurnConc, "churn-concurrency", 50, "churn, handshake-wss: cycles in flight")
	fs.IntVar(&cfg.H2Streams, "h2-streams", server.H2MaxStreams, "idle-h2, echo-h2: WebSockets (streams) per TLS connection; at most the servers' limit (ws4go's: server.H2MaxStreams), past which streams wait")
	fs.IntVar(&cfg.Size, "size", 64, "message size in bytes (at least 16: each message carries its send time)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured time of each phase")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "load before each measured phase")
	fs.DurationVar(&cfg.Hold, "hold", 0, "idle: how long connections are held (0: -duration)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "echo: messages/s of the fixed-rate phase, the same for every server (0: half of the lowest closed-loop peak of the run)")
	fs.IntVar(&cfg.Window, "window", 1, "broadcast: messages in flight (closed loop)")
	fs.IntVar(&cfg.RateConns, "rate-conns", 10000, "broadcast-rate, generator: connections, the publisher included")
	fs.Float64Var(&cfg.BroadcastRate, "broadcast-rate", 40, "broadcast-rate: messages published per second")
	fs.IntVar(&cfg.GenBatch, "generator-batch", 16, "generator: frames per write of the publisher, which the raw TCP server passes on as written")
	fs.IntVar(&cfg.TopicsConns, "topics-conns", 15000, "topics: subscribing connections")
	fs.IntVar(&cfg.Topics, "topics", 1000, "topics: topics")
	fs.IntVar(&cfg.TopicsPerConn, "topics-per-conn", 10, "topics: topics each connection subscribes to")
	fs.IntVar(&cfg.TopicsPublishers, "topics-publishers", 10, "topics: publishing connections (besides -topics-conns)")
	fs.Float64Var(&cfg.TopicsRate, "topics-rate", 2500, "topics: messages published per second, over all topics")
	gather := fs.Duration("client-gather", 500*time.Microsecond, "fan-out scenarios: how long a client event loop waits for more after an epoll_wait that returned few events (at most this much is added to a delivery's latency); 0: none")
	fs.Float64Var(&cfg.Ramp, "ramp", 0, "idle, broadcast: connections opened per second (0: as fast as accepted)")
	fs.IntVar(&cfg.Procs, "procs", 0, fmt.Sprintf("client processes (0: one per %d connections, nine tenths of the open files limit)", bench.PerProcess()))
	fs.IntVar(&cfg.Loops, "loops", 2, "event loops per client process")
	fs.IntVar(&cfg.SourcesPer, "sources", 8, "source addresses (127.0.0.2, ...) per client process")
	fs.IntVar(&cfg.Port, "port", 9400, "first port: server i listens on port+10i (and port+10i+1 for /metrics)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ws4go bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if cfg.Gather = *gather; cfg.Gather <= 0 {
		cfg.Gather = -1 // none (0 is the default)
	}
	if *publish != "" {
		return publishResults(*src, *publish, stdout, stderr)
	}
	if *quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["idle-conns"] {
			cfg.IdleConns = 1000
		}
		for flag, p := range map[string]*int{"broadcast-conns": &cfg.BroadcastConns, "rate-conns": &cfg.RateConns, "topics-conns": &cfg.TopicsConns} {
			if !set[flag] {
				*p = 1000
			}
		}
		if !set["duration"] {
			cfg.Duration = 2 * time.Second
		}
		if !set["warmup"] {
			cfg.Warmup = 500 * time.Millisecond
		}
	}
	for _, s := range splitList(*scenarios) {
		sc := bench.Scenario(s)
		if !slices.Contains(bench.Scenarios, sc) && !slices.Contains(bench.TLSScenarios, sc) {
			fmt.Fprintf(stderr, "ws4go bench: unknown scenario %q\n", s)
			return 2
		}
		cfg.Scenarios = append(cfg.Scenarios, sc)
	}
	cfg.Servers = splitList(*servers)
	if *servers == "all" {
		cfg.Servers = bench.AllServerNames()
	}
	for _, s := range cfg.Servers {
		if _, ok := bench.LookupServer(s); !ok {
			fmt.Fprintf(stderr, "ws4go bench: unknown server %q (have %s)\n", s, strings.Join(bench.AllServerNames(), ", "))
			return 2
		}
	}
	// Before the build, which takes a while: a run that cannot hold its
	// connections fails now.
	if _, err := bench.CheckLimits(cfg); err != nil {
		benchError(stderr, err)
		return 2
	}

	root, srcErr := bench.FindSource(*src)
	if *binDir == "" {
		if srcErr != nil {
			benchError(stderr, srcErr)
			return 1
		}
		tmp, err := os.MkdirTemp("", "ws4go-bench-bin-")
		if err != nil {
			benchError(stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		if err := bench.Build(ctx, root, tmp, cfg.Servers, stderr); err != nil {
			benchError(stderr, err)
			return 1
		}
		*binDir = tmp
	}
	cfg.BinDir = *binDir
	if *out == "" {
		base := "."
		if srcErr == nil {
			base = filepath.Join(root, "bench", "results")
		}
		*out = filepath.Join(base, time.Now().UTC().Format("20060102-150405"))
	}
	cfg.Out = *out
	exe, err := os.Executable()
	if err != nil {
		benchError(stderr, err)
		return 1
	}
	cfg.WorkerArgs = []string{exe, "bench", "-worker"}
	cfg.Progress = stderr
	cfg.Log = stderr

	rep, err := bench.Run(ctx, cfg)
	if rep == nil {
		benchError(stderr, err)
		return 1
	}
	if srcErr == nil {
		rep.Machine = bench.DescribeMachine(root)
	} else {
		rep.Machine = bench.DescribeMachine("")
	}
	if len(rep.Machine.Uncommitted) > 0 {
		fmt.Fprintf(stderr, "ws4go bench: note: the working tree has uncommitted changes (%s): results.md says so\n", strings.Join(rep.Machine.Uncommitted, ", "))
	}
	command := "ws4go bench"
	if len(args) > 0 {
		command += " " + strings.Join(args, " ")
	}
	bench.WriteMarkdown(stdout, rep, command, false)
	if werr := bench.WriteResults(cfg.Out, rep, command); werr != nil {
		benchError(stderr, werr)
		return 1
	}
	fmt.Fprintf(stderr, "ws4go bench: results in %s\n", cfg.Out)
	if err != nil {
		fmt.Fprintln(stderr, "ws4go bench: interrupted:", err)
		return 1
	}
	return 0
}

// scenarioList joins scenario names with commas.
func scenarioList(scs []bench.Scenario) string {
	var names []string
	for _, sc := range scs {
		names = append(names, string(sc))
	}
	return strings.Join(names, ",")
}

// extraServers lists the servers measured only when named.
func extraServers() []string {
	var out []string
	for _, s := range bench.Servers {
		if s.Extra {
			out = append(out, s.Name)
		}
	}
	return out
}

// publishResults is "ws4go bench -publish DIR": it copies the results of
// DIR (or of the newest folder in bench/results, for "last") into
// bench/latest of the source tree, where they are committed and linked
// from docs/benchmarks.md.
func publishResults(src, dir string, stdout, stderr io.Writer) int {
	root, err := bench.FindSource(src)
	if err != nil {
		benchError(stderr, err)
		return 1
	}
	if dir == "last" {
		if dir, err = bench.LatestResults(filepath.Join(root, "bench", "results")); err != nil {
			benchError(stderr, err)
			return 1
		}
	}
	dest := filepath.Join(root, "bench", "latest")
	files, err := bench.Publish(dir, dest)
	if err != nil {
		benchError(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "ws4go bench: published %s from %s into %s\n", strings.Join(files, ", "), dir, dest)
	return 0
}

// benchError prints err, whose message may start with "bench: " already.
func benchError(w io.Writer, err error) {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "bench: "); ok {
		msg = rest
	}
	fmt.Fprintln(w, "ws4go bench:", msg)
}
