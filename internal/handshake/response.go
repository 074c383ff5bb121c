package handshake

// The server's answers: the 101 (the 200 of an HTTP/2 stream) and the
// refusals.

import (
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strconv"
)

// AcceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func AcceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// AppendResponse appends the 101 Switching Protocols response.
func AppendResponse(dst []byte, res *Result) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = append(dst, res.Accept...)
	dst = append(dst, "\r\n"...)
	if res.Subprotocol != "" {
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = append(dst, res.Subprotocol...)
		dst = append(dst, "\r\n"...)
	}
	if res.Extensions != "" {
		dst = append(dst, "Sec-WebSocket-Extensions: "...)
		dst = append(dst, res.Extensions...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// AnswerStream sets the header of the 200 that accepts an RFC 8441
// extended CONNECT (section 5: the subprotocol and extensions as in a 101,
// no Sec-WebSocket-Accept).
func AnswerStream(h http.Header, res *Result) {
	if res.Subprotocol != "" {
		h.Set("Sec-WebSocket-Protocol", res.Subprotocol)
	}
	if res.Extensions != "" {
		h.Set("Sec-WebSocket-Extensions", res.Extensions)
	}
}

// AppendRejection appends a complete error response with a plain-text body.
func AppendRejection(dst []byte, rej *Rejection) []byte {
	body := rej.Body()
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(rej.Status()), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(rej.Status())...)
	dst = append(dst, "\r\n"...)
	if !hasUserField(rej.Header, "Content-Type") {
		dst = append(dst, "Content-Type: text/plain; charset=utf-8\r\n"...)
	}
	dst = append(dst, "X-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n"...)
	for k, vs := range rej.Header {
		if !userHeader(k) {
			continue
		}
		k = http.CanonicalHeaderKey(k)
		for _, v := range vs {
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			dst = appendFieldValue(dst, v)
			dst = append(dst, "\r\n"...)
		}
	}
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

// userHeader reports whether a refusal may carry the header field k: a
// valid field name, and not one that frames the response (the server sets
// those).
func userHeader(k string) bool {
	if k == "" || !isToken([]byte(k)) {
		return false
	}
	switch http.CanonicalHeaderKey(k) {
	case "Content-Length", "Connection", "Transfer-Encoding", "X-Content-Type-Options", "Upgrade", "Trailer":
		return false
	}
	return true
}

// hasUserField reports whether h has a field named k that a refusal sends,
// whatever the case of its name.
func hasUserField(h http.Header, k string) bool {
	for hk, vs := range h {
		if len(vs) > 0 && userHeader(hk) && http.CanonicalHeaderKey(hk) == k {
			return true
		}
	}
	return false
}

// UserHeader reports whether a refusal may carry the header field k (see
// AppendRejection): the http.Handler path drops the same fields.
func UserHeader(k string) bool { return userHeader(k) }

// appendFieldValue appends a header field value with the bytes that would
// end the field (CR, LF, NUL) replaced by spaces, as net/http does.
func appendFieldValue(dst []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\r', '\n', 0:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
