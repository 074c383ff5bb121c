package handshake

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/ws4go/ws4go/observe"
)

// readResponse parses a response the server writes, as a client would,
// and checks that nothing follows it.
func readResponse(t *testing.T, b []byte) *http.Response {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(b))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading %q: %v", b, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if br.Buffered() != 0 {
		t.Fatalf("%d bytes after the response %q", br.Buffered(), b)
	}
	return resp
}

func bodyOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAppendResponse: the 101 carries exactly the fields RFC 6455 4.2.2
// item 5 lists, the subprotocol and extensions only when chosen, appended
// to what dst held.
func TestAppendResponse(t *testing.T) {
	t.Parallel()
	for _, res := range []*Result{
		{Accept: rfcAccept},
		{Accept: rfcAccept, Subprotocol: "chat"},
		{Accept: rfcAccept, Subprotocol: "chat", Extensions: "permessage-deflate; server_no_context_takeover"},
	} {
		b := AppendResponse([]byte("prefix"), res)
		if !bytes.HasPrefix(b, []byte("prefixHTTP/1.1 101 Switching Protocols\r\n")) {
			t.Fatalf("%q", b)
		}
		resp := readResponse(t, b[len("prefix"):])
		h := resp.Header
		if resp.StatusCode != 101 || h.Get("Upgrade") != "websocket" || h.Get("Connection") != "Upgrade" || h.Get("Sec-WebSocket-Accept") != rfcAccept {
			t.Fatalf("%q", b)
		}
		if got := h.Values("Sec-WebSocket-Protocol"); res.Subprotocol == "" && len(got) != 0 || res.Subprotocol != "" && (len(got) != 1 || got[0] != res.Subprotocol) {
			t.Errorf("Sec-WebSocket-Protocol %q, want %q", got, res.Subprotocol)
		}
		if got := h.Values("Sec-WebSocket-Extensions"); res.Extensions == "" && len(got) != 0 || res.Extensions != "" && (len(got) != 1 || got[0] != res.Extensions) {
			t.Errorf("Sec-WebSocket-Extensions %q, want %q", got, res.Extensions)
		}
	}
}

// TestAppendRejection: a refusal is a complete response that a client can
// read and that ends the connection: its status, a body of its stated
// length, Connection: close; user fields go along, but not those that
// frame the response, nor names that are not tokens, nor CR, LF or NUL in
// values (no response splitting).
func TestAppendRejection(t *testing.T) {
	t.Parallel()
	t.Run("reason", func(t *testing.T) {
		for why := observe.Reason(0); why < observe.NumReasons; why++ {
			if why.Status() == 0 {
				continue // a TLS failure: no HTTP response
			}
			rej := Reject(why, "because")
			resp := readResponse(t, AppendRejection(nil, rej))
			if want := strconv.Itoa(why.Status()) + " " + http.StatusText(why.Status()); resp.Status != want {
				t.Errorf("%s: status %q, want %q", why, resp.Status, want)
			}
			if body := bodyOf(t, resp); body != "because\n" || rej.Body() != body {
				t.Errorf("%s: body %q", why, body)
			}
			if !resp.Close || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: header %v, close %v", why, resp.Header, resp.Close)
			}
			if rej.Error() != strconv.Itoa(why.Status())+" because" {
				t.Errorf("%s: Error() %q", why, rej.Error())
			}
		}
	})
	t.Run("hook's own status and body", func(t *testing.T) {
		rej := &Rejection{Why: observe.RejectAccept, Code: 401, Reason: `{"error":"token"}`,
			Header: http.Header{"content-type": {"application/json"}, "Www-Authenticate": {"Bearer"}}}
		resp := readResponse(t, AppendRejection(nil, rej))
		if resp.StatusCode != 401 || rej.Status() != 401 {
			t.Fatalf("status %d (Status() %d), want the hook's 401", resp.StatusCode, rej.Status())
		}
		if body := bodyOf(t, resp); body != `{"error":"token"}` {
			t.Fatalf("body %q, want the hook's, as it is", body)
		}
		if got := resp.Header.Values("Content-Type"); len(got) != 1 || got[0] != "application/json" {
			t.Fatalf("Content-Type %q, want the hook's alone", got)
		}
		if resp.Header.Get("WWW-Authenticate") != "Bearer" {
			t.Fatalf("header %v", resp.Header)
		}
	})
	t.Run("fields that frame the response", func(t *testing.T) {
		rej := Reject(observe.RejectMaxConnections, "full")
		rej.Header = http.Header{
			"Retry-After":       {"5"},
			"Content-Length":    {"1000"},
			"Connection":        {"keep-alive"},
			"Transfer-Encoding": {"chunked"},
			"Upgrade":           {"websocket"},
			"Trailer":           {"X"},
			"Bad Name":          {"x"},
			"":                  {"x"},
			"X-Split":           {"a\r\nSet-Cookie: evil=1\r\n\r\nbody\x00"},
		}
		b := AppendRejection(nil, rej)
		resp := readResponse(t, b)
		if body := bodyOf(t, resp); body != "full\n" {
			t.Fatalf("body %q", body)
		}
		h := resp.Header
		if h.Get("Retry-After") != "5" || h.Get("Content-Length") != "5" || !resp.Close || bytes.Count(b, []byte("Connection:")) != 1 ||
			h.Get("Transfer-Encoding") != "" || len(resp.TransferEncoding) != 0 || h.Get("Upgrade") != "" || h.Get("Trailer") != "" {
			t.Fatalf("header %v", h)
		}
		if h.Get("Set-Cookie") != "" || h.Get("X-Split") != "a  Set-Cookie: evil=1    body" {
			t.Fatalf("a value split the response: %q", b)
		}
		if bytes.Contains(b, []byte("Bad Name")) {
			t.Fatalf("a field name that is not a token went out: %q", b)
		}
	})
	for k, want := range map[string]bool{"Retry-After": true, "x-custom": true, "content-length": false, "CONNECTION": false, "Transfer-Encoding": false, "X-Content-Type-Options": false, "upgrade": false, "Trailer": false, "": false, "a b": false, "a:b": false} {
		if UserHeader(k) != want {
			t.Errorf("UserHeader(%q) = %v, want %v", k, !want, want)
		}
	}
}
