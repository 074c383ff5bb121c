package testutil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ws4go/ws4go/internal/h2stream"
)

// H2Conn is a test client's HTTP/2 connection (TLS, ALPN "h2") on which it
// opens WebSocket streams with RFC 8441 extended CONNECTs. The test's
// process must import github.com/ws4go/ws4go/xconnect, or x/net/http2
// refuses extended CONNECT. It is closed when the test ends.
type H2Conn struct {
	t  testing.TB
	tc *tls.Conn
	cc *http2.ClientConn
}

// DialH2 opens an HTTP/2 connection to addr, trusting pool.
func DialH2(t testing.TB, addr string, pool *x509.CertPool) *H2Conn {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	tc, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		tc.Close()
		t.Fatalf("ALPN chose %q, want h2", p)
	}
	// Strict: a stream past the server's SETTINGS_MAX_CONCURRENT_STREAMS
	// waits for a free slot instead of failing.
	cc, err := (&http2.Transport{StrictMaxConcurrentStreams: true}).NewClientConn(tc)
	if err != nil {
		tc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return &H2Conn{t: t, tc: tc, cc: cc}
}

// Do sends any request on the connection.
func (c *H2Conn) Do(req *http.Request) (*http.Response, error) { return c.cc.RoundTrip(req) }

// LocalAddr is the client's end of the TCP connection.
func (c *H2Conn) LocalAddr() net.Addr { return c.tc.LocalAddr() }

// Close closes the connection.
func (c *H2Conn) Close() error { return c.cc.Close() }

// Open sends an extended CONNECT for a WebSocket at path, with :protocol
// websocket and Sec-WebSocket-Version 13 unless h has them (an empty value
// list: none), and the other fields of h, and returns the response and the
// stream (which carries frames only if the status is 200). The stream is
// reset when the test ends.
func (c *H2Conn) Open(path string, h http.Header) (*http.Response, *H2Stream) {
	c.t.Helper()
	resp, s, err := c.OpenErr(path, h)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, s
}

// OpenErr is Open returning its error, for goroutines other than the
// test's. It waits at most 10 s for the response header.
func (c *H2Conn) OpenErr(path string, h http.Header) (*http.Response, *H2Stream, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h = h.Clone()
	if h == nil {
		h = http.Header{}
	}
	if _, ok := h["Sec-Websocket-Version"]; !ok {
		h.Set("Sec-WebSocket-Version", "13")
	}
	u := &url.URL{Scheme: "https", Host: c.tc.RemoteAddr().String(), Path: path}
	if q := strings.IndexByte(path, '?'); q >= 0 {
		u.Path, u.RawQuery = path[:q], path[q+1:]
	}
	resp, sc, err := h2stream.Open(ctx, c.cc, u, u.Host, h)
	if err != nil {
		return nil, nil, fmt.Errorf("extended CONNECT %s: %w", path, err)
	}
	if sc == nil {
		return resp, nil, nil
	}
	s := &H2Stream{Conn: sc, local: c.tc.LocalAddr()}
	c.t.Cleanup(func() { s.Close() })
	return resp, s, nil
}

// H2Stream is one WebSocket stream as a net.Conn (an h2stream.Conn, whose
// passed deadline resets the stream: a guard against hangs, not a timeout
// to retry after).
type H2Stream struct {
	*h2stream.Conn
	local net.Addr
}

// Read reads the server's bytes; io.EOF is its END_STREAM, which ends the
// client's side too (as a WebSocket client does once the server has).
func (s *H2Stream) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	if err == io.EOF {
		_ = s.CloseWrite()
	}
	return n, err
}

// LocalAddr is the client's end of the TCP connection.
func (s *H2Stream) LocalAddr() net.Addr { return s.local }
