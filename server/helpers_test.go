package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

// engines is every engine; tests run table-driven over it.
var engines = []server.Engine{server.EngineGoroutine, server.EngineNetpoll}

// forEngine runs f as a subtest per engine.
func forEngine(t *testing.T, f func(t *testing.T, e server.Engine)) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) { f(t, e) })
	}
}

// start serves s on a fresh 127.0.0.1 port with engine e and shuts it down
// (checking that every connection is gone) when the test ends.
func start(t testing.TB, e server.Engine, s *server.Server) string {
	t.Helper()
	s.Engine = e
	if s.NewHandler == nil && s.Routes == nil {
		s.NewHandler = handler.NewEcho
	}
	return testutil.Serve(t, s, nil)
}

// serveOwn serves s on a fresh 127.0.0.1 listener for a test that shuts it
// down itself; Serve's error arrives on the channel.
func serveOwn(t *testing.T, s *server.Server) (string, <-chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	return l.Addr().String(), errc
}

// shutdownAnswered shuts s down (served by serveOwn, Serve's error on errc)
// while each of cs answers its 1001: Shutdown must end cleanly within 5 s,
// each connection with its closing handshake, and Serve with
// ErrServerClosed.
func shutdownAnswered(t *testing.T, s *server.Server, errc <-chan error, cs ...*rawClient) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	for _, c := range cs {
		c.readClose(handler.CloseGoingAway)
		c.send(ws.OpClose, closePayload(1001, ""))
		c.expectEOF()
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-errc; !errors.Is(err, server.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
}

// rawClient is a minimal, deliberately independent WebSocket client for tests:
// it writes whatever frames a test asks for, valid or not.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

const testKey = "dGhlIHNhbXBsZSBub25jZQ=="

// upgradeRequest is a valid handshake for path with extra header lines.
func upgradeRequest(addr, path string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", path, addr, testKey)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// rawRequest sends req and returns the parsed response and the connection.
func rawRequest(t testing.TB, addr, req string) (*http.Response, *rawClient) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading handshake response: %v", err)
	}
	return resp, &rawClient{t: t, nc: nc, br: br}
}

// dial opens a WebSocket connection to addr+path.
func dial(t testing.TB, addr, path string, extra ...string) *rawClient {
	t.Helper()
	resp, c := rawRequest(t, addr, upgradeRequest(addr, path, extra...))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("handshake: %s %q", resp.Status, body)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Fatalf("Sec-WebSocket-Accept %q, want %q", got, want)
	}
	return c
}

// frame encodes a masked client frame.
func frame(fin bool, rsv byte, op ws.OpCode, p []byte) []byte {
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	var b bytes.Buffer
	_ = ws.WriteHeader(&b, ws.Header{Fin: fin, Rsv: rsv, OpCode: op, Length: int64(len(p)), Masked: true, Mask: mask})
	payload := append([]byte(nil), p...)
	ws.Cipher(payload, mask, 0)
	b.Write(payload)
	return b.Bytes()
}

func closePayload(code uint16, reason string) []byte {
	p := binary.BigEndian.AppendUint16(nil, code)
	return append(p, reason...)
}

func (c *rawClient) writeRaw(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawClient) write(fin bool, rsv byte, op ws.OpCode, p []byte) {
	c.t.Helper()
	c.writeRaw(frame(fin, rsv, op, p))
}

func (c *rawClient) send(op ws.OpCode, p []byte) { c.t.Helper(); c.write(true, 0, op, p) }

// read reads one server frame, checking that it is unmasked.
func (c *rawClient) read() (ws.Header, []byte, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, err := ws.ReadHeader(c.br)
	if err != nil {
		return h, nil, err
	}
	if h.Masked {
		return h, nil, errors.New("server frame is masked")
	}
	p := make([]byte, h.Length)
	_, err = io.ReadFull(c.br, p)
	return h, p, err
}

// expect reads one frame and checks its opcode and payload.
func (c *rawClient) expect(op ws.OpCode, p []byte) {
	c.t.Helper()
	h, got, err := c.read()
	if err != nil {
		c.t.Fatalf("waiting for %v frame: %v", op, err)
	}
	if h.OpCode != op || !h.Fin || !bytes.Equal(got, p) {
		c.t.Fatalf("got %v frame (fin %v) of %d bytes %.40q, want %v of %d bytes %.40q", h.OpCode, h.Fin, len(got), got, op, len(p), p)
	}
}

// expectClose reads frames up to a close frame, checks its code (0: an
// empty close frame) and that the server then closes the TCP connection.
func (c *rawClient) expectClose(code handler.CloseCode) (reason string) {
	c.t.Helper()
	for {
		h, p, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for close %d: %v", code, err)
		}
		if h.OpCode == ws.OpPing || h.OpCode == ws.OpPong {
			continue
		}
		if h.OpCode != ws.OpClose {
			c.t.Fatalf("waiting for close %d: unexpected %v frame %.40q", code, h.OpCode, p)
		}
		var got handler.CloseCode
		if len(p) >= 2 {
			got = handler.CloseCode(binary.BigEndian.Uint16(p))
			reason = string(p[2:])
		}
		if got != code || len(p) == 1 {
			c.t.Fatalf("close frame %x: code %d, want %d", p, got, code)
		}
		break
	}
	c.expectEOF()
	return reason
}

// expectEOF checks that the server closes the connection within 3 s,
// without a reset.
func (c *rawClient) expectEOF() {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := io.Copy(io.Discard, c.br)
	if err != nil {
		c.t.Fatalf("after the close frame: %d bytes, then %v; want the server to close the connection", n, err)
	}
	if n != 0 {
		c.t.Fatalf("%d bytes after the close frame", n)
	}
}

// echoes checks that a connection still echoes.
func (c *rawClient) echoes(msg string) {
	c.t.Helper()
	c.send(ws.OpText, []byte(msg))
	c.expect(ws.OpText, []byte(msg))
}

// readClose reads the next frame, which must be a close frame with code,
// and returns its payload; the test goes on with the closing handshake.
func (c *rawClient) readClose(code handler.CloseCode) []byte {
	c.t.Helper()
	h, p, err := c.read()
	if err != nil || h.OpCode != ws.OpClose || len(p) < 2 || handler.CloseCode(binary.BigEndian.Uint16(p)) != code {
		c.t.Fatalf("got %v %x %v, want close %d", h.OpCode, p, err, code)
	}
	return p
}

// closeNormally runs the closing handshake from the client side.
func (c *rawClient) closeNormally() {
	c.t.Helper()
	c.send(ws.OpClose, closePayload(1000, ""))
	c.expectClose(1000)
}
