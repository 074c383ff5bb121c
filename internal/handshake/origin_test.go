package handshake

import "testing"

func TestOriginAllowed(t *testing.T) {
	for _, c := range []struct {
		origin, host string
		patterns     []string
		want         bool
	}{
		{"http://example.com", "example.com", nil, true},
		{"http://EXAMPLE.com", "example.com", nil, true},
		{"http://example.com:80", "example.com", nil, true},
		{"http://example.com", "example.com:80", nil, true},
		{"https://example.com", "example.com:443", nil, true},
		{"https://example.com:443", "example.com", nil, true},
		{"https://example.com", "example.com:80", nil, false},
		{"http://example.com", "example.com:443", nil, false},
		{"http://example.com:8080", "example.com", nil, false},
		{"http://127.0.0.1:9001", "127.0.0.1:9001", nil, true},
		{"http://127.0.0.1:1", "127.0.0.1:9001", nil, false},
		{"http://[::1]:9001", "[::1]:9001", nil, true},
		{"http://[::1]", "[::1]:80", nil, true},
		{"http://evil.example", "example.com", nil, false},
		{"http://example.com.evil.example", "example.com", nil, false},
		{"null", "example.com", nil, false},
		{"http://app.example.com", "api.example.com", []string{"*.example.com"}, true},
		{"http://app.example.org", "api.example.com", []string{"*.example.com"}, false},
	} {
		if got := originAllowed(c.origin, c.host, c.patterns); got != c.want {
			t.Errorf("origin %q, host %q, patterns %q: %v, want %v", c.origin, c.host, c.patterns, got, c.want)
		}
	}
}
