package client_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

// readMsg reads the next message of c, failing the test on an error or
// after waitTimeout.
func readMsg(t *testing.T, c *client.Conn) (handler.MessageType, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	typ, p, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return typ, p
}

// readClose reads c to its end and checks how it ended.
func readClose(t *testing.T, c *client.Conn, code handler.CloseCode, reason string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for range 2 { // and again: the end is reported at every call
		typ, p, err := c.Read(ctx)
		var ce *client.CloseError
		if !errors.As(err, &ce) || ce.Code != code || ce.Reason != reason {
			t.Fatalf("Read: %v %.40q, %v; want a CloseError %d %q", typ, p, err, code, reason)
		}
		if !errors.Is(err, handler.ErrClosed) {
			t.Fatalf("errors.Is(%v, handler.ErrClosed) = false", err)
		}
	}
}

// sender sends the messages it is made with when its connection opens,
// then closes it with code and reason (unless code is 0), and echoes what
// it receives.
type sender struct {
	handler.Echo
	msgs   []handler.Message
	code   handler.CloseCode
	reason string
}

func (s sender) Opened(c handler.Conn) {
	for _, m := range s.msgs {
		_ = c.Send(m.Type, m.Data)
	}
	if s.code != 0 {
		_ = c.Close(s.code, s.reason)
	}
}

// numbered is n text messages "0", "1", ...
func numbered(n int) []handler.Message {
	out := make([]handler.Message, n)
	for i := range out {
		out[i] = handler.Message{Type: handler.Text, Data: []byte(strconv.Itoa(i))}
	}
	return out
}

// TestReadMessages: messages come back from Read in order, with their
// types and payloads (empty ones, ones larger than the unread bound, many
// small ones), on both engines, plain, compressed, and over HTTP/2 (a
// stream's flow control then holds the server back), while another
// goroutine sends; the client's close then ends the reading with the
// server's answer.
func TestReadMessages(t *testing.T) {
	var msgs []handler.Message
	for i, n := range []int{0, 1, 125, 126, 4000, 65536, 100 << 10, 300 << 10, 7} {
		typ := handler.Binary
		if i%2 == 0 {
			typ = handler.Text
		}
		msgs = append(msgs, handler.Message{Type: typ, Data: bytes.Repeat([]byte{'a' + byte(i)}, n)})
	}
	msgs = append(msgs, numbered(1000)...)
	cert, pool := testutil.SelfSigned(t)
	for _, e := range []server.Engine{server.EngineGoroutine, server.EngineNetpoll} {
		for _, path := range []string{"ws", "ws+deflate", "wss+http2"} {
			t.Run(string(e)+"/"+path, func(t *testing.T) {
				s := &server.Server{NewHandler: handler.NewEcho, Engine: e, Compression: path != "ws"}
				scheme, opts := "ws", (*client.Options)(nil)
				if path == "wss+http2" {
					s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
					scheme, opts = "wss", &client.Options{TLSConfig: &tls.Config{RootCAs: pool}, HTTP2: new(client.HTTP2Pool)}
				}
				c := dial(t, scheme+"://"+start(t, s)+"/", nil, opts)
				if got := c.Extensions() != ""; got != s.Compression {
					t.Fatalf("Extensions %q, compression %v", c.Extensions(), s.Compression)
				}
				if path == "wss+http2" && c.Proto() != "HTTP/2.0" {
					t.Fatalf("Proto %q, want HTTP/2.0", c.Proto())
				}
				sent := make(chan error, 1)
				go func() {
					for _, m := range msgs {
						if err := c.Send(m.Type, m.Data); err != nil {
							sent <- err
							return
						}
					}
					sent <- nil
				}()
				for i, want := range msgs {
					typ, p := readMsg(t, c)
					if typ != want.Type || !bytes.Equal(p, want.Data) {
						t.Fatalf("message %d: %v of %d bytes %.20q, want %v of %d bytes %.20q", i, typ, len(p), p, want.Type, len(want.Data), want.Data)
					}
				}
				if err := <-sent; err != nil {
					t.Fatalf("Send: %v", err)
				}
				_ = c.Close(handler.CloseNormal, "done")
				readClose(t, c, handler.CloseNormal, "done")
			})
		}
	}
}

// TestReadServerCloses: the messages the server sent before its close
// frame are all read, then the close, at every later call too; Done is
// closed by then.
func TestReadServerCloses(t *testing.T) {
	for _, e := range []server.Engine{server.EngineGoroutine, server.EngineNetpoll} {
		t.Run(string(e), func(t *testing.T) {
			h := sender{msgs: append(numbered(3), handler.Message{Type: handler.Binary, Data: []byte{0, 1}}), code: 4001, reason: "bye"}
			addr := start(t, &server.Server{NewHandler: func() handler.Handler { return h }, Engine: e})
			c := dial(t, "ws://"+addr+"/", nil, nil)
			for _, want := range h.msgs {
				if typ, p := readMsg(t, c); typ != want.Type || !bytes.Equal(p, want.Data) {
					t.Fatalf("got %v %q, want %v %q", typ, p, want.Type, want.Data)
				}
			}
			readClose(t, c, 4001, "bye")
			select {
			case <-c.Done():
			case <-time.After(waitTimeout):
				t.Fatal("Done not closed after Read returned the close")
			}
			if err := c.SendText("late"); !errors.Is(err, handler.ErrClosed) {
				t.Fatalf("Send after the end: %v, want ErrClosed", err)
			}
		})
	}
}

// TestReadContext: a Read whose ctx ends returns ctx's error, takes no
// message and leaves the connection open: the next Read gets the message.
func TestReadContext(t *testing.T) {
	c := dial(t, "ws://"+start(t, &server.Server{})+"/", nil, nil)

	// A ctx that ends while Read waits.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with a cancelled ctx: %v, want context.Canceled", err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancelShort()
	if _, _, err := c.Read(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read past its deadline: %v, want context.DeadlineExceeded", err)
	}

	// A message that is there, with a ctx that has ended: it stays for
	// the next Read.
	if err := c.SendText("one"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendText("two"); err != nil {
		t.Fatal(err)
	}
	if _, p := readMsg(t, c); string(p) != "one" {
		t.Fatalf("got %q, want one", p)
	}
	if _, _, err := c.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with an ended ctx: %v, want context.Canceled", err)
	}
	if _, p := readMsg(t, c); string(p) != "two" {
		t.Fatalf("got %q after the cancelled Read, want two", p)
	}
	select {
	case <-c.Done():
		t.Fatal("the connection ended with a Read's ctx")
	default:
	}
	if err := c.SendText("three"); err != nil {
		t.Fatal(err)
	}
	if _, p := readMsg(t, c); string(p) != "three" {
		t.Fatalf("got %q, want three", p)
	}
}

// TestReadOnHandlerConn: Read on a Conn dialled with a handler fails at
// once with ErrHandlerSet, whatever its ctx, and leaves the messages to the
// handler.
func TestReadOnHandlerConn(t *testing.T) {
	r := newRecorder()
	c := dial(t, "ws://"+start(t, &server.Server{})+"/", r, nil)
	if _, _, err := c.Read(context.Background()); !errors.Is(err, client.ErrHandlerSet) {
		t.Fatalf("Read on a handler's Conn: %v, want ErrHandlerSet", err)
	}
	if err := c.SendText("hi"); err != nil {
		t.Fatal(err)
	}
	r.expect(t, handler.Text, []byte("hi"))
}

// TestConcurrentReads: several goroutines reading one Conn get every
// message exactly once, and each then the close.
func TestConcurrentReads(t *testing.T) {
	const n, readers = 2000, 4
	h := sender{msgs: numbered(n), code: handler.CloseNormal, reason: "all sent"}
	c := dial(t, "ws://"+start(t, &server.Server{NewHandler: func() handler.Handler { return h }})+"/", nil, nil)
	var mu sync.Mutex
	seen := make(map[string]int)
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for range readers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			for {
				_, p, err := c.Read(ctx)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seen[string(p)]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		var ce *client.CloseError
		if !errors.As(err, &ce) || ce.Code != handler.CloseNormal {
			t.Fatalf("a reader ended with %v, want the close 1000", err)
		}
	}
	for i := range n {
		if k := seen[strconv.Itoa(i)]; k != 1 {
			t.Fatalf("message %d read %d times", i, k)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages read, want %d", len(seen), n)
	}
}

// TestReadLagKeepsConnection: an application that does not call Read for
// many times the heartbeat's and the message timeout's periods, while the
// server has sent more than the unread bound (so the socket is not read,
// with a message in progress in it), keeps its connection: the silence is
// the client's own. Then everything arrives, and the connection works.
func TestReadLagKeepsConnection(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 128<<10)
	var msgs []handler.Message
	for i := range 8 {
		msgs = append(msgs, handler.Message{Type: handler.Binary, Data: append([]byte{byte(i)}, big...)})
	}
	h := sender{msgs: msgs}
	addr := start(t, &server.Server{NewHandler: func() handler.Handler { return h }})
	const period = 20 * time.Millisecond
	c := dial(t, "ws://"+addr+"/", nil, &client.Options{PingInterval: period, PongTimeout: period, MessageTimeout: period})
	time.Sleep(20 * period) // the application lags: what is tested, not synchronisation
	for i, want := range msgs {
		if _, p := readMsg(t, c); !bytes.Equal(p, want.Data) {
			t.Fatalf("message %d: %d bytes, want %d", i, len(p), len(want.Data))
		}
	}
	if err := c.SendText("still there"); err != nil {
		t.Fatalf("Send after the lag: %v", err)
	}
	if _, p := readMsg(t, c); string(p) != "still there" {
		t.Fatalf("got %q, want the echo", p)
	}
	_ = c.Close(handler.CloseNormal, "")
	readClose(t, c, handler.CloseNormal, "")
}
