package handlertest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/server"
)

// Timeout bounds every wait of Server.Close and of Client's methods, so
// that a handler that never answers fails the test instead of hanging it.
const Timeout = 10 * time.Second

// Server is a ws4go server running a handler on a local port, for
// end-to-end tests of handlers, as httptest.Server is for http.Handlers.
type Server struct {
	// Config is the server being run. Between NewUnstartedServer and
	// Start its fields may be set (an engine, limits, subprotocols).
	Config *server.Server

	l    net.Listener
	errc chan error
	once sync.Once
	err  error
}

// Start starts a server for the test t, running a handler from f for every
// connection on every path, on a port of 127.0.0.1: NewServer, with the
// server's logs on t's (see Logger), so that a panic in the handler, in any
// callback or in f, fails t with the panic's value and stack. The server is
// closed when the test ends, and t fails if Close reports an error (a
// connection that did not end). To test a handler that panics on purpose,
// use NewServer.
func Start(t testing.TB, f handler.Factory) *Server {
	t.Helper()
	s := NewUnstartedServer(f)
	s.Config.Logger = Logger(t)
	s.Start()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("handlertest: Close: %v", err)
		}
	})
	return s
}

// NewServer starts a server running a handler from f for every
// connection on every path, on a port of 127.0.0.1. Close it when done.
// Its logs are discarded: a panic in the handler shows only as the
// connection closed with 1011. Start, which takes the test, reports it.
func NewServer(f handler.Factory) *Server {
	s := NewUnstartedServer(f)
	s.Start()
	return s
}

// NewUnstartedServer returns a Server that is not yet listening, so that
// its Config can be set first; call Start. Its logs are discarded (set
// Config.Logger to Logger(t) to have them, and a handler's panic fail t).
func NewUnstartedServer(f handler.Factory) *Server {
	return &Server{Config: &server.Server{
		NewHandler: f,
		Logger:     slog.New(slog.DiscardHandler),
	}}
}

// Start listens on a port of 127.0.0.1 and serves. It panics if it cannot
// listen (as httptest does: there is no test to fail).
func (s *Server) Start() {
	if s.l != nil {
		panic("handlertest: Server already started")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("handlertest: listening on 127.0.0.1: %v", err))
	}
	s.l, s.errc = l, make(chan error, 1)
	go func() { s.errc <- s.Config.Serve(l) }()
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.l.Addr().String() }

// URL is "ws://" and the server's address, with path "/"; append a path or
// query if the handler looks at them.
func (s *Server) URL() string { return "ws://" + s.Addr() + "/" }

// Close shuts the server down: every connection gets a close frame 1001,
// and Close waits (at most Timeout) until they are all gone. It returns an error if they were not, or
// if the server had stopped for another reason. Later calls return the
// same.
func (s *Server) Close() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		err := s.Config.Shutdown(ctx)
		if s.errc == nil {
			s.err = err // never started
			return
		}
		var serr error
		select {
		case serr = <-s.errc:
		case <-ctx.Done():
			serr = errors.New("did not return after Shutdown")
		}
		if !errors.Is(serr, server.ErrServerClosed) {
			err = errors.Join(err, fmt.Errorf("handlertest: Serve: %w", serr))
		}
		if n := s.Config.Len(); n != 0 {
			err = errors.Join(err, fmt.Errorf("handlertest: %d connections left after Shutdown", n))
		}
		s.err = err
	})
	return s.err
}

// Client is a synchronous WebSocket client for tests, on the ws4go client:
// the test sends, then waits for what comes back. Each method fails the
// test (t.Fatal) on an error or after Timeout; use them from the test's
// goroutine only.
type Client struct {
	t      testing.TB
	c      *client.Conn
	msgs   chan handler.Message
	pongs  chan []byte
	closed chan closeEvent
	ev     *closeEvent // the Closed event, once received
}

type closeEvent struct {
	code   handler.CloseCode
	reason string
}

// String says how the connection closed, and where to look when the
// server failed.
func (e *closeEvent) String() string {
	s := fmt.Sprintf("connection closed (%d %q)", e.code, e.reason)
	if e.code == handler.CloseInternalError {
		s += "; a handler's panic closes with 1011: a server started with Start (or whose Logger is Logger(t)) reports it in the test"
	}
	return s
}

// Dial connects to url (a Server's URL, with any path and query) and fails
// the test if it cannot. The connection is dropped when the test ends if it
// is still open.
func Dial(t testing.TB, url string) *Client {
	t.Helper()
	return DialOptions(t, url, nil)
}

// DialOptions is Dial with client options (subprotocols, headers,
// compression).
func DialOptions(t testing.TB, url string, opts *client.Options) *Client {
	t.Helper()
	if opts == nil {
		opts = &client.Options{Logger: slog.New(slog.DiscardHandler)}
	}
	c := &Client{
		t:      t,
		msgs:   make(chan handler.Message, 1024),
		pongs:  make(chan []byte, 64),
		closed: make(chan closeEvent, 1),
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	conn, err := client.Dial(ctx, url, recorder{c}, opts)
	if err != nil {
		t.Fatalf("handlertest: Dial %s: %v", url, err)
	}
	c.c = conn
	t.Cleanup(func() {
		conn.Terminate()
		<-conn.Done()
	})
	return c
}

// recorder is the client's handler: it queues what arrives for the test's
// goroutine.
type recorder struct{ c *Client }

func (r recorder) Opened(handler.Conn) {}

func (r recorder) ReceivedMessage(_ handler.Conn, m handler.Message) {
	// m.Data is the engine's buffer: copy it to keep it.
	m.Data = append([]byte{}, m.Data...)
	select {
	case r.c.msgs <- m:
	default:
		// A test that lets over 1024 messages pile up has lost track;
		// dropping them makes Receive's result wrong, so say so.
		r.c.t.Errorf("handlertest: more than %d messages not received; dropped one", cap(r.c.msgs))
	}
}

func (r recorder) Ponged(_ handler.Conn, p []byte) {
	select {
	case r.c.pongs <- append([]byte{}, p...):
	default:
	}
}

func (r recorder) Closed(_ handler.Conn, code handler.CloseCode, reason string) {
	r.c.closed <- closeEvent{code, reason}
}

// Conn is the underlying connection, for what Client has no method for
// (NewWriter, Subprotocol, Extensions).
func (c *Client) Conn() *client.Conn { return c.c }

// Send sends one message of type typ.
func (c *Client) Send(typ handler.MessageType, p []byte) {
	c.t.Helper()
	if err := c.c.Send(typ, p); err != nil {
		c.t.Fatalf("handlertest: Send: %v", err)
	}
}

// SendText sends s as a text message.
func (c *Client) SendText(s string) { c.t.Helper(); c.Send(handler.Text, []byte(s)) }

// Receive waits for the next message from the server. It fails the test if
// the connection closes first, or after Timeout.
func (c *Client) Receive() handler.Message {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m
	default:
	}
	if c.ev != nil {
		c.t.Fatalf("handlertest: Receive: %s", c.ev)
	}
	timer := time.NewTimer(Timeout)
	defer timer.Stop()
	select {
	case m := <-c.msgs:
		return m
	case ev := <-c.closed:
		c.ev = &ev
		// Messages that arrived before the close frame still count.
		select {
		case m := <-c.msgs:
			return m
		default:
		}
		c.t.Fatalf("handlertest: Receive: %s", c.ev)
	case <-timer.C:
		c.t.Fatalf("handlertest: Receive: no message in %v", Timeout)
	}
	return handler.Message{}
}

// ReceiveText waits for the next message and returns its payload as a
// string; it fails the test if the message is not text.
func (c *Client) ReceiveText() string {
	c.t.Helper()
	m := c.Receive()
	if m.Type != handler.Text {
		c.t.Fatalf("handlertest: ReceiveText: got a %v message %.40q", m.Type, m.Data)
	}
	return string(m.Data)
}

// Ping sends a ping and waits for the pong carrying the same payload.
func (c *Client) Ping(payload []byte) {
	c.t.Helper()
	if err := c.c.Ping(payload); err != nil {
		c.t.Fatalf("handlertest: Ping: %v", err)
	}
	timer := time.NewTimer(Timeout)
	defer timer.Stop()
	for {
		select {
		case p := <-c.pongs:
			if string(p) == string(payload) {
				return
			}
		case <-timer.C:
			c.t.Fatalf("handlertest: Ping: no pong in %v", Timeout)
		}
	}
}

// Close runs the closing handshake with code 1000 and returns the code and
// reason the server answered with (or had closed with first).
func (c *Client) Close() (handler.CloseCode, string) {
	c.t.Helper()
	// An error here means the connection is already going (the server
	// closed it first): WaitClosed then reports how it ended.
	_ = c.c.Close(handler.CloseNormal, "")
	return c.WaitClosed()
}

// WaitClosed waits until the connection is closed, by either side, and
// returns the close code and reason (see handler.Handler's Closed).
// Messages not received are discarded.
func (c *Client) WaitClosed() (handler.CloseCode, string) {
	c.t.Helper()
	if c.ev == nil {
		timer := time.NewTimer(Timeout)
		defer timer.Stop()
		select {
		case ev := <-c.closed:
			c.ev = &ev
		case <-timer.C:
			c.t.Fatalf("handlertest: connection not closed in %v", Timeout)
		}
	}
	return c.ev.code, c.ev.reason
}
