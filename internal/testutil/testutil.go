// Package testutil holds the small helpers that tests in several of the
// project's packages need: a self-signed certificate, a raw HTTP exchange,
// a server served for the length of a test (Serve) or a fake peer
// (TCPServer), third-party servers and ws4go processes run as children
// (ScriptServer, PythonEchoServer, StartServe).
package testutil

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ws4go/ws4go/internal/testcert"
	"github.com/ws4go/ws4go/server"
)

// SelfSigned makes a certificate for 127.0.0.1 and localhost, valid for an
// hour, and a pool that trusts it.
func SelfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	cert, pool, err := testcert.New(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pool
}

// WriteSelfSigned writes a SelfSigned certificate and its key as PEM files
// in dir and returns their paths and the pool that trusts it.
func WriteSelfSigned(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	certFile, keyFile, pool, err := testcert.Write(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

// RawHTTP sends req, written out by hand, to addr and returns the response
// (its body closed), with a deadline against hangs.
func RawHTTP(t testing.TB, addr, req string) *http.Response {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// ShutdownTimeout bounds the Shutdown that Serve's cleanup runs.
const ShutdownTimeout = 10 * time.Second

// Serve runs s on l (nil: a fresh port of 127.0.0.1) and returns the
// address it listens on. When the test ends it shuts s down and checks that
// Shutdown succeeded within ShutdownTimeout, that Serve returned
// server.ErrServerClosed and that no connection is left: a test that leaks
// a connection fails.
func Serve(t testing.TB, s *server.Server, l net.Listener) string {
	t.Helper()
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		if n := s.Len(); n != 0 {
			t.Errorf("%d connections left after Shutdown", n)
		}
	})
	return l.Addr().String()
}

// TCPServer accepts connections on a fresh 127.0.0.1 port and runs f on
// each in a goroutine of its own: a fake peer for a client under test. f
// may pass track other connections it opens. When the test ends, the
// listener and every connection accepted or tracked are closed, and the
// goroutines awaited, so none outlives its test.
func TCPServer(t testing.TB, f func(nc net.Conn, track func(net.Conn))) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(nc net.Conn) {
		mu.Lock()
		conns = append(conns, nc)
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			track(nc)
			wg.Add(1)
			go func() {
				defer wg.Done()
				f(nc, track)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}
