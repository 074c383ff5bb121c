//go:build linux

package netpoll

import (
	"errors"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mailru/easygo/netpoll"
	"golang.org/x/sys/unix"

	"github.com/ws4go/ws4go/internal/wsconn"
)

// Engine runs connections on epoll and a worker pool.
type Engine struct {
	cfg   Config
	ep    *netpoll.Epoll
	queue chan *conn
	bufs  sync.Pool

	busy    atomic.Int64
	workers sync.WaitGroup

	lmu       sync.Mutex
	listeners map[net.Listener]*listener

	// mu guards the descriptor table, the handshake deadlines and closed.
	mu        sync.Mutex
	conns     []*conn // open connections by descriptor
	live      int     // connections not finished yet (Closed not returned)
	gone      sync.Cond
	closed    bool            // Close has begun: new descriptors are refused
	handshake map[*conn]int64 // connections in their opening handshake → deadline
	hsStop    chan struct{}   // stops the handshake sweeper; nil when none runs

	// Connections whose close was asked for off a worker reach the
	// workers through the poller: wakeFd (an eventfd in the epoll set)
	// tells it to queue the pending ones.
	wakeFd  int
	pmu     sync.Mutex
	pending []*conn
	pdone   bool // wakeFd is closed

	closeOnce sync.Once
}

// New starts an engine: its epoll set, its poller goroutine and its workers.
func New(cfg Config) (*Engine, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 4 * runtime.GOMAXPROCS(0)
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 16 * cfg.Workers
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
	e := &Engine{cfg: cfg, queue: make(chan *conn, cfg.Queue), handshake: map[*conn]int64{}}
	e.gone.L = &e.mu
	size := cfg.ReadBufferSize
	e.bufs.New = func() any { b := make([]byte, size); return &b }
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	e.wakeFd = wfd
	ep, err := netpoll.EpollCreate(&netpoll.EpollConfig{OnWaitError: func(err error) {
		cfg.Logger.Error("ws4go netpoll: epoll_wait failed", "err", err)
	}})
	if err != nil {
		unix.Close(wfd)
		return nil, err
	}
	e.ep = ep
	if err := ep.Add(wfd, netpoll.EPOLLIN, e.onWake); err != nil {
		_ = ep.Close()
		unix.Close(wfd)
		return nil, err
	}
	for i := 0; i < cfg.Workers; i++ {
		e.workers.Add(1)
		go e.work()
	}
	return e, nil
}

// Stats reports the workers busy now and the connections waiting for one.
func (e *Engine) Stats() (busy, queued int) {
	return int(e.busy.Load()), len(e.queue)
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
// stops the poller and the workers.
func (e *Engine) Close() {
	e.closeOnce.Do(func() {
		e.lmu.Lock()
		var ls []net.Listener
		for l := range e.listeners {
			ls = append(ls, l)
		}
		e.lmu.Unlock()
		for _, l := range ls {
			e.StopListener(l)
		}
		e.mu.Lock()
		e.closed = true
		var open []*conn
		for _, c := range e.conns {
			if c != nil {
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
		_ = e.ep.Close()
		close(e.queue)
		e.workers.Wait()
		e.pmu.Lock()
		e.pdone = true
		_ = unix.Close(e.wakeFd)
		e.pmu.Unlock()
	})
}

func (e *Engine) work() {
	defer e.workers.Done()
	for c := range e.queue {
		e.busy.Add(1)
		c.process()
		e.busy.Add(-1)
	}
}

// schedule hands c to a worker through the poller, for a caller that must
// not process it itself (it may hold locks a handler callback takes).
func (e *Engine) schedule(c *conn) {
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

// onWake runs on the poller: it queues the scheduled connections (waiting
// for room in the queue, as for any event).
func (e *Engine) onWake(ev netpoll.EpollEvent) {
	if ev&epollClosed != 0 {
		return
	}
	var buf [8]byte
	_, _ = unix.Read(e.wakeFd, buf[:])
	e.pmu.Lock()
	pending := e.pending
	e.pending = nil
	e.pmu.Unlock()
	for _, c := range pending {
		e.queue <- c
	}
}

// register adds a new descriptor's connection to the table; it fails once
// Close has begun. handshake also gives it a handshake deadline.
func (e *Engine) register(c *conn, handshake bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	if c.fd >= len(e.conns) {
		e.conns = append(e.conns, make([]*conn, c.fd+1-len(e.conns))...)
	}
	e.conns[c.fd] = c
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
	if c.fd < len(e.conns) && e.conns[c.fd] == c {
		e.conns[c.fd] = nil
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
// listening descriptor is watched by the engine's epoll set and accepted from
// on the poller goroutine (accept4 until EAGAIN).
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
	if e.listeners == nil {
		e.listeners = map[net.Listener]*listener{}
	}
	e.listeners[l] = ln
	e.lmu.Unlock()
	if err := e.ep.Add(fd, netpoll.EPOLLIN, func(ev netpoll.EpollEvent) {
		if ev&epollClosed == 0 {
			e.acceptAll(ln)
		}
	}); err != nil {
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
	e.lmu.Unlock()
	if ln == nil {
		return
	}
	ln.stopOnce.Do(func() {
		ln.stopped.Store(true)
		_ = e.ep.Del(ln.fd)
		close(ln.stop)
	})
}

// acceptAll accepts every pending connection; it runs on the poller.
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
			// Out of descriptors or memory: stop watching for a
			// moment instead of spinning on a level-triggered event.
			e.cfg.Logger.Warn("ws4go netpoll: accept failed; pausing", "err", err)
			_ = e.ep.Mod(ln.fd, 0)
			time.AfterFunc(50*time.Millisecond, func() {
				if !ln.stopped.Load() {
					_ = e.ep.Mod(ln.fd, netpoll.EPOLLIN)
				}
			})
			return
		}
	}
}

// accept starts the opening handshake of a new descriptor. It may run after
// Close has begun (the poller can be inside accept4 meanwhile): then the
// descriptor is closed at once.
func (e *Engine) accept(fd int, sa unix.Sockaddr, ln *listener) {
	if e.cfg.Accepted != nil {
		e.cfg.Accepted()
	}
	// As Go does for its own TCP connections: small frames (a pong, a
	// short echo) must not wait for the peer's delayed ACK (Nagle).
	// On a Unix socket this fails harmlessly.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c := &conn{e: e, fd: fd, ln: ln}
	c.setRemote(sa)
	if !e.register(c, true) {
		_ = unix.Close(fd)
		return
	}
	if err := e.ep.Add(fd, readEvents, c.onEvent); err != nil {
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
// rest are bytes already read after the handshake.
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
	c := &conn{e: e, fd: fd, x: &extra{nc: nc}}
	if !e.register(c, false) {
		return net.ErrClosed
	}
	c.mu.Lock()
	if err := e.ep.Add(fd, readEvents, c.onEvent); err != nil {
		c.mu.Unlock()
		e.unregister(c)
		e.finished()
		return err
	}
	c.open(mk, rest)
	// Not on a worker: a close asked for during Opened is left to one.
	c.finishProcessing(false)
	return nil
}
