package deflate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// This file is the one reading and writing of permessage-deflate
// parameters (RFC 7692 section 7) for both ends: the server answers offers
// with Negotiate, the client formats its offer and checks the answer with
// ParseExtensions and ParseParameters.

// Name is the extension's token.
const Name = "permessage-deflate"

// NoValue is ClientMaxWindowBits in an offer that names
// client_max_window_bits without a value (RFC 7692 7.1.2.2: the client can
// take a limit the server chooses).
const NoValue = -1

// Parameters are the parameters of one permessage-deflate offer or answer.
// The zero value is the bare extension.
type Parameters struct {
	ServerNoContextTakeover bool
	ClientNoContextTakeover bool
	// ServerMaxWindowBits is 8 to 15, or 0 when absent.
	ServerMaxWindowBits int
	// ClientMaxWindowBits is 8 to 15, 0 when absent, or NoValue (offers
	// only).
	ClientMaxWindowBits int
}

// Extension is one element of a Sec-WebSocket-Extensions list.
type Extension struct {
	Name   string
	Params []Param
}

// Param is one parameter of an Extension.
type Param struct {
	Name, Value string
	HasValue    bool
}

// Offer formats p as a client's offer. The client's own parameters come
// first, as the client has always sent them.
func (p Parameters) Offer() string { return p.format(true) }

// Answer formats p as a server's answer. The server's own parameters come
// first, as Response has always had them.
func (p Parameters) Answer() string { return p.format(false) }

func (p Parameters) format(clientFirst bool) string {
	type param struct {
		name string
		on   bool
		bits int // window bits: NoValue, 0 (absent) or 8 to 15
	}
	params := [...]param{
		{"server_no_context_takeover", p.ServerNoContextTakeover, 0},
		{"client_no_context_takeover", p.ClientNoContextTakeover, 0},
		{"server_max_window_bits", p.ServerMaxWindowBits != 0, p.ServerMaxWindowBits},
		{"client_max_window_bits", p.ClientMaxWindowBits != 0, p.ClientMaxWindowBits},
	}
	if clientFirst {
		params[0], params[1], params[2], params[3] = params[1], params[0], params[3], params[2]
	}
	var b strings.Builder
	b.WriteString(Name)
	for _, prm := range params {
		if !prm.on {
			continue
		}
		b.WriteString("; ")
		b.WriteString(prm.name)
		if prm.bits > 0 {
			b.WriteString("=")
			b.WriteString(strconv.Itoa(prm.bits))
		}
	}
	return b.String()
}

// ParseParameters checks the parameters of one permessage-deflate offer
// (answer false) or answer (RFC 7692 section 7): each of the four at most
// once; the two no_context_takeover ones without a value; the window bits
// 8 to 15, where an offer's client_max_window_bits may have no value and
// an answer's window bits must have one. The error says what is wrong.
func ParseParameters(e Extension, answer bool) (Parameters, error) {
	var p Parameters
	var seen [4]bool
	for _, prm := range e.Params {
		var i int
		switch prm.Name {
		case "server_no_context_takeover":
			i = 0
		case "client_no_context_takeover":
			i = 1
		case "server_max_window_bits":
			i = 2
		case "client_max_window_bits":
			i = 3
		default:
			return Parameters{}, fmt.Errorf("unknown parameter %q", prm.Name)
		}
		if seen[i] {
			return Parameters{}, fmt.Errorf("duplicate parameter %s", prm.Name)
		}
		seen[i] = true
		if i < 2 {
			if prm.HasValue {
				return Parameters{}, fmt.Errorf("%s takes no value, got %q", prm.Name, prm.Value)
			}
			if i == 0 {
				p.ServerNoContextTakeover = true
			} else {
				p.ClientNoContextTakeover = true
			}
			continue
		}
		bits := NoValue
		if prm.HasValue || answer || i == 2 {
			var ok bool
			if bits, ok = ParseWindowBits(prm.Value); !prm.HasValue || !ok {
				return Parameters{}, fmt.Errorf("%s must be 8 to 15, got %q", prm.Name, prm.Value)
			}
		}
		if i == 2 {
			p.ServerMaxWindowBits = bits
		} else {
			p.ClientMaxWindowBits = bits
		}
	}
	return p, nil
}

// ParseWindowBits parses the value of server_max_window_bits or
// client_max_window_bits, in an offer or an answer: "8" to "15", nothing
// else (RFC 7692 sections 7.1.2.1 and 7.1.2.2: a decimal integer in that
// range, without sign or leading zeros).
func ParseWindowBits(v string) (int, bool) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 8 || n > 15 || v != strconv.Itoa(n) {
		return 0, false
	}
	return n, true
}

// ParseExtensions parses Sec-WebSocket-Extensions values (RFC 6455 section
// 9.1): a comma-separated list of extension tokens, each followed by
// ";"-separated parameters with an optional token or quoted-string value.
// Several header lines form one list; empty list elements are skipped
// (RFC 9110 5.6.1).
func ParseExtensions(vs []string) ([]Extension, error) {
	s := strings.Join(vs, ",")
	i := 0
	ows := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	token := func() string {
		j := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		return s[j:i]
	}
	var exts []Extension
	for {
		ows()
		if i == len(s) {
			return exts, nil
		}
		if s[i] == ',' {
			i++
			continue
		}
		e := Extension{Name: token()}
		if e.Name == "" {
			return nil, fmt.Errorf("unexpected %q at offset %d", s[i], i)
		}
		ows()
		for i < len(s) && s[i] == ';' {
			i++
			ows()
			p := Param{Name: token()}
			if p.Name == "" {
				return nil, fmt.Errorf("missing parameter name at offset %d", i)
			}
			ows()
			if i < len(s) && s[i] == '=' {
				i++
				ows()
				p.HasValue = true
				if i < len(s) && s[i] == '"' {
					v, n, err := unquote(s[i:])
					if err != nil {
						return nil, err
					}
					i += n
					p.Value = v
					// RFC 6455 9.1: once unescaped, a quoted value
					// must still be a token.
					if v == "" || strings.IndexFunc(v, func(r rune) bool { return r > 0x7f || !isTokenChar(byte(r)) }) >= 0 {
						return nil, fmt.Errorf("quoted value %q of %s is not a token", v, p.Name)
					}
				} else if p.Value = token(); p.Value == "" {
					return nil, fmt.Errorf("missing value of %s", p.Name)
				}
				ows()
			}
			e.Params = append(e.Params, p)
		}
		if i < len(s) && s[i] != ',' {
			return nil, fmt.Errorf("unexpected %q at offset %d", s[i], i)
		}
		exts = append(exts, e)
	}
}

// unquote decodes the quoted-string at the start of s; n is its length.
func unquote(s string) (v string, n int, err error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), i + 1, nil
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c < ' ' && c != '\t', c == 0x7f:
			return "", 0, errors.New("control character in quoted string")
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errors.New("unterminated quoted string")
}

// isTokenChar reports whether c is a tchar (RFC 9110 5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
