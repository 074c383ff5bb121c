package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// A client process holds at most PerProcess connections (18,000 under a
// limit of 20,000 descriptors). For more, the benchmark runs several worker
// processes, each a generator
// driven over its standard input and output with one JSON object per line:
//
//	→ {"config": clientConfig}            once, first
//	→ {"op": "connect", "connect": connectSpec}   ← {"connect": connectResult, "err": ""}
//	→ {"op": "run", "run": runSpec}               ← {"run": runResult, "err": ""}
//	→ {"op": "close"}                             ← {}   and the worker exits
//
// A worker whose standard input ends closes its connections and exits.

type workerRequest struct {
	Config  *clientConfig `json:"config,omitempty"`
	Op      string        `json:"op,omitempty"`
	Connect *connectSpec  `json:"connect,omitempty"`
	Run     *runSpec      `json:"run,omitempty"`
}

type workerReply struct {
	Connect connectResult `json:"connect,omitzero"`
	Run     runResult     `json:"run,omitzero"`
	Err     string        `json:"err,omitempty"`
}

// ServeWorker runs a worker: it reads requests from r and writes replies to
// w until the close request or the end of r. The command that starts
// workers calls it (ws4go bench -worker).
func ServeWorker(ctx context.Context, r io.Reader, w io.Writer) error {
	dec := json.NewDecoder(bufio.NewReader(r))
	enc := json.NewEncoder(w)
	var first workerRequest
	if err := dec.Decode(&first); err != nil {
		return fmt.Errorf("bench worker: reading config: %w", err)
	}
	if first.Config == nil {
		return errors.New("bench worker: first request has no config")
	}
	g, err := newGenerator(*first.Config)
	if err != nil {
		_ = enc.Encode(workerReply{Err: err.Error()})
		return err
	}
	defer g.Close()
	if err := enc.Encode(workerReply{}); err != nil {
		return err
	}
	for {
		var req workerRequest
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("bench worker: %w", err)
		}
		var rep workerReply
		var err error
		switch {
		case req.Op == "connect" && req.Connect != nil:
			rep.Connect, err = g.Connect(ctx, *req.Connect)
		case req.Op == "run" && req.Run != nil:
			rep.Run, err = g.Run(ctx, *req.Run)
		case req.Op == "close":
			g.Close()
			return enc.Encode(rep)
		default:
			err = fmt.Errorf("unknown request %q", req.Op)
		}
		if err != nil {
			rep.Err = err.Error()
		}
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
}

// remoteClient drives one worker process.
type remoteClient struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	enc  *json.Encoder
	dec  *json.Decoder
	done chan struct{}
}

// startWorker starts argv as a worker with cfg; its standard error goes to
// stderr.
func startWorker(argv []string, cfg clientConfig, stderr io.Writer) (*remoteClient, error) {
	if len(argv) == 0 {
		return nil, errors.New("bench: no worker command to run several client processes")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = stderr
	cmd.SysProcAttr = childAttr()
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting worker: %w", err)
	}
	rc := &remoteClient{cmd: cmd, in: in, enc: json.NewEncoder(in), dec: json.NewDecoder(out), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(rc.done)
	}()
	var rep workerReply
	if err := rc.call(workerRequest{Config: &cfg}, &rep); err != nil {
		rc.Close()
		return nil, err
	}
	return rc, nil
}

func (rc *remoteClient) call(req workerRequest, rep *workerReply) error {
	if err := rc.enc.Encode(req); err != nil {
		return fmt.Errorf("bench worker: %w", err)
	}
	if err := rc.dec.Decode(rep); err != nil {
		return fmt.Errorf("bench worker: %w", err)
	}
	if rep.Err != "" {
		return errors.New(rep.Err)
	}
	return nil
}

func (rc *remoteClient) Connect(ctx context.Context, spec connectSpec) (connectResult, error) {
	var rep workerReply
	err := rc.call(workerRequest{Op: "connect", Connect: &spec}, &rep)
	return rep.Connect, err
}

func (rc *remoteClient) Run(ctx context.Context, spec runSpec) (runResult, error) {
	var rep workerReply
	err := rc.call(workerRequest{Op: "run", Run: &spec}, &rep)
	return rep.Run, err
}

func (rc *remoteClient) Close() error {
	var rep workerReply
	_ = rc.call(workerRequest{Op: "close"}, &rep)
	rc.in.Close()
	<-rc.done
	return nil
}

// multiClient spreads the load over several clients (worker processes).
type multiClient struct {
	parts  []loadClient
	opened []int // connections each part has opened
}

// newMultiClient starts procs worker processes with argv, each with its own
// source addresses (sourcesPer of them), and drives them as one loadClient.
func newMultiClient(argv []string, cfg clientConfig, procs, sourcesPer int, stderr io.Writer) (loadClient, error) {
	if stderr == nil {
		stderr = os.Stderr
	}
	m := &multiClient{}
	for i := range procs {
		c := cfg
		c.Sources = defaultSources(sourcesPer, i*sourcesPer)
		rc, err := startWorker(argv, c, stderr)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.parts = append(m.parts, rc)
	}
	return m, nil
}

// share is part i's share of n spread over k parts.
func share(n, i, k int) int {
	s := n / k
	if i < n%k {
		s++
	}
	return s
}

func (m *multiClient) Connect(ctx context.Context, spec connectSpec) (connectResult, error) {
	k := len(m.parts)
	pending := spec.MaxPending
	if pending <= 0 {
		// The default bounds the handshakes in flight over all
		// processes: apply it before it is shared out, or every
		// process would get max(1, 0/k) = 1.
		pending = defaultMaxPending
	}
	rs := make([]connectResult, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i, p := range m.parts {
		s := spec
		s.Conns = share(spec.Conns, i, k)
		s.Rate = spec.Rate / float64(k)
		s.MaxPending = max(1, pending/k)
		wg.Go(func() { rs[i], errs[i] = p.Connect(ctx, s) })
	}
	wg.Wait()
	if m.opened == nil {
		m.opened = make([]int, k)
	}
	for i, r := range rs {
		m.opened[i] += r.Opened
	}
	return mergeConnect(rs), errors.Join(errs...)
}

func (m *multiClient) Run(ctx context.Context, spec runSpec) (runResult, error) {
	k := len(m.parts)
	rs := make([]runResult, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	first := spec.First // the topics scenario's subscribers, numbered over every part
	for i, p := range m.parts {
		s := spec
		s.Concurrency = share(spec.Concurrency, i, k)
		s.Publishers = share(spec.Publishers, i, k)
		switch spec.Scenario {
		case Echo:
			s.Rate = spec.Rate / float64(k)
		case topicsSubscribe:
			s.First = first
			if i < len(m.opened) {
				first += max(0, m.opened[i]-s.Publishers)
			}
		case Topics:
			s.Rate = 0
			if spec.Publishers > 0 {
				s.Rate = spec.Rate * float64(s.Publishers) / float64(spec.Publishers)
			}
		}
		s.Publisher = spec.Publisher && i == 0
		s.PerMessage = spec.Scenario == Broadcast && k > 1
		wg.Go(func() { rs[i], errs[i] = p.Run(ctx, s) })
	}
	wg.Wait()
	out := mergeRun(rs)
	if spec.Scenario == Broadcast && spec.Publisher && k > 1 {
		// Each process saw a message reach its own connections: the
		// fan-out is the last of them.
		out.Completed, out.Incomplete, out.Completion = mergeFanout(rs)
	}
	out.Messages = nil
	return out, errors.Join(errs...)
}

// mergeFanout works out the broadcast figures over several processes, the
// first of which published: a message counts as completed when it reached
// every connection of every process, and its fan-out time runs from its
// sending to the last delivery in any process. As in one process, the
// messages measured are those that reached the publisher's process within
// its measured time. A message that another process had not received in
// full when its phase ended is left out if it was sent less than
// broadcastTimeout before that end (it may have been on its way), and
// counts as incomplete otherwise.
func mergeFanout(rs []runResult) (completed, incomplete int64, fanout *hdrhistogram.Snapshot) {
	pub := rs[0]
	others := make([]map[uint64]int64, len(rs)-1)
	for i, r := range rs[1:] {
		m := make(map[uint64]int64, len(r.Messages))
		for _, d := range r.Messages {
			m[d.Seq] = d.Last
		}
		others[i] = m
	}
	h := newHist()
	for _, d := range pub.Messages {
		if d.Last < pub.From || d.Last >= pub.End {
			continue
		}
		last, missing, unknown := d.Last, false, false
		for i, m := range others {
			l, ok := m[d.Seq]
			switch {
			case ok:
				last = max(last, l)
			case rs[i+1].End-d.Sent < int64(broadcastTimeout):
				unknown = true
			default:
				missing = true
			}
		}
		switch {
		case missing:
			incomplete++
		case unknown:
		default:
			completed++
			recordUS(h, last-d.Sent)
		}
	}
	return completed, pub.Incomplete + incomplete, h.Export()
}

func (m *multiClient) Close() error {
	var wg sync.WaitGroup
	for _, p := range m.parts {
		wg.Go(func() { p.Close() })
	}
	wg.Wait()
	return nil
}
