package handshake

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ws4go/ws4go/internal/deflate"
	"github.com/ws4go/ws4go/observe"
)

// The handshake's checks at their home: every verdict of RFC 6455 section
// 4.2.1 and of the server's policy, on the raw path (CheckHead, Head) and,
// wherever net/http would let the request reach a handler, on the
// http.Handler path (CheckRequest) too: both must answer alike.

// rfcKey and rfcAccept are the example of RFC 6455 section 1.3.
const (
	rfcKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// okFields are the fields of a minimal valid opening handshake.
var okFields = []string{
	"Host: example.com",
	"Upgrade: websocket",
	"Connection: Upgrade",
	"Sec-WebSocket-Key: " + rfcKey,
	"Sec-WebSocket-Version: 13",
}

// reqHead builds a request head from its request line and fields.
func reqHead(line string, fields ...string) []byte {
	var b strings.Builder
	b.WriteString(line + "\r\n")
	for _, f := range fields {
		b.WriteString(f + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// okWith is okFields without the fields named in drop (by their name
// before the colon, case-insensitively), then extra.
func okWith(drop []string, extra ...string) []string {
	var out []string
	for _, f := range okFields {
		name, _, _ := strings.Cut(f, ":")
		if !slices.ContainsFunc(drop, func(d string) bool { return strings.EqualFold(d, name) }) {
			out = append(out, f)
		}
	}
	return append(out, extra...)
}

// getHead is a GET of /ws with fields.
func getHead(fields ...string) []byte { return reqHead("GET /ws HTTP/1.1", fields...) }

// accepted is the want of a case the handshake accepts.
const accepted = observe.Reason(255)

// checkBoth checks head on the raw path and, if net/http's server accepts
// it (hsNetHTTPRead; only the raw path refuses bare LF and obs-fold), on
// the http.Handler path, and fails unless both give want (accepted: no
// rejection). It returns the raw path's answer.
func checkBoth(t *testing.T, head []byte, cfg *Config, want observe.Reason) (*Result, *Rejection) {
	t.Helper()
	res, rej := CheckHead(head, cfg)
	if got := verdict(rej); got != want {
		t.Errorf("raw path: %v, want %v\n%q", rej, reasonName(want), head)
	}
	if rej == nil && res.Accept != AcceptKey(keyOf(head)) {
		t.Errorf("Sec-WebSocket-Accept %q, want AcceptKey of the request's key", res.Accept)
	}
	if r, _, err := hsNetHTTPRead(head); err == nil && !hsBareLFOrObsFold(head) {
		res2, rej2 := CheckRequest(r, cfg)
		if got := verdict(rej2); got != want {
			t.Errorf("http.Handler path: %v, want %v\n%q", rej2, reasonName(want), head)
		}
		if rej == nil && rej2 == nil && (res.Subprotocol != res2.Subprotocol || res.Extensions != res2.Extensions || res.Accept != res2.Accept) {
			t.Errorf("raw path %+v, http.Handler path %+v", res, res2)
		}
	}
	return res, rej
}

func verdict(rej *Rejection) observe.Reason {
	if rej == nil {
		return accepted
	}
	return rej.Why
}

func reasonName(r observe.Reason) string {
	if r == accepted {
		return "accepted"
	}
	return fmt.Sprintf("%s (%d)", r, r.Status())
}

// keyOf is the value of the head's (last) Sec-WebSocket-Key field.
func keyOf(head []byte) string {
	key := ""
	for _, l := range strings.Split(string(head), "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Sec-WebSocket-Key") {
			key = strings.TrimSpace(v)
		}
	}
	return key
}

// TestCheckRFCExample: the handshake of RFC 6455 section 1.3 is accepted
// with the Sec-WebSocket-Accept the RFC gives.
func TestCheckRFCExample(t *testing.T) {
	t.Parallel()
	res, _ := checkBoth(t, getHead(okFields...), &Config{}, accepted)
	if res == nil || res.Accept != rfcAccept || res.Subprotocol != "" || res.Extensions != "" {
		t.Fatalf("%+v, want Accept %q and nothing else", res, rfcAccept)
	}
	if got := AcceptKey(rfcKey); got != rfcAccept {
		t.Fatalf("AcceptKey = %q, want %q", got, rfcAccept)
	}
}

// TestCheckVerdicts: one head per rule of RFC 6455 4.2.1 and of the policy,
// each with the reason (and so the status) it gets on both paths.
func TestCheckVerdicts(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		head []byte
		want observe.Reason
	}{
		// The request line.
		{"POST", reqHead("POST /ws HTTP/1.1", okFields...), observe.RejectMethod},
		{"HEAD", reqHead("HEAD /ws HTTP/1.1", okFields...), observe.RejectMethod},
		{"HTTP/1.0", reqHead("GET /ws HTTP/1.0", okFields...), observe.RejectHTTPVersion},
		{"HTTP/1.2 is HTTP/1.1 or later", reqHead("GET /ws HTTP/1.2", okFields...), accepted},
		{"HTTP/2.0 on the wire", reqHead("GET /ws HTTP/2.0", okFields...), observe.RejectHTTPVersion},
		{"HTTP/3.0", reqHead("GET /ws HTTP/3.0", okFields...), observe.RejectHTTPVersion},
		{"lower-case method", reqHead("get /ws HTTP/1.1", okFields...), observe.RejectMethod},

		// Host (RFC 6455 4.2.1 item 2).
		{"no Host", getHead(okWith([]string{"Host"})...), observe.RejectHost},
		{"empty Host", getHead(okWith([]string{"Host"}, "Host: ")...), observe.RejectHost},
		{"two Hosts", getHead(okWith(nil, "Host: example.org")...), observe.RejectHost},
		{"malformed Host", getHead(okWith([]string{"Host"}, "Host: a b")...), observe.RejectHost},
		{"host with port", getHead(okWith([]string{"Host"}, "Host: example.com:9001")...), accepted},
		{"IPv6 host", getHead(okWith([]string{"Host"}, "Host: [::1]:9001")...), accepted},

		// Upgrade (item 3) and Connection (item 4).
		{"no Upgrade", getHead(okWith([]string{"Upgrade"})...), observe.RejectNotUpgrade},
		{"Upgrade h2c", getHead(okWith([]string{"Upgrade"}, "Upgrade: h2c")...), observe.RejectNotUpgrade},
		{"Upgrade in any case", getHead(okWith([]string{"Upgrade"}, "Upgrade: WebSocket")...), accepted},
		{"Upgrade list", getHead(okWith([]string{"Upgrade"}, "Upgrade: h2c, websocket")...), accepted},
		{"Upgrade over two lines", getHead(okWith([]string{"Upgrade"}, "Upgrade: h2c", "Upgrade: websocket")...), accepted},
		{"Upgrade not a token list", getHead(okWith([]string{"Upgrade"}, `Upgrade: websocket, "x"`)...), observe.RejectNotUpgrade},
		{"no Connection", getHead(okWith([]string{"Connection"})...), observe.RejectNotUpgrade},
		{"Connection close", getHead(okWith([]string{"Connection"}, "Connection: close")...), observe.RejectNotUpgrade},
		{"Connection list", getHead(okWith([]string{"Connection"}, "Connection: keep-alive, Upgrade")...), accepted},
		{"Connection in any case", getHead(okWith([]string{"Connection"}, "Connection: UPGRADE")...), accepted},
		{"Connection over two lines", getHead(okWith([]string{"Connection"}, "Connection: keep-alive", "Connection: upgrade")...), accepted},
		{"Connection not a token list", getHead(okWith([]string{"Connection"}, "Connection: Upgrade; x")...), observe.RejectNotUpgrade},

		// Sec-WebSocket-Key (item 5).
		{"no key", getHead(okWith([]string{"Sec-WebSocket-Key"})...), observe.RejectKey},
		{"empty key", getHead(okWith([]string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: ")...), observe.RejectKey},
		{"two keys", getHead(okWith(nil, "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==")...), observe.RejectKey},
		{"the same key twice", getHead(okWith(nil, "Sec-WebSocket-Key: "+rfcKey)...), observe.RejectKey},
		{"key not base64", getHead(okWith([]string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==")...), observe.RejectKey},
		{"key of 15 bytes", getHead(okWith([]string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA")...), observe.RejectKey},
		{"key of 17 bytes", getHead(okWith([]string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=")...), observe.RejectKey},
		{"key without padding", getHead(okWith([]string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ")...), observe.RejectKey},
		{"key with stray bits", getHead(okWith([]string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==")...), observe.RejectKey},
		{"key URL-safe alphabet", getHead(okWith([]string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: ____________________AA==")...), observe.RejectKey},
		{"key between blanks", getHead(okWith([]string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: \t "+rfcKey+" \t")...), accepted},

		// Sec-WebSocket-Version (item 6): 13 only.
		{"no version", getHead(okWith([]string{"Sec-WebSocket-Version"})...), observe.RejectNoVersion},
		{"version 8", getHead(okWith([]string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: 8")...), observe.RejectVersion},
		{"version 14", getHead(okWith([]string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: 14")...), observe.RejectVersion},
		{"version 013", getHead(okWith([]string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: 013")...), observe.RejectVersion},
		{"empty version", getHead(okWith([]string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: ")...), observe.RejectVersion},
		{"version list", getHead(okWith([]string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: 13, 8")...), observe.RejectVersion},
		{"version 13 twice", getHead(okWith(nil, "Sec-WebSocket-Version: 13")...), accepted},
		{"versions 13 and 8", getHead(okWith(nil, "Sec-WebSocket-Version: 8")...), observe.RejectVersion},

		// Header names are case-insensitive (RFC 9110 5.1).
		{"lower-case names", getHead("host: example.com", "upgrade: websocket", "connection: Upgrade", "sec-websocket-key: "+rfcKey, "sec-websocket-version: 13"), accepted},
		{"upper-case names", getHead("HOST: example.com", "UPGRADE: websocket", "CONNECTION: Upgrade", "SEC-WEBSOCKET-KEY: "+rfcKey, "SEC-WEBSOCKET-VERSION: 13"), accepted},
		{"blanks around values", getHead("Host:example.com", "Upgrade:\twebsocket\t", "Connection:  Upgrade ", "Sec-WebSocket-Key:"+rfcKey, "Sec-WebSocket-Version:   13"), accepted},

		// Malformed heads are refused before any check.
		{"obs-fold", getHead(okWith([]string{"Upgrade"}, "Upgrade: h2c,", " websocket")...), observe.RejectMalformed},
		{"bare LF", []byte(strings.Replace(string(getHead(okFields...)), "Host: example.com\r\n", "Host: example.com\n", 1)), observe.RejectMalformed},
		{"space before the colon", getHead(okWith(nil, "X-A : b")...), observe.RejectMalformed},
		{"NUL in a value", getHead(okWith(nil, "X-A: a\x00b")...), observe.RejectMalformed},
		{"no colon", getHead(okWith(nil, "X-A")...), observe.RejectMalformed},
		{"conflicting Content-Length", getHead(okWith(nil, "Content-Length: 1", "Content-Length: 2")...), observe.RejectMalformed},
		{"bad request target", reqHead("GET /ws%zz HTTP/1.1", okFields...), observe.RejectMalformed},
		{"two spaces in the request line", reqHead("GET  /ws HTTP/1.1", okFields...), observe.RejectMalformed},

		// Any other field is ignored.
		{"other fields", getHead(okWith(nil, "X-Anything: at all", "Cookie: a=b", "Pragma: no-cache")...), accepted},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, rej := checkBoth(t, c.head, &Config{}, c.want)
			if rej != nil && rej.Status() != c.want.Status() {
				t.Errorf("status %d, want %d", rej.Status(), c.want.Status())
			}
		})
	}
}

// TestCheckVersionAnswer: a refused version is answered 426 with the
// version the server speaks (RFC 6455 4.4).
func TestCheckVersionAnswer(t *testing.T) {
	t.Parallel()
	_, rej := checkBoth(t, getHead(okWith([]string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: 8")...), &Config{}, observe.RejectVersion)
	resp := readResponse(t, AppendRejection(nil, rej))
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Sec-WebSocket-Version") != "13" {
		t.Fatalf("%s %v, want 426 with Sec-WebSocket-Version: 13", resp.Status, resp.Header)
	}
}

// TestCheckHeadSize: HeadEnd delimits a head through its blank line and
// refuses (431) one that is, or can only become, longer than MaxHeadSize.
func TestCheckHeadSize(t *testing.T) {
	t.Parallel()
	// A head of exactly n bytes.
	head := func(n int) []byte {
		base := "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: "
		return []byte(base + strings.Repeat("p", n-len(base)-4) + "\r\n\r\n")
	}
	for _, c := range []struct {
		name string
		buf  []byte
		n    int
		too  bool
	}{
		{"empty", nil, 0, false},
		{"incomplete", []byte("GET / HTTP/1.1\r\nHost: a\r\n"), 0, false},
		{"a CRLF short", head(100)[:98], 0, false},
		{"complete", head(100), 100, false},
		{"followed by frames", append(head(100), 0x81, 0x80), 100, false},
		{"exactly the bound", head(MaxHeadSize), MaxHeadSize, false},
		{"a byte past the bound", head(MaxHeadSize + 1), 0, true},
		{"incomplete at the bound", head(MaxHeadSize + 4)[:MaxHeadSize], 0, true},
		{"incomplete below the bound", head(MaxHeadSize + 4)[:MaxHeadSize-1], 0, false},
		{"the end past the bound in a long read", head(4 * MaxHeadSize), 0, true},
	} {
		n, rej := HeadEnd(c.buf)
		if n != c.n || (rej != nil) != c.too {
			t.Errorf("%s: HeadEnd = %d, %v; want %d, refused %v", c.name, n, rej, c.n, c.too)
		}
		if rej != nil && (rej.Why != observe.RejectTooLarge || rej.Status() != 431) {
			t.Errorf("%s: %v, want 431", c.name, rej)
		}
	}
	// A head within the bound is checked as any other.
	pad := "X-Pad: " + strings.Repeat("p", MaxHeadSize-len(getHead(okFields...))-len("X-Pad: \r\n"))
	h := getHead(okWith(nil, pad)...)
	if len(h) != MaxHeadSize {
		t.Fatalf("test head of %d bytes, want %d", len(h), MaxHeadSize)
	}
	if n, rej := HeadEnd(h); n != len(h) || rej != nil {
		t.Fatalf("HeadEnd of a head at the bound: %d, %v", n, rej)
	}
	checkBoth(t, h, &Config{}, accepted)
}

// TestCheckRequestFieldsBounded: on the http.Handler path the fields the
// handshake reads are bounded as the raw head is, whatever the embedding
// server's header limit (a field repeated thousands of times would make the
// offer lists grow).
func TestCheckRequestFieldsBounded(t *testing.T) {
	t.Parallel()
	r, err := ParseRequest(string(getHead(okFields...)))
	if err != nil {
		t.Fatal(err)
	}
	for range MaxHeadSize / 10 {
		r.Header.Add("Sec-WebSocket-Protocol", "chat")
	}
	if _, rej := CheckRequest(r, &Config{}); rej == nil || rej.Why != observe.RejectTooLarge || rej.Status() != 431 {
		t.Fatalf("%v, want 431", rej)
	}
	// Other fields do not count: they are not the handshake's.
	r.Header.Del("Sec-WebSocket-Protocol")
	r.Header["X-Big"] = []string{strings.Repeat("x", 2*MaxHeadSize)}
	if _, rej := CheckRequest(r, &Config{}); rej != nil {
		t.Fatalf("%v, want the handshake accepted", rej)
	}
}

// TestCheckSubprotocol: the server's most preferred subprotocol that the
// client offers is chosen (RFC 6455 4.2.2 item 5.4), over any number of
// header lines; none if none matches. Offered keeps the client's order.
func TestCheckSubprotocol(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		server  []string
		fields  []string
		want    string
		offered []string
	}{
		{nil, []string{"Sec-WebSocket-Protocol: chat"}, "", []string{"chat"}},
		{[]string{"chat"}, nil, "", nil},
		{[]string{"chat"}, []string{"Sec-WebSocket-Protocol: chat"}, "chat", []string{"chat"}},
		{[]string{"b", "a"}, []string{"Sec-WebSocket-Protocol: a, b"}, "b", []string{"a", "b"}},
		{[]string{"a", "b"}, []string{"Sec-WebSocket-Protocol: b, a"}, "a", []string{"b", "a"}},
		{[]string{"b", "a"}, []string{"Sec-WebSocket-Protocol: a", "Sec-WebSocket-Protocol: b"}, "b", []string{"a", "b"}},
		{[]string{"x"}, []string{"Sec-WebSocket-Protocol: a, b"}, "", []string{"a", "b"}},
		// Subprotocol names are compared exactly (RFC 6455 11.5: case matters).
		{[]string{"chat"}, []string{"Sec-WebSocket-Protocol: Chat"}, "", []string{"Chat"}},
		{[]string{"mqtt"}, []string{"sec-websocket-protocol: x,mqtt ,y"}, "mqtt", []string{"x", "mqtt", "y"}},
	} {
		res, rej := checkBoth(t, getHead(okWith(nil, c.fields...)...), &Config{Subprotocols: c.server}, accepted)
		if rej != nil {
			continue
		}
		if res.Subprotocol != c.want || !slices.Equal(res.Offered, c.offered) {
			t.Errorf("server %q, client %q: chose %q of %q, want %q of %q", c.server, c.fields, res.Subprotocol, res.Offered, c.want, c.offered)
		}
		r, _ := ParseRequest(string(getHead(okWith(nil, c.fields...)...)))
		if got := OfferedSubprotocols(r); !slices.Equal(got, c.offered) {
			t.Errorf("OfferedSubprotocols = %q, want %q", got, c.offered)
		}
	}
}

// TestCheckExtensions: the offer reaches Config.Negotiate as one list (the
// header lines joined by ", "), and its answer is the response's; an error
// refuses the handshake with 400, quoting it; no offer, no call.
func TestCheckExtensions(t *testing.T) {
	t.Parallel()
	var got []string
	cfg := &Config{Negotiate: func(offer string) (string, error) {
		got = append(got, offer)
		if strings.Contains(offer, "bad") {
			return "", errors.New("bad \"offer\"\n")
		}
		return "answer to " + offer, nil
	}}
	res, _ := checkBoth(t, getHead(okWith(nil, "Sec-WebSocket-Extensions: a; x=1", "Sec-WebSocket-Extensions: b")...), cfg, accepted)
	if res.Extensions != "answer to a; x=1, b" {
		t.Fatalf("Extensions %q", res.Extensions)
	}
	if len(got) != 2 || got[0] != "a; x=1, b" || got[1] != got[0] {
		t.Fatalf("Negotiate got %q, want the joined offer once per path", got)
	}
	got = nil
	res, _ = checkBoth(t, getHead(okFields...), cfg, accepted)
	if len(got) != 0 || res.Extensions != "" {
		t.Fatalf("without an offer: Negotiate called with %q, answer %q", got, res.Extensions)
	}
	_, rej := checkBoth(t, getHead(okWith(nil, "Sec-WebSocket-Extensions: bad")...), cfg, observe.RejectExtension)
	if rej.Status() != 400 || rej.Reason != `"bad \"offer\"\n"` {
		t.Fatalf("%d %q, want 400 with the error quoted", rej.Status(), rej.Reason)
	}
}

// TestCheckPermessageDeflate: with the server's negotiation
// (deflate.Negotiate) the handshake answers permessage-deflate offers as
// RFC 7692 section 7 says, whatever header lines carry them.
func TestCheckPermessageDeflate(t *testing.T) {
	t.Parallel()
	cfg := &Config{Negotiate: deflate.Negotiate}
	for _, c := range []struct {
		fields []string
		want   string
	}{
		// 7.1.1: the server may always add both no_context_takeover.
		{[]string{"Sec-WebSocket-Extensions: permessage-deflate"}, deflate.Response},
		// 7.1.2.2: client_max_window_bits without a value may be left unanswered.
		{[]string{"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"}, deflate.Response},
		// 7.1.2.1: server_max_window_bits is echoed.
		{[]string{"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10"}, deflate.Response + "; server_max_window_bits=10"},
		// 5: an offer with a bad parameter is declined, the next one taken.
		{[]string{"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=9"}, deflate.Response + "; server_max_window_bits=9"},
		{[]string{"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=16", "Sec-WebSocket-Extensions: permessage-deflate"}, deflate.Response},
		{[]string{"Sec-WebSocket-Extensions: permessage-deflate; foo"}, ""},
		{[]string{"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, ""},
		// Unknown extensions are not answered.
		{[]string{"Sec-WebSocket-Extensions: x-webkit-deflate-frame"}, ""},
		{[]string{"Sec-WebSocket-Extensions: x-webkit-deflate-frame", "sec-websocket-extensions: permessage-deflate"}, deflate.Response},
	} {
		res, rej := checkBoth(t, getHead(okWith(nil, c.fields...)...), cfg, accepted)
		if rej == nil && res.Extensions != c.want {
			t.Errorf("%q: answer %q, want %q", c.fields, res.Extensions, c.want)
		}
	}
}

// TestCheckOriginPolicy: a browser's Origin must be the Host it connects to
// or match a pattern (403 otherwise, the origin quoted in the body); over
// TLS an http:// page of the same host is another origin; a client without
// Origin (not a browser) is not asked.
func TestCheckOriginPolicy(t *testing.T) {
	t.Parallel()
	cfg := &Config{OriginPatterns: []string{"*.example.org"}}
	for _, c := range []struct {
		origin string
		tls    bool
		want   observe.Reason
	}{
		{"", false, accepted},
		{"http://example.com", false, accepted},
		{"https://example.com", true, accepted},
		{"http://example.com", true, observe.RejectOrigin},
		{"http://app.example.org", false, accepted},
		{"http://evil.example", false, observe.RejectOrigin},
		{"null", false, observe.RejectOrigin},
		{"http://evil.example\"><script>", false, observe.RejectOrigin},
	} {
		fields := okFields
		if c.origin != "" {
			fields = okWith(nil, "Origin: "+c.origin)
		}
		head := getHead(fields...)
		var h Head
		if c.tls {
			h.ConnState = &tls.ConnectionState{}
		}
		var rej *Rejection
		if rej = h.Parse(head); rej == nil {
			_, rej = h.Check(cfg)
		}
		if verdict(rej) != c.want {
			t.Errorf("Origin %q (TLS %v): %v, want %s", c.origin, c.tls, rej, reasonName(c.want))
			continue
		}
		if c.want == observe.RejectOrigin && (rej.Status() != 403 || !strings.Contains(rej.Reason, fmt.Sprintf("%q", c.origin))) {
			t.Errorf("Origin %q: %d %q, want 403 quoting the origin", c.origin, rej.Status(), rej.Reason)
		}
		if !c.tls {
			checkBoth(t, head, cfg, c.want)
		}
	}
}

// TestCheckOriginHook: CheckOrigin replaces the origin check, decides from
// the request net/http would build (with the connection's address and TLS
// state), and runs only for an otherwise valid handshake.
func TestCheckOriginHook(t *testing.T) {
	t.Parallel()
	var seen []*http.Request
	cfg := &Config{CheckOrigin: func(r *http.Request) bool {
		seen = append(seen, r)
		return r.Header.Get("Origin") == "http://evil.example" && r.URL.Query().Get("ok") == "1"
	}}
	state := &tls.ConnectionState{ServerName: "example.com"}
	check := func(line string, fields ...string) *Rejection {
		h := Head{RemoteAddr: "192.0.2.1:1234", ConnState: state}
		if rej := h.Parse(reqHead(line, fields...)); rej != nil {
			return rej
		}
		_, rej := h.Check(cfg)
		return rej
	}
	// The default check would refuse this origin; the hook allows it.
	if rej := check("GET /ws?ok=1 HTTP/1.1", okWith(nil, "Origin: http://evil.example")...); rej != nil {
		t.Fatalf("the hook allowed it, the handshake got %v", rej)
	}
	if len(seen) != 1 || seen[0].RemoteAddr != "192.0.2.1:1234" || seen[0].TLS != state || seen[0].Host != "example.com" || seen[0].URL.Path != "/ws" {
		t.Fatalf("the hook saw %+v", seen)
	}
	if rej := check("GET /ws HTTP/1.1", okWith(nil, "Origin: http://evil.example")...); rej == nil || rej.Why != observe.RejectOrigin || rej.Status() != 403 {
		t.Fatalf("the hook refused it, the handshake got %v", rej)
	}
	seen = nil
	if rej := check("GET /ws?ok=1 HTTP/1.1", okWith([]string{"Sec-WebSocket-Version"}, "Origin: http://evil.example")...); rej == nil || rej.Why != observe.RejectNoVersion {
		t.Fatalf("an invalid handshake: %v, want refused for its version", rej)
	}
	if len(seen) != 0 {
		t.Fatal("the hook ran for an invalid handshake")
	}
}

// TestCheckAllowedHosts: a Host outside AllowedHosts is refused with 403
// (DNS rebinding) on both paths, before the Origin is looked at.
func TestCheckAllowedHosts(t *testing.T) {
	t.Parallel()
	cfg := &Config{AllowedHosts: LoopbackHosts}
	checkBoth(t, getHead(okWith([]string{"Host"}, "Host: localhost:9001", "Origin: http://localhost:9001")...), cfg, accepted)
	_, rej := checkBoth(t, getHead(okWith([]string{"Host"}, "Host: rebound.example:9001", "Origin: http://rebound.example:9001")...), cfg, observe.RejectHostNotAllowed)
	if rej.Status() != 403 {
		t.Fatalf("status %d, want 403", rej.Status())
	}
	// An absolute-form target names the host: it is the one checked.
	checkBoth(t, reqHead("GET http://evil.example/ws HTTP/1.1", okWith([]string{"Host"}, "Host: localhost")...), cfg, observe.RejectHostNotAllowed)
	checkBoth(t, reqHead("GET http://localhost/ws HTTP/1.1", okWith([]string{"Host"}, "Host: evil.example")...), cfg, accepted)
}

// TestHeadRoute: what the raw path routes on, without building a request.
func TestHeadRoute(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		head      []byte
		path      string
		host      string
		websocket bool
	}{
		{getHead(okFields...), "/ws", "example.com", true},
		{reqHead("GET /a%20b?x=1 HTTP/1.1", okFields...), "/a b", "example.com", true},
		{reqHead("GET / HTTP/1.1", "Host: h"), "/", "h", false},
		{reqHead("GET / HTTP/1.1", "Host: h", "Upgrade: h2c"), "/", "h", false},
		{reqHead("GET http://abs:81/p HTTP/1.1", "Host: h", "Upgrade: WEBSOCKET"), "/p", "abs:81", true},
	} {
		var h Head
		if rej := h.Parse(c.head); rej != nil {
			t.Errorf("%q: %v", c.head, rej)
			continue
		}
		if h.Path() != c.path || h.Host() != c.host || h.WantsWebSocket() != c.websocket {
			t.Errorf("%q: path %q host %q websocket %v; want %q %q %v", c.head, h.Path(), h.Host(), h.WantsWebSocket(), c.path, c.host, c.websocket)
		}
		r, err := ParseRequest(string(c.head))
		if err != nil {
			t.Fatal(err)
		}
		if WantsWebSocket(r) != c.websocket || OverHTTP2(r) {
			t.Errorf("%q: WantsWebSocket %v, OverHTTP2 %v", c.head, WantsWebSocket(r), OverHTTP2(r))
		}
	}
}

// TestHeadRequest: the request a Head builds for user code is net/http's,
// made once, with the connection's address and TLS state; a Head whose
// bytes net/http refuses builds none.
func TestHeadRequest(t *testing.T) {
	t.Parallel()
	state := &tls.ConnectionState{}
	h := Head{RemoteAddr: "192.0.2.1:1", ConnState: state}
	if rej := h.Parse(getHead(okWith(nil, "Cookie: a=b")...)); rej != nil {
		t.Fatal(rej)
	}
	r := h.Request()
	if r == nil || r.RemoteAddr != "192.0.2.1:1" || r.TLS != state || r.Header.Get("Cookie") != "a=b" || r.Host != "example.com" {
		t.Fatalf("Request() = %+v", r)
	}
	if h.Request() != r {
		t.Fatal("Request() built the request again")
	}
	// A Head never parsed (or dropped) has no request.
	if (&Head{}).Request() != nil {
		t.Fatal("an empty Head built a request")
	}
}

// TestCheckRequestHTTP2: over HTTP/2 a WebSocket opens with an extended
// CONNECT whose :protocol is websocket (RFC 8441 section 4), without
// Upgrade, Connection or a key; the answer has no Sec-WebSocket-Accept; the
// version, Origin, subprotocol and extension checks are HTTP/1.1's.
func TestCheckRequestHTTP2(t *testing.T) {
	t.Parallel()
	req := func(method, protocol string, fields ...string) *http.Request {
		r := &http.Request{Method: method, Proto: "HTTP/2.0", ProtoMajor: 2, Host: "example.com", URL: &url.URL{Path: "/ws"}, Header: http.Header{}}
		if protocol != "" {
			r.Header.Set(":protocol", protocol)
		}
		for _, f := range fields {
			k, v, _ := strings.Cut(f, ": ")
			r.Header.Add(k, v)
		}
		return r
	}
	cfg := &Config{Subprotocols: []string{"chat"}, Negotiate: deflate.Negotiate}
	for _, c := range []struct {
		name string
		r    *http.Request
		want observe.Reason
	}{
		{"extended CONNECT", req("CONNECT", "websocket", "Sec-WebSocket-Version: 13"), accepted},
		{"protocol in any case", req("CONNECT", "WebSocket", "Sec-WebSocket-Version: 13"), accepted},
		{"another protocol", req("CONNECT", "h2c", "Sec-WebSocket-Version: 13"), observe.RejectNotUpgrade},
		{"plain CONNECT", req("CONNECT", "", "Sec-WebSocket-Version: 13"), observe.RejectNotUpgrade},
		{"GET", req("GET", "websocket", "Sec-WebSocket-Version: 13"), observe.RejectNotUpgrade},
		{"no version", req("CONNECT", "websocket"), observe.RejectNoVersion},
		{"version 8", req("CONNECT", "websocket", "Sec-WebSocket-Version: 8"), observe.RejectVersion},
		{"foreign origin", req("CONNECT", "websocket", "Sec-WebSocket-Version: 13", "Origin: https://evil.example"), observe.RejectOrigin},
		{"no host", func() *http.Request {
			r := req("CONNECT", "websocket", "Sec-WebSocket-Version: 13")
			r.Host = ""
			return r
		}(), observe.RejectHost},
	} {
		res, rej := CheckRequest(c.r, cfg)
		if verdict(rej) != c.want {
			t.Errorf("%s: %v, want %s", c.name, rej, reasonName(c.want))
			continue
		}
		if rej == nil && res.Accept != "" {
			t.Errorf("%s: Sec-WebSocket-Accept %q over HTTP/2", c.name, res.Accept)
		}
		if WantsWebSocket(c.r) != strings.EqualFold(c.r.Header.Get(":protocol"), "websocket") {
			t.Errorf("%s: WantsWebSocket %v", c.name, WantsWebSocket(c.r))
		}
	}
	res, rej := CheckRequest(req("CONNECT", "websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: x, chat", "Sec-WebSocket-Extensions: permessage-deflate"), cfg)
	if rej != nil || res.Subprotocol != "chat" || res.Extensions != deflate.Response {
		t.Fatalf("%+v %v, want chat and permessage-deflate", res, rej)
	}
	h := http.Header{}
	AnswerStream(h, res)
	if h.Get("Sec-WebSocket-Protocol") != "chat" || h.Get("Sec-WebSocket-Extensions") != deflate.Response || h.Get("Sec-WebSocket-Accept") != "" || len(h) != 2 {
		t.Fatalf("AnswerStream: %v", h)
	}
	h = http.Header{}
	AnswerStream(h, &Result{})
	if len(h) != 0 {
		t.Fatalf("AnswerStream of a bare result: %v", h)
	}
}
