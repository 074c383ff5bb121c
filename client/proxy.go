package client

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"
	"golang.org/x/net/proxy"
)

// ProxyFromEnvironment chooses the proxy of a Dial from the environment,
// as Go programs and curl do; set it as Options.Proxy to follow it.
// HTTPS_PROXY names the proxy for wss:// URLs and HTTP_PROXY for ws://
// ones, ALL_PROXY the proxy for both when the other is unset (Go's
// http.ProxyFromEnvironment ignores it); NO_PROXY lists the hosts reached
// directly (comma-separated names, which match their subdomains too, IP
// addresses and CIDR ranges, optionally with a port; "*" for all), and
// localhost and loopback addresses are always reached directly. Lower-case
// names (https_proxy, ...) take precedence over upper-case ones. A value
// may be an http://, https://, socks5:// or socks5h:// URL, or a bare
// host:port, taken as http://. As in net/http, HTTP_PROXY is refused in a
// CGI program (REQUEST_METHOD set), where a request's Proxy header could
// have set it. The variables are read at each call.
func ProxyFromEnvironment(req *http.Request) (*url.URL, error) {
	cfg := httpproxy.FromEnvironment()
	if all := getenvAny("all_proxy", "ALL_PROXY"); all != "" {
		if cfg.HTTPSProxy == "" {
			cfg.HTTPSProxy = all
		}
		if cfg.HTTPProxy == "" {
			// No request header sets ALL_PROXY: the CGI guard
			// is for HTTP_PROXY only.
			cfg.HTTPProxy, cfg.CGI = all, false
		}
	}
	return cfg.ProxyFunc()(req.URL)
}

func getenvAny(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// proxyFor is the proxy opts.Proxy chooses for t (nil: none).
func proxyFor(t *target, opts *Options) (*url.URL, error) {
	if opts.Proxy == nil {
		return nil, nil
	}
	u := *t.url
	u.Scheme = "http"
	if t.tls {
		u.Scheme = "https"
	}
	p, err := opts.Proxy(&http.Request{Method: http.MethodGet, URL: &u, Header: http.Header{}, Host: t.host})
	if err != nil {
		return nil, fmt.Errorf("ws4go client: choosing a proxy for %s: %w", t.display, err)
	}
	return p, nil
}

// dialProxy opens a tunnel to t through p: a CONNECT request (RFC 9110
// section 9.3.6) to an HTTP proxy over TCP or TLS, or a SOCKS5 CONNECT
// (RFC 1928). ctx bounds it all.
func dialProxy(ctx context.Context, t *target, opts *Options, p *url.URL) (net.Conn, error) {
	switch p.Scheme {
	case "http", "https":
		return connectProxy(ctx, t, opts, p)
	case "socks5", "socks5h":
		return socksProxy(ctx, t, p)
	}
	return nil, fmt.Errorf("ws4go client: proxy %s: unsupported scheme %q (http, https, socks5 and socks5h are)", p.Redacted(), p.Scheme)
}

// connectProxy opens a tunnel to t through an HTTP proxy, over TLS for an
// https:// one (TLS with the server then runs inside the tunnel).
func connectProxy(ctx context.Context, t *target, opts *Options, p *url.URL) (net.Conn, error) {
	port := "80"
	if p.Scheme == "https" {
		port = "443"
	}
	if p.Port() != "" {
		port = p.Port()
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(p.Hostname(), port))
	if err != nil {
		return nil, fmt.Errorf("ws4go client: dial proxy %s: %w", p.Redacted(), err)
	}
	if p.Scheme == "https" {
		// Options.TLSConfig serves the proxy too (its roots, its
		// client certificate), as net/http's TLSClientConfig does;
		// the name checked is the proxy's.
		cfg := opts.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		cfg.ServerName, cfg.NextProtos = p.Hostname(), nil
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("ws4go client: TLS handshake with proxy %s: %w", p.Redacted(), err)
		}
		nc = tc
	}
	// ctx bounds the exchange: its end wakes a blocked read or write.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (net.Conn, error) {
		stop()
		nc.Close()
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", t.addr, t.addr)
	if u := p.User; u != nil {
		pw, _ := u.Password()
		cred := base64.StdEncoding.EncodeToString([]byte(u.Username() + ":" + pw))
		fmt.Fprintf(&b, "Proxy-Authorization: Basic %s\r\n", cred)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(nc, b.String()); err != nil {
		return fail(fmt.Errorf("ws4go client: sending CONNECT to proxy %s: %w", p.Redacted(), err))
	}
	refused := func(detail string) *HandshakeError {
		return &HandshakeError{URL: t.display, Err: ErrProxy, Detail: "proxy " + p.Redacted() + ": " + detail}
	}
	resp, br, err := readResponse(nc, &http.Request{Method: http.MethodConnect})
	var herr *HandshakeError
	switch {
	case err == nil:
	case errors.As(err, &herr):
		return fail(refused("its answer: " + strings.TrimSuffix(herr.Err.Error()+": "+herr.Detail, ": ")))
	case ctx.Err() != nil || isTimeout(err):
		return fail(fmt.Errorf("ws4go client: proxy %s did not answer CONNECT: %w", p.Redacted(), err))
	default:
		return fail(refused("reading its answer: " + err.Error()))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		herr := refused("answered " + resp.Status)
		herr.StatusCode, herr.Header = resp.StatusCode, resp.Header
		herr.Body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fail(herr)
	}
	if br.Buffered() > 0 {
		return fail(refused("it sent data before the tunnel was used"))
	}
	if !stop() {
		return fail(fmt.Errorf("ws4go client: proxy %s: %w", p.Redacted(), ctx.Err()))
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, nil
}

// socksProxy opens a tunnel to t through a SOCKS5 proxy, with
// golang.org/x/net/proxy: with the URL's user information as username and
// password (RFC 1929), and the server's name resolved by the proxy (for
// socks5:// too, as net/http does).
func socksProxy(ctx context.Context, t *target, p *url.URL) (net.Conn, error) {
	fwd := &proxyDialer{}
	d, err := proxy.FromURL(p, fwd)
	if err != nil {
		return nil, fmt.Errorf("ws4go client: proxy %s: %w", p.Redacted(), err)
	}
	nc, err := d.(proxy.ContextDialer).DialContext(ctx, "tcp", t.addr)
	switch {
	case err == nil:
		return nc, nil
	case !fwd.reached:
		return nil, fmt.Errorf("ws4go client: dial proxy %s: %w", p.Redacted(), err)
	case ctx.Err() != nil || isTimeout(err):
		return nil, fmt.Errorf("ws4go client: SOCKS5 proxy %s did not answer: %w", p.Redacted(), err)
	}
	return nil, &HandshakeError{URL: t.display, Err: ErrProxy, Detail: "SOCKS5 proxy " + p.Redacted() + ": " + err.Error()}
}

// proxyDialer dials the proxy for x/net's SOCKS5 client, and tells whether
// it got there: a failure after that is the proxy's answer.
type proxyDialer struct {
	d       net.Dialer
	reached bool
}

func (p *proxyDialer) Dial(network, addr string) (net.Conn, error) {
	return p.DialContext(context.Background(), network, addr)
}

func (p *proxyDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := p.d.DialContext(ctx, network, addr)
	p.reached = err == nil
	return nc, err
}
