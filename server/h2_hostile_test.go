package server_test

// Attacks on WebSocket over HTTP/2 by a client speaking raw frames: streams
// that grant the server no flow-control window, hostile handshakes, panics.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// rawH2 is a hostile HTTP/2 client speaking frames directly: it can grant
// the server no flow-control window at all, or send nothing.
type rawH2 struct {
	t   testing.TB
	tc  *tls.Conn
	fr  *http2.Framer
	wmu sync.Mutex
	// status gets each stream's :status.
	status chan [2]string
	// data gets the length of each DATA frame on stream 1, reset its
	// RST_STREAMs.
	data  chan int
	reset chan http2.ErrCode
	// start is when the TCP connection was dialled; closed is closed
	// when a read fails (the server closed the connection), at that
	// time since start.
	start  time.Time
	closed chan struct{}
	at     time.Duration
	// acked is closed once the server's SETTINGS are acknowledged (if
	// answering): no frame may come between a header block's frames.
	acked chan struct{}
}

// dialRawH2 connects with SETTINGS_INITIAL_WINDOW_SIZE window and reads
// frames on a goroutine (answering PING and SETTINGS, granting nothing).
func dialRawH2(t testing.TB, addr string, pool *x509.CertPool, window uint32) *rawH2 {
	t.Helper()
	return dialH2(t, addr, pool, func(c *rawH2) {
		c.tc.Write([]byte(http2.ClientPreface))
		c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: window})
	})
}

// dialH2 makes the TLS connection with ALPN h2, has hello write the
// client's first frames (nil: nothing, and the server's are not
// answered), then reads the server's frames on a goroutine, answering
// PING and SETTINGS.
func dialH2(t testing.TB, addr string, pool *x509.CertPool, hello func(c *rawH2)) *rawH2 {
	t.Helper()
	start := time.Now()
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN chose %q, want h2", p)
	}
	c := &rawH2{t: t, tc: tc, fr: http2.NewFramer(tc, tc), status: make(chan [2]string, 1000), data: make(chan int, 1<<12),
		reset: make(chan http2.ErrCode, 16), start: start, closed: make(chan struct{}), acked: make(chan struct{})}
	answer := hello != nil
	if answer {
		hello(c)
	}
	go func() {
		defer close(c.closed)
		dec := hpack.NewDecoder(4096, nil)
		for {
			f, err := c.fr.ReadFrame()
			if err != nil {
				c.at = time.Since(c.start)
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if answer && !f.IsAck() {
					c.wmu.Lock()
					c.fr.WriteSettingsAck()
					c.wmu.Unlock()
					select {
					case <-c.acked:
					default:
						close(c.acked)
					}
				}
			case *http2.PingFrame:
				if answer && !f.IsAck() {
					c.wmu.Lock()
					c.fr.WritePing(true, f.Data)
					c.wmu.Unlock()
				}
			case *http2.DataFrame:
				if f.StreamID == 1 {
					c.data <- len(f.Data())
				}
			case *http2.RSTStreamFrame:
				c.reset <- f.ErrCode
			case *http2.HeadersFrame:
				hf, _ := dec.DecodeFull(f.HeaderBlockFragment())
				for _, h := range hf {
					if h.Name == ":status" {
						c.status <- [2]string{string(rune('0' + f.StreamID%10)), h.Value}
					}
				}
			}
		}
	}()
	return c
}

// open sends an extended CONNECT on stream id.
func (c *rawH2) open(id uint32, path string, extra ...string) {
	fields := append([]string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", path,
		":authority", c.tc.RemoteAddr().String(), "sec-websocket-version", "13"}, extra...)
	c.headers(id, http2.HeadersFrameParam{EndHeaders: true}, fields...)
}

// get sends a GET for path on stream id, with END_STREAM.
func (c *rawH2) get(id uint32, path string) {
	c.headers(id, http2.HeadersFrameParam{EndHeaders: true, EndStream: true},
		":method", "GET", ":scheme", "https", ":path", path, ":authority", c.tc.RemoteAddr().String())
}

// headers sends a HEADERS frame on stream id with the header block of
// fields and p's flags (without EndHeaders, CONTINUATION frames must
// follow; p.BlockFragment, if set, is appended to the block).
func (c *rawH2) headers(id uint32, p http2.HeadersFrameParam, fields ...string) {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for i := 0; i < len(fields); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	p.StreamID, p.BlockFragment = id, append(hb.Bytes(), p.BlockFragment...)
	if err := c.fr.WriteHeaders(p); err != nil {
		c.t.Fatal(err)
	}
}

// openStreams opens n WebSocket streams at /ws (ids 1, 3, ...) and checks
// that each gets its 200.
func (c *rawH2) openStreams(n int) {
	c.t.Helper()
	for i := range n {
		c.open(uint32(2*i+1), "/ws")
	}
	for range n {
		select {
		case st := <-c.status:
			if st[1] != "200" {
				c.t.Fatalf("status %s", st[1])
			}
		case <-time.After(10 * time.Second):
			c.t.Fatal("no answer to an extended CONNECT in 10 s")
		}
	}
}

// TestH2HostileSendNotHeld: Send never waits for the peer (a peer that does
// not read fills a bounded queue and is then closed), also on an HTTP/2
// stream whose peer grants no window: otherwise an application that sends
// to its connections in turn would be held WriteTimeout per hostile stream.
func TestH2HostileSendNotHeld(t *testing.T) {
	opened := make(chan handler.Conn, 1)
	s := &server.Server{WriteTimeout: 2 * time.Second, PingInterval: -1,
		NewHandler: func() handler.Handler { return openedNotifier{ch: opened} }}
	addr, pool := startH2(t, server.EngineNetpoll, s)
	c := dialRawH2(t, addr, pool, 0)
	c.openStreams(1)
	conn := <-opened
	t0 := time.Now()
	err := conn.Send(handler.Text, []byte("x"))
	if d := time.Since(t0); d > 500*time.Millisecond {
		t.Errorf("Send on a stalled HTTP/2 stream blocked the caller %v (err %v); over HTTP/1.1 on netpoll it queues and returns at once", d.Round(time.Millisecond), err)
	}
}

// openedNotifier hands each connection it opens to ch.
type openedNotifier struct {
	handler.Base
	ch chan handler.Conn
}

func (o openedNotifier) Opened(c handler.Conn) { o.ch <- c }

// TestH2HostileShutdownStalledStreams: Shutdown without a deadline, with
// streams whose peer grants no window (the 1001 cannot be sent) on a
// connection that also opens a stream during the shutdown, ends within
// about CloseTimeout, not WriteTimeout per stream.
func TestH2HostileShutdownStalledStreams(t *testing.T) {
	s := &server.Server{WriteTimeout: 2 * time.Second, CloseTimeout: time.Second, PingInterval: -1,
		NewHandler: func() handler.Handler { return handler.Echo{} }}
	addr, pool := startH2(t, server.EngineNetpoll, s)
	c := dialRawH2(t, addr, pool, 0)
	c.openStreams(10)
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- s.Shutdown(t.Context()) }()
	time.Sleep(100 * time.Millisecond)
	c.open(41, "/ws")
	select {
	case st := <-c.status:
		t.Logf("stream opened during Shutdown: %s", st[1])
	case <-time.After(time.Second):
		t.Logf("stream opened during Shutdown: no answer in 1 s")
	}
	select {
	case err := <-done:
		t.Logf("Shutdown returned %v after %v", err, time.Since(t0).Round(time.Millisecond))
	case <-time.After(6 * time.Second):
		if testing.Verbose() {
			pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		}
		select {
		case err := <-done:
			t.Errorf("Shutdown returned %v after %v (WriteTimeout 2 s, CloseTimeout 1 s)", err, time.Since(t0).Round(time.Millisecond))
		case <-time.After(30 * time.Second):
			t.Fatalf("Shutdown still waiting after 36 s")
		}
	}
}

// TestH2HostileSweeperNotHeld: the table's one sweeper goroutine drives
// every connection's timers and sends the heartbeat's pings itself; streams
// whose peer grants no window must not hold it (WriteTimeout per stream),
// or no connection of the server, HTTP/1.1 ones included, would get its
// heartbeat and timeouts enforced meanwhile. A silent HTTP/1.1 victim is
// dropped by the heartbeat in about 0.6 s beside 5 such streams.
func TestH2HostileSweeperNotHeld(t *testing.T) {
	s := &server.Server{WriteTimeout: 3 * time.Second, PingInterval: 300 * time.Millisecond, PongTimeout: 300 * time.Millisecond,
		NewHandler: func() handler.Handler { return handler.Echo{} }}
	addr, pool := startH2(t, server.EngineNetpoll, s)
	c := dialRawH2(t, addr, pool, 0)
	c.openStreams(5)
	// The victim: an HTTP/1.1 WebSocket over TLS that never answers.
	tc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.Write([]byte("GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"))
	t0 := time.Now()
	tc.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := tc.Read(buf); err != nil {
			break
		}
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("a silent HTTP/1.1 connection was dropped by the heartbeat after %v (PingInterval+PongTimeout 0.6 s): the sweeper was held by stalled HTTP/2 streams", d.Round(time.Millisecond))
	}
}

// TestH2HostileShutdownDeadline: Shutdown(ctx) with a 1 s deadline and ten
// streams whose peer grants no window returns at its deadline: the 1001s
// are queued, not written one after another on Shutdown's goroutine at
// WriteTimeout each.
func TestH2HostileShutdownDeadline(t *testing.T) {
	s := &server.Server{WriteTimeout: 2 * time.Second, PingInterval: -1,
		NewHandler: func() handler.Handler { return handler.Echo{} }}
	addr, pool := startH2(t, server.EngineNetpoll, s)
	c := dialRawH2(t, addr, pool, 0)
	c.openStreams(10)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	t0 := time.Now()
	err := s.Shutdown(ctx)
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("Shutdown with a 1 s deadline returned %v after %v", err, d.Round(time.Millisecond))
	}
}

// TestH2HostileHandshakeStatuses: RFC 8441 handshakes a hostile client may
// send, and the status each gets.
func TestH2HostileHandshakeStatuses(t *testing.T) {
	s := &server.Server{NewHandler: func() handler.Handler { return handler.Echo{} }, PingInterval: -1}
	addr, pool := startH2(t, server.EngineNetpoll, s)
	c := dialRawH2(t, addr, pool, 65535)
	send := func(id uint32, fields ...string) string {
		c.headers(id, http2.HeadersFrameParam{EndHeaders: true}, fields...)
		select {
		case st := <-c.status:
			return st[1]
		case <-time.After(2 * time.Second):
			return "none (reset?)"
		}
	}
	a := c.tc.RemoteAddr().String()
	base := []string{":method", "CONNECT", ":scheme", "https", ":path", "/ws", ":authority", a}
	cases := []struct {
		name string
		want string
		f    []string
	}{
		{"plain CONNECT (proxy request)", "400", []string{":method", "CONNECT", ":authority", a}},
		{"protocol other than websocket", "400", append(append([]string{}, base...), ":protocol", "h2c", "sec-websocket-version", "13")},
		{"protocol WebSocket (case)", "200", append(append([]string{}, base...), ":protocol", "WebSocket", "sec-websocket-version", "13")},
		{"no version", "400", append(append([]string{}, base...), ":protocol", "websocket")},
		{"version 8", "426", append(append([]string{}, base...), ":protocol", "websocket", "sec-websocket-version", "8")},
		{"with a key", "200", append(append([]string{}, base...), ":protocol", "websocket", "sec-websocket-version", "13", "sec-websocket-key", "bad")},
		{"cross origin", "403", append(append([]string{}, base...), ":protocol", "websocket", "sec-websocket-version", "13", "origin", "https://evil.example")},
		{"http origin on TLS", "403", append(append([]string{}, base...), ":protocol", "websocket", "sec-websocket-version", "13", "origin", "http://"+a)},
		{"GET with protocol", "400", []string{":method", "GET", ":scheme", "https", ":path", "/ws", ":authority", a, ":protocol", "websocket", "sec-websocket-version", "13"}},
		{"GET upgrade headers", "400", []string{":method", "GET", ":scheme", "https", ":path", "/ws", ":authority", a, "upgrade", "websocket", "connection", "upgrade", "sec-websocket-version", "13", "sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="}},
		{"GET no upgrade", "400", []string{":method", "GET", ":scheme", "https", ":path", "/ws", ":authority", a, "sec-websocket-version", "13", "sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="}},
	}
	for i, tc := range cases {
		got := send(uint32(2*i+1), tc.f...)
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		} else {
			t.Logf("%s: %s", tc.name, got)
		}
	}
}

type panicOpened struct{ handler.Echo }

func (panicOpened) Opened(handler.Conn) { panic("boom") }

// TestH2HostilePanicsCostOneStream: a panicking Accept hook, factory and
// callback each cost their own stream; the TCP connection's other streams
// and new ones keep working.
func TestH2HostilePanicsCostOneStream(t *testing.T) {
	s := &server.Server{PingInterval: -1, Logger: slog.New(slog.DiscardHandler),
		Accept: func(r *http.Request) (server.Accepted, error) {
			if r.URL.Query().Get("p") == "accept" {
				panic("accept")
			}
			return server.Accepted{}, nil
		},
		Routes: map[string]handler.Factory{
			"/ws":      func() handler.Handler { return handler.Echo{} },
			"/factory": func() handler.Handler { panic("factory") },
			"/opened":  func() handler.Handler { return panicOpened{} },
		}}
	addr, pool := startH2(t, server.EngineNetpoll, s)
	c := dialRawH2(t, addr, pool, 65535)
	c.openStreams(1)
	c.open(3, "/ws?p=accept")
	if st := <-c.status; st[1] != "500" {
		t.Errorf("accept panic: %s", st[1])
	}
	c.open(5, "/factory")
	<-c.status
	c.open(7, "/opened")
	<-c.status
	c.open(9, "/ws")
	if st := <-c.status; st[1] != "200" {
		t.Fatal("after panics:", st)
	}
	// (The 1011 streams wait CloseTimeout for a close frame this client
	// never sends: they are not counted here.)
}

// TestH2HostileWriteTimeoutIsNoProgress: WriteTimeout bounds a write that
// makes no progress, as over HTTP/1.1: a 1 MiB message to a client that
// reads steadily at ~320 KiB/s (a window update every 200 ms) arrives
// whole though it takes longer than WriteTimeout (2 s).
func TestH2HostileWriteTimeoutIsNoProgress(t *testing.T) {
	opened := make(chan handler.Conn, 1)
	s := &server.Server{WriteTimeout: 2 * time.Second, PingInterval: -1,
		NewHandler: func() handler.Handler { return openedNotifier{ch: opened} }}
	addr, pool := startH2(t, server.EngineNetpoll, s)
	c := dialRawH2(t, addr, pool, 65535)
	c.openStreams(1)
	conn := <-opened
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			c.wmu.Lock()
			c.fr.WriteWindowUpdate(0, 65536)
			c.fr.WriteWindowUpdate(1, 65536)
			c.wmu.Unlock()
		}
	}()
	t0 := time.Now()
	if err := conn.Send(handler.Binary, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	for got := 0; got < 1<<20+10; { // the payload and its frame header
		select {
		case n := <-c.data:
			got += n
		case code := <-c.reset:
			t.Fatalf("stream reset (%v) after %v with %d bytes received", code, time.Since(t0).Round(time.Millisecond), got)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d bytes received in %v", got, time.Since(t0).Round(time.Millisecond))
		}
	}
}

// TestH2HostileBroadcastNotHeld: Broadcast to zero-window streams queues and
// returns.
func TestH2HostileBroadcastNotHeld(t *testing.T) {
	s := &server.Server{WriteTimeout: 2 * time.Second, PingInterval: -1,
		NewHandler: func() handler.Handler { return handler.Echo{} }}
	addr, pool := startH2(t, server.EngineNetpoll, s)
	c := dialRawH2(t, addr, pool, 0)
	c.openStreams(5)
	for s.Stats().Connections < 5 { // the 200 goes out before the table has it
		time.Sleep(time.Millisecond)
	}
	t0 := time.Now()
	if n := s.Broadcast(handler.Text, []byte("x")); n != 5 {
		t.Errorf("Broadcast queued for %d", n)
	}
	if d := time.Since(t0); d > 200*time.Millisecond {
		t.Errorf("Broadcast held %v", d)
	}
}
