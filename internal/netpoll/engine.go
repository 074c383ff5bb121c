//go:build linux

package netpoll

import (
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
	if cfg.HandshakeTimeout == 0 {
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
		if e.hsStop == nil && e.cfg.HandshakeTimeout > 0 {
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
