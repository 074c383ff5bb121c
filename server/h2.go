package server

import (
	"crypto/tls"
	"net/http"
	"slices"
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
// it is at most H2ConnWindow times the HTTP/2 connections open.
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

// serveH2 serves an HTTP/2 connection (its TLS handshake done) until it
// ends. Its requests were not counted as accepted connections: the TCP
// connection was.
func (s *Server) serveH2(tc *tls.Conn) { s.toFallback(tc, true) }
