package server

import (
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/ws4go/ws4go/internal/blocking"
	"github.com/ws4go/ws4go/internal/netpoll"
)

// ListenAndServe listens on s.Addr (":http" if empty) and serves until
// Shutdown or Close: Listen, then Serve. An invalid setting (see Validate)
// is returned before it listens.
func (s *Server) ListenAndServe() error {
	l, err := s.Listen()
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Listen checks the settings (Validate) and listens on s.Addr (":http" if
// empty), for a program that wants the bound address before it serves,
// such as the port the system chose for Addr "127.0.0.1:0": l.Addr() tells
// it, and Serve(l) serves l.
func (s *Server) Listen() (l net.Listener, err error) {
	s.init()
	if s.invalid != nil {
		return nil, s.invalid
	}
	if s.closing.Load() {
		return nil, ErrServerClosed
	}
	addr := s.Addr
	if addr == "" {
		addr = ":http"
	}
	return net.Listen("tcp", addr)
}

// Serve accepts connections on l until Shutdown or Close, and closes l.
// Requests that are not WebSocket upgrades go to s.HTTP. With TLSConfig
// set, l is a plain TCP or Unix listener and Serve speaks TLS on it. An
// invalid setting (see Validate) is returned at once. Serve logs
// "ws4go: serving" with l's address, the scheme (ws or wss) and the engine
// at the Logger's Info level.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	if s.invalid != nil {
		l.Close()
		return s.invalid
	}
	serve, engine := s.engine.serve, "goroutine"
	n, netpolled := s.engine.(*netpollEngine)
	if netpolled && netpoll.CanServe(l) {
		engine = "netpoll"
	}
	scheme := "ws"
	if s.tlsCfg != nil {
		scheme = "wss"
		if engine == "netpoll" {
			serve = n.serveTLS
		} else {
			serve = func(nc net.Conn) {
				s.engine.serve(tls.Server(blocking.BoundWrites(nc, s.wcfg.WriteTimeout), s.tlsCfg))
			}
		}
	}
	if !s.trackListener(&l, true) {
		l.Close()
		return ErrServerClosed
	}
	defer s.trackListener(&l, false)
	s.logger().Info("ws4go: serving", "addr", l.Addr().String(), "network", l.Addr().Network(), "scheme", scheme, "engine", engine)
	if ls, ok := s.engine.(interface {
		serveListener(net.Listener) (bool, error)
	}); ok && s.tlsCfg == nil {
		if handled, err := ls.serveListener(l); handled {
			if s.closing.Load() {
				return ErrServerClosed
			}
			return err
		}
	}
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTemporary(err)) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger().Warn("ws4go: accept error; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		serve(nc)
	}
}

// errTemporary classifies accept errors worth retrying (out of file
// descriptors, aborted connections) by returning err itself for them.
func errTemporary(err error) error {
	type temporary interface{ Temporary() bool }
	if t, ok := err.(temporary); ok && t.Temporary() {
		return err
	}
	return errNotTemporary
}

var errNotTemporary = errors.New("not temporary")

func (s *Server) trackListener(l *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closing.Load() {
			return false
		}
		s.listeners[l] = struct{}{}
	} else {
		delete(s.listeners, l)
	}
	return true
}

// trackHandshake records connections still in their opening handshake, so
// Shutdown and Close can drop them. Adding nc also counts the goroutine
// that runs its handshake in s.wg (which calls s.wg.Done when it ends),
// under s.mu: a Shutdown either finds the server closing here (false:
// nothing was added) or waits for that goroutine.
func (s *Server) trackHandshake(nc net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closing.Load() {
			return false
		}
		s.handshakes[nc] = struct{}{}
		s.wg.Add(1)
	} else {
		delete(s.handshakes, nc)
	}
	return true
}
