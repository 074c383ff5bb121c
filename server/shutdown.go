package server

import (
	"context"
	"net"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/blocking"
)

// Shutdown stops the server gracefully: it closes the listeners, refuses new
// handshakes, sends every connection a close frame 1001 ("going away"), and
// waits until they have all closed or ctx ends; then it drops whatever is
// left and releases everything. It returns ctx's error if ctx ended first.
// Until ctx's deadline, a peer that has not answered the 1001 is waited for
// even past CloseTimeout (without a deadline, CloseTimeout applies).
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.stopAccepting()
	until, _ := ctx.Deadline()
	s.table.Drain(handler.CloseGoingAway, "server shutting down", until)
	var err error
	if !s.table.Wait(ctx.Done()) {
		err = ctx.Err()
	}
	if !s.release(ctx.Done(), true) && err == nil {
		err = ctx.Err()
	}
	return err
}

// Close drops every connection at once, without closing handshakes, and
// releases everything. It waits for the goroutines of handshakes in
// progress at most HandshakeTimeout: an accept hook that ignores its
// request's context (which Close ends) is not waited for longer.
func (s *Server) Close() error {
	s.init()
	s.stopAccepting()
	var bound <-chan struct{}
	if d := s.handshakeTimeout(); d > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		bound = ctx.Done()
	}
	s.release(bound, false)
	return nil
}

func (s *Server) stopAccepting() {
	s.closing.Store(true)
	s.stop()
	s.mu.Lock()
	for l := range s.listeners {
		if sl, ok := s.engine.(interface{ stopListener(net.Listener) }); ok {
			sl.stopListener(*l)
		}
		(*l).Close()
	}
	for nc := range s.handshakes {
		// Not a TLS connection's Close: it would send close_notify,
		// waiting on the peer with s.mu held.
		blocking.Abort(nc)
	}
	fb := s.fallback
	s.mu.Unlock()
	if fb != nil {
		fb.shutdown()
	}
	if d, ok := s.engine.(interface{ dropHandshakes() }); ok {
		d.dropHandshakes()
	}
}

// release drops every connection, waits for the server's goroutines until
// done fires (nil: no bound) and closes the engine; graceful, it also waits
// for the HTTP/2 connections' graceful end. It reports whether the
// goroutines ended: one still in an accept hook finds the server closing
// when the hook returns, and refuses its handshake.
func (s *Server) release(done <-chan struct{}, graceful bool) bool {
	s.table.TerminateAll()
	ended := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(ended)
	}()
	ok := true
	select {
	case <-ended:
	case <-done:
		ok = false
	}
	s.mu.Lock()
	fb := s.fallback
	s.mu.Unlock()
	if fb != nil {
		if graceful && ok {
			fb.settle(done, s.wcfg.CloseTimeout)
		}
		fb.close()
	}
	s.engine.close()
	return ok
}
