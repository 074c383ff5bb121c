package handshake

import (
	"strings"
	"testing"
)

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

// TestHsCheckHost: CheckHost refuses, saying what it wants, the entries
// that could never match (so HostAllowed would refuse every request they
// were meant to let in), and accepts every form HostAllowed matches.
func TestHsCheckHost(t *testing.T) {
	for _, ok := range []string{"*", "localhost", "127.0.0.0/8", "::1/128", "10.0.0.1/8", "example.com:8443", "[::1]:9001", "::1", "*.example.com", "app[0-9].example.com"} {
		if err := CheckHost(ok); err != nil {
			t.Errorf("CheckHost(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "10.0.0.0/99", "http://example.com", "example.com:http", "example.com:0", "example.com:65536", ":9001", "exa mple.com", "[bad", "*.example.com\\"} {
		err := CheckHost(bad)
		if err == nil || !strings.HasPrefix(err.Error(), "want ") {
			t.Errorf("CheckHost(%q) = %v, want an error saying what it wants", bad, err)
			continue
		}
		if HostAllowed("example.com", []string{bad}) {
			t.Errorf("HostAllowed matched the refused entry %q", bad)
		}
	}
}
