//go:build linux

package netpoll

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ws4go/ws4go/internal/wsconn"
)

// eventsPerWait is the most events a worker takes from epoll at once. A
// handler that blocks holds up the rest of its worker's batch until the
// monitor hands them to other workers (stallAfter).
const eventsPerWait = 32

// stallAfter is how long a worker may go without moving on from one event
// before the monitor hands the rest of its batch to the other workers and
// gets another worker polling (a spare, or within Config.Workers a new one).
const stallAfter = 2 * time.Millisecond

// Engine runs connections on one epoll set shared by a pool of workers.
type Engine struct {
	cfg    Config
	epfd   int
	wakeFd int // eventfd, readable while pending holds connections
	// epf is epfd in the Go runtime's poller: a worker with nothing to
	// do waits there as a parked goroutine, not as a thread blocked in
	// epoll_wait holding its P (which would keep every other goroutine
	// of the process waiting for the scheduler to take the P back).
	epf *os.File
	erc syscall.RawConn

	tab atomic.Pointer[fdTable] // open connections by descriptor

	busy     atomic.Int32 // workers not waiting for events
	stopping atomic.Bool
	wg       sync.WaitGroup

	// One worker at a time waits for events in the runtime's poller
	// (waiter); the others with nothing to do sleep as spares until the
	// waiter finds more than one event ready or the monitor needs them,
	// so a light load is served by one worker without waking the others.
	waiter atomic.Pointer[worker]
	smu    sync.Mutex
	spares []*worker

	// The monitor watches for stalled workers; it sleeps while no worker
	// is busy.
	wmu       sync.Mutex
	active    []*worker // workers not replaced (wmu)
	nworkers  int       // worker goroutines, replaced ones included (wmu)
	monParked atomic.Bool
	monWake   chan struct{}

	// Connections handed to the workers off the epoll set: closes asked
	// for elsewhere, flushes, busy connections yielding their turn, and
	// the batches of stalled workers.
	pmu     sync.Mutex
	pending []*conn
	pdone   bool // wakeFd is closed

	lmu       sync.RWMutex
	listeners map[net.Listener]*listener
	lfds      map[int32]*listener

	// mu guards the table's writes, the handshake deadlines and closed.
	mu        sync.Mutex
	gen       int32 // the last registration's generation
	live      int   // connections not finished yet (Closed not returned)
	gone      sync.Cond
	closed    bool            // Close has begun: new descriptors are refused
	handshake map[*conn]int64 // connections in their opening handshake → deadline
	hsStop    chan struct{}   // stops the handshake sweeper; nil when none runs

	closeOnce sync.Once
}

// fdTable maps descriptors to connections; it is replaced (copied) to grow,
// so workers read it without a lock.
type fdTable struct{ slots []atomic.Pointer[conn] }

// worker is one goroutine taking events from the epoll set and processing
// them. Its batch is guarded by mu, so the monitor can take what the worker
// has not started when it stalls.
type worker struct {
	events []unix.EpollEvent
	buf    []byte // read buffer, reused for every connection

	mu       sync.Mutex
	n, next  int    // the batch is events[next:n]
	batch    uint32 // batches taken so far
	busy     atomic.Bool
	replaced atomic.Bool // another worker took its place: leave when free
	wake     chan struct{}

	lastPos uint64 // the monitor's last view of (batch, next)
	helped  bool   // the monitor acted on the stall at lastPos
}

// New starts an engine: its epoll set, its workers and their monitor.
func New(cfg Config) (*Engine, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 4 * runtime.GOMAXPROCS(0)
	}
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = 32 << 10
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	// Level-triggered: every waiting worker sees it while it is set, so
	// pending connections are shared out and Close reaches everyone.
	err = epollAdd(epfd, wfd, unix.EPOLLIN, tagWake)
	if err == nil {
		err = unix.SetNonblock(epfd, true)
	}
	var epf *os.File
	var erc syscall.RawConn
	if err == nil {
		epf = os.NewFile(uintptr(epfd), "ws4go-epoll") // owns epfd from here
		erc, err = epf.SyscallConn()
	}
	if err != nil {
		if epf != nil {
			epf.Close()
		} else {
			unix.Close(epfd)
		}
		unix.Close(wfd)
		return nil, err
	}
	e := &Engine{
		cfg: cfg, epfd: epfd, wakeFd: wfd, epf: epf, erc: erc,
		monWake:   make(chan struct{}, 1),
		handshake: map[*conn]int64{},
		listeners: map[net.Listener]*listener{},
		lfds:      map[int32]*listener{},
	}
	e.gone.L = &e.mu
	e.tab.Store(&fdTable{})
	e.wmu.Lock()
	for range min(runtime.GOMAXPROCS(0), cfg.Workers) {
		e.startWorkerLocked()
	}
	e.wmu.Unlock()
	e.wg.Add(1)
	go e.monitor()
	return e, nil
}

// Stats reports the workers busy now (not waiting for events) and the
// ready connections taken from the epoll set that wait for a worker.
func (e *Engine) Stats() (busy, queued int) {
	e.wmu.Lock()
	for _, w := range e.active {
		w.mu.Lock()
		queued += w.n - w.next
		w.mu.Unlock()
	}
	e.wmu.Unlock()
	e.pmu.Lock()
	queued += len(e.pending)
	e.pmu.Unlock()
	return int(e.busy.Load()), queued
}

func (e *Engine) startWorkerLocked() {
	w := &worker{events: make([]unix.EpollEvent, eventsPerWait), buf: make([]byte, e.cfg.ReadBufferSize), wake: make(chan struct{}, 1)}
	w.busy.Store(true)
	e.busy.Add(1)
	e.active = append(e.active, w)
	e.nworkers++
	e.wg.Add(1)
	go e.work(w)
}

// work is a worker's loop: take a batch of events, process them one by one
// (a connection's events run on one worker at a time, in order: see
// conn.pend), repeat. When nothing is ready it waits in the Go runtime's
// poller for the epoll set to become readable.
func (e *Engine) work(w *worker) {
	defer e.workerDone(w)
	n := 0
	for !w.replaced.Load() {
		// After a batch of one event or none, most likely nothing is
		// ready: skip straight to waiting (which polls first anyway).
		if n > 1 {
			n = epollPoll(e.epfd, w.events)
		} else {
			n = 0
		}
		if n == 0 {
			w.busy.Store(false)
			e.busy.Add(-1)
			var err error
			n, err = e.wait(w)
			w.busy.Store(true)
			if e.busy.Add(1) == 1 && e.monParked.Load() {
				select {
				case e.monWake <- struct{}{}:
				default:
				}
			}
			if err != nil {
				if !e.stopping.Load() {
					e.cfg.Logger.Error("ws4go netpoll: waiting for events failed", "err", err)
				}
				return
			}
			if n == 0 {
				continue // woken as a spare
			}
		}
		w.mu.Lock()
		w.n, w.next = n, 0
		w.batch++
		w.mu.Unlock()
		for {
			w.mu.Lock()
			if w.next >= w.n {
				w.mu.Unlock()
				break
			}
			ev := w.events[w.next]
			w.next++
			w.mu.Unlock()
			if !e.dispatch(w, &ev) {
				return
			}
		}
	}
}

// errStopping ends a worker's wait when the engine stops.
var errStopping = errors.New("ws4go netpoll: stopping")

// wait waits for events: in the runtime's poller if no other worker does,
// else as a spare until woken (then it returns no events).
func (e *Engine) wait(w *worker) (int, error) {
	if e.stopping.Load() {
		return 0, errStopping
	}
	if !e.waiter.CompareAndSwap(nil, w) {
		e.smu.Lock()
		if e.stopping.Load() {
			e.smu.Unlock()
			return 0, errStopping
		}
		e.spares = append(e.spares, w)
		e.smu.Unlock()
		<-w.wake
		return 0, nil
	}
	n := 0
	err := e.erc.Read(func(uintptr) bool {
		n = epollPoll(e.epfd, w.events)
		return n > 0
	})
	e.waiter.Store(nil)
	if n > 1 {
		// More may come while these are processed: get a peer polling.
		e.wakeSpare()
	}
	return n, err
}

// wakeSpare wakes a spare worker, if there is one.
func (e *Engine) wakeSpare() bool {
	e.smu.Lock()
	k := len(e.spares)
	if k == 0 {
		e.smu.Unlock()
		return false
	}
	w := e.spares[k-1]
	e.spares[k-1] = nil
	e.spares = e.spares[:k-1]
	e.smu.Unlock()
	w.wake <- struct{}{}
	return true
}

func (e *Engine) workerDone(w *worker) {
	e.busy.Add(-1)
	e.wmu.Lock()
	e.nworkers--
	for i, a := range e.active {
		if a == w {
			e.active = append(e.active[:i], e.active[i+1:]...)
			break
		}
	}
	e.wmu.Unlock()
	e.wg.Done()
}

// dispatch processes one event; false means the engine is stopping. w is
// nil when the monitor hands on a stalled worker's batch: it runs no
// handler, so a connection is scheduled on the workers instead of run, and
// the eventfd is left to them (it stays set while connections are pending).
// A listener is accepted from either way: it is edge-triggered, so nobody
// else will be told, and accepting runs no handler.
func (e *Engine) dispatch(w *worker, ev *unix.EpollEvent) bool {
	switch ev.Pad {
	case tagWake:
		if w == nil {
			break
		}
		if e.stopping.Load() {
			return false
		}
		if c := e.popPending(); c != nil {
			c.run(w.buf)
		}
	case tagListen:
		e.lmu.RLock()
		ln := e.lfds[ev.Fd]
		e.lmu.RUnlock()
		if ln != nil {
			e.acceptAll(ln)
		}
	default:
		c := e.lookup(ev)
		switch {
		case c == nil:
		case w == nil:
			c.ev.Or(ev.Events)
			c.schedule()
		default:
			c.event(ev.Events, w.buf)
		}
	}
	return true
}

// lookup returns the connection ev is for: the one registered on its
// descriptor with its generation, nil if that one is gone.
func (e *Engine) lookup(ev *unix.EpollEvent) *conn {
	t := e.tab.Load()
	if ev.Fd < 0 || int(ev.Fd) >= len(t.slots) {
		return nil
	}
	if c := t.slots[ev.Fd].Load(); c != nil && c.gen == ev.Pad {
		return c
	}
	return nil
}

// push hands c, which the caller owns (c.pend > 0), to the workers.
func (e *Engine) push(c *conn) {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	if e.pdone {
		return // every connection has finished
	}
	e.pending = append(e.pending, c)
	if len(e.pending) == 1 {
		one := [8]byte{1}
		_, _ = unix.Write(e.wakeFd, one[:])
	}
}

// popPending takes one pending connection; the eventfd stays set while
// more wait, so other workers take them meanwhile.
func (e *Engine) popPending() *conn {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	if len(e.pending) == 0 {
		return nil
	}
	c := e.pending[0]
	e.pending[0] = nil
	e.pending = e.pending[1:]
	if len(e.pending) == 0 {
		e.pending = nil
		var buf [8]byte
		_, _ = unix.Read(e.wakeFd, buf[:])
	}
	return c
}

// monitor finds workers stalled on one event (a handler that blocks): it
// hands the rest of their batch to the pending list and gets another worker
// polling in the place of each (a spare, or a new worker, up to
// Config.Workers goroutines in all), so a handler that blocks holds up its
// own connection and not the others. It sleeps while no worker is busy.
func (e *Engine) monitor() {
	defer e.wg.Done()
	tm := time.NewTimer(stallAfter)
	defer tm.Stop()
	for !e.stopping.Load() {
		if e.busy.Load() == 0 {
			e.monParked.Store(true)
			if e.busy.Load() == 0 {
				<-e.monWake
			}
			e.monParked.Store(false)
			continue
		}
		tm.Reset(stallAfter)
		<-tm.C
		e.checkStalls()
	}
}

func (e *Engine) checkStalls() {
	var stolen []unix.EpollEvent
	e.wmu.Lock()
	for _, w := range e.active {
		if !w.busy.Load() || !w.mu.TryLock() {
			w.lastPos, w.helped = 0, false
			continue
		}
		pos := uint64(w.batch)<<32 | uint64(w.next)
		same := pos == w.lastPos
		stalled := same && !w.helped // acted on once per stall
		w.helped = same
		w.lastPos = pos
		if stalled && w.next < w.n {
			stolen = append(stolen, w.events[w.next:w.n]...)
			w.next = w.n
		}
		w.mu.Unlock()
		if stalled && !w.replaced.Load() && !e.stopping.Load() && !e.wakeSpare() && e.nworkers < e.cfg.Workers {
			w.replaced.Store(true)
			e.startWorkerLocked()
		}
	}
	e.wmu.Unlock()
	for i := range stolen {
		e.dispatch(nil, &stolen[i])
	}
}

// DropHandshakes closes the connections still in their opening handshake.
func (e *Engine) DropHandshakes() {
	e.mu.Lock()
	pending := make([]*conn, 0, len(e.handshake))
	for c := range e.handshake {
		pending = append(pending, c)
	}
	e.mu.Unlock()
	for _, c := range pending {
		c.requestClose(false)
	}
}

// Close stops the listeners, closes every connection still open (their
// handlers' Closed runs on the workers, as always) and waits for them, then
// stops the workers.
func (e *Engine) Close() {
	e.closeOnce.Do(func() {
		e.lmu.RLock()
		var ls []net.Listener
		for l := range e.listeners {
			ls = append(ls, l)
		}
		e.lmu.RUnlock()
		for _, l := range ls {
			e.StopListener(l)
		}
		e.mu.Lock()
		e.closed = true
		var open []*conn
		t := e.tab.Load()
		for i := range t.slots {
			if c := t.slots[i].Load(); c != nil {
				open = append(open, c)
			}
		}
		e.mu.Unlock()
		for _, c := range open {
			c.requestClose(false)
		}
		e.mu.Lock()
		for e.live > 0 {
			e.gone.Wait()
		}
		// The last close stopped the handshake sweeper, and no
		// descriptor can join any more.
		e.mu.Unlock()
		e.stopping.Store(true)
		one := [8]byte{1}
		_, _ = unix.Write(e.wakeFd, one[:]) // level-triggered: reaches every worker
		for e.wakeSpare() {
		}
		select {
		case e.monWake <- struct{}{}:
		default:
		}
		e.wg.Wait()
		e.pmu.Lock()
		e.pdone = true
		_ = unix.Close(e.wakeFd)
		e.pmu.Unlock()
		_ = e.epf.Close()
	})
}

// register adds a new descriptor's connection to the table and gives it
// its generation; it fails once Close has begun. handshake also gives it a
// handshake deadline.
func (e *Engine) register(c *conn, handshake bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	t := e.tab.Load()
	if int(c.fd) >= len(t.slots) {
		nt := &fdTable{slots: make([]atomic.Pointer[conn], max(2*len(t.slots), int(c.fd)+1, 1024))}
		for i := range t.slots {
			nt.slots[i].Store(t.slots[i].Load())
		}
		e.tab.Store(nt)
		t = nt
	}
	e.gen++
	if e.gen <= 0 {
		e.gen = 1
	}
	c.gen = e.gen
	t.slots[c.fd].Store(c)
	e.live++
	if handshake {
		e.handshake[c] = time.Now().Add(e.cfg.HandshakeTimeout).UnixNano()
		if e.hsStop == nil {
			e.hsStop = make(chan struct{})
			go e.sweepHandshakes(e.hsStop)
		}
	}
	return true
}

// unregister frees c's descriptor slot; call it before the descriptor is
// closed (after that, the number may be reused).
func (e *Engine) unregister(c *conn) {
	e.mu.Lock()
	t := e.tab.Load()
	if int(c.fd) < len(t.slots) {
		t.slots[c.fd].CompareAndSwap(c, nil)
	}
	e.doneHandshakeLocked(c)
	e.mu.Unlock()
}

// finished counts c out once it is closed and its handler told.
func (e *Engine) finished() {
	e.mu.Lock()
	e.live--
	if e.live == 0 {
		e.gone.Broadcast()
	}
	e.mu.Unlock()
}

type rawConner interface {
	SyscallConn() (syscall.RawConn, error)
}

// CanServe reports whether ServeListener can take l (TCP and Unix
// listeners can).
func CanServe(l net.Listener) bool {
	switch l.(type) {
	case *net.TCPListener, *net.UnixListener:
		return true
	}
	return false
}

// ServeListener accepts raw descriptors from l and runs them (opening
// handshake included) on the engine, until StopListener(l) or Close. The
// listening descriptor is in the engine's epoll set; the worker that sees
// it ready accepts (accept4 until EAGAIN).
func (e *Engine) ServeListener(l net.Listener) error {
	if !CanServe(l) {
		return errors.New("ws4go netpoll: the listener is neither TCP nor Unix")
	}
	raw, err := l.(rawConner).SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return err
	}
	ln := &listener{fd: fd, stop: make(chan struct{}), addr: l.Addr()}
	if ta, ok := ln.addr.(*net.TCPAddr); ok && (ta.IP == nil || ta.IP.IsUnspecified()) {
		ln.wildcard = true
	}
	e.lmu.Lock()
	e.listeners[l] = ln
	e.lfds[int32(fd)] = ln
	e.lmu.Unlock()
	if err := epollAdd(e.epfd, fd, unix.EPOLLIN|unix.EPOLLET, tagListen); err != nil {
		e.StopListener(l)
		return err
	}
	<-ln.stop
	return net.ErrClosed
}

type listener struct {
	fd       int
	addr     net.Addr
	wildcard bool // a TCP listener on every address: ask each socket its own
	stop     chan struct{}
	stopOnce sync.Once
	stopped  atomic.Bool
}

// StopListener stops accepting from l; call it before closing l, since the
// descriptor must leave the epoll set while it is still open.
func (e *Engine) StopListener(l net.Listener) {
	e.lmu.Lock()
	ln := e.listeners[l]
	delete(e.listeners, l)
	if ln != nil {
		delete(e.lfds, int32(ln.fd))
	}
	e.lmu.Unlock()
	if ln == nil {
		return
	}
	ln.stopOnce.Do(func() {
		ln.stopped.Store(true)
		_ = epollDel(e.epfd, ln.fd)
		close(ln.stop)
	})
}

// acceptAll accepts every pending connection (the listener is
// edge-triggered: until EAGAIN).
func (e *Engine) acceptAll(ln *listener) {
	for !ln.stopped.Load() {
		nfd, sa, err := unix.Accept4(ln.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
			e.accept(nfd, sa, ln)
		case errors.Is(err, unix.EAGAIN):
			return
		case errors.Is(err, unix.ECONNABORTED), errors.Is(err, unix.EINTR):
		default:
			// Out of descriptors or memory: try again in a moment
			// (no new edge may come for what is waiting).
			e.cfg.Logger.Warn("ws4go netpoll: accept failed; pausing", "err", err)
			time.AfterFunc(50*time.Millisecond, func() { e.acceptAll(ln) })
			return
		}
	}
}

// accept starts the opening handshake of a new descriptor. It may run after
// Close has begun (a worker can be inside accept4 meanwhile): then the
// descriptor is closed at once.
func (e *Engine) accept(fd int, sa unix.Sockaddr, ln *listener) {
	if e.cfg.Accepted != nil {
		e.cfg.Accepted()
	}
	// As Go does for its own TCP connections: small frames (a pong, a
	// short echo) must not wait for the peer's delayed ACK (Nagle).
	// On a Unix socket this fails harmlessly.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c := &conn{e: e, fd: int32(fd), ln: ln}
	c.setRemote(sa)
	if !e.register(c, true) {
		_ = unix.Close(fd)
		return
	}
	if err := epollAdd(e.epfd, fd, connEvents, c.gen); err != nil {
		e.unregister(c)
		_ = unix.Close(fd)
		e.finished()
	}
}

func (e *Engine) doneHandshake(c *conn) {
	e.mu.Lock()
	e.doneHandshakeLocked(c)
	e.mu.Unlock()
}

func (e *Engine) doneHandshakeLocked(c *conn) {
	if _, ok := e.handshake[c]; !ok {
		return
	}
	delete(e.handshake, c)
	if len(e.handshake) == 0 && e.hsStop != nil {
		close(e.hsStop)
		e.hsStop = nil
	}
}

// sweepHandshakes drops connections past their handshake deadline; it runs
// only while some connection is in its handshake.
func (e *Engine) sweepHandshakes(stop chan struct{}) {
	tk := time.NewTicker(max(e.cfg.HandshakeTimeout/4, 5*time.Millisecond))
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tk.C:
			var late []*conn
			e.mu.Lock()
			for c, d := range e.handshake {
				if now.UnixNano() > d {
					late = append(late, c)
				}
			}
			e.mu.Unlock()
			for _, c := range late {
				if e.cfg.TimedOut != nil {
					e.cfg.TimedOut()
				}
				c.requestClose(false)
			}
		}
	}
}

// Adopt runs a connection whose handshake was done elsewhere (a hijacked
// net/http connection): nc is kept for its descriptor and closed with it;
// rest are bytes already read after the handshake. Opened runs on the
// caller's goroutine; everything after it on the workers.
func (e *Engine) Adopt(nc net.Conn, mk func(wsconn.Transport) *wsconn.Conn, rest []byte) error {
	rc, ok := nc.(rawConner)
	if !ok {
		return errors.New("ws4go netpoll: the connection has no descriptor")
	}
	raw, err := rc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return err
	}
	c := &conn{e: e, fd: int32(fd), x: &extra{nc: nc}}
	c.pend.Store(1) // ours until Opened has run
	if !e.register(c, false) {
		return net.ErrClosed
	}
	if err := epollAdd(e.epfd, fd, connEvents, c.gen); err != nil {
		e.unregister(c)
		e.finished()
		return err
	}
	c.open(mk, rest)
	if c.pend.Add(-1) > 0 {
		e.push(c) // what happened meanwhile is for a worker
	}
	return nil
}
