package server_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/realclients"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

// closeOnRequest echoes, and closes with the code the realclients scripts
// ask for when they send ServerCloseMessage. It reports Closed calls.
type closeOnRequest struct {
	handler.Echo
	closed chan [2]string
}

func (h *closeOnRequest) ReceivedMessage(c handler.Conn, m handler.Message) {
	if string(m.Data) == realclients.ServerCloseMessage {
		_ = c.Close(realclients.ServerCloseCode, realclients.ServerCloseReason)
		return
	}
	h.Echo.ReceivedMessage(c, m)
}

func (h *closeOnRequest) Closed(_ handler.Conn, code handler.CloseCode, reason string) {
	select {
	case h.closed <- [2]string{code.String(), reason}:
	default:
	}
}

// servePage serves the Chromium test page.
func servePage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, realclients.ChromiumTestPage)
}

// realClientServer serves the echo endpoint at /ws and the Chromium test page
// at / on the same host:port (the Origin check requires it).
func realClientServer(t *testing.T, e server.Engine, compression bool) (string, chan [2]string) {
	closed := make(chan [2]string, 8)
	page := http.NewServeMux()
	page.HandleFunc("/", servePage)
	addr := start(t, e, &server.Server{
		Routes:      map[string]handler.Factory{"/ws": func() handler.Handler { return &closeOnRequest{closed: closed} }},
		HTTP:        page,
		Compression: compression,
	})
	return addr, closed
}

// chromiumReport loads pageURL in headless Chromium and checks the report
// the test page leaves in its DOM (as who).
func chromiumReport(t *testing.T, ctx context.Context, pageURL, who string) realclients.Report {
	t.Helper()
	dom, err := realclients.RunChromium(ctx, pageURL)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	r, err := realclients.ParseChromiumResult(dom)
	checkReport(t, who, r, err)
	return r
}

func checkReport(t *testing.T, who string, r realclients.Report, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", who, err)
	}
	for _, f := range r.Failures() {
		t.Errorf("%s: %s", who, f)
	}
}

func expectClosed(t *testing.T, closed chan [2]string, code handler.CloseCode, reason string) {
	t.Helper()
	select {
	case got := <-closed:
		if got != [2]string{code.String(), reason} {
			t.Errorf("server saw Closed%v, want %d %q", got, code, reason)
		}
	case <-time.After(10 * time.Second):
		t.Error("server never saw the connection close")
	}
}

func TestRealClients(t *testing.T) {
	testutil.Slow(t)
	forEngine(t, func(t *testing.T, e server.Engine) {
		for _, compression := range []bool{false, true} {
			name := "plain"
			if compression {
				name = "permessage-deflate"
			}
			t.Run(name, func(t *testing.T) { testRealClients(t, e, compression) })
		}
	})
}

func testRealClients(t *testing.T, e server.Engine, compression bool) {
	{
		addr, closed := realClientServer(t, e, compression)
		url := "ws://" + addr + "/ws"
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for name, run := range map[string]func(context.Context, string, realclients.Options) (realclients.Report, error){
			"node":   realclients.RunNode,
			"python": realclients.RunPython,
		} {
			t.Run(name, func(t *testing.T) {
				r, err := run(ctx, url, realclients.Options{Deflate: compression})
				checkReport(t, name, r, err)
				checkExtensions(t, name, r.Extensions, compression)
				expectClosed(t, closed, realclients.EchoCloseCode, realclients.EchoCloseReason)

				r, err = run(ctx, url, realclients.Options{Mode: realclients.ModeServerClose})
				checkReport(t, name+" server-close", r, err)
				expectClosed(t, closed, realclients.ServerCloseCode, realclients.ServerCloseReason)
			})
		}
		t.Run("chromium", func(t *testing.T) {
			for _, mode := range []string{"", "?mode=server-close"} {
				r := chromiumReport(t, ctx, "http://"+addr+"/"+mode, "chromium"+mode)
				checkExtensions(t, "chromium", r.Extensions, compression)
				if strings.Contains(mode, "server-close") {
					expectClosed(t, closed, realclients.ServerCloseCode, realclients.ServerCloseReason)
				} else {
					expectClosed(t, closed, realclients.EchoCloseCode, realclients.EchoCloseReason)
				}
			}
		})
	}
}

// checkExtensions: with compression on, every client (they all offer it)
// ends up with permessage-deflate; with it off, none does.
func checkExtensions(t *testing.T, who, got string, compression bool) {
	t.Helper()
	if has := strings.Contains(got, "permessage-deflate"); has != compression {
		t.Errorf("%s: negotiated extensions %q with server compression %v", who, got, compression)
	}
}

// trustTestCert makes a test certificate that the real clients trust for
// the test's length: Node's ws and Python's ssl by file, Chromium by its
// public key's hash.
func trustTestCert(t *testing.T) tls.Certificate {
	t.Helper()
	certFile, keyFile, _ := testutil.WriteSelfSigned(t, t.TempDir())
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	t.Setenv("NODE_EXTRA_CA_CERTS", certFile) // Node's ws
	t.Setenv("SSL_CERT_FILE", certFile)       // Python's ssl (OpenSSL)
	flags := realclients.ChromiumFlags
	t.Cleanup(func() { realclients.ChromiumFlags = flags })
	realclients.ChromiumFlags = append(append([]string(nil), flags...),
		"--ignore-certificate-errors-spki-list="+base64.StdEncoding.EncodeToString(spki[:]))
	return cert
}

// TestRealClientsTLS: Node's ws, Python's websockets and headless Chromium
// over wss:// (Server.TLSConfig) on both engines, each trusting only the
// test certificate (Chromium by its public key's hash).
func TestRealClientsTLS(t *testing.T) {
	testutil.Slow(t)
	cert := trustTestCert(t)
	forEngine(t, func(t *testing.T, e server.Engine) {
		closed := make(chan [2]string, 8)
		page := http.NewServeMux()
		page.HandleFunc("/", servePage)
		addr := start(t, e, &server.Server{
			Routes:    map[string]handler.Factory{"/ws": func() handler.Handler { return &closeOnRequest{closed: closed} }},
			HTTP:      page,
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for name, run := range map[string]func(context.Context, string, realclients.Options) (realclients.Report, error){
			"node":   realclients.RunNode,
			"python": realclients.RunPython,
		} {
			t.Run(name, func(t *testing.T) {
				r, err := run(ctx, "wss://"+addr+"/ws", realclients.Options{})
				checkReport(t, name, r, err)
				expectClosed(t, closed, realclients.EchoCloseCode, realclients.EchoCloseReason)
				r, err = run(ctx, "wss://"+addr+"/ws", realclients.Options{Mode: realclients.ModeServerClose})
				checkReport(t, name+" server-close", r, err)
				expectClosed(t, closed, realclients.ServerCloseCode, realclients.ServerCloseReason)
			})
		}
		t.Run("chromium", func(t *testing.T) {
			chromiumReport(t, ctx, "https://"+addr+"/", "chromium")
			expectClosed(t, closed, realclients.EchoCloseCode, realclients.EchoCloseReason)
		})
	})
}
