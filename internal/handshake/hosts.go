package handshake

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
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
//
// An entry CheckHost refuses matches nothing.
func HostAllowed(hostport string, allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	host, port := splitHostPort(hostport, "")
	ip, ipErr := netip.ParseAddr(host)
	for _, a := range allowed {
		e, err := parseHost(a)
		if err != nil {
			continue
		}
		switch {
		case e.any:
			return true
		case e.prefix.IsValid():
			if ipErr == nil && e.prefix.Contains(ip.Unmap()) {
				return true
			}
			continue
		case e.port != "" && e.port != port:
			continue
		case e.ip.IsValid():
			if ipErr == nil && e.ip.Unmap() == ip.Unmap() {
				return true
			}
			continue
		}
		if ok, _ := pathMatchFold(e.name, host); ok {
			return true
		}
	}
	return false
}

// CheckHost returns an error saying what is expected if a is not an entry
// HostAllowed can match anything with.
func CheckHost(a string) error {
	e, err := parseHost(a)
	if err == nil && e.name != "" {
		if _, err := pathMatchFold(e.name, ""); err != nil {
			return fmt.Errorf("%s: %v", wantHost, err)
		}
	}
	return err
}

// hostEntry is an entry of an allowed-hosts list, parsed: one of any,
// prefix, ip or name is set.
type hostEntry struct {
	any    bool
	prefix netip.Prefix
	ip     netip.Addr
	name   string // a path.Match pattern
	port   string // "": any
}

const wantHost = `want "*", an address prefix (10.0.0.0/8) or a host name or address with an optional port (example.com, *.example.com, [::1]:9001)`

func parseHost(a string) (hostEntry, error) {
	if a == "*" {
		return hostEntry{any: true}, nil
	}
	if strings.Contains(a, "/") {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return hostEntry{}, fmt.Errorf("%s: %v", wantHost, err)
		}
		return hostEntry{prefix: p.Masked()}, nil
	}
	host, port := splitHostPort(a, "")
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return hostEntry{}, fmt.Errorf("%s: port %q is not a number from 1 to 65535", wantHost, port)
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return hostEntry{ip: ip, port: port}, nil
	}
	if host == "" || strings.ContainsAny(host, " \t:") || strings.HasPrefix(a, "[") {
		return hostEntry{}, errors.New(wantHost)
	}
	return hostEntry{name: host, port: port}, nil
}
