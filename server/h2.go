package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/ws4go/ws4go/observe"
)

// WebSocket over HTTP/2 (RFC 8441) on the standalone listener: a TLS
// connection whose ALPN chose "h2" is served by the fallback server's
// net/http HTTP/2, whose handler takes extended CONNECTs to the
// http.Handler path (serveStream) and everything else to s.HTTP.

// http2ALPN is HTTP/2's ALPN protocol ID.
const http2ALPN = "h2"

// The standalone listener's HTTP/2 bounds. A stream's unread input is held
// by net/http, within the flow-control windows it grants: at most
// H2StreamWindow per stream and H2ConnWindow per TCP connection, however
// many streams it carries. That memory is outside Server.MaxBufferedBytes:
// it is at most H2ConnWindow times the HTTP/2 connections open, which
// Server.MaxH2Connections bounds.
const (
	// H2StreamWindow is the receive window of each stream.
	H2StreamWindow = 64 << 10
	// H2ConnWindow is the receive window of each HTTP/2 connection,
	// shared by its streams: two streams that do not read fill it.
	H2ConnWindow = 128 << 10
	// H2MaxStreams is the most streams (WebSockets, and the page's
	// plain requests when Server.HTTP serves them) one HTTP/2
	// connection may have open at once: a page opens a few WebSockets,
	// not dozens. Each stream is a goroutine and net/http's state:
	// Server.MaxConnections bounds the WebSockets of all connections
	// together, which the descriptor limit no longer does.
	H2MaxStreams = 32
	// h2MaxFrame is the largest frame read (the protocol's minimum):
	// the read buffer of each connection.
	h2MaxFrame = 16 << 10
)

// offersH2 reports whether cfg's ALPN offers HTTP/2.
func offersH2(cfg *tls.Config) bool {
	return cfg != nil && slices.Contains(cfg.NextProtos, http2ALPN)
}

// http2Config is the fallback server's HTTP/2 configuration.
func (s *Server) http2Config() *http.HTTP2Config {
	return &http.HTTP2Config{
		MaxConcurrentStreams:          H2MaxStreams,
		MaxReceiveBufferPerStream:     H2StreamWindow,
		MaxReceiveBufferPerConnection: H2ConnWindow,
		MaxReadFrameSize:              h2MaxFrame,
		// A peer that takes none of the bytes queued for it loses
		// the connection, as a WebSocket does after WriteTimeout.
		WriteByteTimeout: s.writeTimeout(),
	}
}

// serveH2 serves an HTTP/2 connection (its TLS handshake done, dl the
// handshake's deadline) until it ends; held tells whether its place in
// MaxH2Connections is taken. Its requests were not counted as accepted
// connections: the TCP connection was.
func (s *Server) serveH2(tc *tls.Conn, dl time.Time, held bool) {
	if !held && !s.takeH2() {
		// A tls.NewListener of the user's: its ALPN could not be
		// steered to http/1.1.
		s.rejected(observe.RejectMaxH2Connections)
		s.logger().Debug("ws4go: MaxH2Connections reached; closing an HTTP/2 connection", "remote", tc.RemoteAddr())
		tc.NetConn().Close()
		return
	}
	c := &h2Conn{s: s, tc: tc, until: dl}
	if !dl.IsZero() {
		c.timer = time.AfterFunc(time.Until(dl), c.expire)
	}
	if !s.toFallback(tc, c) {
		c.end()
	}
}

// The bound on HTTP/2 connections (Server.MaxH2Connections) is kept at
// ALPN: during the TLS handshake, GetConfigForClient takes a place for a
// client that offers h2, and when none is left answers with a
// configuration without h2, so that the client speaks HTTP/1.1 (or, if it
// offers h2 alone, fails the handshake). The place is given back when the
// connection ends, or at once if ALPN did not choose h2 after all.

// errH2Full fails the TLS handshake of a client that offers only h2 when
// every MaxH2Connections place is taken.
var errH2Full = errors.New("ws4go: MaxH2Connections reached and the client offers h2 alone")

// h2Hello is what GetConfigForClient did in one TLS handshake; it reaches
// the callback through the handshake's context.
type h2Hello struct {
	held       bool // a MaxH2Connections place was taken
	downgraded bool // h2 was withdrawn: every place is taken
}

type h2HelloKey struct{}

// boundH2 makes cfg (which offers h2) keep MaxH2Connections, around the
// GetConfigForClient it may already have.
func (s *Server) boundH2(cfg *tls.Config) {
	if s.h2Most <= 0 {
		return
	}
	user := cfg.GetConfigForClient
	noH2 := withoutH2(cfg)
	noH2.GetConfigForClient = nil
	cfg.GetConfigForClient = func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
		var c *tls.Config
		if user != nil {
			var err error
			if c, err = user(hi); err != nil {
				return nil, err
			}
		}
		h, _ := hi.Context().Value(h2HelloKey{}).(*h2Hello)
		chosen := c
		if chosen == nil {
			chosen = cfg
		}
		if h == nil || h.held || !slices.Contains(hi.SupportedProtos, http2ALPN) || !offersH2(chosen) {
			return c, nil
		}
		if s.takeH2() {
			h.held = true
			return c, nil
		}
		h.downgraded = true
		if c != nil {
			c = withoutH2(c)
		} else {
			c = noH2
		}
		if len(c.NextProtos) > 0 && !slices.ContainsFunc(hi.SupportedProtos, func(p string) bool { return slices.Contains(c.NextProtos, p) }) {
			return nil, errH2Full
		}
		return c, nil
	}
}

// withoutH2 is a clone of cfg that does not offer h2.
func withoutH2(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	c.NextProtos = slices.DeleteFunc(slices.Clone(c.NextProtos), func(p string) bool { return p == http2ALPN })
	return c
}

// tlsHandshake runs tc's TLS handshake; held reports that it ended with
// ALPN h2 and a MaxH2Connections place taken for the connection.
func (s *Server) tlsHandshake(tc *tls.Conn) (held bool, err error) {
	if !offersH2(s.tlsCfg) || s.h2Most <= 0 {
		return false, tc.Handshake()
	}
	var h h2Hello
	err = tc.HandshakeContext(context.WithValue(context.Background(), h2HelloKey{}, &h))
	if h.held && (err != nil || tc.ConnectionState().NegotiatedProtocol != http2ALPN) {
		s.releaseH2()
		h.held = false
	}
	if h.downgraded && err == nil {
		s.rejected(observe.RejectMaxH2Connections)
	}
	return h.held, err
}

// takeH2 takes a MaxH2Connections place, or reports false if none is left.
func (s *Server) takeH2() bool {
	for {
		n := s.h2Conns.Load()
		if s.h2Most > 0 && n >= s.h2Most {
			return false
		}
		if s.h2Conns.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (s *Server) releaseH2() { s.h2Conns.Add(-1) }
