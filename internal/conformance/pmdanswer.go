package conformance

import (
	"fmt"
	"strconv"
	"strings"
)

// pmdParams are the parameters of a permessage-deflate answer
// (RFC 7692 §7.1); a window size of 0 means the parameter is absent.
type pmdParams struct {
	serverNoContext, clientNoContext bool
	serverMaxWindow, clientMaxWindow int
}

// parseDeflateAnswer parses a Sec-WebSocket-Extensions response header. It
// reports whether permessage-deflate was accepted, with its parameters. An
// answer naming another extension, naming permessage-deflate twice, or with
// a parameter that is unknown, repeated or has an invalid value, is an
// error (RFC 7692 §5, §7.1: the client must then fail the connection).
func parseDeflateAnswer(ans string) (bool, pmdParams, error) {
	ok, p, err := parseAnswer(ans)
	if err != nil {
		return false, pmdParams{}, err
	}
	return ok, p, nil
}

func parseAnswer(ans string) (bool, pmdParams, error) {
	var p pmdParams
	if strings.TrimSpace(ans) == "" {
		return false, p, nil
	}
	exts := strings.Split(ans, ",")
	if len(exts) > 1 {
		return false, p, fmt.Errorf("server accepted %d extensions (%q), the client uses only permessage-deflate", len(exts), ans)
	}
	parts := strings.Split(exts[0], ";")
	if name := strings.TrimSpace(parts[0]); name != "permessage-deflate" {
		return false, p, fmt.Errorf("server accepted extension %q, which the client does not support", name)
	}
	seen := map[string]bool{}
	for _, prm := range parts[1:] {
		k, v, hasValue := strings.Cut(prm, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if hasValue && len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if seen[k] {
			return false, p, fmt.Errorf("permessage-deflate answer repeats %s", k)
		}
		seen[k] = true
		switch k {
		case "server_no_context_takeover", "client_no_context_takeover":
			if hasValue {
				return false, p, fmt.Errorf("permessage-deflate answer gives %s a value", k)
			}
			if k == "server_no_context_takeover" {
				p.serverNoContext = true
			} else {
				p.clientNoContext = true
			}
		case "server_max_window_bits", "client_max_window_bits":
			n, err := strconv.Atoi(v)
			if !hasValue || err != nil || n < 8 || n > 15 || v != strconv.Itoa(n) {
				return false, p, fmt.Errorf("permessage-deflate answer has %s=%q, want a value in 8..15", k, v)
			}
			if k == "server_max_window_bits" {
				p.serverMaxWindow = n
			} else {
				p.clientMaxWindow = n
			}
		default:
			return false, p, fmt.Errorf("permessage-deflate answer has unknown parameter %q", strings.TrimSpace(prm))
		}
	}
	return true, p, nil
}
