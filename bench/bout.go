package bench

import (
	"context"
	"fmt"
	"math"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// busyThreshold is the share of a core (%) the rest of the machine may
// take during a measured phase before the result is flagged: above it,
// other work competed with server and client for the cores.
const busyThreshold = 10

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
