package testutil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
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
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodConnect, "https://"+c.tc.RemoteAddr().String()+path, pr)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	req.Header = h.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if _, ok := req.Header[":protocol"]; !ok {
		req.Header[":protocol"] = []string{"websocket"}
	}
	if _, ok := req.Header["Sec-Websocket-Version"]; !ok {
		req.Header.Set("Sec-WebSocket-Version", "13")
	}
	timer := time.AfterFunc(10*time.Second, cancel)
	resp, err := c.cc.RoundTrip(req)
	timer.Stop()
	if err != nil {
		cancel()
		pw.Close()
		return nil, nil, fmt.Errorf("extended CONNECT %s: %w", path, err)
	}
	s := &H2Stream{pw: pw, body: resp.Body, cancel: cancel, local: c.tc.LocalAddr(), remote: c.tc.RemoteAddr()}
	c.t.Cleanup(func() { s.Close() })
	return resp, s, nil
}

// H2Stream is one WebSocket stream as a net.Conn: Read takes the response
// body, Write the request body. A deadline, once it passes, resets the
// stream (a guard against hangs, not a timeout to retry after).
type H2Stream struct {
	pw            *io.PipeWriter
	body          io.ReadCloser
	cancel        context.CancelFunc
	local, remote net.Addr

	mu    sync.Mutex
	timer *time.Timer
}

var _ net.Conn = (*H2Stream)(nil)

// Read reads the server's bytes; io.EOF is its END_STREAM, which ends the
// client's side too (as a WebSocket client does once the server has).
func (s *H2Stream) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	if err == io.EOF {
		s.pw.Close()
	}
	return n, err
}

// Write sends bytes to the server.
func (s *H2Stream) Write(p []byte) (int, error) { return s.pw.Write(p) }

// CloseWrite ends the client's side of the stream (END_STREAM).
func (s *H2Stream) CloseWrite() error { return s.pw.Close() }

// Close resets the stream.
func (s *H2Stream) Close() error {
	s.cancel()
	s.pw.Close()
	s.body.Close()
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	return nil
}

// LocalAddr is the client's end of the TCP connection.
func (s *H2Stream) LocalAddr() net.Addr { return s.local }

// RemoteAddr is the server's end of the TCP connection.
func (s *H2Stream) RemoteAddr() net.Addr { return s.remote }

// SetDeadline resets the stream at t (the zero time: never).
func (s *H2Stream) SetDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if !t.IsZero() {
		s.timer = time.AfterFunc(time.Until(t), s.cancel)
	}
	return nil
}

// SetReadDeadline is SetDeadline: the stream has one deadline.
func (s *H2Stream) SetReadDeadline(t time.Time) error { return s.SetDeadline(t) }

// SetWriteDeadline is SetDeadline: the stream has one deadline.
func (s *H2Stream) SetWriteDeadline(t time.Time) error { return s.SetDeadline(t) }
