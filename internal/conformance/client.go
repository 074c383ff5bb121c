package conformance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/net/http2"
)

// CloseTimeout bounds how long the client waits, after the server's Close
// frame, for the server to close the TCP connection; and, when the client
// expects a Close frame, how long it waits for one after its last action.
const CloseTimeout = 2 * time.Second

// NoStatus is the Code of a Close event whose frame had an empty body
// (RFC 6455 §7.1.5: "no status code was present"). It is never a code on the
// wire.
const NoStatus = -1

// Target names the server under test.
type Target struct {
	// Addr is the TCP address to dial, e.g. "127.0.0.1:9001".
	Addr string
	// Path is the request target of the upgrade request, e.g. "/ws".
	// Empty means "/".
	Path string
	// Host is the Host header value. Empty means Addr.
	Host string
	// Extensions is sent as the Sec-WebSocket-Extensions offer; empty sends
	// no offer, in which case the server must not accept any extension.
	// Families 1–9 expect no extension to be negotiated. Family 10
	// (CompressionCases) ignores this field: each of its cases sends its own
	// offer and configures the client from the answer (Client.UseDeflate).
	Extensions string
	// TLSConfig, if set, makes the client speak TLS (wss://) to Addr.
	TLSConfig *tls.Config
	// HTTP2, if set, makes every case's WebSocket an HTTP/2 stream (RFC
	// 8441) of this transport's connections to Host (default Addr); its
	// TLSClientConfig is used, not TLSConfig. The process must import
	// github.com/ws4go/ws4go/xconnect. The stream's end stands for the
	// TCP connection's: END_STREAM for a FIN, RST_STREAM for a reset.
	HTTP2 *http2.Transport

	// pmd, set by family 10's re-runs of families 1–9, makes a scenario
	// negotiate permessage-deflate and compress the client's messages.
	pmd *pmdRerun
}

// Client is one raw WebSocket client connection, after a successful opening
// handshake. Writes may run concurrently with reads; concurrent writes are
// serialised frame by frame (a chopped write is not interleaved).
type Client struct {
	// Extensions is the Sec-WebSocket-Extensions value of the server's
	// handshake response ("" if it accepted none).
	Extensions string
	// AllowRSV lists the reserved bits the server may set on the first frame
	// of a message (for example RSV1 once permessage-deflate is negotiated).
	// Any other reserved bit from the server is a protocol violation.
	AllowRSV byte
	// Transform, if set, is applied by ReadEvent to every complete message
	// before it is reported, e.g. to inflate a permessage-deflate message
	// whose Rsv has RSV1 set. An error is reported as a protocol violation.
	Transform func(e *Event) error
	// ChopDelay is slept between the chunks of a chopped write, so that the
	// chunks arrive in separate TCP segments. Zero writes them back to back.
	ChopDelay time.Duration
	// ReadTimeout bounds each Expect* call. Zero means 5 s.
	ReadTimeout time.Duration

	conn net.Conn
	br   *bufio.Reader

	wmu       sync.Mutex
	closeSent bool // a Close frame was written with WriteFrame

	// read-side assembly of a fragmented server message
	inMsg  bool
	msgOp  byte
	msgRsv byte
	msg    []byte
	closed bool // a Close frame was received from the server
}

// websocketGUID is the fixed GUID of RFC 6455 §1.3.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// hasToken reports whether a comma-separated header value contains token,
// compared case-insensitively.
func hasToken(v, token string) bool {
	for _, t := range strings.Split(v, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// Dial connects to t.Addr and performs the opening handshake of RFC 6455 §4.1
// itself. It verifies the 101 status, the Upgrade and Connection headers, the
// Sec-WebSocket-Accept value, and that the server accepted no extension or
// subprotocol that was not offered. ctx bounds the dial and the handshake.
func Dial(ctx context.Context, t Target) (*Client, error) {
	if t.HTTP2 != nil {
		return dialH2(ctx, t)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, err
	}
	if t.TLSConfig != nil {
		tc := tls.Client(conn, t.TLSConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
	}
	c, err := handshake(ctx, conn, t)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// handshake performs the client side of the opening handshake on conn.
func handshake(ctx context.Context, conn net.Conn, t Target) (*Client, error) {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var raw [16]byte
	rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	path, host := t.Path, t.Host
	if path == "" {
		path = "/"
	}
	if host == "" {
		host = t.Addr
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path, host)
	fmt.Fprintf(&req, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
	if t.Extensions != "" {
		fmt.Fprintf(&req, "Sec-WebSocket-Extensions: %s\r\n", t.Extensions)
	}
	req.WriteString("\r\n")
	if _, err := conn.Write(req.Bytes()); err != nil {
		return nil, fmt.Errorf("handshake: write request: %w", err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("handshake: read response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("handshake: status %q, want 101", resp.Status)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		return nil, fmt.Errorf("handshake: Upgrade header %q, want websocket", resp.Header.Get("Upgrade"))
	}
	if !hasToken(strings.Join(resp.Header.Values("Connection"), ","), "upgrade") {
		return nil, fmt.Errorf("handshake: Connection header %q lacks upgrade", resp.Header.Get("Connection"))
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), acceptKey(key); got != want {
		return nil, fmt.Errorf("handshake: Sec-WebSocket-Accept %q, want %q", got, want)
	}
	ext := strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", ")
	if ext != "" && t.Extensions == "" {
		return nil, fmt.Errorf("handshake: server accepted extension %q that was not offered", ext)
	}
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "" {
		return nil, fmt.Errorf("handshake: server selected subprotocol %q that was not offered", p)
	}
	conn.SetDeadline(time.Time{})
	return &Client{Extensions: ext, conn: conn, br: br}, nil
}

// Conn returns the underlying TCP connection.
func (c *Client) Conn() net.Conn { return c.conn }

// Close closes the TCP connection without a closing handshake.
func (c *Client) Close() error { return c.conn.Close() }

// WriteRaw writes b as is, in chunks of chop bytes (chop <= 0: one write).
func (c *Client) WriteRaw(b []byte, chop int) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeChopped(b, chop)
}

// writeChopped writes b in chunks of chop bytes; the caller holds c.wmu.
func (c *Client) writeChopped(b []byte, chop int) error {
	if chop <= 0 || chop >= len(b) {
		_, err := c.conn.Write(b)
		return err
	}
	for len(b) > 0 {
		n := min(chop, len(b))
		if _, err := c.conn.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
		if c.ChopDelay > 0 && len(b) > 0 {
			time.Sleep(c.ChopDelay)
		}
	}
	return nil
}

// WriteFrame writes one frame, masked with a fresh random key, in TCP writes
// of chop bytes (chop <= 0: a single write). The frame is written as given:
// nothing stops a caller from sending an invalid frame, which is the point.
func (c *Client) WriteFrame(fin bool, rsv, op byte, payload []byte, chop int) error {
	k := newMask()
	b := appendFrame(nil, fin, rsv, op, payload, &k)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if op == OpClose {
		c.closeSent = true
	}
	return c.writeChopped(b, chop)
}

// WriteFrames writes frames (their Masked field ignored: every one is
// masked with a fresh key) in a single TCP write, so that how the server's
// reads split them is up to the server.
func (c *Client) WriteFrames(fs ...Frame) error {
	var b []byte
	for _, f := range fs {
		k := newMask()
		b = appendFrame(b, f.Fin, f.Rsv, f.Opcode, f.Payload, &k)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, f := range fs {
		if f.Opcode == OpClose {
			c.closeSent = true
		}
	}
	return c.writeChopped(b, 0)
}

// SendClose writes a Close frame with the given status code and reason
// (code NoStatus: an empty body).
func (c *Client) SendClose(code int, reason string) error {
	return c.WriteFrame(true, 0, OpClose, closePayload(code, reason), 0)
}

// ReadFrame reads the next raw frame from the server, without any check
// beyond the length encoding. Do not mix it with ReadEvent in the middle of a
// fragmented message.
func (c *Client) ReadFrame() (Frame, error) {
	return readFrame(c.br)
}

// EventKind tells what a client observed.
type EventKind int

// Event kinds.
const (
	EventMessage   EventKind = iota // a complete text or binary message
	EventPing                       // a ping frame
	EventPong                       // a pong frame
	EventClose                      // a Close frame
	EventTCPClosed                  // the server closed the TCP connection (FIN or RST)
	EventTimeout                    // something expected did not happen in time
	EventError                      // a protocol violation by the server, or an I/O error
)

// Event is one thing observed on a connection. Events are compared exactly by
// the suite: kind, opcode, payload and close code (not the close reason).
type Event struct {
	Kind    EventKind
	Opcode  byte   // OpText or OpBinary, for EventMessage
	Rsv     byte   // reserved bits of the message's first frame, for EventMessage
	Payload []byte // message, ping or pong payload, or the Close frame body
	Code    int    // Close status code, NoStatus for an empty Close body
	Detail  string // what went wrong, for EventTimeout and EventError
}

// ReadEvent reads frames until it can report one event: a complete message
// (fragments reassembled), a control frame, or the end of the TCP stream.
// It checks every server frame strictly: unmasked, no reserved bits other than
// AllowRSV on a message's first frame, no reserved opcode, control frames
// unfragmented and at most 125 bytes, valid fragmentation, valid Close body,
// valid UTF-8 in text messages and close reasons. A violation is returned as
// an EventError event with a nil error; the connection is then unusable.
// The error is non-nil only for I/O failures other than the server closing
// the connection (for example a read deadline).
func (c *Client) ReadEvent() (Event, error) {
	for {
		f, err := readFrame(c.br)
		if err != nil {
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
				if c.inMsg {
					return Event{Kind: EventError, Detail: "TCP closed inside a fragmented message"}, nil
				}
				return Event{Kind: EventTCPClosed}, nil
			case errors.Is(err, io.ErrUnexpectedEOF):
				return Event{Kind: EventError, Detail: "TCP closed in the middle of a frame"}, nil
			case errors.Is(err, errNonMinimal), errors.Is(err, errLengthMSB):
				return violation("server frame: %v", err), nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return Event{}, err
			}
			if strings.Contains(err.Error(), "exceeds the client's limit") {
				return violation("server frame: %v", err), nil
			}
			return Event{}, err
		}
		if f.Masked {
			return violation("server sent a masked frame (opcode %d)", f.Opcode), nil
		}
		switch f.Opcode {
		case OpContinuation:
			if f.Rsv != 0 {
				return violation("server set reserved bits %03b on a continuation frame", f.Rsv), nil
			}
			if !c.inMsg {
				return violation("server sent a continuation frame with no message started"), nil
			}
			c.msg = append(c.msg, f.Payload...)
			if f.Fin {
				return c.finishMessage(), nil
			}
		case OpText, OpBinary:
			if f.Rsv&^c.AllowRSV != 0 {
				return violation("server set reserved bits %03b", f.Rsv), nil
			}
			if c.inMsg {
				return violation("server started a new message inside a fragmented one"), nil
			}
			c.inMsg, c.msgOp, c.msgRsv, c.msg = true, f.Opcode, f.Rsv, f.Payload
			if f.Fin {
				return c.finishMessage(), nil
			}
		case OpClose, OpPing, OpPong:
			if f.Rsv != 0 {
				return violation("server set reserved bits %03b on a control frame", f.Rsv), nil
			}
			if !f.Fin {
				return violation("server sent a fragmented control frame (opcode %d)", f.Opcode), nil
			}
			if len(f.Payload) > 125 {
				return violation("server sent a control frame with a %d-byte payload", len(f.Payload)), nil
			}
			switch f.Opcode {
			case OpPing:
				return Event{Kind: EventPing, Payload: f.Payload}, nil
			case OpPong:
				return Event{Kind: EventPong, Payload: f.Payload}, nil
			}
			c.closed = true
			switch {
			case len(f.Payload) == 0:
				return Event{Kind: EventClose, Code: NoStatus}, nil
			case len(f.Payload) == 1:
				return violation("server sent a Close frame with a 1-byte body"), nil
			case !utf8.Valid(f.Payload[2:]):
				return violation("server sent a Close reason that is not valid UTF-8"), nil
			}
			code := int(f.Payload[0])<<8 | int(f.Payload[1])
			return Event{Kind: EventClose, Payload: f.Payload, Code: code}, nil
		default:
			return violation("server sent reserved opcode %d", f.Opcode), nil
		}
	}
}

// finishMessage returns the assembled message as an event.
func (c *Client) finishMessage() Event {
	e := Event{Kind: EventMessage, Opcode: c.msgOp, Rsv: c.msgRsv, Payload: c.msg}
	c.inMsg, c.msg = false, nil
	if c.Transform != nil {
		if err := c.Transform(&e); err != nil {
			return violation("server message (%d bytes): %v", len(e.Payload), err)
		}
	}
	if e.Opcode == OpText && (e.Rsv == 0 || c.Transform != nil) && !utf8.Valid(e.Payload) {
		return violation("server sent a text message that is not valid UTF-8 (%d bytes)", len(e.Payload))
	}
	if e.Payload == nil {
		e.Payload = []byte{}
	}
	return e
}

// violation builds an EventError event.
func violation(format string, args ...any) Event {
	return Event{Kind: EventError, Detail: fmt.Sprintf(format, args...)}
}

// readTimeout returns the bound for one Expect* call.
func (c *Client) readTimeout() time.Duration {
	if c.ReadTimeout > 0 {
		return c.ReadTimeout
	}
	return 5 * time.Second
}

// next reads one event under a deadline and turns violations into errors.
func (c *Client) next(d time.Duration) (Event, error) {
	c.conn.SetReadDeadline(time.Now().Add(d))
	defer c.conn.SetReadDeadline(time.Time{})
	e, err := c.ReadEvent()
	if err != nil {
		return e, err
	}
	if e.Kind == EventError {
		return e, errors.New(e.Detail)
	}
	return e, nil
}

// ExpectMessage reads the next event and fails unless it is a message of
// type op with exactly this payload.
func (c *Client) ExpectMessage(op byte, payload []byte) error {
	want := Event{Kind: EventMessage, Opcode: op, Payload: payload}
	e, err := c.next(c.readTimeout())
	if err != nil {
		return fmt.Errorf("want %s: %w", want, err)
	}
	if !e.Equal(want) {
		return fmt.Errorf("want %s, got %s", want, e)
	}
	return nil
}

// ExpectPong reads the next event and fails unless it is a pong with exactly
// this payload.
func (c *Client) ExpectPong(payload []byte) error {
	want := Event{Kind: EventPong, Payload: payload}
	e, err := c.next(c.readTimeout())
	if err != nil {
		return fmt.Errorf("want %s: %w", want, err)
	}
	if !e.Equal(want) {
		return fmt.Errorf("want %s, got %s", want, e)
	}
	return nil
}

// ExpectClose reads the next event and fails unless it is a Close frame with
// this status code (NoStatus: an empty body). Unless the client already sent
// a Close frame, it then answers with a Close frame echoing the code. Finally
// it requires the server to close the TCP connection within CloseTimeout,
// with nothing else sent after its Close frame.
func (c *Client) ExpectClose(code int) error {
	want := Event{Kind: EventClose, Code: code}
	e, err := c.next(c.readTimeout())
	if err != nil {
		return fmt.Errorf("want %s: %w", want, err)
	}
	if !e.Equal(want) {
		return fmt.Errorf("want %s, got %s", want, e)
	}
	c.wmu.Lock()
	sent := c.closeSent
	c.wmu.Unlock()
	if !sent {
		// The server may already be gone; a failed reply is not an error.
		c.SendClose(code, "")
	}
	e, err = c.next(CloseTimeout)
	if err != nil {
		return fmt.Errorf("want tcp-closed within %v of the Close frame: %w", CloseTimeout, err)
	}
	if e.Kind != EventTCPClosed {
		return fmt.Errorf("want tcp-closed after the Close frame, got %s", e)
	}
	return nil
}
