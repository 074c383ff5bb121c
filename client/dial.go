package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/h2stream"
	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/wsconn"
)

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
