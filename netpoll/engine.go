// Package netpoll is ws4go's epoll engine: connections wait for readiness in
// one epoll set (github.com/mailru/easygo/netpoll), and a readable or writable
// connection is handed to a bounded pool of workers that read what is there,
// parse it without blocking and run the handler. An idle connection holds no
// goroutine and no buffer: only its descriptor, its epoll registration and its
// small connection state.
//
// Connections are accepted as raw descriptors (accept4), so each costs exactly
// one fd and stays out of the Go runtime's own poller. (easygo's Handle* and
// NewDesc wrap the descriptor in an os.File: Handle dup()s it, and File.Fd
// turns a non-blocking socket back to blocking on every re-arm; the engine
// uses easygo's Epoll on the raw descriptor instead.) Descriptors are
// registered one-shot: a connection is processed by at most one worker at a
// time, in order, and re-armed when the worker is done.
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

// Decision is the server's answer to a complete request head.
type Decision struct {
	// Response is written to the client (101 or a refusal).
	Response []byte
	// Accept, set when the handshake is accepted, makes the connection.
	Accept func(wsconn.Transport) *wsconn.Conn
	// Fallback, if set, takes over a plain HTTP request: read holds the
	// bytes read so far.
	Fallback func(nc net.Conn, read []byte)
}

// Config configures an Engine.
type Config struct {
	// Workers is the most goroutines processing connections at once
	// (default 4×GOMAXPROCS).
	Workers int
	// Queue is how many ready connections may wait for a worker (default
	// 16×Workers). When it is full the poller waits: backpressure.
	Queue int
	// ReadBufferSize is the size of the pooled read buffers (default 32 KiB).
	ReadBufferSize int
	// HandshakeTimeout drops a connection that has not completed its
	// request head in time (default 10 s).
	HandshakeTimeout time.Duration
	// HeadEnd returns the length of a complete request head in buf, 0 if
	// it is not complete yet, or a refusal to send if it can never be.
	HeadEnd func(buf []byte) (n int, refuse []byte)
	// Decide answers a complete request head.
	Decide func(head []byte) Decision
	// Table tracks the open connections.
	Table  *wsconn.Table
	Logger *slog.Logger
	// Accepted and TimedOut, if set, are told of each accepted connection
	// and each one dropped for not finishing its handshake in time.
	Accepted, TimedOut func()
}

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

	hsMu      sync.Mutex
	handshake map[*conn]int64 // connections in their opening handshake → deadline
	hsStop    chan struct{}   // stops the handshake sweeper; nil when none runs

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
	size := cfg.ReadBufferSize
	e.bufs.New = func() any { b := make([]byte, size); return &b }
	ep, err := netpoll.EpollCreate(&netpoll.EpollConfig{OnWaitError: func(err error) {
		cfg.Logger.Error("ws4go netpoll: epoll_wait failed", "err", err)
	}})
	if err != nil {
		return nil, err
	}
	e.ep = ep
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
	e.hsMu.Lock()
	pending := make([]*conn, 0, len(e.handshake))
	for c := range e.handshake {
		pending = append(pending, c)
	}
	e.hsMu.Unlock()
	for _, c := range pending {
		c.requestClose(false)
	}
}

// Close drops the connections in their handshake and stops the poller and
// the workers. Every WebSocket connection must be gone already.
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
		e.DropHandshakes()
		e.hsMu.Lock()
		if e.hsStop != nil {
			close(e.hsStop)
			e.hsStop = nil
		}
		e.hsMu.Unlock()
		_ = e.ep.Close()
		close(e.queue)
		e.workers.Wait()
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
	ln := &listener{fd: fd, stop: make(chan struct{})}
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
		nfd, _, err := unix.Accept4(ln.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
			e.accept(nfd)
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

// accept starts the opening handshake of a new descriptor.
func (e *Engine) accept(fd int) {
	if e.cfg.Accepted != nil {
		e.cfg.Accepted()
	}
	c := &conn{e: e, fd: fd}
	e.hsMu.Lock()
	e.handshake[c] = time.Now().Add(e.cfg.HandshakeTimeout).UnixNano()
	if e.hsStop == nil {
		e.hsStop = make(chan struct{})
		go e.sweepHandshakes(e.hsStop)
	}
	e.hsMu.Unlock()
	if err := e.ep.Add(fd, readEvents, c.onEvent); err != nil {
		e.doneHandshake(c)
		_ = unix.Close(fd)
	}
}

func (e *Engine) doneHandshake(c *conn) {
	e.hsMu.Lock()
	delete(e.handshake, c)
	if len(e.handshake) == 0 && e.hsStop != nil {
		close(e.hsStop)
		e.hsStop = nil
	}
	e.hsMu.Unlock()
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
			e.hsMu.Lock()
			for c, d := range e.handshake {
				if now.UnixNano() > d {
					late = append(late, c)
				}
			}
			e.hsMu.Unlock()
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
	c.mu.Lock()
	if err := e.ep.Add(fd, readEvents, c.onEvent); err != nil {
		c.mu.Unlock()
		return err
	}
	c.open(mk, rest)
	c.finishProcessing()
	return nil
}
