//go:build linux

package bench

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// generator is the load generator of one process: a few epoll event loops
// on raw non-blocking sockets. A connection costs it one file descriptor and
// a struct of about two hundred bytes, no goroutine and no buffer, so one
// process holds as many connections as it may open descriptors (the
// benchmark puts PerProcess in one: 18,000 under a limit of 20,000) and
// spends its CPU on the syscalls the load needs.
type generator struct {
	cfg     clientConfig
	dst     unix.SockaddrInet4
	sources [][4]byte
	hsReq   []byte
	loops   []*loop
	wg      sync.WaitGroup
	phase   uint16
	closed  bool
}

var _ loadClient = (*generator)(nil)

// newGenerator starts the event loops of a load generator.
func newGenerator(cfg clientConfig) (*generator, error) {
	ap, err := parseTarget(cfg.Addr)
	if err != nil {
		return nil, err
	}
	if len(cfg.Sources) == 0 {
		cfg.Sources = defaultSources(8, 0)
	}
	srcs, err := parseSources(cfg.Sources)
	if err != nil {
		return nil, err
	}
	if cfg.Loops <= 0 {
		cfg.Loops = 2
	}
	if cfg.Path == "" {
		cfg.Path = "/ws"
	}
	g := &generator{
		cfg:     cfg,
		dst:     unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()},
		sources: srcs,
		hsReq:   handshakeRequest(cfg.Addr, cfg.Path),
	}
	for i := range cfg.Loops {
		l, err := newLoop(g, i)
		if err != nil {
			g.Close()
			return nil, err
		}
		g.loops = append(g.loops, l)
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			l.run()
		}()
	}
	return g, nil
}

// Connect opens spec.Conns connections, spread over the loops, and holds
// them.
func (g *generator) Connect(ctx context.Context, spec connectSpec) (connectResult, error) {
	if g.closed {
		return connectResult{}, errors.New("bench: generator closed")
	}
	if spec.MaxPending <= 0 {
		spec.MaxPending = defaultMaxPending
	}
	if spec.Timeout <= 0 {
		spec.Timeout = 10 * time.Second
	}
	cpu0 := selfCPU()
	start := time.Now().UnixNano()
	done := make(chan connectResult, len(g.loops))
	nl := len(g.loops)
	for i, l := range g.loops {
		cp := &connectPhase{
			n:          share(spec.Conns, i, nl),
			rate:       spec.Rate / float64(nl),
			maxPending: max(1, (spec.MaxPending+nl-1)/nl),
			timeout:    int64(spec.Timeout),
			start:      start,
			hist:       newHist(),
			pending:    map[*conn]struct{}{},
			done:       done,
		}
		l.do(func() { l.startConnect(cp) })
	}
	rs := make([]connectResult, len(g.loops))
	for i := range rs {
		select {
		case rs[i] = <-done:
		case <-ctx.Done():
			for _, l := range g.loops {
				l.do(func() { l.abortConnect() })
			}
			rs[i] = <-done
		}
	}
	out := mergeConnect(rs)
	out.CPU = selfCPU() - cpu0
	return out, ctx.Err()
}

// Run drives one measured phase on the open connections.
func (g *generator) Run(ctx context.Context, spec runSpec) (runResult, error) {
	if g.closed {
		return runResult{}, errors.New("bench: generator closed")
	}
	if spec.Size < stampSize {
		spec.Size = stampSize
	}
	spec.Batch = max(spec.Batch, 1)
	spec.Window = min(max(spec.Window, spec.Batch), bcastSlots/4)
	spec.Batch = min(spec.Batch, spec.Window)
	if (spec.Scenario == Topics || spec.Scenario == topicsSubscribe) && spec.Topics <= 0 {
		return runResult{}, errors.New("bench: the topics scenario needs topics")
	}
	g.phase++
	open, pubs := g.counts()
	var bc *bcast
	if spec.Scenario == Broadcast {
		bc = &bcast{window: spec.Window, fixed: spec.Rate > 0}
		for i, l := range g.loops {
			bc.expected += int64(open[i])
			if spec.Publisher && bc.pub == nil && open[i] > 0 {
				bc.pub = l
			}
		}
		if spec.Publisher && bc.pub == nil {
			return runResult{}, errors.New("bench: broadcast needs an open connection to publish on")
		}
	}
	cpu0 := selfCPU()
	start := time.Now().Add(5 * time.Millisecond).UnixNano()
	from := start + int64(spec.Warmup)
	end := from + int64(spec.Duration)
	done := make(chan loopRun, len(g.loops))
	nl := len(g.loops)
	var rps []*runPhase
	for i, l := range g.loops {
		rp := &runPhase{
			spec:  spec,
			phase: g.phase,
			start: start,
			from:  from,
			end:   end,
			hist:  newHist(),
			comp:  newHist(),
			bc:    bc,
			done:  done,
		}
		if bc != nil && spec.PerMessage {
			rp.track = map[uint64]*msgTrack{}
		}
		if spec.Scenario == Echo && spec.Rate > 0 {
			rp.rate = spec.Rate / float64(nl)
		}
		if spec.Scenario == Churn {
			rp.slots = share(spec.Concurrency, i, nl)
		}
		if bc != nil && bc.pub == l {
			rp.publisher = true
			if bc.fixed {
				rp.rate = spec.Rate
			}
		}
		rps = append(rps, rp)
	}
	planTopics(spec, rps, open, pubs)
	// Every loop must know the phase before any message of it is sent:
	// a broadcast reaches the connections of every loop.
	ack := make(chan struct{}, len(g.loops))
	for i, l := range g.loops {
		l.do(func() {
			l.rp = rps[i]
			ack <- struct{}{}
		})
	}
	for range g.loops {
		<-ack
	}
	for i, l := range g.loops {
		l.do(func() { l.startRun(rps[i]) })
	}
	var aborted bool
	var rs []runResult
	var tracks []map[uint64]*msgTrack
	for range g.loops {
		var r loopRun
		select {
		case r = <-done:
		case <-ctx.Done():
			if !aborted {
				aborted = true
				for _, l := range g.loops {
					l.do(func() { l.finishRun(time.Now().UnixNano()) })
				}
			}
			r = <-done
		}
		rs = append(rs, r.runResult)
		if r.track != nil {
			tracks = append(tracks, r.track)
		}
	}
	out := mergeRun(rs)
	if bc != nil && spec.PerMessage {
		out.Messages = completeMessages(tracks, bc.expected)
	}
	out.From, out.End = from, end
	out.Elapsed = time.Duration(spec.Duration)
	out.CPU = selfCPU() - cpu0
	return out, ctx.Err()
}

// counts returns the number of open connections of each loop, and of
// the topics scenario's publishers among them.
func (g *generator) counts() (open, pubs []int) {
	open, pubs = make([]int, len(g.loops)), make([]int, len(g.loops))
	done := make(chan struct{}, len(g.loops))
	for i, l := range g.loops {
		l.do(func() {
			open[i] = len(l.open)
			for _, c := range l.pubs {
				if c.state == stOpen {
					pubs[i]++
				}
			}
			done <- struct{}{}
		})
	}
	for range g.loops {
		<-done
	}
	return open, pubs
}

// Close drops every connection (with a reset, so no TIME_WAIT is left
// behind) and stops the loops.
func (g *generator) Close() error {
	if g.closed {
		return nil
	}
	g.closed = true
	for _, l := range g.loops {
		l.do(func() { l.shutdown() })
	}
	g.wg.Wait()
	for _, l := range g.loops {
		l.release()
	}
	return nil
}

// Opened is the number of connections Connect has opened so far (read at
// any time, for progress).
func (g *generator) Opened() int64 {
	var n int64
	for _, l := range g.loops {
		n += l.nOpen.Load()
	}
	return n
}

func selfCPU() time.Duration {
	s, err := readProcStats(0)
	if err != nil {
		return 0
	}
	return s.CPU
}

// Connection states.
