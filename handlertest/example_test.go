package handlertest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/handlertest"
)

// shout answers every text message in capitals and closes the connection
// on "bye".
type shout struct{ handler.Base }

func (shout) ReceivedMessage(c handler.Conn, m handler.Message) {
	if string(m.Data) == "bye" {
		_ = c.Close(handler.CloseNormal, "see you")
		return
	}
	_ = c.SendText(strings.ToUpper(string(m.Data)))
}

// A handler's callbacks called directly with a fake Conn: no socket.
func ExampleConn() {
	c := handlertest.NewConn(nil)
	h := shout{}
	h.Opened(c)
	h.ReceivedMessage(c, handler.Message{Type: handler.Text, Data: []byte("hello")})
	h.ReceivedMessage(c, handler.Message{Type: handler.Text, Data: []byte("bye")})

	fmt.Println(c.Texts())
	code, reason, closed := c.CloseStatus()
	fmt.Println(code, reason, closed)
	fmt.Println(c.Context().Err())
	// Output:
	// [HELLO]
	// normal closure see you true
	// context canceled
}

// A handler under a real server, reached with the ws4go client. (In a test,
// Dial gives a synchronous client instead: see TestDial.)
func ExampleNewServer() {
	srv := handlertest.NewServer(func() handler.Handler { return shout{} })
	defer srv.Close()

	got := make(chan string, 1)
	c, err := client.Dial(context.Background(), srv.URL(), printer{got: got}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = c.SendText("hello")
	fmt.Println(<-got)
	_ = c.Close(handler.CloseNormal, "")
	<-c.Done()
	// Output: HELLO
}

type printer struct {
	handler.Base
	got chan<- string
}

func (p printer) ReceivedMessage(_ handler.Conn, m handler.Message) { p.got <- string(m.Data) }

// A handler under test with Start: a panic in any of its callbacks fails
// the test with the panic's value and stack (the client alone would only
// see the connection closed with 1011), and the server is closed, and
// checked, when the test ends. (Not run here: an example has no
// *testing.T; TestStartReportsPanics checks it.)
func ExampleStart() {
	testShout := func(t *testing.T) {
		srv := handlertest.Start(t, func() handler.Handler { return shout{} })
		c := handlertest.Dial(t, srv.URL())
		c.SendText("hello")
		if got := c.ReceiveText(); got != "HELLO" {
			t.Errorf("got %q, want HELLO", got)
		}
	}
	_ = testShout
}

// Dial in a test: each step waits for its answer and fails the test if it
// does not come. (Not run here: an example has no *testing.T; TestDial runs
// the same steps.)
func ExampleDial() {
	testShout := func(t *testing.T) {
		srv := handlertest.NewServer(func() handler.Handler { return shout{} })
		defer srv.Close()

		c := handlertest.Dial(t, srv.URL())
		c.SendText("hello")
		if got := c.ReceiveText(); got != "HELLO" {
			t.Errorf("got %q, want HELLO", got)
		}
		c.SendText("bye")
		if code, reason := c.WaitClosed(); code != handler.CloseNormal || reason != "see you" {
			t.Errorf("closed with %d %q", code, reason)
		}
	}
	_ = testShout
}
