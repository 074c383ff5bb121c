package client_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

// Hostile servers at the opening handshake: heads that never end, answers
// that never come. Each Dial must fail with a clear error, within its
// bounds of memory (handshake.MaxHeadSize) and time (HandshakeTimeout).

// floodSize is what a flooding server offers: far more than any bound.
const floodSize = 64 << 20

// allocBound is the most a Dial may allocate while a server floods it.
const allocBound = 2 << 20

// TestEndlessResponseHead: a hostile server answers the handshake with a
// head that never ends, offering 64 MiB. Dial must fail with
// ErrHeadTooLarge after 8 KiB, allocating little (before the bound, 256
// MiB sent grew the client's heap to 847 MiB), and close the connection,
// which stops the flood.
func TestEndlessResponseHead(t *testing.T) {
	for _, tc := range []struct{ name, prefix, unit string }{
		{"one header line", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-Endless: ", "a"},
		{"status line", "HTTP/1.1 101 ", "Switching "},
		{"header lines", "HTTP/1.1 101 Switching Protocols\r\n", "X-A: b\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := dialFlooded(t, tc.prefix, tc.unit, func(addr string) (string, *client.Options) {
				return "ws://" + addr + "/", nil
			})
			var he *client.HandshakeError
			if !errors.Is(err, client.ErrHeadTooLarge) || !errors.As(err, &he) || !strings.Contains(err.Error(), "8 KiB") {
				t.Fatalf("Dial: %v, want ErrHeadTooLarge naming the bound", err)
			}
		})
	}
}

// dialFlooded starts a server that answers a connection with prefix, then
// unit over and over, up to floodSize bytes, and dials it: to (given its
// address) says the URL and options. It checks that Dial failed having
// allocated at most allocBound and that it closed the connection (which
// stops the flood), and returns Dial's error.
func dialFlooded(t *testing.T, prefix, unit string, to func(addr string) (string, *client.Options)) error {
	t.Helper()
	sent := make(chan int64, 1)
	addr := testutil.TCPServer(t, func(nc net.Conn, _ func(net.Conn)) {
		defer nc.Close()
		sent <- flood(nc, prefix, unit, floodSize)
	})
	url, opts := to(addr)
	var err error
	alloc := allocated(func() { _, err = dialFails(t, context.Background(), url, opts) })
	if alloc > allocBound {
		t.Errorf("Dial allocated %d bytes, want at most %d", alloc, allocBound)
	}
	if n := <-sent; n >= floodSize {
		t.Errorf("the peer sent all %d bytes: the client did not close", n)
	}
	return err
}

// TestProxyEndlessAnswer: an HTTP proxy answers CONNECT with a head that
// never ends, offering 64 MiB: Dial fails with ErrProxy after 8 KiB,
// having allocated little.
func TestProxyEndlessAnswer(t *testing.T) {
	addr := start(t, &server.Server{NewHandler: handler.NewEcho})
	err := dialFlooded(t, "HTTP/1.1 200 Connection established\r\nX-Endless: ", "a", func(paddr string) (string, *client.Options) {
		return "ws://" + addr + "/", &client.Options{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: paddr})}
	})
	if !errors.Is(err, client.ErrProxy) || !strings.Contains(err.Error(), "8 KiB") {
		t.Fatalf("Dial: %v, want ErrProxy naming the bound", err)
	}
}

// TestResponseHeadBound: a head of exactly handshake.MaxHeadSize bytes is
// read (the bound is the server's, to the byte), one byte more is not.
func TestResponseHeadBound(t *testing.T) {
	for _, extra := range []int{0, 1} {
		addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
			head := accept101(req, "X-Pad: \r\n")
			pad := handshake.MaxHeadSize - len(head) + extra
			head = accept101(req, "X-Pad: "+strings.Repeat("p", pad)+"\r\n")
			io.WriteString(nc, head)
			_, _ = io.Copy(io.Discard, br)
		})
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		c, err := client.Dial(ctx, "ws://"+addr+"/", handler.Base{}, nil)
		cancel()
		if extra == 0 {
			if err != nil {
				t.Fatalf("a head of %d bytes: %v", handshake.MaxHeadSize, err)
			}
			c.Terminate()
			<-c.Done()
		} else if !errors.Is(err, client.ErrHeadTooLarge) {
			t.Fatalf("a head of %d bytes: %v, want ErrHeadTooLarge", handshake.MaxHeadSize+1, err)
		}
	}
}

// TestBareLFResponse: a head whose lines end in LF alone has no CRLFCRLF
// to wait for: it is refused at once as malformed, not waited on until a
// timeout.
func TestBareLFResponse(t *testing.T) {
	addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
		io.WriteString(nc, strings.ReplaceAll(accept101(req, ""), "\r\n", "\n"))
		_, _ = io.Copy(io.Discard, br)
	})
	_, err := dialFails(t, context.Background(), "ws://"+addr+"/", &client.Options{HandshakeTimeout: -1})
	if !errors.Is(err, client.ErrMalformedResponse) || !strings.Contains(err.Error(), "CRLF") {
		t.Fatalf("Dial: %v, want ErrMalformedResponse about CRLF", err)
	}
}

// TestStalledHandshake: servers that stall at each step of the opening
// handshake. With no deadline in ctx, Dial must end at HandshakeTimeout
// with an error that says so.
func TestStalledHandshake(t *testing.T) {
	const timeout = 300 * time.Millisecond
	// silent accepts the connection, reads everything and never answers.
	silent := func(nc net.Conn, _ func(net.Conn)) { _, _ = io.Copy(io.Discard, nc) }
	cert, pool := testutil.SelfSigned(t)
	for _, tc := range []struct {
		name string
		url  func() string
		opts client.Options
	}{
		{"no answer", func() string { return "ws://" + testutil.TCPServer(t, silent) + "/" }, client.Options{}},
		{"half a head", func() string {
			return "ws://" + rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
				io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs")
				_, _ = io.Copy(io.Discard, br)
			}) + "/"
		}, client.Options{}},
		{"no TLS handshake", func() string { return "wss://" + testutil.TCPServer(t, silent) + "/" }, client.Options{}},
		{"no TLS handshake, HTTP/2", func() string { return "wss://" + testutil.TCPServer(t, silent) + "/" },
			client.Options{HTTP2: new(client.HTTP2Pool)}},
		{"no answer after TLS", func() string {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			tl := tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}})
			t.Cleanup(func() { tl.Close() })
			go func() {
				for {
					nc, err := tl.Accept()
					if err != nil {
						return
					}
					t.Cleanup(func() { nc.Close() })
					go silent(nc, nil)
				}
			}()
			return "wss://" + l.Addr().String() + "/"
		}, client.Options{TLSConfig: &tls.Config{RootCAs: pool}}},
		{"no answer to an HTTP/2 stream", func() string {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
			}))
			srv.EnableHTTP2 = true
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			return "wss://" + srv.Listener.Addr().String() + "/"
		}, client.Options{TLSConfig: &tls.Config{RootCAs: pool}, HTTP2: new(client.HTTP2Pool)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.HandshakeTimeout = timeout
			took, err := dialFails(t, context.Background(), tc.url(), &opts)
			if !errors.Is(err, client.ErrHandshakeTimeout) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Dial: %v, want ErrHandshakeTimeout", err)
			}
			if !strings.Contains(err.Error(), "HandshakeTimeout (300ms)") {
				t.Errorf("the error %q does not name HandshakeTimeout", err)
			}
			if took < timeout {
				t.Errorf("Dial failed after %v, before HandshakeTimeout", took)
			}
		})
	}

	// A ctx deadline shorter than HandshakeTimeout ends the Dial first.
	addr := testutil.TCPServer(t, silent)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := dialFails(t, ctx, "ws://"+addr+"/", nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, client.ErrHandshakeTimeout) {
		t.Fatalf("Dial: %v, want ctx's DeadlineExceeded", err)
	}
}

// TestRedialStalledHandshake: Redial's attempts are bounded by
// HandshakeTimeout too: a server that never answers does not hold Redial
// forever.
func TestRedialStalledHandshake(t *testing.T) {
	addr := testutil.TCPServer(t, func(nc net.Conn, _ func(net.Conn)) { _, _ = io.Copy(io.Discard, nc) })
	r := client.Redial(context.Background(), "ws://"+addr+"/", func() handler.Handler { return handler.Base{} },
		&client.Options{HandshakeTimeout: 100 * time.Millisecond, Logger: discardLogger()}, &client.Backoff{MaxAttempts: 2, Min: time.Millisecond})
	select {
	case <-r.Done():
	case <-time.After(waitTimeout):
		r.Stop()
		t.Fatal("Redial still waits on a server that never answers")
	}
	if err := r.Err(); !errors.Is(err, client.ErrHandshakeTimeout) {
		t.Fatalf("Err %v, want ErrHandshakeTimeout", err)
	}
}

// TestHTTP2LargeHeaders: over HTTP/2 the server's answer carries 64 KiB
// of header fields, or one 1 MiB field. The client's bound on a response's
// header list is the server's on a request head (8 KiB), not x/net's
// default of 10 MiB, which took both: Dial fails.
func TestHTTP2LargeHeaders(t *testing.T) {
	cert, pool := testutil.SelfSigned(t)
	for _, tc := range []struct {
		name   string
		fields int
		size   int
	}{
		{"many fields", 16, 4 << 10},
		{"one huge field", 1, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for i := range tc.fields {
					w.Header().Set(fmt.Sprintf("X-Big-%d", i), strings.Repeat("a", tc.size))
				}
				w.WriteHeader(http.StatusOK)
				http.NewResponseController(w).Flush()
				<-r.Context().Done()
			}))
			srv.EnableHTTP2 = true
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			_, err := dialFails(t, context.Background(), "wss://"+srv.Listener.Addr().String()+"/",
				&client.Options{TLSConfig: &tls.Config{RootCAs: pool}, HTTP2: new(client.HTTP2Pool)})
			var ce http2.ConnectionError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), "header list passed 8 KiB") {
				t.Fatalf("Dial: %v, want an HTTP/2 connection error that names the bound", err)
			}
		})
	}
}
