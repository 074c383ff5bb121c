package server

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ws4go/ws4go/internal/handshake"
)

// A ConfigError is a Server setting that cannot work, as Validate reports
// it.
type ConfigError struct {
	// Field is the Server field: "AllowedHosts".
	Field string
	// Value is the value refused; for a list or a map, the entry
	// ("10.0.0.0/99", or a Routes path).
	Value string
	// Want says what is expected instead, and why Value is not it.
	Want string
}

func (e *ConfigError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("ws4go: Server.%s: %s", e.Field, e.Want)
	}
	return fmt.Sprintf("ws4go: Server.%s %q: %s", e.Field, e.Value, e.Want)
}

// Validate returns a *ConfigError for the first of s's settings that
// cannot work: an unknown Engine, a Routes path without its leading "/"
// (it would never match a request) or a nil Routes factory, a subprotocol
// that is not an HTTP token, an OriginPatterns or AllowedHosts entry that
// does not parse (it would refuse every request it was meant to let in), a
// WriteQueueCloseCode an endpoint may not send, a negative Workers, or a
// TLSConfig without any certificate. Sizes, counts and durations are
// otherwise all valid: zero means the default, negative no limit.
//
// ListenAndServe and Serve return its error before they listen or accept;
// ServeHTTP and HTTPHandler's handlers answer 500 and log it once. Call it
// at start-up to fail before the first request when the Server is only
// mounted on a mux.
func (s *Server) Validate() error {
	bad := func(field, value, want string) error {
		return &ConfigError{Field: field, Value: value, Want: want}
	}
	switch s.Engine {
	case "", EngineGoroutine, EngineNetpoll:
	default:
		return bad("Engine", string(s.Engine), `want "netpoll" or "goroutine" (or "" for the platform's default)`)
	}
	for _, p := range slices.Sorted(maps.Keys(s.Routes)) {
		if !strings.HasPrefix(p, "/") {
			return bad("Routes", p, `want a path that starts with "/", as a request's path does (a route without one is never served)`)
		}
		if s.Routes[p] == nil {
			return bad("Routes", p, "want a handler.Factory, not nil")
		}
	}
	for _, p := range s.Subprotocols {
		if !handshake.IsToken(p) {
			return bad("Subprotocols", p, "want an HTTP token (RFC 6455 section 4.1): letters, digits and !#$%&'*+-.^_`|~, no spaces, commas or slashes")
		}
	}
	for _, p := range s.OriginPatterns {
		if err := handshake.CheckOriginPattern(p); err != nil {
			return bad("OriginPatterns", p, err.Error())
		}
	}
	for _, h := range s.AllowedHosts {
		if err := handshake.CheckHost(h); err != nil {
			return bad("AllowedHosts", h, err.Error())
		}
	}
	if c := s.WriteQueueCloseCode; c != 0 && !c.Valid() {
		return bad("WriteQueueCloseCode", fmt.Sprint(uint16(c)), "want a close code an endpoint may send: 1000–1003, 1007–1014 or 3000–4999 (0: 1008)")
	}
	if s.Workers < 0 {
		return bad("Workers", fmt.Sprint(s.Workers), "want a positive number of netpoll workers, or 0 for 4×GOMAXPROCS (the pool is always bounded)")
	}
	if c := s.TLSConfig; c != nil && len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil {
		return bad("TLSConfig", "", "want a certificate: Certificates, GetCertificate or GetConfigForClient (without one every TLS handshake fails)")
	}
	return nil
}
