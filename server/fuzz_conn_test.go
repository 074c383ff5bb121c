package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/deflate"
	"github.com/ws4go/ws4go/internal/proto"
	"github.com/ws4go/ws4go/observe"
	"github.com/ws4go/ws4go/server"
)

// Limits of the fuzzed servers: small, so that inputs reach them cheaply.
const (
	fzMaxMessage    = 64 << 10
	fzMaxWriteQueue = 64 << 10
	// fzReadSlack is what a connection may hold besides a partial message
	// and its write queue: a message buffer grown by append overshoots its
	// length (by at most a quarter past 256 bytes), plus a control frame
	// being assembled (125 bytes) and a read buffer (4 KiB).
	fzReadSlack = fzMaxMessage/4 + 125 + 4<<10
	// fzConnBudget is the most bytes one connection may make the server
	// hold (Stats.Buffered): a partial message or inflater output of up to
	// MaxMessageSize, a write queue of up to MaxWriteQueue (one frame of
	// MaxMessageSize may pass it when nothing else is queued: the partial
	// message is then gone), and the slack.
	fzConnBudget = fzMaxMessage + fzMaxWriteQueue + fzReadSlack
)

// fzWait bounds every wait on the server; past it an invariant has failed.
const fzWait = 5 * time.Second

// fzServerCodes are the close codes a server may send of its own accord.
var fzServerCodes = map[handler.CloseCode]bool{
	1000: true, 1001: true, 1002: true, 1003: true, 1007: true, 1008: true,
	1009: true, 1010: true, 1011: true, 1013: true,
}

// fzServer is one long-lived server per engine, shared by every input of a
// process, with a bystander connection that must keep working.
type fzServer struct {
	srv    *server.Server
	addr   string
	closed chan struct{} // a connection closed (signalled, capacity 1)
	errc   chan error
	by     *fzBystander
}

var (
	fzOnce     sync.Once
	fzServers  map[bool]*fzServer // by netpoll
	fzBase     int                // goroutines with the servers idle
	fzInputs   atomic.Int64
	fzLeakOpts []goleak.Option
	// fzBaseLeakOpts ignore the goroutines of the baseline.
	fzBaseLeakOpts []goleak.Option
)

// fzObserver signals every closed connection.
type fzObserver struct {
	observe.Base
	closed chan struct{}
}

func (o fzObserver) Closed(handler.CloseCode, observe.Side) {
	select {
	case o.closed <- struct{}{}:
	default:
	}
}

func fzStartServer(netpoll bool) (*fzServer, error) {
	e := server.EngineGoroutine
	if netpoll {
		e = server.EngineNetpoll
	}
	fs := &fzServer{closed: make(chan struct{}, 1), errc: make(chan error, 1)}
	fs.srv = &server.Server{
		Engine:           e,
		NewHandler:       handler.NewEcho,
		HTTP:             http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "fz\n") }),
		Subprotocols:     []string{"chat"},
		Compression:      true,
		MaxMessageSize:   fzMaxMessage,
		MaxWriteQueue:    fzMaxWriteQueue,
		HandshakeTimeout: time.Second,
		CloseTimeout:     time.Second,
		WriteTimeout:     time.Second,
		PingInterval:     2 * time.Second,
		PongTimeout:      time.Second,
		// As many workers as poll at once: the pool never grows, so
		// the goroutine count has a fixed baseline.
		Workers:  runtime.GOMAXPROCS(0),
		Observer: fzObserver{closed: fs.closed},
		Logger:   fzQuietLogger(),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	fs.addr = l.Addr().String()
	go func() { fs.errc <- fs.srv.Serve(l) }()
	if fs.by, err = fzDialBystander(fs.addr); err != nil {
		return nil, err
	}
	// The fallback HTTP server starts with the first plain request and
	// then serves for the server's life: start it now, before the
	// goroutine baseline is taken.
	nc, err := net.DialTimeout("tcp", fs.addr, fzWait)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(fzWait))
	_, _ = io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if _, err := io.ReadAll(nc); err != nil {
		return nil, err
	}
	return fs, nil
}

// fzSetup starts the servers once per process; f's cleanup stops them and
// checks that no goroutine is left (it runs in a plain `go test`; fuzzing
// workers just exit).
func fzSetup(f *testing.F) {
	fzLeakOpts = []goleak.Option{goleak.IgnoreCurrent()}
	f.Cleanup(func() {
		if fzServers == nil {
			return
		}
		for _, fs := range fzServers {
			fs.by.c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), fzWait)
			if err := fs.srv.Shutdown(ctx); err != nil {
				f.Errorf("Shutdown: %v", err)
			}
			cancel()
			if err := <-fs.errc; !errors.Is(err, server.ErrServerClosed) {
				f.Errorf("Serve: %v", err)
			}
		}
		goleak.VerifyNone(f, fzLeakOpts...)
	})
}

func fzServersFor(t *testing.T) map[bool]*fzServer {
	fzOnce.Do(func() {
		m := map[bool]*fzServer{}
		for _, np := range []bool{false, true} {
			fs, err := fzStartServer(np)
			if err != nil {
				t.Fatalf("starting the server: %v", err)
			}
			m[np] = fs
		}
		fzServers = m
		fzBase = runtime.NumGoroutine()
		fzBaseLeakOpts = append([]goleak.Option{goleak.IgnoreCurrent()}, fzLeakOpts...)
	})
	if fzServers == nil {
		t.Fatal("the servers did not start")
	}
	return fzServers
}

// FuzzServerConn feeds a whole connection (handshake and frames, with and
// without compression, chopped at arbitrary points) to a real server on each
// engine and checks after every input: no panic (the server runs in this
// process); the server's bytes are a valid HTTP response and server-to-client
// frame stream, with only legal close codes and echoes that match what was
// sent; the connection is gone from the table afterwards, the bytes it held
// are released and within the budget meanwhile, no goroutine is left; and a
// bystander connection still echoes.
func FuzzServerConn(f *testing.F) {
	fzSetup(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		servers := fzServersFor(t)
		fs := servers[len(data) > 0 && data[0]&1 != 0]
		c := fzDecode(data, fs.addr, true)
		fzRun(t, fs, c)
		if fzInputs.Add(1)%64 == 0 {
			for _, s := range servers {
				if err := s.by.echoes(); err != nil {
					t.Fatalf("bystander: %v", err)
				}
			}
		}
	})
}

// fzRun performs one case and checks the invariants.
func fzRun(t *testing.T, fs *fzServer, c *fzCase) {
	nc, err := net.DialTimeout("tcp", fs.addr, fzWait)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(fzWait))
	rd := fzRead(nc)
	for i, b := range c.writes {
		if i == c.wait {
			select {
			case <-rd.head:
			case <-rd.done:
			case <-time.After(fzWait):
				t.Fatalf("no response head within %v", fzWait)
			}
		}
		if _, err := nc.Write(b); err != nil {
			break // the server closed: what it sent says why
		}
		fzCheckBudget(t, fs.srv)
	}
	switch c.end {
	case 0:
		_ = nc.(*net.TCPConn).CloseWrite()
		select {
		case <-rd.done:
		case <-time.After(fzWait):
			t.Fatalf("the server did not close the connection within %v of the client's FIN", fzWait)
		}
	case 1:
		select {
		case <-rd.done:
		case <-time.After(20 * time.Millisecond):
		}
		nc.Close()
		<-rd.done
	default:
		nc.Close()
		<-rd.done
	}
	if err := fzCheckWire(c, rd.out.Bytes(), c.end == 0 && rd.err == nil); err != nil {
		t.Fatalf("%v\nserver sent %d bytes: %.512q", err, rd.out.Len(), rd.out.Bytes())
	}
	fzWaitGone(t, fs)
}

// fzReader collects what the server sends.
type fzReader struct {
	out  bytes.Buffer
	err  error         // a read error other than EOF
	head chan struct{} // closed when a response head has arrived
	done chan struct{}
}

func fzRead(nc net.Conn) *fzReader {
	r := &fzReader{head: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		buf := make([]byte, 32<<10)
		seen := false
		for {
			n, err := nc.Read(buf)
			r.out.Write(buf[:n])
			if !seen && bytes.Contains(r.out.Bytes(), []byte("\r\n\r\n")) {
				seen = true
				close(r.head)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					r.err = err
				}
				return
			}
		}
	}()
	return r
}

// fzCheckBudget: what the server holds stays within the per-connection
// budget times the connections open.
func fzCheckBudget(t *testing.T, srv *server.Server) {
	st := srv.Stats()
	if limit := int64(fzConnBudget) * int64(st.Connections); st.Buffered > limit {
		t.Fatalf("the server holds %d bytes for %d connections, past the budget of %d each", st.Buffered, st.Connections, fzConnBudget)
	}
}

// fzWaitGone waits until the input's connection is gone (only the bystander
// left), its bytes released and its goroutines ended.
func fzWaitGone(t *testing.T, fs *fzServer) {
	deadline := time.After(fzWait)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		n, st, g := fs.srv.Len(), fs.srv.Stats(), runtime.NumGoroutine()
		if n == 1 && st.Buffered == 0 && g <= fzBase {
			return
		}
		select {
		case <-fs.closed:
		case <-tick.C:
		case <-deadline:
			if n != 1 {
				t.Fatalf("%d connections open %v after the input, want only the bystander", n, fzWait)
			}
			if st.Buffered != 0 {
				t.Fatalf("the server still holds %d bytes with only an idle bystander", st.Buffered)
			}
			if err := goleak.Find(fzBaseLeakOpts...); err != nil {
				t.Fatalf("%d goroutines, baseline %d: %v", g, fzBase, err)
			}
			return
		}
	}
}

// fzCheckWire checks what the server sent: HTTP responses, then after a 101
// a valid server-to-client frame stream. complete says the server closed
// the connection itself (the client only half-closed), so the stream must
// not stop inside a response.
func fzCheckWire(c *fzCase, out []byte, complete bool) error {
	br := bufio.NewReader(bytes.NewReader(out))
	for first := true; ; first = false {
		if _, err := br.Peek(1); err != nil {
			return nil // nothing (more): the server just closed
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if !complete {
				return nil // cut short by the client's close
			}
			return fmt.Errorf("malformed HTTP response: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil && complete {
			return fmt.Errorf("HTTP response body: %v", err)
		}
		switch s := resp.StatusCode; {
		case s == http.StatusSwitchingProtocols:
			return fzCheckFrames(c, resp, br, first)
		case s == http.StatusOK || s == http.StatusContinue:
			if !bytes.Equal(body, []byte("fz\n")) && s == http.StatusOK {
				return fmt.Errorf("200 with body %q: not the fallback handler's", body)
			}
		case s >= 400 && s <= 599:
			if _, err := br.Peek(1); err == nil && resp.Close {
				rest, _ := io.ReadAll(br)
				return fmt.Errorf("%d refusal followed by %d more bytes %.64q", s, len(rest), rest)
			}
		default:
			return fmt.Errorf("unexpected status %d", s)
		}
	}
}

// fzCheckFrames checks the frames after a 101. first says the 101 answered
// the input's first request, so the client stream after its head is what
// the WebSocket connection read (otherwise the fallback server read some).
func fzCheckFrames(c *fzCase, resp *http.Response, br *bufio.Reader, first bool) error {
	if resp.Header.Get("Upgrade") != "websocket" || resp.Header.Get("Connection") != "Upgrade" {
		return fmt.Errorf("101 without the upgrade headers: %v", resp.Header)
	}
	if !c.raw && first && resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		return fmt.Errorf("101 with Sec-WebSocket-Accept %q", resp.Header.Get("Sec-WebSocket-Accept"))
	}
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	compressed := ext != ""
	if compressed && !strings.HasPrefix(ext, deflate.Response) {
		return fmt.Errorf("extension answer %q", ext)
	}
	var ref *fzPeer
	if first {
		ref = fzReferencePeer(c, compressed)
	}
	rest, _ := io.ReadAll(br)
	rd := proto.Reader{Client: true, Compression: compressed, StreamCompressed: true}
	var infl *deflate.Inflater
	defer func() {
		if infl != nil {
			infl.Release()
		}
	}()
	msgs, closed := 0, false
	echoed := func(typ handler.MessageType, p []byte) error {
		if ref != nil {
			if msgs >= len(ref.msgs) {
				return fmt.Errorf("message %d (%d bytes) echoed, but the client sent %d", msgs, len(p), len(ref.msgs))
			}
			if want := ref.msgs[msgs]; want.Type != typ || !bytes.Equal(want.Data, p) {
				return fmt.Errorf("message %d echoed as type %d %.64q, sent type %d %.64q", msgs, typ, p, want.Type, want.Data)
			}
		}
		msgs++
		return nil
	}
	for len(rest) > 0 {
		n, ev, perr := rd.Next(rest)
		rest = rest[n:]
		if perr != nil {
			return fmt.Errorf("invalid frame stream from the server: %v (close %d)", perr, perr.Code)
		}
		if ev.Kind != proto.None && closed {
			return fmt.Errorf("a frame (kind %d) after the server's close frame", ev.Kind)
		}
		switch ev.Kind {
		case proto.Message:
			if err := echoed(ev.Type, ev.Data); err != nil {
				return err
			}
		case proto.Deflated:
			if infl == nil {
				infl = deflate.NewInflater(fzMaxMessage, ev.Type == handler.Text)
			}
			err := infl.Write(ev.Data)
			if ev.Fin {
				var p []byte
				if err == nil {
					p, err = infl.Close()
				}
				if err == nil {
					err = echoed(ev.Type, p)
				}
				infl.Release()
				infl = nil
			}
			if err != nil {
				return fmt.Errorf("compressed message from the server: %v", err)
			}
		case proto.Pong:
			if ref != nil && !ref.pings[string(ev.Data)] {
				return fmt.Errorf("a pong %q that answers no ping sent", ev.Data)
			}
		case proto.Close:
			closed = true
			switch {
			case ref == nil:
				// The peer's codes are unknown: any valid one.
			case ev.Code == handler.CloseNoStatus:
				if !ref.codes[ev.Code] {
					return errors.New("an empty close frame, but the client sent none")
				}
			case !fzServerCodes[ev.Code] && !ref.codes[ev.Code]:
				return fmt.Errorf("close code %d: neither the server's own nor one the client sent", ev.Code)
			}
		}
	}
	return nil
}

// fzPeer is what the server's reader makes of the client stream, up to the
// point where it fails or closes: a reference for the echoes and close codes.
type fzPeer struct {
	msgs  []handler.Message
	pings map[string]bool
	codes map[handler.CloseCode]bool // close codes sent (CloseNoStatus: an empty close)
}

func fzReferencePeer(c *fzCase, compressed bool) *fzPeer {
	p := &fzPeer{pings: map[string]bool{}, codes: map[handler.CloseCode]bool{}}
	stream := bytes.Join(c.writes, nil)
	i := bytes.Index(stream, []byte("\r\n\r\n"))
	if i < 0 {
		return p
	}
	stream = stream[i+4:]
	rd := proto.Reader{MaxMessage: fzMaxMessage, Compression: compressed, StreamCompressed: true}
	var infl *deflate.Inflater
	defer func() {
		if infl != nil {
			infl.Release()
		}
	}()
	for len(stream) > 0 {
		n, ev, perr := rd.Next(stream)
		stream = stream[n:]
		if perr != nil {
			return p
		}
		switch ev.Kind {
		case proto.Message:
			p.msgs = append(p.msgs, handler.Message{Type: ev.Type, Data: append([]byte(nil), ev.Data...)})
		case proto.Deflated:
			if infl == nil {
				infl = deflate.NewInflater(fzMaxMessage, ev.Type == handler.Text)
			}
			if infl.Write(ev.Data) != nil {
				return p
			}
			if ev.Fin {
				m, err := infl.Close()
				if err != nil {
					return p
				}
				p.msgs = append(p.msgs, handler.Message{Type: ev.Type, Data: append([]byte(nil), m...)})
				infl.Release()
				infl = nil
			}
		case proto.Ping:
			p.pings[string(ev.Data)] = true
		case proto.Close:
			p.codes[ev.Code] = true
			return p
		}
	}
	return p
}
