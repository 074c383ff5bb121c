package handshake

import (
	"net/netip"
	"strings"
)

// LoopbackHosts are the Host entries of a server that only loopback clients
// reach by name: localhost and the loopback addresses, on any port. A
// development server bound to loopback allows only these by default, so that
// a page whose name an attacker rebinds to 127.0.0.1 (DNS rebinding) is
// refused: its requests carry the attacker's name in Host.
var LoopbackHosts = []string{"localhost", "127.0.0.0/8", "::1/128"}

// HostAllowed reports whether a request's Host header (host[:port]) matches
// one of allowed; an empty list allows every host. An entry is
//
//   - "*": any host;
//   - an address prefix ("127.0.0.0/8", "::1/128"): IP-literal hosts in it;
//   - a host name or IP address with an optional port ("example.com",
//     "example.com:8443", "[::1]:9001", "::1"), the name possibly a
//     path.Match pattern ("*.example.com"): an entry without a port matches
//     any port. Names match without regard to case.
func HostAllowed(hostport string, allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	host, port := splitHostPort(hostport, "")
	ip, ipErr := netip.ParseAddr(host)
	for _, a := range allowed {
		switch {
		case a == "*":
			return true
		case strings.Contains(a, "/"):
			if p, err := netip.ParsePrefix(a); err == nil && ipErr == nil && p.Contains(ip.Unmap()) {
				return true
			}
			continue
		}
		ah, ap := splitHostPort(a, "")
		if ap != "" && ap != port {
			continue
		}
		if aip, err := netip.ParseAddr(ah); err == nil {
			if ipErr == nil && aip.Unmap() == ip.Unmap() {
				return true
			}
			continue
		}
		if ok, _ := pathMatchFold(ah, host); ok {
			return true
		}
	}
	return false
}
