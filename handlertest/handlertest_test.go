package handlertest_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/handlertest"
	"github.com/ws4go/ws4go/server"
)

// TestDial is ExampleDial's test, run on both engines.
func TestDial(t *testing.T) {
	for _, e := range []server.Engine{server.EngineGoroutine, server.EngineNetpoll} {
		t.Run(string(e), func(t *testing.T) {
			srv := handlertest.NewUnstartedServer(func() handler.Handler { return shout{} })
			srv.Config.Engine = e
			srv.Start()
			c := handlertest.Dial(t, srv.URL())
			c.SendText("hello")
			if got := c.ReceiveText(); got != "HELLO" {
				t.Errorf("got %q, want HELLO", got)
			}
			c.Ping([]byte("p"))
			c.SendText("bye")
			if code, reason := c.WaitClosed(); code != handler.CloseNormal || reason != "see you" {
				t.Errorf("closed with %d %q", code, reason)
			}
			if err := srv.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestServerCloseGoingAway: Close sends 1001 to open connections and waits
// for them.
func TestServerCloseGoingAway(t *testing.T) {
	srv := handlertest.NewServer(handler.NewEcho)
	c := handlertest.Dial(t, srv.URL()+"path?q=1")
	c.Send(handler.Binary, []byte{1, 2})
	if m := c.Receive(); m.Type != handler.Binary || !bytes.Equal(m.Data, []byte{1, 2}) {
		t.Fatalf("echo %v %q", m.Type, m.Data)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if code, _ := c.WaitClosed(); code != handler.CloseGoingAway {
		t.Fatalf("closed with %d, want 1001", code)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestClientClose: the client's Close gets the server's echo of 1000.
func TestClientClose(t *testing.T) {
	srv := handlertest.NewServer(handler.NewEcho)
	defer srv.Close()
	c := handlertest.Dial(t, srv.URL())
	if code, reason := c.Close(); code != handler.CloseNormal || reason != "" {
		t.Fatalf("closed with %d %q", code, reason)
	}
}

func TestConnRecords(t *testing.T) {
	c := handlertest.NewConn(nil)
	if c.Request().Header.Get("Upgrade") != "websocket" || c.RemoteAddr() == nil || c.LocalAddr() == nil {
		t.Fatal("NewConn(nil) has no upgrade request or addresses")
	}
	_ = c.SendBinary([]byte{0})
	w, err := c.NewWriter(handler.Text)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte("ab"))
	_, _ = w.Write([]byte("c"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(bytes.Repeat([]byte("x"), 126)); err == nil {
		t.Fatal("a 126-byte ping was accepted")
	}
	_ = c.Ping([]byte("hi"))
	c.SetData(42)
	if c.Data() != 42 {
		t.Fatal("Data lost")
	}
	if err := c.Close(handler.CloseAbnormal, ""); err == nil {
		t.Fatal("Close(1006) was accepted")
	}
	if err := c.Close(handler.ClosePolicyViolation, strings.Repeat("r", 124)); err == nil {
		t.Fatal("a 124-byte reason was accepted")
	}
	if c.Context().Err() != nil {
		t.Fatal("Context cancelled before Close")
	}
	_ = c.Close(handler.ClosePolicyViolation, "no")
	_ = c.Close(handler.CloseNormal, "again") // ignored, as on the wire
	if err := c.SendText("late"); !errors.Is(err, handler.ErrClosed) {
		t.Fatalf("send after Close: %v", err)
	}
	sent := c.Sent()
	if len(sent) != 2 || sent[0].Type != handler.Binary || sent[1].Type != handler.Text || string(sent[1].Data) != "abc" {
		t.Fatalf("sent %+v", sent)
	}
	if p := c.Pings(); len(p) != 1 || string(p[0]) != "hi" {
		t.Fatalf("pings %q", p)
	}
	if code, reason, ok := c.CloseStatus(); code != handler.ClosePolicyViolation || reason != "no" || !ok {
		t.Fatalf("close status %d %q %v", code, reason, ok)
	}
	if c.Context().Err() == nil || c.Terminated() {
		t.Fatal("Context not cancelled by Close, or Terminated set")
	}
}

// TestConnConcurrent: a handler's own goroutines may share a Conn.
func TestConnConcurrent(t *testing.T) {
	c := handlertest.NewConn(nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_ = c.SendText("x")
				_ = c.Ping(nil)
				_ = c.Texts()
			}
		}()
	}
	wg.Wait()
	c.Terminate()
	if len(c.Sent()) != 800 || !c.Terminated() || c.Context().Err() == nil {
		t.Fatalf("%d sent, terminated %v", len(c.Sent()), c.Terminated())
	}
}
