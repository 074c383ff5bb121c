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
	// As Go does for its own TCP connections: small frames (a pong, a
	// short echo) must not wait for the peer's delayed ACK (Nagle).
	// On a Unix socket this fails harmlessly.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
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
