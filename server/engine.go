package server

import (
	"cmp"
	"crypto/tls"
	"errors"
	"net"

	"github.com/ws4go/ws4go/internal/blocking"
	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/netpoll"
	"github.com/ws4go/ws4go/internal/wsconn"
	"github.com/ws4go/ws4go/observe"
)

func (s *Server) newEngine() engine {
	if s.Engine == EngineNetpoll || s.Engine == "" {
		cfg := netpoll.Config{
			Workers:          s.Workers,
			HandshakeTimeout: cmp.Or(s.handshakeTimeout(), -1), // 0 is netpoll's default, -1 none
			HeadEnd:          s.headEnd,
			Decide:           s.decideNetpoll,
			Table:            s.table,
			Logger:           s.logger(),
		}
		if o := s.Observer; o != nil {
			cfg.Accepted = o.Accepted
			cfg.TimedOut = func() { o.Rejected(observe.RejectTimeout) }
		}
		e, err := netpoll.New(cfg)
		if err == nil {
			return &netpollEngine{s: s, e: e}
		}
		if s.Engine == EngineNetpoll {
			s.logger().Error("ws4go: cannot start the netpoll engine; using the goroutine engine", "err", err)
		}
	}
	return goroutineEngine{s}
}

func (s *Server) headEnd(buf []byte) (int, []byte) {
	n, rej := handshake.HeadEnd(buf)
	if rej != nil {
		s.rejected(rej.Why)
		return 0, handshake.AppendRejection(nil, rej)
	}
	return n, nil
}

func (s *Server) decideNetpoll(head []byte, p netpoll.Peer) netpoll.Decision {
	if s.Accept != nil {
		// The accept hook may wait (on an auth backend): on a worker
		// it would hold up every connection once a few hooks wait.
		// The handshake goes to a goroutine of its own, as on the
		// goroutine engine, and the connection comes back to the
		// workers once accepted.
		return netpoll.Decision{Fallback: s.handshakeOffWorker}
	}
	d := s.decideHead(head, p, nil)
	switch {
	case d.fallback:
		return netpoll.Decision{Fallback: func(nc net.Conn, read []byte) { go s.serveFallback(nc, read) }}
	case d.factory == nil:
		return netpoll.Decision{Response: d.response}
	}
	// Without an accept hook (handled above) there is no request or
	// data from it: the connection parses its head on demand.
	headCopy := string(head)
	return netpoll.Decision{Response: d.response, Unsent: d.place.Release, Accept: func(tr wsconn.Transport) *wsconn.Conn {
		return s.newConn(tr, d.factory, d.place, d.res, nil, wsconn.Request{Head: headCopy})
	}}
}

// handshakeOffWorker answers a head the netpoll engine handed over (read:
// the bytes read so far) on a goroutine of its own, counted in s.wg before
// it starts, and gives an accepted connection back to the engine.
func (s *Server) handshakeOffWorker(nc net.Conn, read []byte) {
	if !s.trackHandshake(nc, true) {
		nc.Close()
		return
	}
	go func() {
		defer s.wg.Done()
		s.handshake(nc, read, s.engine.adopt)
	}()
}

// netpollEngine adapts the netpoll package to the server. Listeners it
// cannot take raw descriptors from (wrapped listeners, a tls.NewListener
// among them) are served by the goroutine engine; TLS with Server.TLSConfig
// runs on the engine (see serveTLS).
type netpollEngine struct {
	s *Server
	e *netpoll.Engine
}

func (n *netpollEngine) serveListener(l net.Listener) (bool, error) {
	if !netpoll.CanServe(l) {
		return false, nil
	}
	return true, n.e.ServeListener(l)
}

func (n *netpollEngine) stopListener(l net.Listener) { n.e.StopListener(l) }

func (n *netpollEngine) serve(nc net.Conn) { goroutineEngine{n.s}.serve(nc) }

func (n *netpollEngine) adopt(nc net.Conn, mk func(wsconn.Transport) *wsconn.Conn, rest []byte) {
	if err := n.e.Adopt(nc, mk, rest); err != nil {
		goroutineEngine{n.s}.adopt(nc, mk, rest)
	}
}

func (n *netpollEngine) dropHandshakes() { n.e.DropHandshakes() }

func (n *netpollEngine) close() { n.e.Close() }

// serveTLS runs the TLS handshake and the opening handshake of a TCP
// connection on a short-lived goroutine (crypto/tls cannot resume an
// interrupted handshake), then moves the connection onto the engine.
func (n *netpollEngine) serveTLS(nc net.Conn) {
	goroutineEngine{n.s}.serveWith(netpoll.TLSServer(blocking.BoundWrites(nc, n.s.wcfg.WriteTimeout), n.s.tlsCfg), n.runTLS)
}

func (n *netpollEngine) runTLS(nc net.Conn, mk func(wsconn.Transport) *wsconn.Conn, rest []byte) {
	switch err := n.e.AdoptTLS(nc.(*tls.Conn), mk, rest); {
	case errors.Is(err, net.ErrClosed): // the engine is closing
		nc.Close()
	case err != nil:
		goroutineEngine{n.s}.run(nc, mk, rest)
	}
}
