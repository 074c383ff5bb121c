//go:build linux

package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

// Generator is the load generator of one process: a few epoll event loops
// on raw non-blocking sockets. A connection costs it one file descriptor and
// a struct of about two hundred bytes, no goroutine and no buffer, so one
// process holds as many connections as it may open descriptors (the
// benchmark puts PerProcess in one: 18,000 under a limit of 20,000) and
// spends its CPU on the syscalls the load needs.
type Generator struct {
	cfg     ClientConfig
	dst     unix.SockaddrInet4
	sources [][4]byte
	hsReq   []byte
	loops   []*loop
	wg      sync.WaitGroup
	phase   uint16
	closed  bool
}

var _ Client = (*Generator)(nil)

// NewGenerator starts the event loops of a load generator.
func NewGenerator(cfg ClientConfig) (*Generator, error) {
	ap, err := parseTarget(cfg.Addr)
	if err != nil {
		return nil, err
	}
	if len(cfg.Sources) == 0 {
		cfg.Sources = DefaultSources(8, 0)
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
	g := &Generator{
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
func (g *Generator) Connect(ctx context.Context, spec ConnectSpec) (ConnectResult, error) {
	if g.closed {
		return ConnectResult{}, errors.New("bench: generator closed")
	}
	if spec.MaxPending <= 0 {
		spec.MaxPending = DefaultMaxPending
	}
	if spec.Timeout <= 0 {
		spec.Timeout = 10 * time.Second
	}
	cpu0 := selfCPU()
	start := time.Now().UnixNano()
	done := make(chan ConnectResult, len(g.loops))
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
	rs := make([]ConnectResult, len(g.loops))
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
func (g *Generator) Run(ctx context.Context, spec RunSpec) (RunResult, error) {
	if g.closed {
		return RunResult{}, errors.New("bench: generator closed")
	}
	if spec.Size < StampSize {
		spec.Size = StampSize
	}
	if spec.Window <= 0 {
		spec.Window = 1
	}
	if spec.Window > bcastSlots/4 {
		spec.Window = bcastSlots / 4
	}
	g.phase++
	var bc *bcast
	if spec.Scenario == Broadcast {
		bc = &bcast{window: spec.Window, fixed: spec.Rate > 0}
		for _, l := range g.loops {
			n := make(chan int, 1)
			l.do(func() { n <- len(l.open) })
			c := <-n
			bc.expected += int64(c)
			if spec.Publisher && bc.pub == nil && c > 0 {
				bc.pub = l
			}
		}
		if spec.Publisher && bc.pub == nil {
			return RunResult{}, errors.New("bench: broadcast needs an open connection to publish on")
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
	var rs []RunResult
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
		rs = append(rs, r.RunResult)
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

// Close drops every connection (with a reset, so no TIME_WAIT is left
// behind) and stops the loops.
func (g *Generator) Close() error {
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
func (g *Generator) Opened() int64 {
	var n int64
	for _, l := range g.loops {
		n += l.nOpen.Load()
	}
	return n
}

func selfCPU() time.Duration {
	s, err := ReadProcStats(0)
	if err != nil {
		return 0
	}
	return s.CPU
}

// Connection states.
type connState uint8

const (
	stConnecting connState = iota
	stHandshake
	stOpen
	stClosing // close frame sent (churn) or received
	stClosed
)

// Connection roles.
const (
	roleHeld  uint8 = iota // opened by Connect, held until Close
	roleChurn              // a churn cycle
)

// conn is one client connection, owned by its loop.
type conn struct {
	fd        int32
	idx       int32 // in loop.open, or -1
	state     connState
	role      uint8
	closeRecv bool
	started   int64  // connect() time, Unix ns
	in        []byte // handshake response bytes so far
	out       []byte // bytes the socket did not take yet
	fr        frameReader
	rawGot    int64 // raw: bytes of the current message received
	rawHeadN  uint8
	rawHead   [StampSize]byte
}

// connectPhase is a loop's part of Connect.
type connectPhase struct {
	n, started, opened, failed int
	rate                       float64
	maxPending                 int
	timeout                    int64
	start, last                int64
	hist                       *hdrhistogram.Histogram
	pending                    map[*conn]struct{}
	firstErr                   string
	lastScan                   int64
	done                       chan<- ConnectResult
}

// bcastSlots is the size of the ring that counts broadcast deliveries.
const bcastSlots = 4096

// bcast is the state of a broadcast run shared by a process's loops.
type bcast struct {
	expected int64 // connections of this process at the start
	window   int
	fixed    bool
	pub      *loop // the publisher's loop (nil: not this process)
	slots    [bcastSlots]struct {
		seq atomic.Uint64
		ts  atomic.Int64
		got atomic.Int64
	}
}

// runPhase is a loop's part of Run.
type runPhase struct {
	spec             RunSpec
	phase            uint16
	start, from, end int64
	hist, comp       *hdrhistogram.Histogram
	done             chan<- loopRun
	started          bool

	sent, recv, completed, incomplete, errors int64
	firstErr                                  string

	// fixed rate
	rate      float64
	tick      int64 // ns
	tickIdx   int64
	scheduled int64
	rr        int
	seq       uint64

	// broadcast
	bc        *bcast
	publisher bool
	pubConn   *conn
	inflight  []inflightMsg
	track     map[uint64]*msgTrack // with RunSpec.PerMessage

	// churn
	slots     int
	churnWant int
	churn     map[*conn]struct{}
	lastScan  int64
}

type inflightMsg struct {
	seq uint64
	ts  int64
}

// msgTrack counts the deliveries of one broadcast message to a loop's
// connections (RunSpec.PerMessage).
type msgTrack struct {
	got      int64
	ts, last int64 // sent, last delivery (Unix ns)
}

// maxTracked bounds the messages a loop tracks in a run (memory).
const maxTracked = 1 << 20

// loopRun is a loop's result of a run phase: its counts and histograms,
// and the broadcast messages it tracked.
type loopRun struct {
	RunResult
	track map[uint64]*msgTrack
}

// loop is one event loop: an epoll instance, the connections registered
// with it, and the phase it is running.
type loop struct {
	g      *Generator
	id     int
	ep     int
	wakefd int
	tfd    int
	dst    unix.SockaddrInet4 // a copy per loop: Connect writes into it

	mu   sync.Mutex
	cmds []func()
	run1 []func()

	byFD    []*conn
	open    []*conn
	rbuf    []byte
	wbuf    []byte
	payload []byte
	rng     uint64
	srcNext int
	dropped int64
	lastErr string
	nOpen   atomic.Int64 // connections opened by Connect, for progress

	cp   *connectPhase
	rp   *runPhase
	quit bool

	fctx frameCtx
}

// frameCtx receives the frames a connection's reader parses.
type frameCtx struct {
	l   *loop
	c   *conn
	now int64
}

func (f *frameCtx) message(op byte, head []byte, n int64) { f.l.onMessage(f.c, head, f.now) }
func (f *frameCtx) control(op byte, p []byte)             { f.l.onControl(f.c, op, p, f.now) }

func newLoop(g *Generator, id int) (*loop, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("bench: epoll: %w", err)
	}
	l := &loop{g: g, id: id, ep: ep, wakefd: -1, tfd: -1, rng: uint64(time.Now().UnixNano()) | 1 + uint64(id)<<32}
	l.fctx.l = l
	l.dst = unix.SockaddrInet4{Port: g.dst.Port, Addr: g.dst.Addr}
	l.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err == nil {
		err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, l.wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.wakefd)})
	}
	if err == nil {
		l.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	}
	if err == nil {
		err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, l.tfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.tfd)})
	}
	if err != nil {
		l.release()
		return nil, fmt.Errorf("bench: event loop: %w", err)
	}
	l.rbuf = make([]byte, 64<<10)
	return l, nil
}

// do runs f on the loop's goroutine.
func (l *loop) do(f func()) {
	l.mu.Lock()
	l.cmds = append(l.cmds, f)
	l.mu.Unlock()
	var one = [8]byte{1}
	_, _ = unix.Write(l.wakefd, one[:])
}

func (l *loop) release() {
	for _, fd := range []int{l.tfd, l.wakefd, l.ep} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	l.tfd, l.wakefd, l.ep = -1, -1, -1
}

const epollET = 1 << 31

func (l *loop) run() {
	events := make([]unix.EpollEvent, 512)
	for !l.quit {
		n, err := unix.EpollWait(l.ep, events, l.waitMillis(time.Now().UnixNano()))
		if err != nil && err != unix.EINTR {
			panic("bench: epoll_wait: " + err.Error())
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			ev := events[i].Events
			switch fd {
			case l.wakefd:
				l.drainCommands()
			case l.tfd:
				var b [8]byte
				_, _ = unix.Read(l.tfd, b[:])
				if l.rp != nil {
					l.pace(time.Now().UnixNano())
				}
			default:
				if fd < len(l.byFD) {
					if c := l.byFD[fd]; c != nil {
						l.onEvent(c, ev)
					}
				}
			}
			if l.quit {
				return
			}
		}
		l.housekeeping(time.Now().UnixNano())
	}
}

func (l *loop) drainCommands() {
	var b [8]byte
	_, _ = unix.Read(l.wakefd, b[:])
	l.mu.Lock()
	l.cmds, l.run1 = l.run1[:0], l.cmds
	l.mu.Unlock()
	for i, f := range l.run1 {
		f()
		l.run1[i] = nil
	}
}

// waitMillis is the epoll_wait timeout: until the next thing the loop must
// do by itself.
func (l *loop) waitMillis(now int64) int {
	wait := int64(-1)
	if cp := l.cp; cp != nil {
		wait = 100e6
		if cp.started < cp.n {
			wait = 1e6
		}
	}
	if rp := l.rp; rp != nil {
		w := rp.end - now
		if rp.spec.Scenario == Churn {
			w = min(w, 100e6)
			if rp.churnWant > 0 {
				w = min(w, 1e6)
			}
		}
		if rp.publisher && len(rp.inflight) > 0 {
			w = min(w, 100e6)
		}
		if wait < 0 || w < wait {
			wait = w
		}
	}
	if wait < 0 {
		return -1
	}
	return int(max(0, (wait+999_999)/1e6))
}

// housekeeping runs after each batch of events: ramp-up, timeouts, the end
// of a phase.
func (l *loop) housekeeping(now int64) {
	if cp := l.cp; cp != nil {
		l.rampUp(now)
		if now-cp.lastScan > 100e6 {
			cp.lastScan = now
			for c := range cp.pending {
				if now-c.started > cp.timeout {
					l.fail(c, errors.New("timed out opening"))
				}
			}
		}
		l.connectDone()
	}
	if rp := l.rp; rp != nil && rp.started {
		if now >= rp.end {
			l.finishRun(now)
			return
		}
		if rp.spec.Scenario == Churn {
			l.churnDial(now)
			if now-rp.lastScan > 100e6 {
				rp.lastScan = now
				for c := range rp.churn {
					if now-c.started > int64(5*time.Second) {
						l.fail(c, errors.New("churn cycle timed out"))
					}
				}
			}
		}
		if rp.publisher && !rp.bc.fixed {
			l.expireBroadcasts(now)
			l.publish(now)
		}
	}
}

// --- connections ---------------------------------------------------------

func (l *loop) track(c *conn) {
	fd := int(c.fd)
	for fd >= len(l.byFD) {
		l.byFD = append(l.byFD, make([]*conn, max(1024, len(l.byFD)))...)
	}
	l.byFD[fd] = c
}

// dial starts a connection.
func (l *loop) dial(role uint8, now int64) (*conn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	g := l.g
	if len(g.sources) > 0 {
		src := g.sources[(l.srcNext*len(g.loops)+l.id)%len(g.sources)]
		l.srcNext++
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("IP_BIND_ADDRESS_NO_PORT: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src}); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("bind %v: %w", src, err)
		}
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	err = unix.Connect(fd, &l.dst)
	if err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return nil, fmt.Errorf("connect: %w", err)
	}
	c := &conn{fd: int32(fd), idx: -1, role: role, started: now}
	l.track(c)
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | epollET, Fd: int32(fd)}); err != nil {
		l.byFD[fd] = nil
		unix.Close(fd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	return c, nil
}

func (l *loop) onEvent(c *conn, ev uint32) {
	if c.state == stConnecting {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		soerr, err := unix.GetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && soerr != 0 {
			err = unix.Errno(soerr)
		}
		if err != nil {
			l.fail(c, fmt.Errorf("connect: %w", err))
			return
		}
		switch {
		case l.g.cfg.Raw && !l.g.cfg.RawHandshake:
			l.opened(c, time.Now().UnixNano())
		case l.g.cfg.Raw:
			c.state = stHandshake
			l.write(c, l.g.hsReq[:StampSize])
		default:
			c.state = stHandshake
			l.write(c, l.g.hsReq)
		}
		if c.state == stClosed {
			return
		}
	} else if ev&unix.EPOLLOUT != 0 && len(c.out) > 0 {
		l.flush(c)
		if c.state == stClosed {
			return
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		l.readable(c, ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
	}
}

// readable reads what the socket holds. With edge-triggered epoll a short
// read means the socket is drained, unless the peer has closed too.
func (l *loop) readable(c *conn, hup bool) {
	for c.state != stClosed {
		n, err := unix.Read(int(c.fd), l.rbuf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			l.onEOF(c, err)
			return
		}
		l.onData(c, l.rbuf[:n], time.Now().UnixNano())
		if n < len(l.rbuf) && !hup {
			return
		}
	}
}

func (l *loop) onData(c *conn, b []byte, now int64) {
	switch c.state {
	case stHandshake:
		if l.g.cfg.Raw { // the echo of the first StampSize bytes
			n := min(len(b), StampSize-int(c.rawGot))
			c.rawGot += int64(n)
			if c.rawGot < StampSize {
				return
			}
			c.rawGot = 0
			l.opened(c, now)
			if n < len(b) && c.state != stClosed {
				l.onData(c, b[n:], now)
			}
			return
		}
		c.in = append(c.in, b...)
		k, err := parseHandshakeResponse(c.in)
		if err != nil {
			l.fail(c, err)
			return
		}
		if k == 0 {
			return
		}
		rest := c.in[k:]
		c.in = nil
		l.opened(c, now)
		if len(rest) > 0 && c.state != stClosed {
			l.onData(c, rest, now)
		}
	case stOpen, stClosing:
		if l.g.cfg.Raw {
			l.feedRaw(c, b, now)
			return
		}
		l.fctx.c, l.fctx.now = c, now
		if err := c.fr.feed(b, &l.fctx); err != nil {
			l.fail(c, err)
		}
	}
}

// feedRaw splits the raw TCP stream into messages of the run's size.
func (l *loop) feedRaw(c *conn, b []byte, now int64) {
	size := int64(StampSize)
	if l.rp != nil {
		size = int64(l.rp.spec.Size)
	} else if len(l.payload) > 0 {
		size = int64(len(l.payload))
	}
	for len(b) > 0 && c.state != stClosed {
		n := min(int64(len(b)), size-c.rawGot)
		if int(c.rawHeadN) < StampSize {
			k := copy(c.rawHead[c.rawHeadN:], b[:n])
			c.rawHeadN += uint8(k)
		}
		c.rawGot += n
		b = b[n:]
		if c.rawGot == size {
			c.rawGot, c.rawHeadN = 0, 0
			l.onMessage(c, c.rawHead[:], now)
		}
	}
}

func (l *loop) onEOF(c *conn, err error) {
	if c.role == roleChurn && c.state == stClosing && c.closeRecv {
		l.churnDone(c, time.Now().UnixNano())
		return
	}
	if err == nil {
		err = errors.New("server closed the connection")
	}
	l.fail(c, err)
}

func (l *loop) opened(c *conn, now int64) {
	c.state = stOpen
	if c.role == roleChurn {
		if rp := l.rp; rp != nil {
			rp.seq++
			l.sendMsg(c, c.started, rp.seq)
		}
		return
	}
	c.idx = int32(len(l.open))
	l.open = append(l.open, c)
	l.nOpen.Add(1)
	if cp := l.cp; cp != nil {
		if _, ok := cp.pending[c]; ok {
			delete(cp.pending, c)
			cp.opened++
			cp.last = now
			recordUS(cp.hist, now-c.started)
		}
	}
}

// fail closes a connection that broke and counts it.
func (l *loop) fail(c *conn, err error) {
	if c.state == stClosed {
		return
	}
	msg := err.Error()
	l.closeConn(c, false)
	if cp := l.cp; cp != nil {
		if _, ok := cp.pending[c]; ok {
			delete(cp.pending, c)
			cp.failed++
			cp.last = time.Now().UnixNano()
			if cp.firstErr == "" {
				cp.firstErr = msg
			}
			return
		}
	}
	if rp := l.rp; rp != nil {
		if c.role == roleChurn {
			delete(rp.churn, c)
			rp.churnWant++
		}
		rp.errors++
		if rp.firstErr == "" {
			rp.firstErr = msg
		}
		return
	}
	if c.role == roleHeld {
		l.dropped++
		l.lastErr = msg
	}
}

// closeConn closes the socket; with reset, it sends RST and leaves no
// TIME_WAIT behind.
func (l *loop) closeConn(c *conn, reset bool) {
	if c.state == stClosed {
		return
	}
	c.state = stClosed
	if c.idx >= 0 {
		last := l.open[len(l.open)-1]
		l.open[c.idx] = last
		last.idx = c.idx
		l.open = l.open[:len(l.open)-1]
		c.idx = -1
	}
	if reset {
		_ = unix.SetsockoptLinger(int(c.fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	l.byFD[c.fd] = nil
	unix.Close(int(c.fd))
	c.in, c.out, c.fr.ctl = nil, nil, nil
}

// write sends b, queueing what the socket does not take.
func (l *loop) write(c *conn, b []byte) {
	if len(c.out) > 0 {
		c.out = append(c.out, b...)
		return
	}
	n, err := unix.Write(int(c.fd), b)
	if err != nil {
		if err != unix.EAGAIN && err != unix.EINTR {
			l.fail(c, fmt.Errorf("write: %w", err))
			return
		}
		n = 0
	}
	if n < len(b) {
		c.out = append(c.out, b[n:]...)
	}
}

func (l *loop) flush(c *conn) {
	for len(c.out) > 0 {
		n, err := unix.Write(int(c.fd), c.out)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if err != nil {
			l.fail(c, fmt.Errorf("write: %w", err))
			return
		}
		c.out = c.out[n:]
	}
	c.out = nil
}

func (l *loop) maskKey() [4]byte {
	l.rng ^= l.rng << 13
	l.rng ^= l.rng >> 7
	l.rng ^= l.rng << 17
	return [4]byte{byte(l.rng), byte(l.rng >> 8), byte(l.rng >> 16), byte(l.rng >> 24)}
}

// sendMsg sends one message stamped with ts and seq (the phase in its top
// 16 bits).
func (l *loop) sendMsg(c *conn, ts int64, seq uint64) {
	size := StampSize
	if l.rp != nil {
		size = l.rp.spec.Size
	}
	if len(l.payload) != size {
		l.payload = make([]byte, size)
		for i := range l.payload {
			l.payload[i] = 'a' + byte(i%26)
		}
	}
	phase := uint64(0)
	if l.rp != nil {
		phase = uint64(l.rp.phase)
	}
	putStamp(l.payload, ts, phase<<48|seq&(1<<48-1))
	if l.g.cfg.Raw {
		l.write(c, l.payload)
		return
	}
	l.wbuf = appendClientFrame(l.wbuf[:0], opBinary, l.payload, l.maskKey())
	l.write(c, l.wbuf)
}

func (l *loop) sendControl(c *conn, op byte, p []byte) {
	l.wbuf = appendClientFrame(l.wbuf[:0], op, p, l.maskKey())
	l.write(c, l.wbuf)
}

func (l *loop) onControl(c *conn, op byte, p []byte, now int64) {
	switch op {
	case opPing:
		l.sendControl(c, opPong, p)
	case opClose:
		if c.role == roleChurn && c.state == stClosing {
			// Our close was answered: the server closes the TCP
			// connection next (RFC 6455 7.1.1), which ends the cycle.
			c.closeRecv = true
			return
		}
		if c.state == stOpen {
			l.sendControl(c, opClose, p)
		}
		l.fail(c, fmt.Errorf("server closed the WebSocket (%s)", closeText(p)))
	}
}

func closeText(p []byte) string {
	if len(p) < 2 {
		return "no status"
	}
	return fmt.Sprintf("%d %s", int(p[0])<<8|int(p[1]), p[2:])
}

// --- connect phase -------------------------------------------------------

func (l *loop) startConnect(cp *connectPhase) {
	l.cp = cp
	l.rampUp(time.Now().UnixNano())
	l.connectDone()
}

func (l *loop) rampUp(now int64) {
	cp := l.cp
	allowed := cp.n
	if cp.rate > 0 {
		allowed = min(cp.n, int(cp.rate*float64(now-cp.start)/1e9)+1)
	}
	for cp.started < allowed && len(cp.pending) < cp.maxPending {
		cp.started++
		c, err := l.dial(roleHeld, now)
		if err != nil {
			cp.failed++
			cp.last = now
			if cp.firstErr == "" {
				cp.firstErr = err.Error()
			}
			if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
				// Out of descriptors: the rest fail too.
				cp.failed += cp.n - cp.started
				cp.started = cp.n
			}
			continue
		}
		cp.pending[c] = struct{}{}
	}
}

func (l *loop) connectDone() {
	cp := l.cp
	if cp == nil || cp.opened+cp.failed < cp.n {
		return
	}
	l.cp = nil
	r := ConnectResult{Opened: cp.opened, Failed: cp.failed, FirstError: cp.firstErr, Handshake: cp.hist.Export()}
	if cp.last > cp.start {
		r.Elapsed = time.Duration(cp.last - cp.start)
	}
	cp.done <- r
}

func (l *loop) abortConnect() {
	cp := l.cp
	if cp == nil {
		return
	}
	for c := range cp.pending {
		l.fail(c, errors.New("aborted"))
	}
	cp.failed += cp.n - cp.started
	cp.started = cp.n
	l.connectDone()
}

// --- run phase -----------------------------------------------------------

func (l *loop) startRun(rp *runPhase) {
	if l.rp != rp {
		return // finished already (aborted)
	}
	rp.started = true
	now := time.Now().UnixNano()
	switch rp.spec.Scenario {
	case Echo:
		if rp.rate > 0 {
			l.startTicker(rp, now)
		} else {
			for _, c := range l.open {
				rp.seq++
				l.sendMsg(c, time.Now().UnixNano(), rp.seq)
			}
		}
	case Broadcast:
		if rp.publisher {
			rp.pubConn = l.open[0]
			if rp.rate > 0 {
				l.startTicker(rp, now)
			} else {
				l.publish(now)
			}
		}
	case Churn:
		rp.churn = map[*conn]struct{}{}
		rp.churnWant = rp.slots
		l.churnDial(now)
	}
}

// startTicker arms the timer that paces a fixed rate: every tick sends the
// messages due, each stamped with its tick's time, so a late sender shows
// as latency (no coordinated omission).
func (l *loop) startTicker(rp *runPhase, now int64) {
	rp.tick = max(int64(100*time.Microsecond), int64(1e9/rp.rate))
	rp.tick = min(rp.tick, int64(10*time.Millisecond))
	first := max(rp.start-now, 1000)
	_ = unix.TimerfdSettime(l.tfd, 0, &unix.ItimerSpec{
		Value:    unix.NsecToTimespec(first),
		Interval: unix.NsecToTimespec(rp.tick),
	}, nil)
}

func (l *loop) stopTicker() {
	_ = unix.TimerfdSettime(l.tfd, 0, &unix.ItimerSpec{}, nil)
}

// pace sends the messages of every tick due by now.
func (l *loop) pace(now int64) {
	rp := l.rp
	if rp.rate <= 0 {
		return
	}
	for {
		t := rp.start + rp.tickIdx*rp.tick
		if t > now || t >= rp.end {
			return
		}
		rp.tickIdx++
		due := int64(rp.rate*float64(rp.tickIdx*rp.tick)/1e9) - rp.scheduled
		for ; due > 0; due-- {
			rp.scheduled++
			var c *conn
			if rp.publisher {
				c = rp.pubConn
				if c.state != stOpen {
					return
				}
			} else {
				if len(l.open) == 0 {
					return
				}
				rp.rr = (rp.rr + 1) % len(l.open)
				c = l.open[rp.rr]
			}
			rp.seq++
			if rp.publisher {
				l.bcastSend(rp, t)
			} else {
				l.sendMsg(c, t, rp.seq)
			}
			if t >= rp.from {
				rp.sent++
			}
		}
	}
}

func (l *loop) finishRun(now int64) {
	rp := l.rp
	if rp == nil {
		return
	}
	l.rp = nil
	l.stopTicker()
	for c := range rp.churn {
		l.closeConn(c, true)
	}
	rp.done <- loopRun{RunResult: RunResult{
		Sent: rp.sent, Received: rp.recv, Completed: rp.completed, Incomplete: rp.incomplete,
		Errors: rp.errors, Open: len(l.open), FirstError: rp.firstErr,
		Latency: rp.hist.Export(), Completion: rp.comp.Export(),
	}, track: rp.track}
}

// onMessage handles a complete message from the server.
func (l *loop) onMessage(c *conn, head []byte, now int64) {
	rp := l.rp
	if rp == nil || len(head) < StampSize {
		return
	}
	ts, seq := readStamp(head)
	if uint16(seq>>48) != rp.phase {
		return // a straggler from an earlier phase
	}
	seq &= 1<<48 - 1
	measured := now >= rp.from && now < rp.end
	switch rp.spec.Scenario {
	case Echo:
		if measured {
			rp.recv++
			recordUS(rp.hist, now-ts)
		}
		if rp.rate <= 0 && now < rp.end && c.state == stOpen {
			rp.seq++
			if measured {
				rp.sent++
			}
			l.sendMsg(c, now, rp.seq)
		}
	case Broadcast:
		if measured {
			rp.recv++
			recordUS(rp.hist, now-ts)
		}
		if rp.track != nil {
			t := rp.track[seq]
			if t == nil && len(rp.track) < maxTracked {
				t = &msgTrack{ts: ts}
				rp.track[seq] = t
			}
			if t != nil {
				t.got++
				t.last = now
			}
		}
		if bc := rp.bc; bc != nil && bc.pub != nil {
			s := &bc.slots[seq%bcastSlots]
			if s.seq.Load() == seq && s.got.Add(1) == bc.expected {
				if measured {
					rp.completed++
					recordUS(rp.comp, now-ts)
				}
				if !bc.fixed {
					pub := bc.pub
					if pub == l {
						l.broadcastDone(seq)
					} else {
						pub.do(func() { pub.broadcastDone(seq) })
					}
				}
			}
		}
	case Churn:
		if c.role == roleChurn && c.state == stOpen {
			if l.g.cfg.Raw {
				l.churnDone(c, now)
				return
			}
			c.state = stClosing
			l.sendControl(c, opClose, []byte{0x03, 0xe8}) // 1000
		}
	}
}

// --- broadcast -----------------------------------------------------------

// bcastSend publishes the next message, stamped ts.
func (l *loop) bcastSend(rp *runPhase, ts int64) {
	s := &rp.bc.slots[rp.seq%bcastSlots]
	s.got.Store(0)
	s.ts.Store(ts)
	s.seq.Store(rp.seq)
	l.sendMsg(rp.pubConn, ts, rp.seq)
}

// publish keeps Window messages in flight (closed loop).
func (l *loop) publish(now int64) {
	rp := l.rp
	if rp == nil || !rp.publisher || rp.bc.fixed {
		return
	}
	for len(rp.inflight) < rp.bc.window && now < rp.end && rp.pubConn.state == stOpen {
		rp.seq++
		rp.inflight = append(rp.inflight, inflightMsg{seq: rp.seq, ts: now})
		l.bcastSend(rp, now)
		if now >= rp.from {
			rp.sent++
		}
	}
}

// broadcastDone runs on the publisher's loop when message seq reached every
// connection.
func (l *loop) broadcastDone(seq uint64) {
	rp := l.rp
	if rp == nil || !rp.publisher {
		return
	}
	for i, m := range rp.inflight {
		if m.seq == seq {
			rp.inflight = append(rp.inflight[:i], rp.inflight[i+1:]...)
			break
		}
	}
	l.publish(time.Now().UnixNano())
}

func (l *loop) expireBroadcasts(now int64) {
	rp := l.rp
	for len(rp.inflight) > 0 && now-rp.inflight[0].ts > int64(broadcastTimeout) {
		s := &rp.bc.slots[rp.inflight[0].seq%bcastSlots]
		s.seq.Store(0)
		if rp.inflight[0].ts >= rp.from {
			rp.incomplete++
		}
		rp.inflight = rp.inflight[1:]
	}
}

// completeMessages adds up the loops' counts of each broadcast message and
// lists those that reached all expected connections of this process, in
// the order they were sent.
func completeMessages(tracks []map[uint64]*msgTrack, expected int64) []MessageDone {
	sum := map[uint64]*msgTrack{}
	for _, tr := range tracks {
		for seq, t := range tr {
			if a := sum[seq]; a != nil {
				a.got += t.got
				a.last = max(a.last, t.last)
			} else {
				c := *t
				sum[seq] = &c
			}
		}
	}
	var out []MessageDone
	for seq, t := range sum {
		if t.got >= expected {
			out = append(out, MessageDone{Seq: seq, Sent: t.ts, Last: t.last})
		}
	}
	slices.SortFunc(out, func(a, b MessageDone) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// --- churn ---------------------------------------------------------------

func (l *loop) churnDial(now int64) {
	rp := l.rp
	for rp.churnWant > 0 && now < rp.end {
		c, err := l.dial(roleChurn, now)
		if err != nil {
			rp.errors++
			if rp.firstErr == "" {
				rp.firstErr = err.Error()
			}
			return // retried on the next turn of the loop
		}
		rp.churnWant--
		rp.churn[c] = struct{}{}
	}
}

func (l *loop) churnDone(c *conn, now int64) {
	rp := l.rp
	l.closeConn(c, false)
	if rp == nil {
		return
	}
	delete(rp.churn, c)
	if now >= rp.from && now < rp.end {
		rp.completed++
		recordUS(rp.hist, now-c.started)
	}
	rp.churnWant++
	l.churnDial(now)
}

// --- teardown ------------------------------------------------------------

func (l *loop) shutdown() {
	if l.rp != nil {
		l.finishRun(time.Now().UnixNano())
	}
	if l.cp != nil {
		l.abortConnect()
	}
	for _, c := range l.byFD {
		if c != nil {
			l.closeConn(c, true)
		}
	}
	l.quit = true
}
