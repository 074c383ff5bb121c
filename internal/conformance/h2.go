package conformance

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/ws4go/ws4go/internal/h2stream"
)

// dialH2 opens the WebSocket as an RFC 8441 stream of t.HTTP2's
// connections (section 5: an extended CONNECT with :protocol websocket,
// answered 2xx; no Upgrade, Connection, Sec-WebSocket-Key or -Accept). It
// checks the answer as strictly as handshake does over HTTP/1.1. The
// stream stands for the TCP connection: END_STREAM for its orderly close,
// RST_STREAM for a reset (h2stream.Conn).
func dialH2(ctx context.Context, t Target) (*Client, error) {
	path, host := t.Path, t.Host
	if path == "" {
		path = "/"
	}
	if host == "" {
		host = t.Addr
	}
	u, err := url.Parse("https://" + t.Addr + path)
	if err != nil {
		return nil, err
	}
	h := http.Header{"Sec-Websocket-Version": {"13"}}
	if t.Extensions != "" {
		h.Set("Sec-WebSocket-Extensions", t.Extensions)
	}
	resp, conn, err := h2stream.Open(ctx, t.HTTP2, u, host, h)
	if err != nil {
		return nil, fmt.Errorf("handshake over HTTP/2: %w", err)
	}
	if conn == nil {
		resp.Body.Close()
		return nil, fmt.Errorf("handshake: status %q, want 2xx", resp.Status)
	}
	fail := func(format string, args ...any) (*Client, error) {
		conn.Close()
		return nil, fmt.Errorf(format, args...)
	}
	for _, k := range []string{"Upgrade", "Connection", "Sec-Websocket-Accept"} {
		if v, ok := resp.Header[k]; ok {
			return fail("handshake: %s %q in an HTTP/2 answer (RFC 8441 section 5, RFC 9113 section 8.2.2)", k, v)
		}
	}
	ext := strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", ")
	if ext != "" && t.Extensions == "" {
		return fail("handshake: server accepted extension %q that was not offered", ext)
	}
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "" {
		return fail("handshake: server selected subprotocol %q that was not offered", p)
	}
	return &Client{Extensions: ext, conn: conn, br: bufio.NewReaderSize(io.Reader(conn), 64<<10)}, nil
}
