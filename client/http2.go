package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"time"
	"weak"

	"golang.org/x/net/http2"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/h2stream"
	"github.com/ws4go/ws4go/internal/handshake"
)

// HTTP2Pool holds the HTTP/2 connections that Dial opens WebSockets on
// (RFC 8441) when Options.HTTP2 points to it: the WebSockets dialled to
// one host share a TCP connection (a new one is opened when the server's
// SETTINGS_MAX_CONCURRENT_STREAMS is reached), if their Dials agree on how
// it is opened: the same Options.TLSConfig (the same pointer: a Dial with
// strict certificate checks never gets a connection another Dial opened
// with InsecureSkipVerify or another client certificate) and the same
// proxy (the URL Options.Proxy chose, user information included). A
// connection is opened with the settings of the Dial that needed it.
// The pool keeps a set of connections per TLS configuration and proxy for
// as long as the *tls.Config is reachable (reuse one per set of settings,
// as with net/http). The zero value is ready to use; a pool must not be
// copied after use.
//
// The program must import package xconnect (see Options.HTTP2).
type HTTP2Pool struct {
	mu  sync.Mutex
	trs map[h2Key]*http2.Transport
}

// h2Key is what a pool's connection is opened with besides its host: only
// Dials that agree on it share connections.
type h2Key struct {
	// tls is Options.TLSConfig, weak so that the pool does not keep a
	// configuration alive (zero: nil); its set is dropped once the
	// configuration is collected.
	tls weak.Pointer[tls.Config]
	// proxy is the proxy's URL with its user information ("": none).
	proxy string
}

// The pool's connection timers.
const (
	// HTTP2IdleTimeout: a connection that has carried no WebSocket for
	// this long is closed.
	HTTP2IdleTimeout = 90 * time.Second
	// HTTP2PingInterval: a connection that received no frame for this
	// long is pinged (an HTTP/2 PING). A connection whose writes make no
	// progress for DefaultWriteTimeout is dropped with its WebSockets.
	HTTP2PingInterval = 30 * time.Second
	// HTTP2PingTimeout: a pinged connection that does not answer within
	// it is dropped with its WebSockets.
	HTTP2PingTimeout = 15 * time.Second
)

// CloseIdleConnections closes the pool's connections that carry no
// WebSocket.
func (p *HTTP2Pool) CloseIdleConnections() {
	p.mu.Lock()
	trs := make([]*http2.Transport, 0, len(p.trs))
	for _, tr := range p.trs {
		trs = append(trs, tr)
	}
	p.mu.Unlock()
	for _, tr := range trs {
		tr.CloseIdleConnections()
	}
}

// transport returns the transport, and so the connections, of the Dials
// with cfg and proxy.
func (p *HTTP2Pool) transport(cfg *tls.Config, proxy *url.URL) *http2.Transport {
	k := h2Key{tls: weak.Make(cfg)}
	if proxy != nil {
		k.proxy = proxy.String()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if tr := p.trs[k]; tr != nil {
		return tr
	}
	if p.trs == nil {
		p.trs = map[h2Key]*http2.Transport{}
	}
	tr := &http2.Transport{
		DialTLSContext:  dialH2,
		IdleConnTimeout: HTTP2IdleTimeout,
		// A dead TCP connection would take every new stream
		// with it: the transport pings a silent one and drops
		// it when no answer comes, or when its writes stall.
		ReadIdleTimeout:  HTTP2PingInterval,
		PingTimeout:      HTTP2PingTimeout,
		WriteByteTimeout: DefaultWriteTimeout,
		// A response's header list is bounded as the server bounds
		// a request head (x/net's default is 10 MiB).
		MaxHeaderListSize: handshake.MaxHeadSize,
	}
	p.trs[k] = tr
	if cfg != nil {
		runtime.AddCleanup(cfg, p.forget, k)
	}
	return tr
}

// forget drops the transport of a collected TLS configuration: no Dial
// can ask for it again. Its idle connections are closed; the others end
// with their last WebSocket (HTTP2IdleTimeout after it).
func (p *HTTP2Pool) forget(k h2Key) {
	p.mu.Lock()
	tr := p.trs[k]
	delete(p.trs, k)
	p.mu.Unlock()
	if tr != nil {
		tr.CloseIdleConnections()
	}
}

// h2Dial is what the pool's dial function needs from the Dial that asked
// for a connection; it travels in the request's context.
type h2Dial struct {
	t     *target
	opts  *Options
	proxy *url.URL // the proxy the connection's key names
	mu    sync.Mutex
	done  bool // Dial no longer waits: a late connection is closed
	// http1 is a TLS connection on which the server chose HTTP/1.1:
	// the WebSocket is opened on it rather than on a new one.
	http1 net.Conn
}

// giveUp marks d done and returns its HTTP/1.1 connection, if any.
func (d *h2Dial) giveUp() net.Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done = true
	return d.http1
}

type h2DialKey struct{}

// dialH2 opens a TLS connection offering h2 and http/1.1 (ALPN), through
// the proxy if any; the pool's dial function.
func dialH2(ctx context.Context, _, _ string, _ *tls.Config) (net.Conn, error) {
	d, _ := ctx.Value(h2DialKey{}).(*h2Dial)
	if d == nil {
		// A Dial's own request always carries one.
		return nil, h2stream.ErrNoHTTP2
	}
	nc, err := connectVia(ctx, d.t, d.opts, d.proxy, []string{http2.NextProtoTLS, "http/1.1"})
	if err != nil {
		return nil, err
	}
	if nc.(*tls.Conn).ConnectionState().NegotiatedProtocol != http2.NextProtoTLS {
		d.mu.Lock()
		if d.done {
			nc.Close()
		} else {
			d.http1 = nc
		}
		d.mu.Unlock()
		return nil, h2stream.ErrNoHTTP2
	}
	return nc, nil
}

// dialHTTP2 opens the WebSocket on an HTTP/2 stream of opts.HTTP2. When
// the server speaks no HTTP/2 or no extended CONNECT, it returns
// (nil, nil, nil, err) with h2stream.Unsupported(err), and the TLS
// connection the server chose HTTP/1.1 on, if it has one.
func dialHTTP2(ctx context.Context, t *target, h handler.Handler, opts *Options) (*Conn, net.Conn, error) {
	req, offer := newRequest(t, opts)
	req.Method = http.MethodConnect
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/2.0", 2, 0
	// RFC 8441 section 5: no Upgrade, Connection or Sec-WebSocket-Key;
	// the version, subprotocols and extensions as over HTTP/1.1.
	setOffer(req.Header, opts, offer)
	u := &url.URL{Scheme: "https", Host: t.addr, Path: t.url.Path, RawPath: t.url.RawPath, RawQuery: t.url.RawQuery}
	if u.Path == "" {
		u.Path = "/"
	}
	proxy, err := proxyFor(t, opts)
	if err != nil {
		return nil, nil, err
	}
	d := &h2Dial{t: t, opts: opts, proxy: proxy}
	resp, sc, err := h2stream.Open(context.WithValue(ctx, h2DialKey{}, d), opts.HTTP2.transport(opts.TLSConfig, proxy), u, req.Host, req.Header)
	h1 := d.giveUp()
	if err != nil {
		if h2stream.Unsupported(err) && ctx.Err() == nil {
			return nil, h1, err
		}
		if h1 != nil {
			h1.Close()
		}
		var ce http2.ConnectionError
		if errors.As(err, &ce) && (ce == http2.ConnectionError(http2.ErrCodeProtocol) || ce == http2.ConnectionError(http2.ErrCodeCompression)) {
			// x/net drops a connection whose answer's header list
			// passes MaxHeaderListSize with one of these codes.
			return nil, nil, fmt.Errorf("ws4go client: dial %s over HTTP/2: %w (the server broke HTTP/2, or its answer's header list passed %d KiB)",
				t.display, err, handshake.MaxHeadSize>>10)
		}
		return nil, nil, fmt.Errorf("ws4go client: dial %s over HTTP/2: %w", t.display, err)
	}
	if sc == nil {
		defer resp.Body.Close()
		herr := &HandshakeError{URL: t.display, Err: ErrBadStatus, Detail: "got " + resp.Status + " (HTTP/2: want 2xx)",
			StatusCode: resp.StatusCode, Header: resp.Header}
		herr.Body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return nil, nil, herr
	}
	sub, pmd, herr := checkNegotiation(resp, opts)
	if herr != nil {
		sc.Close()
		herr.URL = t.display
		return nil, nil, herr
	}
	var ext string
	if pmd != nil {
		ext = extensionsOf(resp)
	}
	// A bufio.Reader's smallest buffer: the reading goroutine's reads
	// are larger and bypass it.
	return newConn(sc, bufio.NewReaderSize(sc, 16), h, opts, req, sub, pmd, ext), nil, nil
}
