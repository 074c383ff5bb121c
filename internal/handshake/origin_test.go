package handshake

import (
	"strings"
	"testing"
)

func TestOriginAllowed(t *testing.T) {
	for _, c := range []struct {
		origin, host string
		tls          bool
		patterns     []string
		want         bool
	}{
		{"http://example.com", "example.com", false, nil, true},
		{"http://EXAMPLE.com", "example.com", false, nil, true},
		{"http://example.com:80", "example.com", false, nil, true},
		{"http://example.com", "example.com:80", false, nil, true},
		{"https://example.com", "example.com:443", false, nil, true},
		{"https://example.com:443", "example.com", false, nil, true},
		{"https://example.com", "example.com:80", false, nil, false},
		{"http://example.com", "example.com:443", false, nil, false},
		{"http://example.com:8080", "example.com", false, nil, false},
		{"http://127.0.0.1:9001", "127.0.0.1:9001", false, nil, true},
		{"http://127.0.0.1:1", "127.0.0.1:9001", false, nil, false},
		{"http://[::1]:9001", "[::1]:9001", false, nil, true},
		{"http://[::1]", "[::1]:80", false, nil, true},
		{"http://evil.example", "example.com", false, nil, false},
		{"http://example.com.evil.example", "example.com", false, nil, false},
		{"null", "example.com", false, nil, false},
		{"http://app.example.com", "api.example.com", false, []string{"*.example.com"}, true},
		{"http://app.example.org", "api.example.com", false, []string{"*.example.com"}, false},
		// Over TLS only a secure origin of the same host is same-origin.
		{"https://example.com", "example.com", true, nil, true},
		{"http://example.com", "example.com", true, nil, false},
		{"http://example.com:443", "example.com", true, nil, false},
		// A plain endpoint accepts both: TLS may end at a proxy.
		{"https://example.com", "example.com", false, nil, true},
		// Patterns with a scheme match it; without, any scheme.
		{"https://app.example.com", "api.example.com", false, []string{"https://*.example.com"}, true},
		{"http://app.example.com", "api.example.com", false, []string{"https://*.example.com"}, false},
		{"HTTPS://app.example.com", "api.example.com", true, []string{"https://*.example.com"}, true},
		{"http://app.example.com", "api.example.com", true, []string{"*.example.com"}, true},
		{"https://app.example.com:8443", "api.example.com", false, []string{"https://*.example.com:8443"}, true},
		{"https://evil.example/app.example.com", "api.example.com", false, []string{"https://*.example.com"}, false},
	} {
		if got := originAllowed(c.origin, c.host, c.tls, c.patterns); got != c.want {
			t.Errorf("origin %q, host %q, tls %v, patterns %q: %v, want %v", c.origin, c.host, c.tls, c.patterns, got, c.want)
		}
	}
}

func TestCheckOriginPattern(t *testing.T) {
	for _, ok := range []string{"example.com", "*.example.com:8443", "https://*.example.com", "[a-c].example.com"} {
		if err := CheckOriginPattern(ok); err != nil {
			t.Errorf("CheckOriginPattern(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "[bad", "https://", "://example.com", "https://example.com/", "example.com/app", "*\\"} {
		if err := CheckOriginPattern(bad); err == nil || !strings.HasPrefix(err.Error(), "want ") {
			t.Errorf("CheckOriginPattern(%q) = %v, want an error saying what it wants", bad, err)
		}
	}
}

func TestIsToken(t *testing.T) {
	for s, want := range map[string]bool{"chat.v1": true, "mqtt": true, "a-b_c~!#$%&'*+^`|": true, "": false, "a b": false, "a,b": false, "a/b": false, "é": false, "a\x7f": false} {
		if got := IsToken(s); got != want {
			t.Errorf("IsToken(%q) = %v", s, got)
		}
	}
}
