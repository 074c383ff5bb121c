package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/ws4go/ws4go/internal/testutil"
)

// dialWSS opens a wss:// connection trusting pool.
func dialWSS(t *testing.T, url string, pool *x509.CertPool) (net.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := ws.Dialer{TLSConfig: &tls.Config{RootCAs: pool}}
	nc, br, _, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	if br != nil {
		return &bufferedConn{Conn: nc, r: br}, nil
	}
	return nc, nil
}

func echoes(t *testing.T, nc net.Conn, msg string) {
	t.Helper()
	if err := wsutil.WriteClientText(nc, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	if m, err := wsutil.ReadServerText(nc); err != nil || string(m) != msg {
		t.Fatalf("echo: %q, %v; want %q", m, err, msg)
	}
}

// TestTLSReload: a replaced certificate and key are loaded without a
// restart, when the files change and on SIGHUP, on either engine: new
// connections get the new certificate, and the connections made with the
// old one keep working.
func TestTLSReload(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile, poolA := testutil.WriteSelfSigned(t, dir)
			addr, stop := startServe(t, "-addr", "127.0.0.1:0", "-engine", engine,
				"-tls-cert", certFile, "-tls-key", keyFile, "-tls-reload-check", "50ms", "-shutdown-timeout", "500ms")
			url := "wss://" + addr + "/ws"
			old, err := dialWSS(t, url, poolA)
			if err != nil {
				t.Fatal(err)
			}
			echoes(t, old, "with A")

			// The files change: picked up by the periodic check.
			_, _, poolB := testutil.WriteSelfSigned(t, dir)
			waitCert(t, url, poolB)
			if _, err := dialWSS(t, url, poolA); err == nil {
				t.Error("a new connection got the old certificate")
			}
			echoes(t, old, "still with A")

			echoes(t, old, "A to the end")
			if code := stop(); code != 0 {
				t.Fatalf("exit %d", code)
			}

			// On SIGHUP only: nothing is reloaded until the signal.
			addr, stop = startServe(t, "-addr", "127.0.0.1:0", "-engine", engine,
				"-tls-cert", certFile, "-tls-key", keyFile, "-tls-reload-check", "0", "-shutdown-timeout", "500ms")
			url = "wss://" + addr + "/ws"
			_, _, poolC := testutil.WriteSelfSigned(t, dir)
			time.Sleep(100 * time.Millisecond)
			if _, err := dialWSS(t, url, poolC); err == nil {
				t.Error("reloaded without SIGHUP")
			}
			if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			waitCert(t, url, poolC)
			if code := stop(); code != 0 {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

// waitCert waits until a new connection to url is served a certificate
// that pool trusts, and checks that it echoes.
func waitCert(t *testing.T, url string, pool *x509.CertPool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		nc, err := dialWSS(t, url, pool)
		if err == nil {
			echoes(t, nc, "new certificate")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new certificate is not served: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeHTTP2: with -tls-cert, ws4go serve offers h2 by ALPN and serves
// WebSockets as RFC 8441 streams (the binary imports xconnect), on either
// engine; -http2=false offers HTTP/1.1 only.
func TestServeHTTP2(t *testing.T) {
	certFile, keyFile, pool := testutil.WriteSelfSigned(t, t.TempDir())
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			addr, stop := startServe(t, "-addr", "127.0.0.1:0", "-engine", engine,
				"-tls-cert", certFile, "-tls-key", keyFile, "-shutdown-timeout", "2s")
			hc := testutil.DialH2(t, addr, pool)
			resp, st := hc.Open("/ws", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("extended CONNECT: %s", resp.Status)
			}
			_ = st.SetDeadline(time.Now().Add(30 * time.Second))
			echoes(t, st, "over HTTP/2")
			if err := wsutil.WriteClientMessage(st, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")); err != nil {
				t.Fatal(err)
			}
			f, err := ws.ReadFrame(st)
			if err != nil || f.Header.OpCode != ws.OpClose {
				t.Fatalf("after the close frame: %v %v, want the server's close", f.Header.OpCode, err)
			}
			if code, _ := ws.ParseCloseFrameData(f.Payload); code != ws.StatusNormalClosure {
				t.Fatalf("the server closed with %d, want 1000", code)
			}
			if code := stop(); code != 0 {
				t.Fatalf("exit %d", code)
			}

			addr, stop = startServe(t, "-addr", "127.0.0.1:0", "-engine", engine, "-http2=false",
				"-tls-cert", certFile, "-tls-key", keyFile, "-shutdown-timeout", "2s")
			tc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			if p := tc.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
				t.Errorf("-http2=false: ALPN chose %q", p)
			}
			tc.Close()
			if code := stop(); code != 0 {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

// TestMaxH2ConnectionsFlag: -max-h2-connections reaches the Server: past
// it ALPN gives a client offering h2 and http/1.1 HTTP/1.1; a value that
// is not a number is a usage error.
func TestMaxH2ConnectionsFlag(t *testing.T) {
	certFile, keyFile, pool := testutil.WriteSelfSigned(t, t.TempDir())
	addr, stop := startServe(t, "-addr", "127.0.0.1:0", "-max-h2-connections", "1",
		"-tls-cert", certFile, "-tls-key", keyFile, "-shutdown-timeout", "2s")
	defer stop()
	testutil.DialH2(t, addr, pool)
	tc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if p := tc.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Errorf("past -max-h2-connections 1: ALPN chose %q, want http/1.1", p)
	}
	var stderr strings.Builder
	if code := run(context.Background(), []string{"serve", "-max-h2-connections", "many"}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "-max-h2-connections") {
		t.Errorf("-max-h2-connections many: exit %d, %q", code, stderr.String())
	}
}
