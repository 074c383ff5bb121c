package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

// TestValidate: every setting that cannot work is named by a *ConfigError
// (field, the value or entry refused, what is wanted); every size, count
// and duration is valid at zero and negative alike (the default, no limit).
func TestValidate(t *testing.T) {
	echo := map[string]handler.Factory{"/ws": handler.NewEcho}
	for _, c := range []struct {
		s            *server.Server
		field, value string
	}{
		{&server.Server{Engine: "epoll"}, "Engine", "epoll"},
		{&server.Server{Routes: map[string]handler.Factory{"/ok": handler.NewEcho, "ws": handler.NewEcho}}, "Routes", "ws"},
		{&server.Server{Routes: map[string]handler.Factory{"/ws": nil}}, "Routes", "/ws"},
		{&server.Server{Subprotocols: []string{"chat.v1", "chat v2"}}, "Subprotocols", "chat v2"},
		{&server.Server{Subprotocols: []string{""}}, "Subprotocols", ""},
		{&server.Server{OriginPatterns: []string{"[bad"}}, "OriginPatterns", "[bad"},
		{&server.Server{OriginPatterns: []string{"https://example.com/app"}}, "OriginPatterns", "https://example.com/app"},
		{&server.Server{AllowedHosts: []string{"localhost", "10.0.0.0/99"}}, "AllowedHosts", "10.0.0.0/99"},
		{&server.Server{AllowedHosts: []string{"example.com:http"}}, "AllowedHosts", "example.com:http"},
		{&server.Server{WriteQueueCloseCode: 1006}, "WriteQueueCloseCode", "1006"},
		{&server.Server{WriteQueueCloseCode: 999}, "WriteQueueCloseCode", "999"},
		{&server.Server{Workers: -1}, "Workers", "-1"},
		{&server.Server{TLSConfig: &tls.Config{}}, "TLSConfig", ""},
	} {
		err := c.s.Validate()
		var ce *server.ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field || ce.Value != c.value || !strings.HasPrefix(ce.Want, "want ") {
			t.Errorf("%s %q: Validate() = %#v", c.field, c.value, err)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "Server."+c.field) {
			t.Errorf("%s: %q is not one line naming the field", c.field, msg)
		}
	}
	cert, _ := testutil.SelfSigned(t)
	for name, s := range map[string]*server.Server{
		"zero": {},
		"negative": {
			MaxMessageSize: -1, MaxWriteQueue: -1, HandshakeTimeout: -1, CloseTimeout: -1,
			WriteTimeout: -1, PingInterval: -1, PongTimeout: -1, IdleTimeout: -1,
			MessageTimeout: -1, MaxBufferedBytes: -1, MaxConnections: -1,
		},
		"everything set": {
			Engine: server.EngineGoroutine, Routes: echo, Subprotocols: []string{"chat.v1"},
			OriginPatterns:      []string{"*.example.com", "https://app.example.com:8443"},
			AllowedHosts:        append([]string{"*.example.com", "[::1]:9001"}, server.LoopbackHosts...),
			WriteQueueCloseCode: handler.CloseTryAgainLater, Workers: 3,
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		},
		"GetCertificate": {TLSConfig: &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }}},
	} {
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestInvalidRefused: an invalid Server never serves: Listen and
// ListenAndServe return the ConfigError without listening, Serve returns it
// and closes its listener, and mounted on net/http it answers every upgrade
// 500 (logging why once).
func TestInvalidRefused(t *testing.T) {
	var logs testutil.Buffer
	bad := func() *server.Server {
		return &server.Server{
			Addr:       "127.0.0.1:0",
			Routes:     map[string]handler.Factory{"ws": handler.NewEcho},
			Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
			NewHandler: handler.NewEcho,
		}
	}
	var ce *server.ConfigError
	if l, err := bad().Listen(); l != nil || !errors.As(err, &ce) || ce.Field != "Routes" {
		t.Errorf("Listen: %v, %v", l, err)
	}
	if err := bad().ListenAndServe(); !errors.As(err, &ce) {
		t.Errorf("ListenAndServe: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := bad().Serve(l); !errors.As(err, &ce) {
		t.Errorf("Serve: %v", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve left its listener open: %v", err)
	}

	s := bad()
	hs := httptest.NewServer(s)
	defer hs.Close()
	for range 2 {
		resp, _ := rawRequest(t, hs.Listener.Addr().String(), upgradeRequest(hs.Listener.Addr().String(), "/ws"))
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "invalid WebSocket server settings") {
			t.Errorf("mounted: %s %q, want 500", resp.Status, body)
		}
	}
	if n := strings.Count(logs.String(), "invalid settings"); n != 1 || !strings.Contains(logs.String(), `Server.Routes \"ws\"`) {
		t.Errorf("logged %d times:\n%s", n, logs.String())
	}
}

// TestEmptyAddr: an empty Addr is ":http", as for net/http: port 80 (or,
// where that cannot be bound, an error about it), never a random port.
func TestEmptyAddr(t *testing.T) {
	l, err := (&server.Server{NewHandler: handler.NewEcho}).Listen()
	if err != nil {
		if !strings.Contains(err.Error(), ":http") {
			t.Fatalf("Listen with an empty Addr: %v, want an error about :http", err)
		}
		return
	}
	defer l.Close()
	if port := l.Addr().(*net.TCPAddr).Port; port != 80 {
		t.Fatalf("an empty Addr listens on port %d, want 80", port)
	}
}

// TestServeLogsAddress: Serve logs where it serves, with the scheme and the
// engine that runs the listener, at the Server's Logger.
func TestServeLogsAddress(t *testing.T) {
	cert, pool := testutil.SelfSigned(t)
	for _, c := range []struct {
		engine server.Engine
		tls    bool
		want   string
	}{
		{server.EngineGoroutine, false, "scheme=ws engine=goroutine"},
		{server.EngineNetpoll, false, "scheme=ws engine=netpoll"},
		{server.EngineNetpoll, true, "scheme=wss engine=netpoll"},
	} {
		var logs testutil.Buffer
		s := &server.Server{Engine: c.engine, NewHandler: handler.NewEcho, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		scheme := "ws://"
		if c.tls {
			s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
			scheme = "wss://"
		}
		addr := testutil.Serve(t, s, nil)
		// The line is written before the first accept: a connection
		// that echoes shows it was.
		in := make(inbox, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cl, err := client.Dial(ctx, scheme+addr+"/", in, &client.Options{TLSConfig: &tls.Config{RootCAs: pool}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.SendText("x"); err != nil || <-in != "x" {
			t.Fatalf("echo: %v", err)
		}
		_ = cl.Close(handler.CloseNormal, "")
		<-cl.Done()
		want := `msg="ws4go: serving" addr=` + addr + " network=tcp " + c.want
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
