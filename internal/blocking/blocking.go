// Package blocking is the blocking transport of a WebSocket connection: a
// net.Conn read by a goroutine of its own and written with blocking writes.
// The server's goroutine engine runs it over TCP, TLS and HTTP/2 streams
// (and so does every server path that ends on a blocking socket: the
// http.Handler path, a connection the netpoll engine could not adopt); the
// client runs it over TCP, TLS, Unix sockets and HTTP/2 streams.
//
// One read loop, one write path, one flusher lifecycle; what differs between
// the ends is in Config:
//
//   - Writes. The server's Conn defers writes on a socket without a raw
//     descriptor (TLS, an HTTP/2 stream) to a flusher goroutine, and writes a
//     raw one without waiting, leaving the rest to the flusher. A client
//     (Config.Sync) writes everything before Write returns, on every socket.
//   - WriteTimeout means "no progress for this long" everywhere: per 16 KiB
//     chunk on TLS and HTTP/2 streams, per wait for the socket on a raw
//     descriptor (re-armed on each partial progress). No write deadline is
//     left set once a write is done: a passed deadline resets an idle HTTP/2
//     stream.
//   - crypto/tls writes on the reading goroutine's behalf, from inside
//     tls.Conn.Read (a KeyUpdate answer, an alert), holding its write lock:
//     those writes are bounded too (see arm).
//   - Termination never waits on the peer: closing a TLS connection closes
//     its socket, without close_notify (which would wait for crypto/tls's
//     write lock, held by a write the peer may block for as long as it
//     wants). The graceful end sends close_notify in Shutdown.
//   - Shutdown half-closes (the FIN, or END_STREAM, follows the close frame)
//     and reads on for Config.Linger: the server (0) discards what already
//     arrived and closes; the client reads until the server closes the
//     connection (RFC 6455 7.1.1), at most its CloseTimeout.
package blocking

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ws4go/ws4go/internal/wsconn"
)

// Config is what a Transport needs from its owner. One serves every
// connection of the owner; it must not change once used.
type Config struct {
	// WriteTimeout bounds every write that makes no progress: each chunk
	// of a write to TLS or an HTTP/2 stream, each wait for a raw socket,
	// and, within twice it (thrice if a send waits behind it), each write
	// crypto/tls makes while reading. Zero: no bound.
	WriteTimeout time.Duration
	// Sync makes Write write everything before it returns, on every
	// socket (the client's Send returns once its frame is on the
	// socket); Blocking is then true. Without it, a raw socket is
	// written without waiting and the Conn queues the rest for a
	// flusher, and only the flusher writes other sockets.
	Sync bool
	// Linger is how long the reading goroutine reads on after Shutdown,
	// until the peer closes: zero (the server) discards what already
	// arrived and closes; negative reads on until the peer closes,
	// however long (a client whose CloseTimeout has no bound).
	Linger time.Duration
	// Flushers counts the flusher goroutines. None starts once the
	// reading goroutine has ended (Run returned), so an owner that waits
	// for Run and then for Flushers waits for every goroutine of its
	// connections.
	Flushers *sync.WaitGroup
	// Soon, if set, takes a Conn on a raw socket whose queue a publish
	// left to be written soon (wsconn's FlushSoon), with the right to
	// write: the owner's shared flushers write it, as the netpoll
	// engine's workers do. Without it (and on other sockets), a flusher
	// of the connection's own does.
	Soon func(*wsconn.Conn)
}

// ReadBufSize is the read buffer of a connection, held while it runs.
const ReadBufSize = 4 << 10

// ReadBufs holds read buffers of ReadBufSize; the server's handshakes
// borrow them too.
var ReadBufs = sync.Pool{New: func() any { b := make([]byte, ReadBufSize); return &b }}

// Transport is a blocking socket as a wsconn.Transport.
type Transport struct {
	nc    net.Conn
	cfg   *Config
	c     *wsconn.Conn
	rc    syscall.RawConn // the socket's descriptor (plain TCP or Unix): nil for TLS and HTTP/2 streams
	tc    *tls.Conn       // nc's TLS layer (nc itself, or under a wrapper), if any
	raw   net.Conn        // the innermost connection: what Close closes
	rawRC syscall.RawConn // raw's descriptor under TLS, if it has one (see readTLS)
	flush interface{ Flush() error }
	// flushing: a flusher goroutine holds the right to write (a raw
	// socket's writes may then wait).
	flushing atomic.Bool
	resume   chan struct{} // ResumeRead wakes the reading goroutine
	wmu      sync.Mutex    // held during a Sync write (see WaitWrite)

	mu      sync.Mutex
	ended   bool      // Run has ended: no flusher starts
	writing bool      // a write's deadline is set (see beginWrite)
	armed   time.Time // TLS: the write deadline of crypto/tls's writes during the reader's Read (see arm); zero while idle
	until   time.Time // after Shutdown: when reading ends (zero: not shut down)
	werr    error     // the reading goroutine found crypto/tls's write failed
}

// New makes the Transport of nc and, with mk, its Conn.
func New(nc net.Conn, cfg *Config, mk func(wsconn.Transport) *wsconn.Conn) (*Transport, *wsconn.Conn) {
	t := &Transport{nc: nc, cfg: cfg, resume: make(chan struct{}, 1)}
	t.tc, t.raw = layers(nc)
	if t.tc == nil {
		t.rc = rawConnOf(nc)
	} else {
		t.rawRC = rawConnOf(t.raw)
	}
	t.flush, _ = nc.(interface{ Flush() error })
	t.c = mk(t)
	return t, t.c
}

// layers finds the TLS layer of nc, if any, through wrappers that tell
// what they wrap (NetConn), and the innermost connection.
func layers(nc net.Conn) (*tls.Conn, net.Conn) {
	var tc *tls.Conn
	for {
		if c, ok := nc.(*tls.Conn); ok && tc == nil {
			tc = c
		}
		w, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return tc, nc
		}
		nc = w.NetConn()
	}
}

// Run is the reading goroutine: it feeds rest (bytes read during the
// handshake), then what the socket delivers, to the Conn until either
// ends, and finishes the Conn. The Conn must have been started.
func (t *Transport) Run(rest []byte) {
	c := t.c
	reading := true
	// pend is what was read but not fed yet: the bytes after a message
	// whose callback held input (see wsconn.Conn.HoldRead), fed once the
	// hold ends, before anything more is read.
	pend := t.feed(rest, &reading)
	bp := ReadBufs.Get().(*[]byte)
	buf := *bp
	var err error
	for len(pend) > 0 || err == nil {
		// Input waits while output does (see wsconn.Conn.ReadPaused):
		// a peer that does not read is held back by TCP.
		for c.ReadPaused() {
			<-t.resume
		}
		if len(pend) > 0 {
			pend = t.feed(pend, &reading)
			continue
		}
		var n int
		n, err = t.read(buf)
		pend = t.feed(buf[:n], &reading)
	}
	ReadBufs.Put(bp)
	if t.shutDown() && errors.Is(err, os.ErrDeadlineExceeded) {
		// What the peer sent meanwhile: closing with unread input
		// would make the kernel send a reset, which can destroy the
		// close frame still in flight.
		drain(t.raw)
	}
	t.raw.Close()
	t.mu.Lock()
	werr := t.werr
	t.mu.Unlock()
	switch {
	case werr != nil:
		c.WriteFailed(werr)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed):
		c.ReadEnded(io.EOF)
	default:
		c.ReadEnded(err)
	}
	c.Finish()
	t.mu.Lock()
	t.ended = true
	t.mu.Unlock()
}

// feed feeds p to the Conn while it wants input (reading), and returns
// what a hold left of p.
func (t *Transport) feed(p []byte, reading *bool) []byte {
	if len(p) == 0 || !*reading {
		return nil
	}
	n, ok := t.c.FeedUntilHeld(p)
	*reading = ok
	// A large message's buffer is not kept for the connection's
	// lifetime between messages.
	t.c.ReleaseIdle()
	if !ok {
		return nil
	}
	return p[n:]
}

// read reads from the socket; it returns an error only when reading ends.
func (t *Transport) read(p []byte) (int, error) {
	if t.tc == nil || t.cfg.WriteTimeout <= 0 {
		return t.nc.Read(p)
	}
	return t.readTLS(p)
}

// shutDown reports whether Shutdown has been called.
func (t *Transport) shutDown() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.until.IsZero()
}

// lingerOver reports whether Shutdown's time to read on has passed.
func (t *Transport) lingerOver() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.until.IsZero() && !time.Now().Before(t.until)
}

// Blocking implements wsconn.Transport: Write may wait for the socket.
func (t *Transport) Blocking() bool { return t.cfg.Sync || t.rc == nil }

// WaitWritable implements wsconn.Transport: it flushes on a goroutine of
// its own, counted in Config.Flushers, which only starts while the reading
// goroutine has not ended: a sender that asks later finds the connection
// gone, with nothing to flush.
func (t *Transport) WaitWritable() {
	t.mu.Lock()
	if t.ended {
		t.mu.Unlock()
		return
	}
	t.cfg.Flushers.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.cfg.Flushers.Done()
		t.flushing.Store(true)
		t.c.Flush()
		t.flushing.Store(false)
	}()
}

// FlushSoon implements wsconn's optional soonFlusher (see Config.Soon).
// As for WaitWritable, nothing starts once the reading goroutine has ended.
func (t *Transport) FlushSoon() {
	if t.rc == nil || t.cfg.Sync || t.cfg.Soon == nil {
		t.WaitWritable()
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.ended {
		t.cfg.Soon(t.c)
	}
}

// Shutdown implements wsconn.Transport: it half-closes the connection (the
// FIN, END_STREAM or close_notify follows the close frame) and has the
// reading goroutine read on for Linger (see Config), then close.
func (t *Transport) Shutdown() {
	cw, ok := t.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		t.Close()
		return
	}
	linger := t.cfg.Linger
	if linger < 0 {
		linger = forever
	}
	t.mu.Lock()
	t.until = time.Now().Add(linger)
	_ = t.nc.SetReadDeadline(t.readDeadlineLocked())
	t.mu.Unlock()
}

// forever is a negative Linger: a time to read on that does not pass, and
// that a deadline can still be set to.
const forever = 100 * 365 * 24 * time.Hour

// ResumeRead implements wsconn.Transport: it wakes the reading goroutine
// waiting for ReadPaused to end.
func (t *Transport) ResumeRead() {
	select {
	case t.resume <- struct{}{}:
	default:
	}
}

// Close implements wsconn.Transport. It never waits on the peer (see
// Abort).
func (t *Transport) Close() { t.raw.Close() }

// Abort closes nc without waiting on its peer: a TLS connection's socket is
// closed under crypto/tls, without close_notify, which would wait for
// crypto/tls's write lock (see the package doc). What was reading or
// writing nc returns.
func Abort(nc net.Conn) {
	_, raw := layers(nc)
	raw.Close()
}

// LocalAddr implements wsconn.Transport.
func (t *Transport) LocalAddr() net.Addr { return t.nc.LocalAddr() }

// RemoteAddr implements wsconn.Transport.
func (t *Transport) RemoteAddr() net.Addr { return t.nc.RemoteAddr() }

var _ wsconn.Transport = (*Transport)(nil)
