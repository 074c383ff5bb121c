package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws4go/ws4go/internal/blocking"
	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/observe"
)

// fallback serves the plain HTTP requests that reach the standalone
// listener (s.HTTP), and the HTTP/2 connections ALPN chose (see serveH2),
// with a net/http server fed through a channel.
type fallback struct {
	srv    *http.Server
	conns  chan net.Conn
	done   chan struct{}
	once   sync.Once
	shut   sync.Once
	served sync.WaitGroup
	// h2 is set once an HTTP/2 connection was served; shutDone is
	// closed when the graceful shutdown has ended every connection.
	h2       atomic.Bool
	shutDone chan struct{}
	// held are the connections net/http holds (until it closes or
	// hijacks them), which close drops (see close), each with its
	// h2Conn if it is an HTTP/2 connection (nil otherwise).
	mu   sync.Mutex
	held map[net.Conn]*h2Conn
}

func (s *Server) serveFallback(nc net.Conn, read []byte) {
	s.toFallback(&prefixConn{Conn: nc, read: read}, nil)
}

// toFallback hands nc (with h2: an HTTP/2 connection) to the fallback
// server, started on first use. It reports false if the server closed nc
// instead (shutting down).
func (s *Server) toFallback(nc net.Conn, h2 *h2Conn) bool {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		return false
	}
	fb := s.fallback
	if fb == nil {
		fb = &fallback{
			held:     map[net.Conn]*h2Conn{},
			conns:    make(chan net.Conn),
			done:     make(chan struct{}),
			shutDone: make(chan struct{}),
		}
		fb.srv = &http.Server{
			Handler: s.fallbackHandler(),
			// The same bounds as the raw path's: a later
			// request on a keep-alive connection may be an
			// upgrade too.
			MaxHeaderBytes:    handshake.MaxHeadSize,
			ReadHeaderTimeout: s.handshakeTimeout(),
			ReadTimeout:       fallbackReadTimeout,
			// Keep-alive connections between requests are
			// not WebSocket connections: do not hold them
			// forever.
			IdleTimeout: fallbackIdleTimeout,
			HTTP2:       s.http2Config(),
			ConnContext: fb.connContext,
			ConnState:   fb.connState,
		}
		s.fallback = fb
		fb.served.Add(1)
		go func() {
			defer fb.served.Done()
			_ = fb.srv.Serve(fb)
		}()
	}
	s.mu.Unlock()
	if h2 != nil {
		fb.h2.Store(true)
	}
	fb.hold(nc, h2)
	select {
	case fb.conns <- nc:
		return true
	case <-fb.done:
		fb.forget(nc) // the caller ends h2
		nc.Close()
		return false
	}
}

// connContext is the fallback server's ConnContext: an HTTP/2
// connection's requests carry its *h2Conn, and a plain one's its TLS state
// (see tlsStateContext).
func (fb *fallback) connContext(ctx context.Context, nc net.Conn) context.Context {
	fb.mu.Lock()
	c := fb.held[nc]
	fb.mu.Unlock()
	if c != nil {
		return context.WithValue(ctx, h2ConnKey{}, c)
	}
	return tlsStateContext(ctx, nc)
}

// hold records that net/http holds nc, an HTTP/2 connection if h2 is not
// nil.
func (fb *fallback) hold(nc net.Conn, h2 *h2Conn) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.held[nc] = h2
}

// connState is the fallback server's ConnState: a connection closed or
// hijacked is no longer net/http's, and an HTTP/2 connection's h2Conn ends
// when net/http is done with it.
func (fb *fallback) connState(nc net.Conn, st http.ConnState) {
	if st == http.StateClosed || st == http.StateHijacked {
		if c := fb.forget(nc); c != nil {
			c.end()
		}
	}
}

// forget stops tracking nc and returns its h2Conn, if it had one.
func (fb *fallback) forget(nc net.Conn) *h2Conn {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	c := fb.held[nc]
	delete(fb.held, nc)
	return c
}

// fallbackIdleTimeout closes plain HTTP keep-alive connections that wait
// this long for their next request; fallbackReadTimeout bounds the reading
// of a whole plain HTTP request, body included.
const (
	fallbackIdleTimeout = time.Minute
	fallbackReadTimeout = time.Minute
)

// fallbackHandler is s.HTTP, except that a later request on a keep-alive
// connection may still be a WebSocket upgrade: it is routed as decide routes
// a first request.
func (s *Server) fallbackHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			// A TLS connection handed over with the bytes read
			// ahead is not a *tls.Conn to net/http.
			r.TLS, _ = r.Context().Value(tlsStateKey{}).(*tls.ConnectionState)
		}
		// An HTTP/2 connection's clock stops while the stream runs
		// (see h2Conn).
		h2, _ := r.Context().Value(h2ConnKey{}).(*h2Conn)
		h2.begin()
		served := false
		defer func() { h2.finish(served) }()
		// (Without s.HTTP only HTTP/2 connections come here: their
		// requests are all answered as WebSocket handshakes, as
		// decideHead answers a head.)
		if s.HTTP != nil && s.plainHTTP(r.URL.Path, handshake.WantsWebSocket(r)) {
			if !handshake.HostAllowed(r.Host, s.AllowedHosts) {
				s.refuseHTTP(w, handshake.Reject(observe.RejectHostNotAllowed, "host not allowed"))
				return
			}
			served = true
			s.HTTP.ServeHTTP(w, r)
			return
		}
		f, _ := s.route(r.URL.Path)
		served = s.upgradeHTTP(w, r, f, false)
	})
}

// Accept implements net.Listener for the fallback server.
func (fb *fallback) Accept() (net.Conn, error) {
	select {
	case nc := <-fb.conns:
		return nc, nil
	case <-fb.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (fb *fallback) Close() error {
	fb.once.Do(func() { close(fb.done) })
	return nil
}

// Addr implements net.Listener.
func (fb *fallback) Addr() net.Addr { return &net.TCPAddr{} }

// shutdown stops the fallback server taking connections and starts its
// graceful shutdown: HTTP/2 connections get GOAWAY and close once their
// streams (WebSockets, which Shutdown sends 1001) have ended. close ends
// what is left.
func (fb *fallback) shutdown() {
	fb.Close()
	fb.shut.Do(func() {
		fb.served.Add(1)
		go func() {
			defer fb.served.Done()
			// It returns when every connection is idle or
			// closed: close closes the rest.
			_ = fb.srv.Shutdown(context.Background())
			close(fb.shutDone)
		}()
	})
}

// settle waits, until done fires or at most bound, for the graceful
// shutdown to end the HTTP/2 connections: a stream's END_STREAM is written
// after its handler returned (and so after the server's WaitGroup let go),
// and closing the connection at once could cut it off. (net/http closes a
// connection whose last stream ended after GOAWAY within a second; bound
// stops a plain HTTP/2 request that does not end from holding Shutdown.)
func (fb *fallback) settle(done <-chan struct{}, bound time.Duration) {
	if !fb.h2.Load() {
		return
	}
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-fb.shutDone:
	case <-done:
	case <-t.C:
	}
}

// close drops every connection net/http still holds and waits for its
// goroutines. The sockets go first: net/http's Close of a TLS connection
// sends close_notify, which waits for crypto/tls's write lock, held as long
// as a peer likes by a write crypto/tls makes while reading (its answer to
// a KeyUpdate; see package blocking).
func (fb *fallback) close() {
	fb.Close()
	fb.mu.Lock()
	for nc := range fb.held {
		blocking.Abort(nc)
	}
	fb.mu.Unlock()
	_ = fb.srv.Close()
	fb.served.Wait()
	// net/http's connection goroutines end after Close returns: their
	// timers and places are released now.
	fb.mu.Lock()
	cs := fb.held
	fb.held = map[net.Conn]*h2Conn{}
	fb.mu.Unlock()
	for _, c := range cs {
		if c != nil {
			c.end()
		}
	}
}

// tlsStateKey holds, in a request's context, the TLS state of the
// connection (a prefixConn over a *tls.Conn) that carried it.
type tlsStateKey struct{}

// tlsStateContext is the fallback server's ConnContext: it keeps the TLS
// state of a connection net/http cannot see is TLS.
func tlsStateContext(ctx context.Context, nc net.Conn) context.Context {
	if pc, ok := nc.(*prefixConn); ok {
		if tc, ok := pc.Conn.(*tls.Conn); ok {
			st := tc.ConnectionState()
			return context.WithValue(ctx, tlsStateKey{}, &st)
		}
	}
	return ctx
}

// prefixConn replays the bytes read while looking for a WebSocket upgrade.
type prefixConn struct {
	net.Conn
	read []byte
}

// NetConn returns the connection c wraps, as tls.Conn's does: a
// WebSocket upgraded on it finds the TLS layer under it.
func (c *prefixConn) NetConn() net.Conn { return c.Conn }

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.read) > 0 {
		n := copy(p, c.read)
		c.read = c.read[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
