package client_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

// testProxy is a proxy on 127.0.0.1 for the tests: HTTP CONNECT (RFC 9110
// section 9.3.6), over TLS when tls is set, or SOCKS5 (RFC 1928, with
// username and password, RFC 1929). It requires the credentials user:pass
// when auth is set, tunnels to upstream when set (whatever address the
// client asked for) and counts the tunnels it opened.
type testProxy struct {
	socks    bool
	auth     bool
	tls      *tls.Config
	upstream string

	addr    string
	tunnels atomic.Int32
}

func (p *testProxy) start(t *testing.T) *testProxy {
	t.Helper()
	p.addr = testutil.TCPServer(t, func(nc net.Conn, track func(net.Conn)) {
		defer nc.Close()
		if p.tls != nil {
			nc = tls.Server(nc, p.tls)
		}
		if p.socks {
			p.serveSOCKS(nc, track)
		} else {
			p.serveConnect(nc, track)
		}
	})
	return p
}

// url is the proxy's URL, with the credentials user:password if not "".
func (p *testProxy) url(user, password string) *url.URL {
	u := &url.URL{Scheme: "http", Host: p.addr}
	switch {
	case p.socks:
		u.Scheme = "socks5"
	case p.tls != nil:
		u.Scheme = "https"
	}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u
}

// dialUp opens the tunnel's upstream connection.
func (p *testProxy) dialUp(addr string, track func(net.Conn)) (net.Conn, error) {
	if p.upstream != "" {
		addr = p.upstream
	}
	up, err := net.Dial("tcp", addr)
	if err == nil {
		track(up)
		p.tunnels.Add(1)
	}
	return up, err
}

func (p *testProxy) serveConnect(nc net.Conn, track func(net.Conn)) {
	br := bufio.NewReader(nc)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		io.WriteString(nc, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if p.auth && req.Header.Get("Proxy-Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("user:pass")) {
		io.WriteString(nc, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\nContent-Length: 6\r\n\r\ndenied")
		return
	}
	up, err := p.dialUp(req.Host, track)
	if err != nil {
		io.WriteString(nc, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	io.WriteString(nc, "HTTP/1.1 200 Connection established\r\n\r\n")
	relay(nc, br, up)
}

// serveSOCKS is the server side of a SOCKS5 CONNECT: the greeting, the
// username and password if auth is set, the request and its reply.
func (p *testProxy) serveSOCKS(nc net.Conn, track func(net.Conn)) {
	br := bufio.NewReader(nc)
	// next reads n bytes (zeros once the client is gone, which fail the
	// checks that follow).
	next := func(n int) []byte {
		b := make([]byte, n)
		_, _ = io.ReadFull(br, b)
		return b
	}
	hello := next(2)
	if hello[0] != 5 {
		return
	}
	method := byte(0) // no authentication
	if p.auth {
		method = 2 // username and password
	}
	if !slices.Contains(next(int(hello[1])), method) {
		nc.Write([]byte{5, 0xff})
		return
	}
	nc.Write([]byte{5, method})
	if p.auth {
		user := string(next(int(next(2)[1])))
		pass := string(next(int(next(1)[0])))
		if user != "user" || pass != "pass" {
			nc.Write([]byte{1, 1})
			return
		}
		nc.Write([]byte{1, 0})
	}
	reply := func(code byte) { nc.Write([]byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0}) }
	req := next(4)
	if req[1] != 1 { // CONNECT only
		reply(7)
		return
	}
	var host string
	switch req[3] {
	case 1:
		host = net.IP(next(4)).String()
	case 3:
		host = string(next(int(next(1)[0])))
	case 4:
		host = net.IP(next(16)).String()
	default:
		reply(8)
		return
	}
	port := binary.BigEndian.Uint16(next(2))
	up, err := p.dialUp(net.JoinHostPort(host, strconv.Itoa(int(port))), track)
	if err != nil {
		reply(5) // connection refused
		return
	}
	reply(0)
	relay(nc, br, up)
}

// relay copies between the client (nc, read through br) and up until both
// directions end, passing each half-close on.
func relay(nc net.Conn, br io.Reader, up net.Conn) {
	defer up.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, br)
		if cw, ok := up.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(nc, up)
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	<-done
}

// connectProxy starts an HTTP CONNECT proxy that requires user:pass when
// auth is set.
func connectProxy(t *testing.T, auth bool) (addr string, tunnels *atomic.Int32) {
	p := (&testProxy{auth: auth}).start(t)
	return p.addr, &p.tunnels
}

// proxyKinds are the three kinds of proxy, each as a fresh testProxy.
var proxyKinds = []struct {
	name string
	new  func(t *testing.T) *testProxy
}{
	{"http", func(*testing.T) *testProxy { return &testProxy{} }},
	{"https", func(t *testing.T) *testProxy {
		cert, _ := testutil.SelfSigned(t)
		return &testProxy{tls: &tls.Config{Certificates: []tls.Certificate{cert}}}
	}},
	{"socks5", func(*testing.T) *testProxy { return &testProxy{socks: true} }},
}

// trust is a TLS configuration that trusts the certificates of the given
// proxies' and servers' TLS configurations: Options.TLSConfig serves the
// proxy and the server.
func trust(cfgs ...*tls.Config) *tls.Config {
	pool := x509.NewCertPool()
	for _, c := range cfgs {
		if c != nil {
			pool.AddCert(c.Certificates[0].Leaf)
		}
	}
	return &tls.Config{RootCAs: pool}
}

// TestProxy: ws:// and wss:// through each kind of proxy, with and without
// credentials, over HTTP/1.1 and HTTP/2.
func TestProxy(t *testing.T) {
	cert, _ := testutil.SelfSigned(t)
	srvTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	plain := start(t, &server.Server{NewHandler: handler.NewEcho})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	secure := l.Addr().String()
	serve(t, &server.Server{NewHandler: handler.NewEcho, Compression: true}, tls.NewListener(l, srvTLS))
	h2 := start(t, &server.Server{NewHandler: handler.NewEcho,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}})

	for _, kind := range proxyKinds {
		t.Run(kind.name, func(t *testing.T) {
			p := kind.new(t)
			p.auth = true
			p.start(t)
			opts := &client.Options{Proxy: http.ProxyURL(p.url("user", "pass")), TLSConfig: trust(p.tls, srvTLS)}
			echoChecks(t, "ws://"+plain+"/", opts)
			// TLS runs end to end inside the tunnel: the proxy
			// only sees the address, and the certificate is
			// checked against the server's name.
			echoChecks(t, "wss://"+secure+"/", opts)
			if n := p.tunnels.Load(); n != 2 {
				t.Fatalf("%d tunnels through the proxy, want 2", n)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			wrongName := *opts
			wrongName.TLSConfig = trust(p.tls, srvTLS)
			wrongName.TLSConfig.ServerName = "elsewhere.example"
			_, err = client.Dial(ctx, "wss://"+secure+"/", handler.Base{}, &wrongName)
			var hostErr x509.HostnameError
			if !errors.As(err, &hostErr) || p.tls != nil && !strings.Contains(err.Error(), "TLS handshake with wss://") {
				t.Fatalf("wrong server name through the proxy: %v, want the server's certificate refused", err)
			}
			// HTTP/2: two WebSockets share one tunnel.
			h2opts := *opts
			h2opts.HTTP2 = new(client.HTTP2Pool)
			before := p.tunnels.Load()
			for range 2 {
				r := newRecorder()
				c := dial(t, "wss://"+h2+"/ws", r, &h2opts)
				if c.Proto() != "HTTP/2.0" {
					t.Fatalf("Proto %q", c.Proto())
				}
				_ = c.SendText("tunnelled")
				r.expect(t, handler.Text, []byte("tunnelled"))
			}
			if n := p.tunnels.Load() - before; n != 1 {
				t.Fatalf("%d tunnels for two HTTP/2 WebSockets, want 1", n)
			}
		})
	}
}

// TestProxyFailures: each kind of proxy refused, rejecting the
// credentials, failing to reach the server, or hanging. Each failure is
// told apart, and a hanging proxy ends the Dial at its ctx's deadline.
func TestProxyFailures(t *testing.T) {
	addr := start(t, &server.Server{NewHandler: handler.NewEcho})
	closed := func() string { // a port nothing listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		return l.Addr().String()
	}()
	for _, kind := range proxyKinds {
		t.Run(kind.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			p := kind.new(t)
			p.auth = true
			p.start(t)
			opts := func(u *url.URL) *client.Options {
				return &client.Options{Proxy: http.ProxyURL(u), TLSConfig: trust(p.tls)}
			}

			// Nothing listens at the proxy's address.
			down := *p.url("", "")
			down.Host = closed
			_, err := client.Dial(ctx, "ws://"+addr+"/", handler.Base{}, opts(&down))
			if !errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, client.ErrProxy) || !strings.Contains(err.Error(), "dial proxy") {
				t.Errorf("proxy down: %v, want connection refused", err)
			}

			// Wrong credentials.
			_, err = client.Dial(ctx, "ws://"+addr+"/", handler.Base{}, opts(p.url("user", "wrong")))
			var he *client.HandshakeError
			if !errors.Is(err, client.ErrProxy) || !errors.As(err, &he) {
				t.Errorf("wrong credentials: %v, want ErrProxy", err)
			} else if p.socks && !strings.Contains(err.Error(), "authentication failed") ||
				!p.socks && (he.StatusCode != 407 || !strings.Contains(err.Error(), "denied")) {
				t.Errorf("wrong credentials: %v (status %d), want the proxy's refusal", err, he.StatusCode)
			}

			// The proxy cannot reach the server.
			_, err = client.Dial(ctx, "ws://"+closed+"/", handler.Base{}, opts(p.url("user", "pass")))
			if !errors.Is(err, client.ErrProxy) || !strings.Contains(err.Error(), map[bool]string{true: "refused", false: "502"}[p.socks]) {
				t.Errorf("server unreachable: %v, want ErrProxy", err)
			}
			if n := p.tunnels.Load(); n != 0 {
				t.Errorf("%d tunnels opened", n)
			}

			// The proxy accepts the connection (and TLS) and never
			// answers: ctx's deadline ends the Dial.
			hang := *p.url("", "")
			hang.Host = testutil.TCPServer(t, func(nc net.Conn, _ func(net.Conn)) {
				if p.tls != nil {
					nc = tls.Server(nc, p.tls)
				}
				_, _ = io.Copy(io.Discard, nc)
			})
			short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			took, err := dialFails(t, short, "ws://"+addr+"/", opts(&hang))
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, client.ErrProxy) || !strings.Contains(err.Error(), "did not answer") {
				t.Errorf("proxy hangs: %v, want ctx's DeadlineExceeded", err)
			}
			if took < 300*time.Millisecond {
				t.Errorf("proxy hangs: Dial failed after %v, before ctx's deadline", took)
			}
		})
	}

	// An unknown scheme is refused before anything is dialled.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err := client.Dial(ctx, "ws://"+addr+"/", handler.Base{}, &client.Options{Proxy: http.ProxyURL(&url.URL{Scheme: "ftp", Host: addr})})
	if err == nil || !strings.Contains(err.Error(), `unsupported scheme "ftp"`) {
		t.Errorf("ftp:// proxy: %v, want unsupported scheme", err)
	}
}

// TestProxyFromEnvironment: the proxy chosen for ws:// and wss:// URLs
// from the variables Go programs and curl read.
func TestProxyFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		ws, wss string // the proxy chosen for ws://h.example and wss://h.example
		err     bool   // for ws://
	}{
		{"none", nil, "", "", false},
		{"per scheme", map[string]string{"HTTP_PROXY": "http://p1:3128", "HTTPS_PROXY": "https://p2"}, "http://p1:3128", "https://p2", false},
		{"ALL_PROXY", map[string]string{"ALL_PROXY": "socks5://u:p@s:1080"}, "socks5://u:p@s:1080", "socks5://u:p@s:1080", false},
		{"ALL_PROXY behind HTTPS_PROXY", map[string]string{"ALL_PROXY": "socks5h://s", "HTTPS_PROXY": "http://p2"}, "socks5h://s", "http://p2", false},
		{"lower case first", map[string]string{"all_proxy": "http://lower", "ALL_PROXY": "http://upper"}, "http://lower", "http://lower", false},
		{"host:port", map[string]string{"ALL_PROXY": "p3:8080"}, "http://p3:8080", "http://p3:8080", false},
		{"NO_PROXY names the domain", map[string]string{"ALL_PROXY": "http://p", "NO_PROXY": "example"}, "", "", false},
		{"NO_PROXY names another", map[string]string{"ALL_PROXY": "http://p", "NO_PROXY": "other.example,10.0.0.0/8"}, "http://p", "http://p", false},
		{"NO_PROXY *", map[string]string{"ALL_PROXY": "http://p", "no_proxy": "*"}, "", "", false},
		{"CGI refuses HTTP_PROXY", map[string]string{"HTTP_PROXY": "http://p", "REQUEST_METHOD": "GET"}, "", "", true},
		{"CGI takes ALL_PROXY", map[string]string{"ALL_PROXY": "http://p", "REQUEST_METHOD": "GET"}, "http://p", "http://p", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD"} {
				t.Setenv(k, "")
				t.Setenv(strings.ToLower(k), "")
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			for _, c := range []struct{ scheme, want string }{{"http", tc.ws}, {"https", tc.wss}} {
				u, err := client.ProxyFromEnvironment(&http.Request{URL: &url.URL{Scheme: c.scheme, Host: "h.example"}})
				if c.scheme == "http" && tc.err {
					if err == nil {
						t.Errorf("%s: %v, want an error", c.scheme, u)
					}
					continue
				}
				got := ""
				if u != nil {
					got = u.String()
				}
				if err != nil || got != c.want {
					t.Errorf("%s: %q, %v; want %q", c.scheme, got, err, c.want)
				}
			}
			// Loopback is always reached directly.
			if u, _ := client.ProxyFromEnvironment(&http.Request{URL: &url.URL{Scheme: "https", Host: "127.0.0.1:9001"}}); u != nil {
				t.Errorf("loopback through %v", u)
			}
		})
	}
}

// TestProxyFromEnvironmentDial: Dial with ProxyFromEnvironment goes through
// the SOCKS5 proxy ALL_PROXY names for ws://, and the HTTPS proxy
// HTTPS_PROXY names for wss://. The server's name (echo.test, which no DNS
// resolves) is reached only through the proxies, which send every tunnel
// to the test's servers.
func TestProxyFromEnvironmentDial(t *testing.T) {
	cert, _ := testutil.SelfSigned(t)
	srvTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	plain := start(t, &server.Server{NewHandler: handler.NewEcho})
	secure := start(t, &server.Server{NewHandler: handler.NewEcho, TLSConfig: srvTLS})
	socks := (&testProxy{socks: true, auth: true, upstream: plain}).start(t)
	https := (&testProxy{tls: proxyKinds[1].new(t).tls, upstream: secure}).start(t)
	t.Setenv("ALL_PROXY", socks.url("user", "pass").String())
	t.Setenv("HTTPS_PROXY", https.url("", "").String())
	t.Setenv("NO_PROXY", "")
	cfg := trust(https.tls, srvTLS)
	cfg.ServerName = "localhost" // the server's certificate names it
	opts := &client.Options{Proxy: client.ProxyFromEnvironment, TLSConfig: cfg}
	echoChecks(t, "ws://echo.test/", opts)
	echoChecks(t, "wss://echo.test/", opts)
	if s, h := socks.tunnels.Load(), https.tunnels.Load(); s != 1 || h != 1 {
		t.Fatalf("%d tunnels through SOCKS5, %d through HTTPS; want 1 and 1", s, h)
	}
}
