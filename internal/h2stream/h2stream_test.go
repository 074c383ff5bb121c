package h2stream_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ws4go/ws4go/internal/h2stream"
	_ "github.com/ws4go/ws4go/xconnect"
)

const waitTimeout = 10 * time.Second

// open starts net/http's HTTP/2 server with h and opens a stream to it.
func open(t *testing.T, h http.HandlerFunc) *h2stream.Conn {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tr := &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	u := &url.URL{Scheme: "https", Host: srv.Listener.Addr().String(), Path: "/"}
	resp, c, err := h2stream.Open(ctx, tr, u, u.Host, http.Header{"Sec-Websocket-Version": {"13"}})
	if err != nil || c == nil {
		t.Fatalf("Open: %v %v", resp, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// accept answers 200 and flushes.
func accept(w http.ResponseWriter) {
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()
}

// TestHalfClose: CloseWrite is the server's EOF (END_STREAM) after the
// bytes written; the server's end of the response is our io.EOF.
func TestHalfClose(t *testing.T) {
	c := open(t, func(w http.ResponseWriter, r *http.Request) {
		accept(w)
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	})
	if _, err := c.WriteBuffers([][]byte{[]byte("head"), []byte("body")}); err != nil {
		t.Fatal(err)
	}
	_ = c.CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "headbody" {
		t.Fatalf("read %q, %v; want headbody, EOF", b, err)
	}
}

// TestReset: the server's RST_STREAM is ECONNRESET, as a TCP reset.
func TestReset(t *testing.T) {
	c := open(t, func(w http.ResponseWriter, r *http.Request) {
		accept(w)
		panic(http.ErrAbortHandler) // net/http resets the stream
	})
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	_, err := io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read error %v, want ECONNRESET", err)
	}
}

// TestDeadline: a read deadline that passes fails the read with
// os.ErrDeadlineExceeded and resets the stream, which the server sees.
func TestDeadline(t *testing.T) {
	reset := make(chan struct{})
	c := open(t, func(w http.ResponseWriter, r *http.Request) {
		accept(w)
		<-r.Context().Done()
		close(reset)
	})
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read error %v, want ErrDeadlineExceeded", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after the deadline: %v, want ErrDeadlineExceeded", err)
	}
	select {
	case <-reset:
	case <-time.After(waitTimeout):
		t.Fatal("the server did not see the stream reset")
	}
}

// TestDeadlineMoved: a deadline moved on or cleared before it passes
// aborts nothing.
func TestDeadlineMoved(t *testing.T) {
	c := open(t, func(w http.ResponseWriter, r *http.Request) {
		accept(w)
		b := make([]byte, 4)
		if _, err := io.ReadFull(r.Body, b); err == nil {
			_, _ = w.Write(b)
			_ = http.NewResponseController(w).Flush()
		}
		<-r.Context().Done()
	})
	_ = c.SetDeadline(time.Now().Add(time.Hour))
	_ = c.SetDeadline(time.Time{})
	_ = c.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
		t.Fatalf("read %q, %v", b, err)
	}
}
