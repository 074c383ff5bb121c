package handlertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"unicode/utf8"

	"github.com/ws4go/ws4go/handler"
)

// Conn is a fake handler.Conn that records what a handler does with it: the
// messages it sends, its pings, and how it closes the connection. Pass it to
// a handler's callbacks directly to unit-test them without a socket.
//
// It checks arguments as the real connections do (close codes, reason and
// ping lengths, message types) and, like them, refuses sends once Close or
// Terminate has been called. All methods are safe for concurrent use.
type Conn struct {
	// Req, Proto, Local and Remote are what Request, Subprotocol,
	// LocalAddr and RemoteAddr return. NewConn fills them in; set them
	// before the Conn is used. (A Conn made without NewConn works too:
	// its fields are then what it was given, but for a nil Req, which
	// Request fills in as NewConn does: a real connection always has
	// its request.)
	Req           *http.Request
	Proto         string
	Local, Remote net.Addr

	ctx    context.Context
	cancel context.CancelFunc

	mu         sync.Mutex
	sent       []handler.Message
	pings      [][]byte
	closed     bool
	code       handler.CloseCode
	reason     string
	terminated bool
	data       any
	dropped    bool // DropRequest was called
}

var _ handler.Conn = (*Conn)(nil)

// NewConn returns a Conn whose Request is r (nil: a GET / upgrade request
// to example.com), from 192.0.2.1:1234 to 192.0.2.2:80.
func NewConn(r *http.Request) *Conn {
	if r == nil {
		r = upgradeRequest()
	}
	c := &Conn{
		Req:    r,
		Local:  &net.TCPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 80},
		Remote: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1234},
	}
	c.ctx, c.cancel = context.WithCancel(r.Context())
	return c
}

// upgradeRequest is the request of a Conn given none.
func upgradeRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	return r
}

// contextLocked returns c's context, made on first use for a Conn not made
// by NewConn (its parent is then the background); c.mu is held.
func (c *Conn) contextLocked() (context.Context, context.CancelFunc) {
	if c.ctx == nil {
		c.ctx, c.cancel = context.WithCancel(context.Background())
		if c.closed || c.terminated {
			c.cancel()
		}
	}
	return c.ctx, c.cancel
}

// Send records a copy of p as a message of type t.
func (c *Conn) Send(t handler.MessageType, p []byte) error {
	if t != handler.Text && t != handler.Binary {
		return fmt.Errorf("handlertest: bad message type %d", t)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.terminated {
		return handler.ErrClosed
	}
	c.sent = append(c.sent, handler.Message{Type: t, Data: append([]byte{}, p...)})
	return nil
}

// SendText records s as a text message.
func (c *Conn) SendText(s string) error { return c.Send(handler.Text, []byte(s)) }

// SendBinary records a copy of p as a binary message.
func (c *Conn) SendBinary(p []byte) error { return c.Send(handler.Binary, p) }

// NewWriter returns a writer whose fragments are recorded as one message
// when it is closed (the peer sees one message too).
func (c *Conn) NewWriter(t handler.MessageType) (io.WriteCloser, error) {
	if t != handler.Text && t != handler.Binary {
		return nil, fmt.Errorf("handlertest: bad message type %d", t)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.terminated {
		return nil, handler.ErrClosed
	}
	return &writer{c: c, t: t}, nil
}

type writer struct {
	c    *Conn
	t    handler.MessageType
	buf  []byte
	done bool
}

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("handlertest: write after Close")
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	return w.c.Send(w.t, w.buf)
}

// Ping records a copy of payload, at most 125 bytes.
func (c *Conn) Ping(payload []byte) error {
	if len(payload) > 125 {
		return errors.New("handlertest: a ping payload is at most 125 bytes")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.terminated {
		return handler.ErrClosed
	}
	c.pings = append(c.pings, append([]byte{}, payload...))
	return nil
}

// Close records code and reason the first time it is called, as the real
// connections send one close frame, and cancels Context. Codes that may not
// be sent and reasons longer than 123 bytes are refused.
func (c *Conn) Close(code handler.CloseCode, reason string) error {
	if !code.Valid() {
		return fmt.Errorf("handlertest: close code %d may not be sent", code)
	}
	if len(reason) > 123 || !utf8.ValidString(reason) {
		return errors.New("handlertest: a close reason is at most 123 bytes of UTF-8")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.terminated {
		return nil
	}
	c.closed, c.code, c.reason = true, code, reason
	_, cancel := c.contextLocked()
	cancel()
	return nil
}

// Terminate records that the connection was dropped and cancels Context.
func (c *Conn) Terminate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.terminated = true
	_, cancel := c.contextLocked()
	cancel()
}

// LocalAddr returns c.Local.
func (c *Conn) LocalAddr() net.Addr { return c.Local }

// RemoteAddr returns c.Remote.
func (c *Conn) RemoteAddr() net.Addr { return c.Remote }

// Request returns c.Req, as a real connection returns its request for its
// whole life. After DropRequest it panics with handler.ErrRequestDropped.
func (c *Conn) Request() *http.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped {
		panic(handler.ErrRequestDropped)
	}
	if c.Req == nil {
		c.Req = upgradeRequest()
	}
	return c.Req
}

// DropRequest makes Request panic from now on, as a real connection's does
// once Opened has returned on a server whose DropRequest is set: call it
// after the handler's Opened to check that the handler reads the request
// there only.
func (c *Conn) DropRequest() {
	c.mu.Lock()
	c.dropped = true
	c.mu.Unlock()
}

// Subprotocol returns c.Proto.
func (c *Conn) Subprotocol() string { return c.Proto }

// Data returns the value last given to SetData.
func (c *Conn) Data() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.data
}

// SetData stores v.
func (c *Conn) SetData(v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data = v
}

// Context is cancelled when Close or Terminate is called (or the request's
// context ends), as a real connection's is when it ends: after Close, as if
// the peer had answered the close frame at once.
func (c *Conn) Context() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, _ := c.contextLocked()
	return ctx
}

// Sent returns copies of the messages sent so far, in order.
func (c *Conn) Sent() []handler.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]handler.Message, len(c.sent))
	for i, m := range c.sent {
		out[i] = handler.Message{Type: m.Type, Data: append([]byte{}, m.Data...)}
	}
	return out
}

// Texts returns the payloads of the messages sent so far as strings,
// whatever their type: the common assertion on a text protocol.
func (c *Conn) Texts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.sent))
	for i, m := range c.sent {
		out[i] = string(m.Data)
	}
	return out
}

// Pings returns copies of the ping payloads sent so far.
func (c *Conn) Pings() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][]byte, len(c.pings))
	for i, p := range c.pings {
		out[i] = append([]byte{}, p...)
	}
	return out
}

// CloseStatus returns the code and reason of the first Close call, and
// whether Close was called.
func (c *Conn) CloseStatus() (code handler.CloseCode, reason string, closed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code, c.reason, c.closed
}

// Terminated reports whether Terminate was called.
func (c *Conn) Terminated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.terminated
}
