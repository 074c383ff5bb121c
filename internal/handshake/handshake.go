// Package handshake checks a client's opening handshake (RFC 6455 section
// 4.2.1, and RFC 8441 section 5 over HTTP/2) and writes the server's answer.
// It has two front ends that feed one set of checks, so both entry points
// answer bad input identically: a raw request head read from a socket (the
// zero-copy path of the standalone server and the netpoll engine, parsed
// with github.com/gobwas/httphead) and an *http.Request (the http.Handler
// path: an HTTP/1.1 upgrade or an HTTP/2 extended CONNECT).
package handshake

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/ws4go/ws4go/observe"

	"github.com/gobwas/httphead"
)

// MaxHeadSize bounds a request head; a longer one is refused with 431. The
// client bounds a response head with it too.
const MaxHeadSize = 8 << 10

// Config holds the server's handshake policy.
type Config struct {
	// Subprotocols the server speaks, most preferred first. The first of
	// them that the client offers is chosen; none is chosen if the client
	// offers none of them.
	Subprotocols []string
	// OriginPatterns are extra origins allowed besides the request's own
	// host, as path.Match patterns against the Origin's host[:port]
	// ("example.com", "*.example.com:8443"), or against scheme://host[:port]
	// if the pattern has a scheme ("https://*.example.com": https only).
	OriginPatterns []string
	// CheckOrigin, if set, replaces the origin check: it decides from the
	// whole request. A panic in it refuses the handshake with 500
	// (Rejection.Panic holds what it panicked with).
	CheckOrigin func(r *http.Request) bool
	// AllowedHosts, if set, are the only Host headers served (see
	// HostAllowed); others get 403, against DNS rebinding.
	AllowedHosts []string
	// Negotiate, if set, answers the client's Sec-WebSocket-Extensions
	// offer (all header values joined by ", "): the response header value
	// ("" to accept none). A non-nil error refuses the handshake with 400.
	Negotiate func(offer string) (string, error)
}

// Rejection is a refused handshake: why (which gives the HTTP status), a
// short reason for the body and any header lines the status calls for.
type Rejection struct {
	// Why is the reason as a value, for metrics; Status derives from it.
	Why observe.Reason
	// Reason is the text of the response body.
	Reason string
	// Header holds extra response header fields.
	Header http.Header
	// Panic is what a user hook panicked with (Why is RejectPanic), and
	// Stack where.
	Panic any
	Stack []byte
	// Site is the kind of hook that panicked.
	Site observe.Site
	// Code, if set, is the status instead of Why's, and Reason is then
	// the body as it is (an accept hook's own refusal): no newline is
	// added, and a Content-Type in Header replaces the plain-text one.
	Code int
}

// Status is the HTTP status of the refusal.
func (r *Rejection) Status() int {
	if r.Code != 0 {
		return r.Code
	}
	return r.Why.Status()
}

// Body is the response body of the refusal.
func (r *Rejection) Body() string {
	if r.Code != 0 {
		return r.Reason
	}
	return r.Reason + "\n"
}

func (r *Rejection) Error() string { return strconv.Itoa(r.Status()) + " " + r.Reason }

// Reject returns the rejection of a handshake for why, with a text saying
// more.
func Reject(why observe.Reason, text string) *Rejection {
	return &Rejection{Why: why, Reason: text}
}

// Result is an accepted handshake.
type Result struct {
	Accept      string // Sec-WebSocket-Accept ("" over HTTP/2: RFC 8441 has none)
	Subprotocol string
	Extensions  string // Sec-WebSocket-Extensions answer, or ""
	// Offered are the subprotocols the client offered, in its order.
	Offered []string
}

// fields is what the checks need, filled by either front end.
type fields struct {
	method       string
	major, minor int
	host         string
	hostSeen     bool
	upgrade      bool // "websocket" among the Upgrade tokens
	upgradeSeen  bool
	connection   bool // "upgrade" among the Connection tokens
	connSeen     bool
	version      string
	versionSeen  bool
	key          string
	keyCount     int
	origin       string
	protocols    []string // offered, in the client's order
	extensions   []byte   // the offers joined by ", "
	badTokenList bool
	tls          bool // the request came over TLS
	// connect: an HTTP/2 request (RFC 8441), which opens a WebSocket with
	// an extended CONNECT whose :protocol (protocol) is "websocket",
	// instead of Upgrade, Connection and Sec-WebSocket-Key.
	connect  bool
	protocol string
}

func (f *fields) addUpgrade(v []byte) {
	f.upgradeSeen = true
	if !httphead.ScanTokens(v, func(t []byte) bool {
		if bytes.EqualFold(t, []byte("websocket")) {
			f.upgrade = true
		}
		return true
	}) {
		f.badTokenList = true
	}
}

func (f *fields) addConnection(v []byte) {
	f.connSeen = true
	if !httphead.ScanTokens(v, func(t []byte) bool {
		if bytes.EqualFold(t, []byte("upgrade")) {
			f.connection = true
		}
		return true
	}) {
		f.badTokenList = true
	}
}

func (f *fields) addProtocols(v []byte) {
	httphead.ScanTokens(v, func(t []byte) bool {
		f.protocols = append(f.protocols, string(t))
		return true
	})
}

// addExtensions appends to the offer (in amortised linear time: the field
// may repeat thousands of times).
func (f *fields) addExtensions(v []byte) {
	if len(f.extensions) > 0 {
		f.extensions = append(f.extensions, ", "...)
	}
	f.extensions = append(f.extensions, v...)
}

// check applies RFC 6455 section 4.2.1 and the server's policy. r builds the
// *http.Request only if a CheckOrigin function needs it.
func (f *fields) check(cfg *Config, r func() *http.Request) (*Result, *Rejection) {
	switch {
	case f.connect && (f.method != http.MethodConnect || !strings.EqualFold(f.protocol, "websocket")):
		// As an HTTP/1.1 Upgrade naming another protocol is: a
		// WebSocket path speaks nothing else.
		return nil, Reject(observe.RejectNotUpgrade, `over HTTP/2 a WebSocket opens with an extended CONNECT whose :protocol is "websocket" (RFC 8441)`)
	case !f.connect && f.method != http.MethodGet:
		return nil, Reject(observe.RejectMethod, "the method must be GET")
	case f.major < 1 || f.major == 1 && f.minor < 1:
		return nil, Reject(observe.RejectHTTPVersion, "HTTP/1.1 or later is required")
	case !f.hostSeen || f.host == "":
		return nil, Reject(observe.RejectHost, "missing Host header")
	case !HostAllowed(f.host, cfg.AllowedHosts):
		return nil, Reject(observe.RejectHostNotAllowed, "host not allowed")
	case !f.connect && (!f.upgradeSeen || !f.upgrade):
		return nil, Reject(observe.RejectNotUpgrade, `the Upgrade header must include "websocket"`)
	case !f.connect && (!f.connSeen || !f.connection):
		return nil, Reject(observe.RejectNotUpgrade, `the Connection header must include "Upgrade"`)
	case !f.connect && f.badTokenList:
		return nil, Reject(observe.RejectNotUpgrade, "malformed Upgrade or Connection header")
	case !f.versionSeen:
		return nil, Reject(observe.RejectNoVersion, "missing Sec-WebSocket-Version header")
	case f.version != "13":
		rej := Reject(observe.RejectVersion, "unsupported WebSocket version: 13 is required")
		rej.Header = http.Header{"Sec-WebSocket-Version": {"13"}}
		return nil, rej
	case !f.connect && (f.keyCount != 1 || !validKey(f.key)):
		return nil, Reject(observe.RejectKey, "Sec-WebSocket-Key must be the base64 of 16 bytes")
	}
	if cfg.CheckOrigin != nil {
		req := r()
		if req == nil {
			return nil, Reject(observe.RejectMalformed, "malformed request")
		}
		if ok, rej := checkOrigin(cfg.CheckOrigin, req); rej != nil || !ok {
			if rej == nil {
				rej = Reject(observe.RejectOrigin, "origin not allowed")
			}
			return nil, rej
		}
	} else if f.origin != "" && !originAllowed(f.origin, f.host, f.tls, cfg.OriginPatterns) {
		// The origin is quoted: the body must not carry attacker bytes
		// as they came.
		return nil, Reject(observe.RejectOrigin, "origin not allowed: "+strconv.Quote(f.origin))
	}
	res := &Result{Offered: f.protocols}
	if !f.connect {
		res.Accept = AcceptKey(f.key)
	}
	for _, want := range cfg.Subprotocols {
		for _, got := range f.protocols {
			if want == got {
				res.Subprotocol = want
				break
			}
		}
		if res.Subprotocol != "" {
			break
		}
	}
	if cfg.Negotiate != nil && len(f.extensions) > 0 {
		ext, err := cfg.Negotiate(string(f.extensions))
		if err != nil {
			return nil, Reject(observe.RejectExtension, strconv.Quote(err.Error()))
		}
		res.Extensions = ext
	}
	return res, nil
}

// checkOrigin runs the user's origin check; a panic in it is returned as
// a RejectPanic rejection (500) instead of ending the process.
func checkOrigin(check func(*http.Request) bool, r *http.Request) (ok bool, rej *Rejection) {
	defer func() {
		if v := recover(); v != nil {
			rej = Reject(observe.RejectPanic, "internal error")
			rej.Panic, rej.Stack = v, debug.Stack()
			rej.Site = observe.SiteOrigin
		}
	}()
	return check(r), nil
}

func validKey(k string) bool {
	if len(k) != 24 {
		return false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(k)
	return err == nil && len(b) == 16
}

// originAllowed implements the default defence against cross-site WebSocket
// hijacking: a browser's Origin must name the host it connects to (over
// TLS, with a secure scheme: an http:// page of the same host is another
// origin), or match one of the configured patterns.
func originAllowed(origin, host string, tls bool, patterns []string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	if sameHost(u, host) && (!tls || scheme == "https" || scheme == "wss") {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = scheme + "://" + u.Host
		}
		if ok, _ := pathMatchFold(p, target); ok {
			return true
		}
	}
	return false
}

// CheckOriginPattern returns an error saying what is expected if p cannot
// be an entry of Config.OriginPatterns.
func CheckOriginPattern(p string) error {
	const want = "want a path.Match pattern of an origin's host[:port] (*.example.com) or scheme://host[:port] (https://*.example.com), without a path"
	target := p
	if scheme, rest, ok := strings.Cut(p, "://"); ok {
		if scheme == "" {
			return errors.New(want)
		}
		target = rest
	}
	if target == "" || strings.Contains(target, "/") {
		return errors.New(want)
	}
	if _, err := pathMatchFold(p, ""); err != nil {
		return fmt.Errorf("%s: %v", want, err)
	}
	return nil
}

// sameHost reports whether the origin u names the host:port of a Host
// header. A port left out on either side is the origin scheme's default
// (http://h:80 and https://h are both Host "h"); the Host header does not say
// which scheme the client used, so the origin's scheme decides.
func sameHost(u *url.URL, host string) bool {
	def := ""
	switch strings.ToLower(u.Scheme) {
	case "http", "ws":
		def = "80"
	case "https", "wss":
		def = "443"
	}
	oh, op := splitHostPort(u.Host, def)
	hh, hp := splitHostPort(host, def)
	return oh != "" && strings.EqualFold(oh, hh) && op == hp
}

// splitHostPort splits host[:port] (IPv6 in brackets), with def for a
// missing port.
func splitHostPort(hostport, def string) (host, port string) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return h, p
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), def
}

// HeadEnd returns the length of the request head in buf (through the blank
// line), 0 if it is not complete yet, or a Rejection if it is too long. The
// client delimits a response head with it (only the Rejection's text
// speaks of a request).
func HeadEnd(buf []byte) (int, *Rejection) {
	if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
		if i+4 > MaxHeadSize {
			return 0, Reject(observe.RejectTooLarge, "request head too large")
		}
		return i + 4, nil
	}
	if len(buf) >= MaxHeadSize {
		return 0, Reject(observe.RejectTooLarge, "request head too large")
	}
	return 0, nil
}

// Head is a raw request head that Parse accepted: the raw path routes and
// checks it without building an *http.Request.
type Head struct {
	raw  []byte
	req  *http.Request // made by Request
	f    fields
	path string
	// ConnState is the TLS connection's state, nil over plain TCP: with
	// it Check knows the request came over TLS (wss://), so an http://
	// Origin of the same host is cross-origin. RemoteAddr and ConnState
	// go into the Request's RemoteAddr and TLS.
	RemoteAddr string
	ConnState  *tls.ConnectionState
}

// Parse parses a complete raw request head (as delimited by HeadEnd),
// refusing what net/http would refuse (see parseHead). The Head refers to
// raw until it is dropped.
func (h *Head) Parse(raw []byte) *Rejection {
	*h = Head{raw: raw, RemoteAddr: h.RemoteAddr, ConnState: h.ConnState}
	rl, rej := parseHead(raw, h.f.add)
	if rej != nil {
		return rej
	}
	h.f.method = string(rl.method)
	h.f.major, h.f.minor = rl.major, rl.minor
	// (An HTTP/2.0 request line is bogus here: it is checked as
	// CheckRequest checks an HTTP/2 request, so both answer alike.)
	h.f.connect = rl.major == 2
	if rl.url.Host != "" { // absolute-form: the target's host wins, as in net/http
		h.f.host, h.f.hostSeen = rl.url.Host, true
	}
	h.path = rl.url.Path
	return nil
}

// Path is the path of the request target.
func (h *Head) Path() string { return h.path }

// Host is the host[:port] the request is for.
func (h *Head) Host() string { return h.f.host }

// WantsWebSocket reports whether the request asks for a WebSocket (Upgrade
// names "websocket"): a request that does not may be plain HTTP.
func (h *Head) WantsWebSocket() bool { return h.f.upgrade }

// Check applies the handshake checks and the server's policy to a parsed
// head. A CheckOrigin function gets the *http.Request that http.ReadRequest
// makes of the head.
func (h *Head) Check(cfg *Config) (*Result, *Rejection) {
	h.f.tls = h.ConnState != nil
	return h.f.check(cfg, h.Request)
}

// Request returns the *http.Request that http.ReadRequest makes of the
// head, made once, on first use, with RemoteAddr and TLS set from the Head;
// nil if net/http refuses the head (Parse accepted what net/http refuses: a
// bug, which the callers refuse with 400).
func (h *Head) Request() *http.Request {
	if h.req == nil && h.raw != nil {
		r, err := ParseRequest(string(h.raw))
		if err != nil {
			h.raw = nil
			return nil
		}
		r.RemoteAddr = h.RemoteAddr
		r.TLS = h.ConnState
		h.req = r
	}
	return h.req
}

// CheckHead parses and checks a complete raw request head (as delimited by
// HeadEnd) of a plain-TCP request. The head is not retained.
func CheckHead(head []byte, cfg *Config) (*Result, *Rejection) {
	var h Head
	if rej := h.Parse(head); rej != nil {
		return nil, rej
	}
	return h.Check(cfg)
}

// add records a header field of a raw head.
func (f *fields) add(k fieldKind, _, v []byte) {
	switch k {
	case fieldHost:
		f.hostSeen, f.host = true, string(v)
	case fieldUpgrade:
		f.addUpgrade(v)
	case fieldConnection:
		f.addConnection(v)
	case fieldVersion:
		if f.versionSeen && f.version != string(v) {
			f.version = "" // conflicting versions
		} else {
			f.version = string(v)
		}
		f.versionSeen = true
	case fieldKey:
		f.keyCount++
		f.key = string(v)
	case fieldOrigin:
		f.origin = string(v)
	case fieldProtocol:
		f.addProtocols(v)
	case fieldExtensions:
		f.addExtensions(v)
	}
}

// WantsWebSocket reports whether r asks for a WebSocket: Upgrade names
// "websocket", or, over HTTP/2, r is an extended CONNECT for it.
func WantsWebSocket(r *http.Request) bool {
	if OverHTTP2(r) {
		return strings.EqualFold(r.Header.Get(":protocol"), "websocket")
	}
	var f fields
	for _, v := range r.Header.Values("Upgrade") {
		f.addUpgrade([]byte(v))
	}
	return f.upgrade
}

// OfferedSubprotocols returns the subprotocols r offers
// (Sec-WebSocket-Protocol), in its order.
func OfferedSubprotocols(r *http.Request) []string {
	var f fields
	for _, v := range r.Header.Values("Sec-Websocket-Protocol") {
		f.addProtocols([]byte(v))
	}
	return f.protocols
}

// OverHTTP2 reports whether r came over HTTP/2, where a WebSocket
// opens with an extended CONNECT (RFC 8441) instead of an Upgrade: the
// checks, the answer (AnswerStream) and the connection's transport (the
// request's stream) differ from HTTP/1.1's.
func OverHTTP2(r *http.Request) bool { return r.ProtoMajor == 2 }

// CheckRequest checks an *http.Request (the http.Handler path): an HTTP/1.1
// upgrade (RFC 6455 section 4.2.1) or, over HTTP/2, an extended CONNECT
// (RFC 8441 section 5: no Upgrade, Connection or Sec-WebSocket-Key; the
// version, Origin, subprotocol and extension checks are HTTP/1.1's). The
// fields the handshake reads may total at most MaxHeadSize, as on the raw
// path, whatever header size the embedding server allows.
func CheckRequest(r *http.Request, cfg *Config) (*Result, *Rejection) {
	f := fields{
		method: r.Method, major: r.ProtoMajor, minor: r.ProtoMinor,
		host: r.Host, hostSeen: r.Host != "",
		origin: r.Header.Get("Origin"),
		tls:    r.TLS != nil,
	}
	if OverHTTP2(r) {
		f.connect, f.protocol = true, r.Header.Get(":protocol")
	}
	size := 0
	for _, k := range []string{"Upgrade", "Connection", "Sec-Websocket-Version", "Sec-Websocket-Key", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions"} {
		for _, v := range r.Header[k] {
			size += len(k) + len(v) + 4
		}
	}
	if size > MaxHeadSize {
		return nil, Reject(observe.RejectTooLarge, "WebSocket header fields too large")
	}
	for _, v := range r.Header.Values("Upgrade") {
		f.addUpgrade([]byte(v))
	}
	for _, v := range r.Header.Values("Connection") {
		f.addConnection([]byte(v))
	}
	if vs := r.Header.Values("Sec-Websocket-Version"); len(vs) > 0 {
		f.versionSeen, f.version = true, vs[0]
		for _, v := range vs[1:] {
			if v != vs[0] {
				f.version = ""
			}
		}
	}
	keys := r.Header.Values("Sec-Websocket-Key")
	f.keyCount = len(keys)
	if len(keys) > 0 {
		f.key = keys[0]
	}
	for _, v := range r.Header.Values("Sec-Websocket-Protocol") {
		f.addProtocols([]byte(v))
	}
	for _, v := range r.Header.Values("Sec-Websocket-Extensions") {
		f.addExtensions([]byte(v))
	}
	return f.check(cfg, func() *http.Request { return r })
}

// pathMatchFold is path.Match without regard to case (host names are
// case-insensitive).
func pathMatchFold(pattern, s string) (bool, error) {
	return path.Match(strings.ToLower(pattern), strings.ToLower(s))
}
