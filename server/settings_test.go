package server

import (
	"testing"
	"time"
)

// TestSettingsConvention: each size, count and duration of Server reaches
// the connections' configuration by one rule: zero is the documented
// default, negative is 0 (off, no bound), any other value itself.
func TestSettingsConvention(t *testing.T) {
	type setting struct {
		name string
		set  func(s *Server, v int64)
		get  func(s *Server) int64
		def  int64
	}
	for _, c := range []setting{
		{"MaxMessageSize", func(s *Server, v int64) { s.MaxMessageSize = v }, func(s *Server) int64 { return s.wcfg.MaxMessageSize }, DefaultMaxMessageSize},
		{"MaxWriteQueue", func(s *Server, v int64) { s.MaxWriteQueue = int(v) }, func(s *Server) int64 { return int64(s.wcfg.MaxWriteQueue) }, DefaultMaxWriteQueue},
		{"MaxBufferedBytes", func(s *Server, v int64) { s.MaxBufferedBytes = v }, func(s *Server) int64 { return s.wcfg.Budget.Max }, DefaultMaxBufferedBytes},
		{"MaxConnections", func(s *Server, v int64) { s.MaxConnections = int(v) }, func(s *Server) int64 { return int64(s.wcfg.MaxConns) }, DefaultMaxConnections},
		{"HandshakeTimeout", func(s *Server, v int64) { s.HandshakeTimeout = time.Duration(v) }, func(s *Server) int64 { return int64(s.handshakeTimeout()) }, int64(DefaultHandshakeTimeout)},
		{"CloseTimeout", func(s *Server, v int64) { s.CloseTimeout = time.Duration(v) }, func(s *Server) int64 { return int64(s.wcfg.CloseTimeout) }, int64(DefaultCloseTimeout)},
		{"WriteTimeout", func(s *Server, v int64) { s.WriteTimeout = time.Duration(v) }, func(s *Server) int64 { return int64(s.wcfg.WriteTimeout) }, int64(DefaultWriteTimeout)},
		{"PingInterval", func(s *Server, v int64) { s.PingInterval = time.Duration(v) }, func(s *Server) int64 { return int64(s.wcfg.PingInterval) }, int64(DefaultPingInterval)},
		{"PongTimeout", func(s *Server, v int64) { s.PongTimeout = time.Duration(v) }, func(s *Server) int64 { return int64(s.wcfg.PongTimeout) }, int64(DefaultPongTimeout)},
		{"MessageTimeout", func(s *Server, v int64) { s.MessageTimeout = time.Duration(v) }, func(s *Server) int64 { return int64(s.wcfg.MessageTimeout) }, int64(DefaultMessageTimeout)},
		{"IdleTimeout", func(s *Server, v int64) { s.IdleTimeout = time.Duration(v) }, func(s *Server) int64 { return int64(s.wcfg.IdleTimeout) }, 0},
	} {
		for v, want := range map[int64]int64{0: c.def, -1: 0, -5 << 30: 0, 7: 7} {
			s := &Server{Engine: EngineGoroutine}
			c.set(s, v)
			s.init()
			if got := c.get(s); got != want {
				t.Errorf("%s %d: %d, want %d", c.name, v, got, want)
			}
			s.Close()
		}
	}
}
