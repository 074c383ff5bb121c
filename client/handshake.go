package client

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/gobwas/httphead"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/deflate"
	"github.com/ws4go/ws4go/internal/handshake"
)

// handshakeConn runs the opening handshake on nc.
func handshakeConn(t *target, nc net.Conn, h handler.Handler, opts *Options) (*Conn, error) {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])

	req, offer := newRequest(t, opts)
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", t.reqURI, req.Host)
	_ = req.Header.Write(&b)
	fmt.Fprintf(&b, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
	if len(opts.Subprotocols) > 0 {
		fmt.Fprintf(&b, "Sec-WebSocket-Protocol: %s\r\n", strings.Join(opts.Subprotocols, ", "))
	}
	if offer != "" {
		fmt.Fprintf(&b, "Sec-WebSocket-Extensions: %s\r\n", offer)
	}
	b.WriteString("\r\n")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	setOffer(req.Header, opts, offer)
	if _, err := io.WriteString(nc, b.String()); err != nil {
		return nil, fmt.Errorf("ws4go client: sending the handshake to %s: %w", t.display, err)
	}

	resp, br, err := readResponse(nc, req)
	var herr *HandshakeError
	switch {
	case err == nil:
	case errors.As(err, &herr):
		herr.URL = t.display
		return nil, herr
	case err == io.EOF:
		return nil, &HandshakeError{URL: t.display, Err: ErrMalformedResponse, Detail: "the server closed the connection without answering"}
	case err == io.ErrUnexpectedEOF:
		return nil, &HandshakeError{URL: t.display, Err: ErrMalformedResponse, Detail: "the server closed the connection in the middle of its answer"}
	default:
		return nil, fmt.Errorf("ws4go client: reading the handshake answer from %s: %w", t.display, err)
	}
	sub, pmd, herr := checkResponse(resp, key, opts)
	if herr != nil {
		herr.URL = t.display
		if herr.StatusCode != 0 && resp.StatusCode != http.StatusSwitchingProtocols {
			herr.Body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		}
		return nil, herr
	}
	var ext string
	if pmd != nil {
		ext = extensionsOf(resp)
	}
	return newConn(nc, br, h, opts, req, sub, pmd, ext), nil
}

// newRequest is the opening handshake's request with Options.Header (its
// Host entry as the Host), and the permessage-deflate offer ("": none).
func newRequest(t *target, opts *Options) (*http.Request, string) {
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        t.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{},
		Host:       t.host,
		RequestURI: t.reqURI,
	}
	for k, vs := range opts.Header {
		if http.CanonicalHeaderKey(k) == "Host" {
			if len(vs) > 0 {
				req.Host = vs[0]
			}
			continue
		}
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return req, opts.Compression.offer()
}

// setOffer sets the handshake's headers common to HTTP/1.1 and HTTP/2:
// the version, the subprotocols and the extension offer.
func setOffer(h http.Header, opts *Options, offer string) {
	h.Set("Sec-WebSocket-Version", "13")
	if len(opts.Subprotocols) > 0 {
		h.Set("Sec-WebSocket-Protocol", strings.Join(opts.Subprotocols, ", "))
	}
	if offer != "" {
		h.Set("Sec-WebSocket-Extensions", offer)
	}
}

// extensionsOf is the Sec-WebSocket-Extensions answer, as one value.
func extensionsOf(resp *http.Response) string {
	return strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", ")
}

// checkResponse applies RFC 6455 section 4.1 and RFC 7692 section 7.1 to
// the server's answer. It returns the subprotocol chosen and the
// permessage-deflate parameters (nil: no compression).
func checkResponse(resp *http.Response, key string, opts *Options) (string, *deflate.Parameters, *HandshakeError) {
	fail := func(err error, detail string) (string, *deflate.Parameters, *HandshakeError) {
		return "", nil, &HandshakeError{Err: err, Detail: detail, StatusCode: resp.StatusCode, Header: resp.Header}
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		detail := "got " + resp.Status
		if loc := resp.Header.Get("Location"); loc != "" {
			detail += " (redirect to " + loc + "; redirects are not followed)"
		}
		return fail(ErrBadStatus, detail)
	}
	if resp.ProtoMajor != 1 || resp.ProtoMinor < 1 {
		return fail(ErrMalformedResponse, "the response is "+resp.Proto+", want HTTP/1.1")
	}
	if !hasToken(resp.Header.Values("Upgrade"), "websocket") {
		return fail(ErrBadUpgrade, fmt.Sprintf("Upgrade: %q", resp.Header.Values("Upgrade")))
	}
	if !hasToken(resp.Header.Values("Connection"), "upgrade") {
		return fail(ErrBadConnection, fmt.Sprintf("Connection: %q", resp.Header.Values("Connection")))
	}
	switch accept := resp.Header.Values("Sec-WebSocket-Accept"); {
	case len(accept) == 0:
		return fail(ErrMissingAccept, "")
	case len(accept) > 1:
		return fail(ErrBadAccept, fmt.Sprintf("%d Sec-WebSocket-Accept headers", len(accept)))
	case strings.TrimSpace(accept[0]) != handshake.AcceptKey(key):
		return fail(ErrBadAccept, fmt.Sprintf("got %q, want %q", accept[0], handshake.AcceptKey(key)))
	}
	return checkNegotiation(resp, opts)
}

// checkNegotiation checks the extensions and the subprotocol the server
// accepted (RFC 6455 section 4.1, RFC 7692 section 7.1), over HTTP/1.1 or
// HTTP/2 (RFC 8441 section 5 keeps them as they are).
func checkNegotiation(resp *http.Response, opts *Options) (string, *deflate.Parameters, *HandshakeError) {
	fail := func(err error, detail string) (string, *deflate.Parameters, *HandshakeError) {
		return "", nil, &HandshakeError{Err: err, Detail: detail, StatusCode: resp.StatusCode, Header: resp.Header}
	}
	offered := opts.Subprotocols
	pmd, herr := checkExtensions(resp.Header.Values("Sec-WebSocket-Extensions"), &opts.Compression)
	if herr != nil {
		return fail(herr.Err, herr.Detail)
	}
	var sub string
	if ps := resp.Header.Values("Sec-WebSocket-Protocol"); len(ps) > 0 {
		var chosen []string
		for _, p := range ps {
			httphead.ScanTokens([]byte(p), func(t []byte) bool {
				chosen = append(chosen, string(t))
				return true
			})
		}
		if len(chosen) != 1 {
			return fail(ErrBadSubprotocol, fmt.Sprintf("Sec-WebSocket-Protocol: %q (exactly one must be chosen)", ps))
		}
		sub = chosen[0]
		ok := false
		for _, o := range offered {
			ok = ok || o == sub
		}
		if !ok {
			if len(offered) == 0 {
				return fail(ErrBadSubprotocol, fmt.Sprintf("got %q, none offered", sub))
			}
			return fail(ErrBadSubprotocol, fmt.Sprintf("got %q, offered %q", sub, offered))
		}
	}
	return sub, pmd, nil
}

// hasToken reports whether the comma-separated token lists vs contain want
// (ASCII case-insensitive).
func hasToken(vs []string, want string) bool {
	for _, v := range vs {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), want) {
				return true
			}
		}
	}
	return false
}
