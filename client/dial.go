package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gobwas/httphead"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/deflate"
	"github.com/ws4go/ws4go/internal/h2stream"
	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/wsconn"
	"github.com/ws4go/ws4go/observe"
)

// Defaults for zero-valued Options fields.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxMessageSize   = 16 << 20
	DefaultMessageTimeout   = 60 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultCloseTimeout     = 5 * time.Second
	DefaultPingInterval     = 30 * time.Second
	DefaultPongTimeout      = 30 * time.Second
)

// Options configures Dial and Redial. The zero value (or a nil *Options) is
// ready to use. Its sizes and durations follow the convention of
// server.Server: zero means the default the field's documentation gives,
// negative means no limit.
type Options struct {
	// Header holds extra request headers for the opening handshake
	// (Origin, Authorization, cookies, ...). A "Host" entry replaces the
	// Host header. The headers the handshake itself uses (Upgrade,
	// Connection, Sec-WebSocket-*) may not be set here: use Subprotocols
	// and Compression.
	Header http.Header
	// Subprotocols are offered in Sec-WebSocket-Protocol, most preferred
	// first. The server's choice is Conn.Subprotocol().
	Subprotocols []string
	// Compression configures permessage-deflate (RFC 7692). It is
	// offered by default (set Compression.Disable to stop that) and used
	// when the server accepts; Conn.Extensions tells whether it did.
	Compression Compression

	// TLSConfig is used for wss:// (default: the system roots, and the
	// URL's host as ServerName). Its NextProtos is ignored: ALPN offers
	// nothing over HTTP/1.1, and h2 then http/1.1 with HTTP2.
	TLSConfig *tls.Config
	// HTTP2, if set, makes Dial open wss:// WebSockets on HTTP/2 streams
	// (RFC 8441 extended CONNECT) of the pool's connections, several
	// WebSockets sharing one TCP connection. It needs
	//
	//	import _ "github.com/ws4go/ws4go/xconnect"
	//
	// in the program (Go's HTTP/2 speaks extended CONNECT only then).
	// When the server does not choose h2 in the TLS handshake, Dial
	// continues over HTTP/1.1 on the same TLS connection; when it speaks
	// HTTP/2 without announcing extended CONNECT, Dial opens a new
	// HTTP/1.1 connection. A refusal over HTTP/2 (a non-2xx status) is
	// not retried. Conn.Proto tells which one runs. ws:// and ws+unix
	// URLs ignore HTTP2.
	HTTP2 *HTTP2Pool
	// Proxy returns the proxy to reach the server through, or nil for a
	// direct connection: ProxyFromEnvironment follows HTTPS_PROXY,
	// HTTP_PROXY, ALL_PROXY and NO_PROXY; http.ProxyURL(u) names one.
	// The request it gets has the scheme https for wss:// and http for
	// ws://, as net/http's would. The URL's scheme says how to reach
	// the proxy: http:// (an HTTP proxy, sent a CONNECT request; port 80
	// by default), https:// (the same over TLS, checked with TLSConfig
	// against the proxy's name; port 443), socks5:// or socks5h://
	// (SOCKS5, port 1080; the proxy resolves the server's name in both
	// cases, as with net/http). User information in the URL is sent as
	// Basic Proxy-Authorization, or as the SOCKS5 username and password.
	// TLS with the server runs end to end inside the tunnel. A ws+unix
	// URL never uses a proxy. Nil (the default): never use a proxy,
	// whatever the environment says.
	Proxy func(*http.Request) (*url.URL, error)

	// HandshakeTimeout bounds the opening of a connection: DNS, TCP,
	// the proxy, TLS and the WebSocket handshake together, on top of
	// the ctx given to Dial, and each attempt of Redial (default 10 s;
	// negative: only ctx bounds it). Past it Dial fails with an error
	// that matches ErrHandshakeTimeout and context.DeadlineExceeded.
	HandshakeTimeout time.Duration

	// MaxMessageSize is the largest message accepted from the server
	// (default 16 MiB); a larger one fails the connection with 1009.
	// Negative: no limit.
	MaxMessageSize int64
	// MessageTimeout: a message or control frame from the server whose
	// first byte has arrived must arrive whole within this long (frames
	// interleaved in a fragmented message and a trickle of bytes do not
	// extend it), else the connection fails with 1008 "message timeout"
	// (default 60 s, the server's default; negative: never). Without it a
	// server could keep a partial message of up to MaxMessageSize held
	// in the client for as long as it answers the heartbeat.
	MessageTimeout time.Duration
	// WriteTimeout bounds how long a write to the socket may make no
	// progress (default 10 s): a write whose bytes the socket does not
	// take for that long (over TLS or HTTP/2, a 16 KiB chunk of it)
	// drops the connection. It also bounds, within about twice it, what
	// crypto/tls writes on its own while reading (an answer to the
	// server's KeyUpdate). Negative: no bound.
	WriteTimeout time.Duration
	// CloseTimeout bounds the closing handshake (default 5 s; negative:
	// no bound): once a close frame has been sent or received, the server
	// has this long to finish before the connection is dropped.
	CloseTimeout time.Duration
	// PingInterval: a connection that received nothing for this long is
	// pinged (default 30 s; negative disables the heartbeat). The
	// heartbeat and MessageTimeout wait while a Conn read with Read has
	// stopped reading its socket for an application that lags (see
	// Conn.Read).
	PingInterval time.Duration
	// PongTimeout: a pinged connection that receives nothing for this
	// long is dropped, and Handler.Closed reports 1006 "heartbeat
	// timeout" (default 30 s; negative: never).
	PongTimeout time.Duration

	// Logger receives the client's logs (default slog.Default()).
	Logger *slog.Logger
	// Observer, if set, is told what the connection does, as the
	// server's observer is (metrics.New makes one for Prometheus):
	// Opened, the frames Received and Sent, HandlerDone, Limited,
	// HeartbeatTimeout and Closed. Its Side values keep their meaning:
	// Peer when the client sent the first close frame.
	Observer observe.Observer
}

// connConfig is the configuration of a connection dialled with o (its
// Compressor left to set).
func (o *Options) connConfig() *wsconn.Config {
	return &wsconn.Config{
		Client:         true,
		MaxMessageSize: wsconn.OrDefault(o.MaxMessageSize, DefaultMaxMessageSize),
		CloseTimeout:   wsconn.OrDefault(o.CloseTimeout, DefaultCloseTimeout),
		PingInterval:   wsconn.OrDefault(o.PingInterval, DefaultPingInterval),
		PongTimeout:    wsconn.OrDefault(o.PongTimeout, DefaultPongTimeout),
		MessageTimeout: wsconn.OrDefault(o.MessageTimeout, DefaultMessageTimeout),
		Logger:         o.logger(),
		Observer:       o.Observer,
	}
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// Dial opens a WebSocket connection to rawURL and runs h on it: Opened is
// called before Dial returns, then ReceivedMessage and Ponged as frames
// arrive (from a goroutine of the connection's own, one at a time), and
// Closed last, exactly once. The URL is ws://host[:port]/path?query,
// wss://... (TLS), or ws+unix:///path/to/socket:/request/path?query for a
// server on a Unix socket (the convention of Node's ws).
// With Options.HTTP2, a wss:// WebSocket opens as an HTTP/2 stream (RFC
// 8441) when the server allows it.
//
// With a nil h, the messages are read with Conn.Read instead, in a loop, as
// with gorilla/websocket or coder/websocket (see Read for how unread
// messages are bounded); there is no callback then: Read's error says how
// the connection ended, and Done when.
//
// ctx bounds the connection and the opening handshake only, together with
// Options.HandshakeTimeout (10 s by default); once Dial has returned, ctx no
// longer matters. A refused or invalid handshake is a *HandshakeError; see
// its Err values for what is checked. Other failures (DNS, TCP, TLS, ctx,
// HandshakeTimeout) wrap the underlying error.
func Dial(ctx context.Context, rawURL string, h handler.Handler, opts *Options) (*Conn, error) {
	if opts == nil {
		opts = &Options{}
	}
	c, err := dial(ctx, rawURL, h, opts)
	if err != nil {
		return nil, err
	}
	c.start()
	return c, nil
}

// target is a parsed WebSocket URL.
type target struct {
	url     *url.URL // as given
	tls     bool
	unix    string // socket path for ws+unix
	addr    string // host:port to connect to (TCP)
	host    string // Host header
	reqURI  string // request target
	display string // URL for error messages
}

func parseURL(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("ws4go client: bad URL: %w", err)
	}
	t := &target{url: u, display: u.Redacted()}
	switch u.Scheme {
	case "ws", "wss":
		if u.Host == "" {
			return nil, fmt.Errorf("ws4go client: bad URL %q: no host", t.display)
		}
		t.tls = u.Scheme == "wss"
		port := u.Port()
		if port == "" {
			port = "80"
			if t.tls {
				port = "443"
			}
		}
		t.addr = net.JoinHostPort(u.Hostname(), port)
		t.host = u.Host
		t.reqURI = u.RequestURI()
	case "ws+unix":
		// ws+unix:///run/app.sock:/chat?room=a — the socket path, then
		// ":" and the request path (default "/").
		sock, path, found := strings.Cut(u.Path, ":")
		if sock == "" {
			return nil, fmt.Errorf("ws4go client: bad URL %q: no socket path", t.display)
		}
		if !found || path == "" {
			path = "/"
		}
		if !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("ws4go client: bad URL %q: the request path must start with /", t.display)
		}
		t.unix = sock
		t.host = "localhost"
		t.reqURI = path
		if u.RawQuery != "" {
			t.reqURI += "?" + u.RawQuery
		}
	default:
		return nil, fmt.Errorf("ws4go client: bad URL %q: the scheme must be ws, wss or ws+unix", t.display)
	}
	return t, nil
}

// reserved headers are set by the handshake itself.
var reserved = map[string]bool{
	"Upgrade": true, "Connection": true, "Sec-Websocket-Key": true, "Sec-Websocket-Version": true,
	"Sec-Websocket-Protocol": true, "Sec-Websocket-Extensions": true, "Sec-Websocket-Accept": true,
	"Content-Length": true, "Transfer-Encoding": true,
}

func validHeader(k string, vs []string) error {
	if k == "" || strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == ':' }) {
		return fmt.Errorf("ws4go client: bad header name %q", k)
	}
	if reserved[http.CanonicalHeaderKey(k)] {
		return fmt.Errorf("ws4go client: header %s may not be set: the handshake sets it (see Options.Subprotocols and Options.Compression)", k)
	}
	for _, v := range vs {
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("ws4go client: bad value for header %s: %q", k, v)
		}
	}
	return nil
}

func dial(ctx context.Context, rawURL string, h handler.Handler, opts *Options) (*Conn, error) {
	if err := opts.Compression.check(); err != nil {
		return nil, err
	}
	t, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	for k, vs := range opts.Header {
		if err := validHeader(k, vs); err != nil {
			return nil, err
		}
	}
	for _, p := range opts.Subprotocols {
		if !handshake.IsToken(p) {
			return nil, fmt.Errorf("ws4go client: bad subprotocol %q", p)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d := wsconn.OrDefault(opts.HandshakeTimeout, DefaultHandshakeTimeout); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, d, handshakeTimeout(d))
		defer cancel()
	}

	var nc net.Conn
	if opts.HTTP2 != nil && t.tls {
		c, h1, err := dialHTTP2(ctx, t, h, opts)
		if !h2stream.Unsupported(err) {
			return c, withCause(ctx, err)
		}
		opts.logger().Debug("ws4go client: HTTP/2 unavailable, using HTTP/1.1", "url", t.display, "err", err)
		nc = h1
	}
	if nc == nil {
		var err error
		if nc, err = connect(ctx, t, opts, nil); err != nil {
			return nil, withCause(ctx, err)
		}
	}
	// ctx bounds the handshake: its end wakes any blocked read or write.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	c, err := handshakeConn(t, nc, h, opts)
	if !stop() || ctx.Err() != nil {
		nc.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("ws4go client: dial %s: %w", t.display, errors.Join(context.Cause(ctx), unwrapTimeout(err)))
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// withCause adds why ctx ended to err, a failure its end may have caused,
// unless err says it already: "context deadline exceeded" alone does not
// tell that HandshakeTimeout passed.
func withCause(ctx context.Context, err error) error {
	if err == nil {
		return err
	}
	if ctx.Err() == nil {
		// A socket deadline set to ctx's (net.Dialer, x/net's SOCKS5
		// client) may pass just before ctx's timer fires.
		if dl, ok := ctx.Deadline(); !ok || !isTimeout(err) || time.Now().Before(dl) {
			return err
		}
		<-ctx.Done()
	}
	if cause := context.Cause(ctx); !errors.Is(err, cause) {
		return fmt.Errorf("%w: %w", err, cause)
	}
	return err
}

// isTimeout reports whether err is a deadline's.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// unwrapTimeout drops an error that only reports the deadline ctx set.
func unwrapTimeout(err error) error {
	if isTimeout(err) {
		return nil
	}
	return err
}

// connect opens the transport: TCP (possibly through a proxy, then TLS,
// offering the protocols alpn) or a Unix socket.
func connect(ctx context.Context, t *target, opts *Options, alpn []string) (net.Conn, error) {
	if t.unix != "" {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "unix", t.unix)
		if err != nil {
			return nil, fmt.Errorf("ws4go client: dial %s: %w", t.display, err)
		}
		return nc, nil
	}
	proxy, err := proxyFor(t, opts)
	if err != nil {
		return nil, err
	}
	return connectVia(ctx, t, opts, proxy, alpn)
}

// connectVia opens a TCP connection to t, through proxy if not nil, then
// TLS for wss:// offering alpn.
func connectVia(ctx context.Context, t *target, opts *Options, proxy *url.URL, alpn []string) (net.Conn, error) {
	var nc net.Conn
	var err error
	if proxy != nil {
		nc, err = dialProxy(ctx, t, opts, proxy)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", t.addr)
		if err != nil {
			err = fmt.Errorf("ws4go client: dial %s: %w", t.display, err)
		}
	}
	if err != nil {
		return nil, err
	}
	if !t.tls {
		return nc, nil
	}
	cfg := opts.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = t.url.Hostname()
	}
	// HTTP/1.1 (no ALPN) unless HTTP/2 is asked for.
	cfg.NextProtos = alpn
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("ws4go client: TLS handshake with %s: %w", t.display, err)
	}
	return tc, nil
}

// handshakeConn runs the opening handshake on nc.
func handshakeConn(t *target, nc net.Conn, h handler.Handler, opts *Options) (*Conn, error) {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])

	req, offer := newRequest(t, opts)
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", t.reqURI, req.Host)
	_ = req.Header.Write(&b)
	fmt.Fprintf(&b, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
	if len(opts.Subprotocols) > 0 {
		fmt.Fprintf(&b, "Sec-WebSocket-Protocol: %s\r\n", strings.Join(opts.Subprotocols, ", "))
	}
	if offer != "" {
		fmt.Fprintf(&b, "Sec-WebSocket-Extensions: %s\r\n", offer)
	}
	b.WriteString("\r\n")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	setOffer(req.Header, opts, offer)
	if _, err := io.WriteString(nc, b.String()); err != nil {
		return nil, fmt.Errorf("ws4go client: sending the handshake to %s: %w", t.display, err)
	}

	resp, br, err := readResponse(nc, req)
	var herr *HandshakeError
	switch {
	case err == nil:
	case errors.As(err, &herr):
		herr.URL = t.display
		return nil, herr
	case err == io.EOF:
		return nil, &HandshakeError{URL: t.display, Err: ErrMalformedResponse, Detail: "the server closed the connection without answering"}
	case err == io.ErrUnexpectedEOF:
		return nil, &HandshakeError{URL: t.display, Err: ErrMalformedResponse, Detail: "the server closed the connection in the middle of its answer"}
	default:
		return nil, fmt.Errorf("ws4go client: reading the handshake answer from %s: %w", t.display, err)
	}
	sub, pmd, herr := checkResponse(resp, key, opts)
	if herr != nil {
		herr.URL = t.display
		if herr.StatusCode != 0 && resp.StatusCode != http.StatusSwitchingProtocols {
			herr.Body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		}
		return nil, herr
	}
	var ext string
	if pmd != nil {
		ext = extensionsOf(resp)
	}
	return newConn(nc, br, h, opts, req, sub, pmd, ext), nil
}

// newRequest is the opening handshake's request with Options.Header (its
// Host entry as the Host), and the permessage-deflate offer ("": none).
func newRequest(t *target, opts *Options) (*http.Request, string) {
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        t.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{},
		Host:       t.host,
		RequestURI: t.reqURI,
	}
	for k, vs := range opts.Header {
		if http.CanonicalHeaderKey(k) == "Host" {
			if len(vs) > 0 {
				req.Host = vs[0]
			}
			continue
		}
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return req, opts.Compression.offer()
}

// setOffer sets the handshake's headers common to HTTP/1.1 and HTTP/2:
// the version, the subprotocols and the extension offer.
func setOffer(h http.Header, opts *Options, offer string) {
	h.Set("Sec-WebSocket-Version", "13")
	if len(opts.Subprotocols) > 0 {
		h.Set("Sec-WebSocket-Protocol", strings.Join(opts.Subprotocols, ", "))
	}
	if offer != "" {
		h.Set("Sec-WebSocket-Extensions", offer)
	}
}

// extensionsOf is the Sec-WebSocket-Extensions answer, as one value.
func extensionsOf(resp *http.Response) string {
	return strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", ")
}

// checkResponse applies RFC 6455 section 4.1 and RFC 7692 section 7.1 to
// the server's answer. It returns the subprotocol chosen and the
// permessage-deflate parameters (nil: no compression).
func checkResponse(resp *http.Response, key string, opts *Options) (string, *deflate.Parameters, *HandshakeError) {
	fail := func(err error, detail string) (string, *deflate.Parameters, *HandshakeError) {
		return "", nil, &HandshakeError{Err: err, Detail: detail, StatusCode: resp.StatusCode, Header: resp.Header}
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		detail := "got " + resp.Status
		if loc := resp.Header.Get("Location"); loc != "" {
			detail += " (redirect to " + loc + "; redirects are not followed)"
		}
		return fail(ErrBadStatus, detail)
	}
	if resp.ProtoMajor != 1 || resp.ProtoMinor < 1 {
		return fail(ErrMalformedResponse, "the response is "+resp.Proto+", want HTTP/1.1")
	}
	if !hasToken(resp.Header.Values("Upgrade"), "websocket") {
		return fail(ErrBadUpgrade, fmt.Sprintf("Upgrade: %q", resp.Header.Values("Upgrade")))
	}
	if !hasToken(resp.Header.Values("Connection"), "upgrade") {
		return fail(ErrBadConnection, fmt.Sprintf("Connection: %q", resp.Header.Values("Connection")))
	}
	switch accept := resp.Header.Values("Sec-WebSocket-Accept"); {
	case len(accept) == 0:
		return fail(ErrMissingAccept, "")
	case len(accept) > 1:
		return fail(ErrBadAccept, fmt.Sprintf("%d Sec-WebSocket-Accept headers", len(accept)))
	case strings.TrimSpace(accept[0]) != handshake.AcceptKey(key):
		return fail(ErrBadAccept, fmt.Sprintf("got %q, want %q", accept[0], handshake.AcceptKey(key)))
	}
	return checkNegotiation(resp, opts)
}

// checkNegotiation checks the extensions and the subprotocol the server
// accepted (RFC 6455 section 4.1, RFC 7692 section 7.1), over HTTP/1.1 or
// HTTP/2 (RFC 8441 section 5 keeps them as they are).
func checkNegotiation(resp *http.Response, opts *Options) (string, *deflate.Parameters, *HandshakeError) {
	fail := func(err error, detail string) (string, *deflate.Parameters, *HandshakeError) {
		return "", nil, &HandshakeError{Err: err, Detail: detail, StatusCode: resp.StatusCode, Header: resp.Header}
	}
	offered := opts.Subprotocols
	pmd, herr := checkExtensions(resp.Header.Values("Sec-WebSocket-Extensions"), &opts.Compression)
	if herr != nil {
		return fail(herr.Err, herr.Detail)
	}
	var sub string
	if ps := resp.Header.Values("Sec-WebSocket-Protocol"); len(ps) > 0 {
		var chosen []string
		for _, p := range ps {
			httphead.ScanTokens([]byte(p), func(t []byte) bool {
				chosen = append(chosen, string(t))
				return true
			})
		}
		if len(chosen) != 1 {
			return fail(ErrBadSubprotocol, fmt.Sprintf("Sec-WebSocket-Protocol: %q (exactly one must be chosen)", ps))
		}
		sub = chosen[0]
		ok := false
		for _, o := range offered {
			ok = ok || o == sub
		}
		if !ok {
			if len(offered) == 0 {
				return fail(ErrBadSubprotocol, fmt.Sprintf("got %q, none offered", sub))
			}
			return fail(ErrBadSubprotocol, fmt.Sprintf("got %q, offered %q", sub, offered))
		}
	}
	return sub, pmd, nil
}

// hasToken reports whether the comma-separated token lists vs contain want
// (ASCII case-insensitive).
func hasToken(vs []string, want string) bool {
	for _, v := range vs {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), want) {
				return true
			}
		}
	}
	return false
}
