package handshake

import (
	"bytes"
	"net/url"
	"strconv"

	"github.com/ws4go/ws4go/observe"
)

// The raw head parser accepts exactly the request heads that net/http's
// server accepts (http.ReadRequest and the checks its conn.readRequest adds:
// valid header names, a valid Host, Host required by HTTP/1.1), so that a
// request is judged the same on the raw path and on the http.Handler path
// and user code always gets the *http.Request that ReadRequest builds. It is
// stricter in two ways RFC 9112 allows: a bare LF is not a line end (section
// 2.2) and obs-fold is refused (section 5.2). FuzzHsHeadVsReadRequest holds
// it to that.

// requestLine is the parsed first line of a head.
type requestLine struct {
	method, target []byte
	major, minor   int
	url            *url.URL
}

// headError refuses a malformed head.
func headError(text string) *Rejection { return Reject(observe.RejectMalformed, text) }

// fieldKind names the header fields the parser or the handshake reads.
type fieldKind uint8

const (
	fieldOther fieldKind = iota
	fieldHost
	fieldOrigin
	fieldUpgrade
	fieldConnection
	fieldTrailer
	fieldContentLength
	fieldTransferEncoding
	fieldKey
	fieldVersion
	fieldProtocol
	fieldExtensions
)

// kindOf classifies a field name: by length first, so that most names cost
// one comparison at most.
func kindOf(name []byte) fieldKind {
	var k fieldKind
	var want string
	switch len(name) {
	case 4:
		k, want = fieldHost, "host"
	case 6:
		k, want = fieldOrigin, "origin"
	case 7:
		k, want = fieldUpgrade, "upgrade"
		if name[0]|0x20 == 't' {
			k, want = fieldTrailer, "trailer"
		}
	case 10:
		k, want = fieldConnection, "connection"
	case 14:
		k, want = fieldContentLength, "content-length"
	case 17:
		k, want = fieldKey, "sec-websocket-key"
		if name[0]|0x20 == 't' {
			k, want = fieldTransferEncoding, "transfer-encoding"
		}
	case 21:
		k, want = fieldVersion, "sec-websocket-version"
	case 22:
		k, want = fieldProtocol, "sec-websocket-protocol"
	case 24:
		k, want = fieldExtensions, "sec-websocket-extensions"
	default:
		return fieldOther
	}
	if !bytes.EqualFold(name, []byte(want)) {
		return fieldOther
	}
	return k
}

// parseHead parses a complete request head (through its blank line, as
// HeadEnd delimits it) and calls field for each header field, the value
// without surrounding blanks. It allocates only the request's URL.
func parseHead(head []byte, field func(k fieldKind, name, value []byte)) (requestLine, *Rejection) {
	var rl requestLine
	line, rest, rej := cutLine(head)
	if rej != nil {
		return rl, rej
	}
	if rej := parseRequestLine(line, &rl); rej != nil {
		return rl, rej
	}
	var hosts, tes, nfields int
	var host, te, cl []byte
	var clSeen, trailer bool
	for {
		if line, rest, rej = cutLine(rest); rej != nil {
			return rl, rej
		}
		if len(line) == 0 {
			break
		}
		name, value, rej := parseField(line)
		if rej != nil {
			return rl, rej
		}
		nfields++
		k := kindOf(name)
		switch k {
		case fieldHost:
			hosts++
			host = value
		case fieldTransferEncoding:
			tes++
			te = value
		case fieldContentLength:
			// Differing lengths are a smuggling attempt.
			if clSeen && !bytes.Equal(cl, value) {
				return rl, headError("conflicting Content-Length headers")
			}
			clSeen, cl = true, value
		case fieldTrailer:
			trailer = true
		}
		field(k, name, value)
	}
	if len(rest) != 0 {
		return rl, headError("bytes after the head") // HeadEnd did not delimit it
	}
	switch {
	case hosts > 1:
		return rl, Reject(observe.RejectHost, "more than one Host header")
	case hosts == 1 && !validHost(host):
		return rl, Reject(observe.RejectHost, "malformed Host header")
	case hosts == 0 && (rl.major > 1 || rl.minor >= 1) && string(rl.method) != "CONNECT" && !(rl.major == 2 && nfields == 0):
		return rl, Reject(observe.RejectHost, "missing Host header")
	}
	if clSeen {
		if _, err := strconv.ParseUint(string(cl), 10, 63); err != nil {
			return rl, headError("bad Content-Length")
		}
	}
	// Transfer-Encoding is ignored on HTTP/1.0, as net/http does.
	chunked := false
	if tes > 0 && (rl.major > 1 || rl.minor >= 1) {
		if tes > 1 || !bytes.EqualFold(te, []byte("chunked")) {
			return rl, headError("unsupported Transfer-Encoding")
		}
		chunked = true
	}
	if chunked && trailer && badTrailer(head) {
		return rl, headError("bad Trailer key")
	}
	return rl, nil
}

// cutLine cuts a CRLF-terminated line off p; a bare LF is refused.
func cutLine(p []byte) (line, rest []byte, rej *Rejection) {
	i := bytes.IndexByte(p, '\n')
	if i < 1 || p[i-1] != '\r' {
		return nil, nil, headError("line not ended by CRLF")
	}
	return p[:i-1], p[i+1:], nil
}

// parseRequestLine parses "METHOD SP target SP HTTP/x.y" as http.ReadRequest
// does, with net/http's server's version rule.
func parseRequestLine(line []byte, rl *requestLine) *Rejection {
	method, rest, ok1 := bytes.Cut(line, []byte(" "))
	target, proto, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 || len(method) == 0 || !isToken(method) {
		return headError("malformed request line")
	}
	rl.method, rl.target = method, target
	switch string(proto) {
	case "HTTP/1.1":
		rl.major, rl.minor = 1, 1
	case "HTTP/1.0":
		rl.major, rl.minor = 1, 0
	default:
		if len(proto) != len("HTTP/x.y") || string(proto[:5]) != "HTTP/" || proto[6] != '.' || !isDigit(proto[5]) || !isDigit(proto[7]) {
			return headError("malformed HTTP version")
		}
		rl.major, rl.minor = int(proto[5]-'0'), int(proto[7]-'0')
	}
	raw := string(target)
	connect := string(method) == "CONNECT" && (len(raw) == 0 || raw[0] != '/')
	if connect {
		raw = "http://" + raw
	}
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		return headError("malformed request target")
	}
	if connect {
		u.Scheme = ""
	}
	rl.url = u
	// net/http's server speaks HTTP/1.x (and lets PRI * HTTP/2.0 through
	// for handlers that do h2c themselves; that head has no Host).
	if rl.major != 1 && !(rl.major == 2 && rl.minor == 0 && string(method) == "PRI" && raw == "*") {
		return Reject(observe.RejectHTTPVersion, "HTTP/1.1 is required")
	}
	return nil
}

// parseField splits a header line into a valid field name and value.
// Whitespace before the colon, obs-fold and control bytes are refused.
func parseField(line []byte) (name, value []byte, rej *Rejection) {
	if line[0] == ' ' || line[0] == '\t' {
		return nil, nil, headError("obs-fold or leading whitespace in a header line")
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok || len(name) == 0 || !isToken(name) {
		return nil, nil, headError("malformed header line")
	}
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return nil, nil, headError("control byte in a header value")
		}
	}
	return name, trimBlanks(value), nil
}

// badTrailer reports whether a Trailer header names a field that must not
// be a trailer (as net/http refuses it on a chunked request).
func badTrailer(head []byte) bool {
	_, rest, _ := cutLine(head)
	for {
		line, r, _ := cutLine(rest)
		if len(line) == 0 {
			return false
		}
		rest = r
		name, value, _ := parseField(line)
		if kindOf(name) != fieldTrailer {
			continue
		}
		for _, k := range bytes.Split(value, []byte(",")) {
			k = trimBlanks(k)
			if bytes.EqualFold(k, []byte("Transfer-Encoding")) || bytes.EqualFold(k, []byte("Trailer")) || bytes.EqualFold(k, []byte("Content-Length")) {
				return true
			}
		}
	}
}

func trimBlanks(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// IsToken reports whether s is an HTTP token (RFC 9110 section 5.6.2), as
// a subprotocol name must be (RFC 6455 section 4.1).
func IsToken(s string) bool { return s != "" && isToken(s) }

// isToken reports whether b is an RFC 9110 token.
func isToken[T ~string | ~[]byte](b T) bool {
	for i := 0; i < len(b); i++ {
		if !tokenByte[b[i]] {
			return false
		}
	}
	return true
}

// validHost is net/http's (httpguts.ValidHostHeader) lenient check of a
// Host header's bytes.
func validHost(h []byte) bool {
	for _, c := range h {
		if !hostByte[c] {
			return false
		}
	}
	return true
}

var tokenByte, hostByte [256]bool

func init() {
	for c := '0'; c <= '9'; c++ {
		tokenByte[c], hostByte[c] = true, true
	}
	for c := 'a'; c <= 'z'; c++ {
		tokenByte[c], hostByte[c] = true, true
		tokenByte[c-'a'+'A'], hostByte[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		tokenByte[c] = true
	}
	for _, c := range "!$%&()*+,-.:;=[']_~" {
		hostByte[c] = true
	}
}
