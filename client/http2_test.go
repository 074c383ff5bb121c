package client_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
	_ "github.com/ws4go/ws4go/xconnect"
)

// h2Server is a minimal RFC 8441 echo server on net/http's HTTP/2 (not
// ws4go's): it answers an extended CONNECT with 200 and ext as
// Sec-WebSocket-Extensions, then echoes every data frame as it came
// (compressed ones too: with client_no_context_takeover each stands
// alone) and answers a close frame. conns counts its TCP connections.
type h2Server struct {
	url   string
	tls   *tls.Config
	conns atomic.Int32
}

func startH2Server(t *testing.T, ext string, refuse int) *h2Server {
	t.Helper()
	s := &h2Server{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect || r.Header.Get(":protocol") != "websocket" || r.ProtoMajor != 2 ||
			r.Header.Get("Sec-WebSocket-Version") != "13" || r.Header.Get("Sec-WebSocket-Key") != "" {
			http.Error(w, "not an RFC 8441 WebSocket request", http.StatusBadRequest)
			return
		}
		if refuse != 0 {
			http.Error(w, "refused", refuse)
			return
		}
		if ext != "" {
			w.Header().Set("Sec-WebSocket-Extensions", ext)
		}
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		for {
			f, err := ws.ReadFrame(r.Body)
			if err != nil {
				return
			}
			if !f.Header.Masked {
				return
			}
			ws.Cipher(f.Payload, f.Header.Mask, 0)
			f.Header.Masked = false
			switch f.Header.OpCode {
			case ws.OpPing:
				f.Header.OpCode = ws.OpPong
			case ws.OpClose:
				_ = ws.WriteFrame(w, ws.NewCloseFrame(f.Payload))
				http.NewResponseController(w).Flush()
				return
			}
			if err := ws.WriteFrame(w, f); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
		}
	}))
	srv.EnableHTTP2 = true
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	s.url = "wss://" + srv.Listener.Addr().String() + "/ws"
	s.tls = &tls.Config{RootCAs: pool}
	return s
}

// TestHTTP2SharedConnection opens three WebSockets with one HTTP2Pool:
// they run over HTTP/2 on one TCP connection and echo independently.
func TestHTTP2SharedConnection(t *testing.T) {
	s := startH2Server(t, "", 0)
	opts := &client.Options{TLSConfig: s.tls, HTTP2: new(client.HTTP2Pool), Compression: client.Compression{Disable: true}}
	var recs []*recorder
	var conns []*client.Conn
	for range 3 {
		r := newRecorder()
		c := dial(t, s.url, r, opts)
		if c.Proto() != "HTTP/2.0" {
			t.Fatalf("Proto %q, want HTTP/2.0", c.Proto())
		}
		recs, conns = append(recs, r), append(conns, c)
	}
	if n := s.conns.Load(); n != 1 {
		t.Fatalf("%d TCP connections, want 1", n)
	}
	if a, b := conns[0].LocalAddr().String(), conns[2].LocalAddr().String(); a != b {
		t.Fatalf("local addresses %s and %s differ", a, b)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for i, c := range conns {
		if err := c.SendText("hello"); err != nil {
			t.Fatal(err)
		}
		if err := c.SendBinary(big); err != nil {
			t.Fatal(err)
		}
		w, err := c.NewWriter(handler.Text)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte("frag"))
		_, _ = w.Write([]byte("mented"))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Ping([]byte("p")); err != nil {
			t.Fatal(err)
		}
		recs[i].expect(t, handler.Text, []byte("hello"))
		recs[i].expect(t, handler.Binary, big)
		recs[i].expect(t, handler.Text, []byte("fragmented"))
		recs[i].expectPong(t, "p")
	}
	for i, c := range conns {
		if err := c.Close(4000+handler.CloseCode(i), "bye"); err != nil {
			t.Fatal(err)
		}
		recs[i].expectClosed(t, 4000+handler.CloseCode(i), "bye")
	}
}

// TestHTTP2Compression: permessage-deflate is negotiated and checked over
// HTTP/2 as over HTTP/1.1.
func TestHTTP2Compression(t *testing.T) {
	s := startH2Server(t, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", 0)
	r := newRecorder()
	c := dial(t, s.url, r, &client.Options{TLSConfig: s.tls, HTTP2: new(client.HTTP2Pool),
		Compression: client.Compression{Threshold: 1}})
	if c.Extensions() == "" {
		t.Fatal("no extension negotiated")
	}
	msg := bytes.Repeat([]byte("compress me "), 1000)
	for range 3 {
		if err := c.SendText(string(msg)); err != nil {
			t.Fatal(err)
		}
		r.expect(t, handler.Text, msg)
	}
	_ = c.Close(handler.CloseNormal, "")
	r.expectClosed(t, handler.CloseNormal, "")
}

// TestHTTP2Refused: a non-2xx answer over HTTP/2 is a HandshakeError, and
// an extension that was not offered is refused as over HTTP/1.1.
func TestHTTP2Refused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s := startH2Server(t, "", http.StatusForbidden)
	_, err := client.Dial(ctx, s.url, newRecorder(), &client.Options{TLSConfig: s.tls, HTTP2: new(client.HTTP2Pool)})
	var he *client.HandshakeError
	if !errors.As(err, &he) || !errors.Is(err, client.ErrBadStatus) || he.StatusCode != http.StatusForbidden || string(he.Body) != "refused\n" {
		t.Fatalf("got %v, want a 403 HandshakeError", err)
	}
	s = startH2Server(t, "x-unknown", 0)
	_, err = client.Dial(ctx, s.url, newRecorder(), &client.Options{TLSConfig: s.tls, HTTP2: new(client.HTTP2Pool)})
	if !errors.Is(err, client.ErrBadExtension) {
		t.Fatalf("got %v, want ErrBadExtension", err)
	}
}

// TestHTTP2FallbackNoH2: against a TLS server that does not offer h2, Dial
// runs over HTTP/1.1.
func TestHTTP2FallbackNoH2(t *testing.T) {
	cert, pool := testutil.SelfSigned(t)
	addr := start(t, &server.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	r := newRecorder()
	c := dial(t, "wss://"+addr+"/ws", r, &client.Options{TLSConfig: &tls.Config{RootCAs: pool}, HTTP2: new(client.HTTP2Pool)})
	if c.Proto() != "HTTP/1.1" {
		t.Fatalf("Proto %q, want HTTP/1.1", c.Proto())
	}
	_ = c.SendText("over h1")
	r.expect(t, handler.Text, []byte("over h1"))
	_ = c.Close(handler.CloseNormal, "")
	r.expectClosed(t, handler.CloseNormal, "")
}
