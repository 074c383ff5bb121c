package handshake

import (
	"bufio"
	"net/http"
	"net/textproto"
	"strings"
)

// What a connection keeps of its upgrade request for Conn.Request: the raw
// head as it arrived (the standalone path), or, for a request net/http or
// the accept hook's parse made, the request without its Header plus the
// header fields as a head carries them. Bytes cost a fraction of the parsed
// form, and are parsed again when asked for: an *http.Request holds about
// 1.1 KiB for a minimal client's 155-byte head, 1.9 KiB for a browser's
// 0.5 KiB one, and 90 to 125 KiB for 8 KiB of one-byte fields.

// ParseRequest builds the *http.Request of a raw request head (as HeadEnd
// delimits it, and Parse accepted it).
func ParseRequest(head string) (*http.Request, error) {
	return http.ReadRequest(reader(head))
}

// Fields returns h's fields as a head carries them: "Name: value" lines,
// each ended by CRLF, then an empty line; ParseFields reads them back. A
// field whose name is not a token is left out, and control bytes in values
// become spaces: a request off the wire has neither, but a middleware may
// have added them.
func Fields(h http.Header) string {
	n := 2
	for k, vs := range h {
		if fieldName(k) {
			for _, v := range vs {
				n += len(k) + len(v) + 4
			}
		}
	}
	var b strings.Builder
	b.Grow(n) // exactly: the string is kept, with its buffer
	for k, vs := range h {
		if !fieldName(k) {
			continue
		}
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(": ")
			for i := 0; i < len(v); i++ {
				if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
					b.WriteByte(' ')
				} else {
					b.WriteByte(c)
				}
			}
			b.WriteString("\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

func fieldName(k string) bool { return k != "" && isToken(k) }

// ParseFields reads back the header that Fields wrote.
func ParseFields(fields string) (http.Header, error) {
	h, err := textproto.NewReader(reader(fields)).ReadMIMEHeader()
	return http.Header(h), err
}

// reader reads s with a buffer of its size (bufio's default of 4 KiB would
// be most of what a parse allocates).
func reader(s string) *bufio.Reader {
	return bufio.NewReaderSize(strings.NewReader(s), len(s))
}
