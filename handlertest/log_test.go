package handlertest_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/handlertest"
	"github.com/ws4go/ws4go/server"
)

// recordingTB is the testing.TB a server under test reports to, recorded
// (a real one cannot fail without failing the test that checks it): its
// Errorf calls are kept, its cleanups run when the test says.
type recordingTB struct {
	testing.TB // the real test, for the rest
	mu         sync.Mutex
	errs       []string
	logs       []string
	cleanups   []func()
	failed     chan struct{} // signalled on each Errorf
}

func newRecordingTB(t *testing.T) *recordingTB {
	return &recordingTB{TB: t, failed: make(chan struct{}, 16)}
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	r.failed <- struct{}{}
}

func (r *recordingTB) Log(args ...any) {
	r.mu.Lock()
	r.logs = append(r.logs, fmt.Sprint(args...))
	r.mu.Unlock()
}

func (r *recordingTB) Cleanup(f func()) {
	r.mu.Lock()
	r.cleanups = append(r.cleanups, f)
	r.mu.Unlock()
}

// end runs the cleanups, last first, as the end of a test does.
func (r *recordingTB) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// waitFailed waits for an Errorf call and returns the calls so far.
func (r *recordingTB) waitFailed(t *testing.T) []string {
	t.Helper()
	select {
	case <-r.failed:
	case <-time.After(handlertest.Timeout):
		t.Fatal("the server under test did not fail its test")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// panicky panics in the callback it is told to.
type panicky struct {
	handler.Echo
	in string
}

func (p panicky) Opened(c handler.Conn) {
	if p.in == "Opened" {
		panic("boom in Opened")
	}
}

func (p panicky) ReceivedMessage(c handler.Conn, m handler.Message) {
	if p.in == "ReceivedMessage" {
		panic("boom in ReceivedMessage")
	}
	p.Echo.ReceivedMessage(c, m)
}

func (p panicky) Closed(handler.Conn, handler.CloseCode, string) {
	if p.in == "Closed" {
		panic("boom in Closed")
	}
}

// TestStartReportsPanics: a panic in any callback of the handler under
// test, or in its factory, or in an accept hook, fails the test with the
// panic's value and its stack, on both engines; the test's client sees the
// connection closed with 1011 (the handshake refused with 500).
func TestStartReportsPanics(t *testing.T) {
	for _, e := range []server.Engine{server.EngineGoroutine, server.EngineNetpoll} {
		for _, site := range []string{"Opened", "ReceivedMessage", "Closed", "the factory", "the accept hook"} {
			t.Run(string(e)+"/"+site, func(t *testing.T) {
				rec := newRecordingTB(t)
				srv := handlertest.NewUnstartedServer(func() handler.Handler {
					if site == "the factory" {
						panic("boom in the factory")
					}
					return panicky{in: site}
				})
				srv.Config.Engine = e
				srv.Config.Logger = handlertest.Logger(rec)
				if site == "the accept hook" {
					srv.Config.Accept = func(*http.Request) (server.Accepted, error) { panic("boom in the accept hook") }
					srv.Start()
					ctx, cancel := context.WithTimeout(context.Background(), handlertest.Timeout)
					defer cancel()
					if _, err := client.Dial(ctx, srv.URL(), handler.Base{}, nil); err == nil || !strings.Contains(err.Error(), "500") {
						t.Fatalf("dial: %v, want a 500", err)
					}
				} else {
					srv.Start()
					c := handlertest.Dial(t, srv.URL())
					switch site {
					case "ReceivedMessage":
						c.SendText("x")
					case "Closed":
						if code, _ := c.Close(); code != handler.CloseNormal {
							t.Fatalf("closed with %d, want 1000", code)
						}
					}
					if code, _ := c.WaitClosed(); site != "Closed" && code != handler.CloseInternalError {
						t.Fatalf("closed with %d, want 1011", code)
					}
				}
				errs := rec.waitFailed(t)
				if err := srv.Close(); err != nil {
					t.Fatal(err)
				}
				rec.end()
				all := strings.Join(errs, "\n")
				if !strings.Contains(all, "boom in "+site) || !strings.Contains(all, "panicked") || !strings.Contains(all, "goroutine ") {
					t.Fatalf("the test failed with %q, want the panic's value and stack", all)
				}
				if site != "the factory" && site != "the accept hook" && !strings.Contains(all, "panicky."+site) {
					t.Fatalf("the stack does not show the callback that panicked:\n%s", all)
				}
			})
		}
	}
}

// A handler that runs cleanly fails nothing under Start, and the server's
// other logs go to the test's log.
func TestStartClean(t *testing.T) {
	rec := newRecordingTB(t)
	srv := handlertest.Start(rec, handler.NewEcho)
	srv.Config.Logger.Info("a note", "k", "v")
	c := handlertest.Dial(t, srv.URL())
	c.SendText("x")
	if got := c.ReceiveText(); got != "x" {
		t.Fatalf("echo %q", got)
	}
	c.Close()
	rec.end() // closes the server
	if len(rec.errs) != 0 || !slices.Contains(rec.logs, "INFO a note k=v") {
		t.Fatalf("errors %q, logs %q", rec.errs, rec.logs)
	}
}

// The fake Conn keeps the request as a real connection does, and with
// DropRequest fails as a real connection on a server whose DropRequest is
// set: the same handler fails the same way under both.
func TestConnRequestLikeServer(t *testing.T) {
	var zero handlertest.Conn
	if r := zero.Request(); r == nil || r.Host != "example.com" {
		t.Fatalf("a zero Conn's Request is %v", r)
	}
	h := pathTeller{}
	c := handlertest.NewConn(nil)
	h.Opened(c)
	h.ReceivedMessage(c, handler.Message{Type: handler.Text, Data: []byte("?")})
	if got := c.Texts(); len(got) != 1 || got[0] != "/" {
		t.Fatalf("fake: %q", got)
	}
	c.DropRequest()
	func() {
		defer func() {
			if v := recover(); v != handler.ErrRequestDropped {
				t.Fatalf("fake after DropRequest: panic %v, want ErrRequestDropped", v)
			}
		}()
		h.ReceivedMessage(c, handler.Message{Type: handler.Text, Data: []byte("?")})
	}()

	// The real server, kept and dropped.
	srv := handlertest.Start(t, func() handler.Handler { return pathTeller{} })
	cl := handlertest.Dial(t, srv.URL()+"p")
	cl.SendText("?")
	if got := cl.ReceiveText(); got != "/p" {
		t.Fatalf("real: %q", got)
	}
	rec := newRecordingTB(t)
	srv = handlertest.NewUnstartedServer(func() handler.Handler { return pathTeller{} })
	srv.Config.DropRequest = true
	srv.Config.Logger = handlertest.Logger(rec)
	srv.Start()
	cl = handlertest.Dial(t, srv.URL())
	cl.SendText("?")
	if code, _ := cl.WaitClosed(); code != handler.CloseInternalError {
		t.Fatalf("real with DropRequest: closed with %d, want 1011", code)
	}
	if errs := rec.waitFailed(t); !strings.Contains(strings.Join(errs, ""), handler.ErrRequestDropped.Error()) {
		t.Fatalf("real with DropRequest: %q", errs)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	rec.end()
}

// pathTeller answers every message with its request's path.
type pathTeller struct{ handler.Base }

func (pathTeller) ReceivedMessage(c handler.Conn, _ handler.Message) {
	_ = c.SendText(c.Request().URL.Path)
}
