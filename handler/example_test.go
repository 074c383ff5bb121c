package handler_test

import (
	"fmt"
	"strings"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/handlertest"
)

// Counter answers each message with how many it has received: one Counter
// per connection (its Factory makes a new one), so its state needs no lock.
type Counter struct {
	handler.Base
	n int
}

func (h *Counter) ReceivedMessage(c handler.Conn, m handler.Message) {
	h.n++
	// m.Data is only valid during this call; Send copies what it needs.
	_ = c.SendText(fmt.Sprintf("%d: %s", h.n, strings.ToUpper(string(m.Data))))
}

func (h *Counter) Closed(c handler.Conn, code handler.CloseCode, reason string) {
	fmt.Printf("closed after %d messages: %d %q\n", h.n, code, reason)
}

// A handler with per-connection state, driven here by a fake Conn from
// handlertest, as a unit test would.
func Example() {
	var f handler.Factory = func() handler.Handler { return &Counter{} }
	h, c := f(), handlertest.NewConn(nil)
	h.Opened(c)
	h.ReceivedMessage(c, handler.Message{Type: handler.Text, Data: []byte("a")})
	h.ReceivedMessage(c, handler.Message{Type: handler.Text, Data: []byte("b")})
	h.Closed(c, handler.CloseNormal, "bye")
	fmt.Println(c.Texts())
	// Output:
	// closed after 2 messages: 1000 "bye"
	// [1: A 2: B]
}

func ExampleCloseCode_Valid() {
	for _, code := range []handler.CloseCode{handler.CloseNormal, handler.CloseAbnormal, 4000} {
		fmt.Println(uint16(code), code.Valid())
	}
	// Output:
	// 1000 true
	// 1006 false
	// 4000 true
}
