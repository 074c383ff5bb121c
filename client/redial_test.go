package client_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

func TestBackoffDelay(t *testing.T) {
	b := client.Backoff{Min: 100 * time.Millisecond, Max: time.Second, Jitter: -1}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 50: time.Second} {
		if got := b.Delay(n, 0.9); got != want {
			t.Errorf("Delay(%d) = %v, want %v", n, got, want)
		}
	}
	j := client.Backoff{Min: 100 * time.Millisecond, Max: time.Second, Jitter: 0.5}
	if got := j.Delay(2, 0); got != 200*time.Millisecond {
		t.Errorf("jittered Delay(2, r=0) = %v, want 200ms", got)
	}
	if got := j.Delay(2, 0.999999); got < 100*time.Millisecond || got > 101*time.Millisecond {
		t.Errorf("jittered Delay(2, r→1) = %v, want ~100ms", got)
	}
	var zero client.Backoff
	if got := zero.Delay(1, 0); got != 250*time.Millisecond {
		t.Errorf("default first delay %v, want 250ms", got)
	}
	if got := zero.Delay(100, 0); got != 30*time.Second {
		t.Errorf("default cap %v, want 30s", got)
	}
}

// logRecords is a slog handler that sends each record's message on a
// channel (dropping records when nobody listens).
type logRecords chan string

func (l logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l logRecords) Handle(_ context.Context, r slog.Record) error {
	select {
	case l <- r.Message:
	default:
	}
	return nil
}
func (l logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logRecords) WithGroup(string) slog.Handler      { return l }

// kicker closes every connection with 1012 once it receives "kick".
type kicker struct{ handler.Base }

func (kicker) ReceivedMessage(c handler.Conn, m handler.Message) {
	if string(m.Data) == "kick" {
		_ = c.Close(handler.CloseServiceRestart, "restarting")
		return
	}
	_ = c.Send(m.Type, m.Data)
}

// session is a client handler of one Redial connection.
type session struct {
	handler.Base
	n      int
	opened chan int
	closed chan closeEvent
}

func (s *session) Opened(c handler.Conn) { s.opened <- s.n }
func (s *session) Closed(c handler.Conn, code handler.CloseCode, reason string) {
	s.closed <- closeEvent{code, reason}
}

func TestRedialAfterServerClose(t *testing.T) {
	addr := start(t, &server.Server{NewHandler: func() handler.Handler { return kicker{} }})
	var made atomic.Int32
	opened := make(chan int, 8)
	closed := make(chan closeEvent, 8)
	r := client.Redial(context.Background(), "ws://"+addr+"/", func() handler.Handler {
		return &session{n: int(made.Add(1)), opened: opened, closed: closed}
	}, &client.Options{Logger: discardLogger()}, &client.Backoff{Min: time.Millisecond, Max: 10 * time.Millisecond})
	for want := 1; want <= 3; want++ {
		select {
		case n := <-opened:
			if n != want {
				t.Fatalf("session %d opened, want %d", n, want)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("session %d never opened", want)
		}
		c := r.Conn()
		if c == nil {
			t.Fatal("Conn() is nil while a session is open")
		}
		if want < 3 {
			_ = c.SendText("kick")
			if ev := <-closed; ev.code != handler.CloseServiceRestart {
				t.Fatalf("session %d closed with %d %q", want, ev.code, ev.reason)
			}
		}
	}
	r.Stop()
	select {
	case <-r.Done():
	case <-time.After(waitTimeout):
		t.Fatal("Done not closed after Stop")
	}
	if ev := <-closed; ev.code != handler.CloseNormal {
		t.Fatalf("last session closed with %d %q, want 1000", ev.code, ev.reason)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("Err after Stop: %v", err)
	}
	if r.Conn() != nil {
		t.Fatal("Conn() not nil after Done")
	}
}

func TestRedialUntilServerUp(t *testing.T) {
	// Reserve a port, then free it: the first attempts are refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	logs := make(logRecords, 16)
	opened := make(chan int, 1)
	closed := make(chan closeEvent, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := client.Redial(ctx, "ws://"+addr+"/", func() handler.Handler {
		return &session{opened: opened, closed: closed}
	}, &client.Options{Logger: slog.New(logs)}, &client.Backoff{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond})
	for i := 0; i < 2; i++ {
		select {
		case msg := <-logs:
			if !strings.Contains(msg, "dial failed") {
				t.Fatalf("log %q", msg)
			}
		case <-time.After(waitTimeout):
			t.Fatal("no failed attempt logged")
		}
	}
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, &server.Server{NewHandler: handler.NewEcho}, l)
	select {
	case <-opened:
	case <-time.After(waitTimeout):
		t.Fatal("never connected once the server was up")
	}
	cancel() // ending ctx stops it too
	<-r.Done()
	if ev := <-closed; ev.code != handler.CloseNormal {
		t.Fatalf("closed with %d %q", ev.code, ev.reason)
	}
	if err := r.Err(); err != context.Canceled {
		t.Fatalf("Err %v, want context.Canceled", err)
	}
}

func TestRedialMaxAttempts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var made atomic.Int32
	r := client.Redial(context.Background(), "ws://"+addr+"/", func() handler.Handler {
		made.Add(1)
		return handler.Base{}
	}, &client.Options{Logger: discardLogger()}, &client.Backoff{Min: time.Millisecond, MaxAttempts: 3})
	select {
	case <-r.Done():
	case <-time.After(waitTimeout):
		t.Fatal("did not give up")
	}
	if r.Err() == nil || !strings.Contains(r.Err().Error(), "refused") {
		t.Fatalf("Err %v, want the last dial error", r.Err())
	}
	if n := made.Load(); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
}

// rejecter closes every connection as soon as it opens, as an overloaded
// server does after the handshake.
type rejecter struct{ handler.Base }

func (rejecter) Opened(c handler.Conn) { _ = c.Close(handler.CloseTryAgainLater, "overloaded") }

// stamper reports when each Redial connection opened.
type stamper struct {
	handler.Base
	opened chan time.Time
}

func (s stamper) Opened(handler.Conn) {
	select {
	case s.opened <- time.Now():
	default: // a runaway Redial must not block here; the test fails anyway
	}
}

func TestRedialBacksOffShortConnections(t *testing.T) {
	addr := start(t, &server.Server{NewHandler: func() handler.Handler { return rejecter{} }})
	opened := make(chan time.Time, 16)
	b := &client.Backoff{Min: 20 * time.Millisecond, Max: time.Second, Jitter: -1, MaxAttempts: 5, Stable: time.Hour}
	r := client.Redial(context.Background(), "ws://"+addr+"/", func() handler.Handler { return stamper{opened: opened} },
		&client.Options{Logger: discardLogger()}, b)
	select {
	case <-r.Done():
	case <-time.After(waitTimeout):
		r.Stop()
		t.Fatalf("still redialling after %d connections: short-lived connections do not count as failures", len(opened))
	}
	if err := r.Err(); !errors.Is(err, client.ErrUnstable) || !strings.Contains(err.Error(), `closed with 1013 "overloaded"`) {
		t.Fatalf("Err %v, want an ErrUnstable with the close code", err)
	}
	if n := len(opened); n != 5 {
		t.Fatalf("%d connections, want MaxAttempts = 5", n)
	}
	prev := <-opened
	for i := 1; i < 5; i++ {
		at := <-opened
		// Each delay doubles: the gap is at least the delay.
		if gap, want := at.Sub(prev), b.Delay(i, 0); gap < want {
			t.Errorf("connection %d came %v after the previous one, want at least %v", i+1, gap, want)
		}
		prev = at
	}
}

// TestRedialStableResets: a connection that stays open for Backoff.Stable
// resets the failure count, so MaxAttempts counts again from zero.
func TestRedialStableResets(t *testing.T) {
	var n atomic.Int32
	addr := start(t, &server.Server{NewHandler: func() handler.Handler {
		if n.Add(1) == 4 {
			return kicker{} // stays until the client sends "kick"
		}
		return rejecter{}
	}})
	const stable = 100 * time.Millisecond
	opened := make(chan time.Time, 16)
	r := client.Redial(context.Background(), "ws://"+addr+"/", func() handler.Handler { return stamper{opened: opened} },
		&client.Options{Logger: discardLogger()}, &client.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond, MaxAttempts: 4, Stable: stable})
	for i := 0; i < 4; i++ {
		select {
		case <-opened:
		case <-r.Done():
			t.Fatalf("gave up after %d connections: %v", i, r.Err())
		case <-time.After(waitTimeout):
			t.Fatal("no connection")
		}
	}
	// The 4th connection is the server's stable one: keep it open for
	// Stable (the very duration under test), then have the server close it.
	<-time.After(stable)
	c := r.Conn()
	if c == nil {
		t.Fatal("Conn() is nil while the 4th connection is open")
	}
	_ = c.SendText("kick")
	select {
	case <-r.Done():
	case <-time.After(waitTimeout):
		r.Stop()
		t.Fatal("did not give up")
	}
	if !errors.Is(r.Err(), client.ErrUnstable) {
		t.Fatalf("Err %v, want ErrUnstable", r.Err())
	}
	// 3 failures, the stable one, then MaxAttempts = 4 failures again.
	if got := n.Load(); got != 8 {
		t.Fatalf("%d connections, want 8", got)
	}
}
