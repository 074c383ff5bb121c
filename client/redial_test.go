package client_test

import (
	"context"
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
	addr := start(t, &server.Server{Handler: func() handler.Handler { return kicker{} }})
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
	serve(t, &server.Server{Handler: handler.Echo}, l)
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
