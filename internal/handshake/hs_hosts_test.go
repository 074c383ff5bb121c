package handshake

import "testing"

func TestHsHostAllowed(t *testing.T) {
	for _, c := range []struct {
		host    string
		allowed []string
		want    bool
	}{
		{"anything.example", nil, true},
		{"anything.example", []string{"*"}, true},
		{"localhost", LoopbackHosts, true},
		{"LOCALHOST:9001", LoopbackHosts, true},
		{"127.0.0.1", LoopbackHosts, true},
		{"127.8.9.10:80", LoopbackHosts, true},
		{"[::1]:9001", LoopbackHosts, true},
		{"[::1]", LoopbackHosts, true},
		{"[::ffff:127.0.0.1]:1", LoopbackHosts, true},
		{"evil.example:9001", LoopbackHosts, false},
		{"localhost.evil.example", LoopbackHosts, false},
		{"127.0.0.1.evil.example", LoopbackHosts, false},
		{"127.evil.example", LoopbackHosts, false},
		{"10.0.0.1", LoopbackHosts, false},
		{"[::2]", LoopbackHosts, false},
		{"app.example.com", []string{"*.example.com"}, true},
		{"app.example.com:8443", []string{"*.example.com:8443"}, true},
		{"app.example.com:8444", []string{"*.example.com:8443"}, false},
		{"example.com", []string{"*.example.com"}, false},
		{"[::1]:9001", []string{"[::1]:9001"}, true},
		{"[0:0::1]:9001", []string{"::1"}, true},
	} {
		if got := HostAllowed(c.host, c.allowed); got != c.want {
			t.Errorf("HostAllowed(%q, %q) = %v, want %v", c.host, c.allowed, got, c.want)
		}
	}
}
