package handshake

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ws4go/ws4go/observe"
)

// hsAttackHeads are request heads an attacker sends; the committed corpus of
// FuzzHsHeadVsReadRequest holds them and more.
var hsAttackHeads = []string{
	"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	"GET /ws%zz HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n foo\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a\r\nhost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost : a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a\r\nX-A: a\x7fb\r\nX-B: a\rb\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a b\r\n\r\n",
	"GET /ws HTTP/1.1\r\n\r\n",
	"GET /ws HTTP/1.0\r\n\r\n",
	"GET /ws HTTP/2.0\r\nHost: a\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\n",
	"PRI * HTTP/2.0\r\nX: y\r\n\r\n",
	"CONNECT a:443 HTTP/1.1\r\n\r\n",
	"GET http://b:81/ws?x HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
	"get /ws HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET  /ws HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /ws HTTP/1.1 \r\nHost: a\r\n\r\n",
	"GET /ws\tHTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /ws HTTP/1.1\r\n Host: a\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
	"GET /ws HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X, content-length\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\nX: \t v \t\r\n: empty\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a\r\nX-\xff: v\r\nY: \xff\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: [::1]:9001\r\nSec-WebSocket-Extensions: a\r\nSec-WebSocket-Extensions: b\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("a:b\r\n", 1600) + "\r\n",
}

func FuzzHsHeadVsReadRequest(f *testing.F) {
	for _, h := range hsAttackHeads {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, rej := HeadEnd(data)
		if n == 0 && rej == nil {
			data = append(data, "\r\n\r\n"...)
			n, rej = HeadEnd(data)
		}
		if rej != nil {
			return // too large: the raw path refuses it before parsing
		}
		hsCompareHead(t, data[:n])
	})
}

// hsCompareHead checks that parseHead accepts head if and only if net/http's
// server would (but for bare LF and obs-fold, which only parseHead
// refuses), with the same method, target, Host and header values, and that
// the raw path and the http.Handler path then answer the handshake alike.
func hsCompareHead(t *testing.T, head []byte) {
	type kv struct{ k, v string }
	var mine []kv
	rl, rej := parseHead(head, func(_ fieldKind, name, value []byte) {
		mine = append(mine, kv{textproto.CanonicalMIMEHeaderKey(string(name)), string(value)})
	})
	req, mime, err := hsNetHTTPRead(head)
	switch {
	case rej == nil && err != nil:
		t.Fatalf("parseHead accepts what net/http refuses (%v):\n%q", err, head)
	case rej != nil && err == nil:
		if !hsBareLFOrObsFold(head) {
			t.Fatalf("parseHead refuses (%v) what net/http accepts:\n%q", rej, head)
		}
		return
	case rej != nil:
		return
	}
	if string(rl.method) != req.Method || string(rl.target) != req.RequestURI {
		t.Fatalf("request line %q %q, net/http %q %q", rl.method, rl.target, req.Method, req.RequestURI)
	}
	got := map[string][]string{}
	for _, f := range mine {
		got[f.k] = append(got[f.k], f.v)
	}
	// The header as net/http read it, before ReadRequest's rewrites
	// (Host removed, Content-Length deduplicated...).
	for k, vs := range mime {
		if !slices.Equal(got[k], vs) {
			t.Fatalf("header %q: %q, net/http %q\n%q", k, got[k], vs, head)
		}
	}
	for k := range got {
		if _, ok := mime[k]; !ok {
			t.Fatalf("header %q: %q, net/http has none\n%q", k, got[k], head)
		}
	}
	// Both front ends answer the handshake alike.
	cfg := &Config{
		Subprotocols:   []string{"b", "a"},
		OriginPatterns: []string{"*.example.com", "https://x.example.org"},
		AllowedHosts:   []string{"a", "127.0.0.0/8", "[::1]:9001", "*.example.com"},
		Negotiate: func(offer string) (string, error) {
			first, _, _ := strings.Cut(offer, ",")
			return strings.TrimSpace(first), nil
		},
	}
	var h Head
	if rej := h.Parse(head); rej != nil {
		t.Fatalf("Parse refuses what parseHead accepts: %v", rej)
	}
	if h.Host() != req.Host {
		t.Fatalf("Host %q, net/http %q", h.Host(), req.Host)
	}
	res1, rej1 := h.Check(cfg)
	res2, rej2 := CheckRequest(req, cfg)
	switch {
	case (rej1 == nil) != (rej2 == nil):
		t.Fatalf("raw path %v, http.Handler path %v\n%q", rej1, rej2, head)
	case rej1 != nil && rej1.Why != rej2.Why:
		t.Fatalf("raw path %v, http.Handler path %v\n%q", rej1, rej2, head)
	case rej1 == nil && !reflect.DeepEqual(res1, res2):
		t.Fatalf("raw path %+v, http.Handler path %+v\n%q", res1, res2, head)
	}
}

// hsNetHTTPRead reads head as net/http's server does: http.ReadRequest,
// then the checks of its conn.readRequest (copied here independently of
// head.go), on the header as textproto reads it (ReadRequest drops Host
// from its Header). It fails if ReadRequest took fewer bytes than the head.
func hsNetHTTPRead(head []byte) (*http.Request, textproto.MIMEHeader, error) {
	br := bufio.NewReader(bytes.NewReader(head))
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	if br.Buffered() != 0 {
		return nil, nil, errHs("request ended before the head")
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
	if _, err := tp.ReadLine(); err != nil {
		return nil, nil, err
	}
	mime, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, nil, err
	}
	if err := hsServerChecks(req, mime); err != nil {
		return nil, nil, err
	}
	return req, mime, nil
}

// hsServerChecks are the checks net/http's conn.readRequest adds.
func hsServerChecks(req *http.Request, header textproto.MIMEHeader) error {
	if req.ProtoMajor != 1 && !(req.ProtoMajor == 2 && req.ProtoMinor == 0 && req.Method == "PRI" && req.RequestURI == "*") {
		return errHs("unsupported protocol version")
	}
	hosts, haveHost := header["Host"]
	h2 := req.Method == "PRI" && len(header) == 0 && req.URL.Path == "*" && req.Proto == "HTTP/2.0"
	if req.ProtoAtLeast(1, 1) && (!haveHost || len(hosts) == 0) && !h2 && req.Method != "CONNECT" {
		return errHs("missing required Host header")
	}
	const hostBytes = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!$%&()*+,-.:;=[']_~"
	if len(hosts) == 1 && strings.Trim(hosts[0], hostBytes) != "" {
		return errHs("malformed Host header")
	}
	const tokenBytes = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%&'*+-.^_`|~"
	for k, vs := range header {
		if k == "" || strings.Trim(k, tokenBytes) != "" {
			return errHs("invalid header name")
		}
		for _, v := range vs {
			for _, c := range []byte(v) {
				if c < ' ' && c != '\t' || c == 0x7f {
					return errHs("invalid header value")
				}
			}
		}
	}
	return nil
}

type errHs string

func (e errHs) Error() string { return string(e) }

// hsBareLFOrObsFold reports whether head has a line ended by a bare LF or
// a header line continued by obs-fold.
func hsBareLFOrObsFold(head []byte) bool {
	for i, c := range head {
		if c == '\n' && (i == 0 || head[i-1] != '\r') {
			return true
		}
	}
	return bytes.Contains(head, []byte("\n ")) || bytes.Contains(head, []byte("\n\t"))
}

// TestHsStrictHead pins the verdicts on the attack heads: each is refused
// with 400 before any user code runs (CheckOrigin would panic otherwise).
func TestHsStrictHead(t *testing.T) {
	cfg := &Config{CheckOrigin: func(r *http.Request) bool {
		if r == nil {
			panic("CheckOrigin got a nil request")
		}
		return true
	}}
	for i, h := range hsAttackHeads {
		hsCompareHead(t, []byte(h))
		_, rej := CheckHead([]byte(h), cfg)
		if i == 0 {
			if rej != nil {
				t.Errorf("%q: %v, want it accepted", h, rej)
			}
			continue
		}
		if rej == nil || rej.Status() != 400 {
			t.Errorf("%q: %v, want 400", h, rej)
		}
	}
	for _, h := range hsAttackHeads[1:7] { // NUL, %, obs-fold, bare LF, two Hosts, space before colon
		if _, rej := CheckHead([]byte(h), cfg); rej == nil || rej.Why != observe.RejectMalformed && rej.Why != observe.RejectHost {
			t.Errorf("%q: %v, want a malformed-request refusal", h, rej)
		}
	}
}

// TestHsOriginPanic: a panic in CheckOrigin is a 500 refusal carrying the
// panic, not a crash.
func TestHsOriginPanic(t *testing.T) {
	cfg := &Config{CheckOrigin: func(*http.Request) bool { panic("boom") }}
	_, rej := CheckHead([]byte(hsAttackHeads[0]), cfg)
	if rej == nil || rej.Why != observe.RejectPanic || rej.Status() != 500 || rej.Panic != "boom" || len(rej.Stack) == 0 {
		t.Fatalf("%+v, want a 500 refusal with the panic", rej)
	}
}
