package client_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

// waitTimeout bounds every wait of a test on an event that must happen.
const waitTimeout = 10 * time.Second

// serve runs s (by default an echo server) on l (nil: a fresh 127.0.0.1
// port) and shuts it down when the test ends, checking that every
// connection is gone; it returns the address.
func serve(t *testing.T, s *server.Server, l net.Listener) string {
	t.Helper()
	if s.NewHandler == nil && s.Routes == nil {
		s.NewHandler = handler.NewEcho
	}
	return testutil.Serve(t, s, l)
}

// start serves s on a fresh 127.0.0.1 port and returns its address.
func start(t *testing.T, s *server.Server) string {
	t.Helper()
	return serve(t, s, nil)
}

// closeEvent is a Closed callback.
type closeEvent struct {
	code   handler.CloseCode
	reason string
}

// recorder is a handler that reports every callback on channels.
type recorder struct {
	opened chan handler.Conn
	msgs   chan handler.Message // Data copied
	pongs  chan string
	closed chan closeEvent
}

func newRecorder() *recorder {
	return &recorder{
		opened: make(chan handler.Conn, 1),
		msgs:   make(chan handler.Message, 1024),
		pongs:  make(chan string, 1024),
		closed: make(chan closeEvent, 1),
	}
}

func (r *recorder) Opened(c handler.Conn) { r.opened <- c }
func (r *recorder) ReceivedMessage(c handler.Conn, m handler.Message) {
	r.msgs <- handler.Message{Type: m.Type, Data: append([]byte(nil), m.Data...)}
}
func (r *recorder) Ponged(c handler.Conn, p []byte) { r.pongs <- string(p) }
func (r *recorder) Closed(c handler.Conn, code handler.CloseCode, reason string) {
	r.closed <- closeEvent{code, reason}
}

func (r *recorder) msg(t *testing.T) handler.Message {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case ev := <-r.closed:
		t.Fatalf("closed (%d %q) while waiting for a message", ev.code, ev.reason)
	case <-time.After(waitTimeout):
		t.Fatal("no message")
	}
	return handler.Message{}
}

func (r *recorder) expect(t *testing.T, typ handler.MessageType, data []byte) {
	t.Helper()
	m := r.msg(t)
	if m.Type != typ || string(m.Data) != string(data) {
		t.Fatalf("got %v message of %d bytes %.40q, want %v of %d bytes %.40q", m.Type, len(m.Data), m.Data, typ, len(data), data)
	}
}

func (r *recorder) expectPong(t *testing.T, want string) {
	t.Helper()
	select {
	case p := <-r.pongs:
		if p != want {
			t.Fatalf("pong %q, want %q", p, want)
		}
	case ev := <-r.closed:
		t.Fatalf("closed (%d %q) while waiting for a pong", ev.code, ev.reason)
	case <-time.After(waitTimeout):
		t.Fatal("no pong")
	}
}

func (r *recorder) waitClosed(t *testing.T) closeEvent {
	t.Helper()
	select {
	case ev := <-r.closed:
		return ev
	case <-time.After(waitTimeout):
		t.Fatal("Closed was not called")
	}
	return closeEvent{}
}

func (r *recorder) expectClosed(t *testing.T, code handler.CloseCode, reason string) {
	t.Helper()
	if ev := r.waitClosed(t); ev.code != code || ev.reason != reason {
		t.Fatalf("Closed(%d, %q), want (%d, %q)", ev.code, ev.reason, code, reason)
	}
}

// dial dials url with h and fails the test on error; the connection is
// terminated when the test ends if still open.
func dial(t *testing.T, url string, h handler.Handler, opts *client.Options) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := client.Dial(ctx, url, h, opts)
	if err != nil {
		t.Fatalf("Dial %s: %v", url, err)
	}
	t.Cleanup(func() {
		c.Terminate()
		<-c.Done()
	})
	return c
}

// rawServer accepts connections on 127.0.0.1 and runs f on each with the
// parsed handshake request. f owns the connection.
func rawServer(t *testing.T, f func(nc net.Conn, br *bufio.Reader, req *http.Request)) string {
	t.Helper()
	return testutil.TCPServer(t, func(nc net.Conn, _ func(net.Conn)) {
		defer nc.Close()
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		f(nc, br, req)
	})
}

// accept101 is a correct 101 answer to req.
func accept101(req *http.Request, extra string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		handshake.AcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n" + extra + "\r\n"
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// allocated returns the bytes the process allocated on the heap while f
// ran (runtime.MemStats.TotalAlloc): what a hostile peer made the client
// buffer, even if it was garbage by the time f returned.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// flood writes prefix, then unit over and over to w until a write fails or
// limit bytes are written, and returns how many were.
func flood(w io.Writer, prefix, unit string, limit int64) int64 {
	n, err := io.WriteString(w, prefix)
	sent := int64(n)
	chunk := []byte(strings.Repeat(unit, max(1, (32<<10)/len(unit))))
	for err == nil && sent < limit {
		n, err = w.Write(chunk)
		sent += int64(n)
	}
	return sent
}

// dialFails dials url, expecting a failure, and returns how long Dial took
// and its error. ctx has no deadline unless the test gives one: the
// client's own bounds must end the Dial, and the test fails if Dial has
// not returned within waitTimeout.
func dialFails(t *testing.T, ctx context.Context, url string, opts *client.Options) (time.Duration, error) {
	t.Helper()
	type result struct {
		c   *client.Conn
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		c, err := client.Dial(ctx, url, handler.Base{}, opts)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		if r.err == nil {
			r.c.Terminate()
			t.Fatalf("Dial %s succeeded, want a failure", url)
		}
		return time.Since(start), r.err
	case <-time.After(waitTimeout):
		t.Fatalf("Dial %s has not returned after %v", url, waitTimeout)
	}
	return 0, nil
}
