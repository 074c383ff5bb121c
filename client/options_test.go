package client

import (
	"testing"
	"time"
)

// TestOptionsConvention: each size and duration of Options reaches the
// connection by the server's rule: zero is the documented default,
// negative is 0 (off, no bound), any other value itself.
func TestOptionsConvention(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(o *Options, v int64)
		get  func(o *Options) int64
		def  int64
	}{
		{"MaxMessageSize", func(o *Options, v int64) { o.MaxMessageSize = v }, func(o *Options) int64 { return o.connConfig().MaxMessageSize }, DefaultMaxMessageSize},
		{"CloseTimeout", func(o *Options, v int64) { o.CloseTimeout = time.Duration(v) }, func(o *Options) int64 { return int64(o.connConfig().CloseTimeout) }, int64(DefaultCloseTimeout)},
		{"PingInterval", func(o *Options, v int64) { o.PingInterval = time.Duration(v) }, func(o *Options) int64 { return int64(o.connConfig().PingInterval) }, int64(DefaultPingInterval)},
		{"PongTimeout", func(o *Options, v int64) { o.PongTimeout = time.Duration(v) }, func(o *Options) int64 { return int64(o.connConfig().PongTimeout) }, int64(DefaultPongTimeout)},
	} {
		for v, want := range map[int64]int64{0: c.def, -1: 0, -5 << 30: 0, 7: 7} {
			var o Options
			c.set(&o, v)
			if got := c.get(&o); got != want {
				t.Errorf("%s %d: %d, want %d", c.name, v, got, want)
			}
		}
	}
}
