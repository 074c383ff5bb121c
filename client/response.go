package client

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"

	"github.com/ws4go/ws4go/internal/blocking"
	"github.com/ws4go/ws4go/internal/handshake"
)

// readResponse reads an HTTP/1.1 answer to req from nc: the server's
// answer to the opening handshake, or a proxy's to CONNECT. Its head is
// bounded as the server bounds request heads (handshake.HeadEnd,
// handshake.MaxHeadSize: ErrHeadTooLarge past it), so that a hostile peer
// cannot make the client buffer an endless header line; http.ReadResponse
// parses it once it is whole. The reader returned holds the response from
// its head on, then the rest of nc: a refusal's body, or the server's
// first frames after the 101.
//
// The error is nc's (a timeout; io.EOF before any byte,
// io.ErrUnexpectedEOF after some), or a *HandshakeError (without its URL)
// whose Err is ErrHeadTooLarge or ErrMalformedResponse.
func readResponse(nc net.Conn, req *http.Request) (*http.Response, *bufio.Reader, error) {
	buf := make([]byte, 0, 1<<10)
	var err error
	for {
		n, rej := handshake.HeadEnd(buf)
		switch {
		case rej != nil:
			return nil, nil, &HandshakeError{Err: ErrHeadTooLarge}
		case n > 0:
			// Large enough to take all of buf at once: what it holds
			// past the head (br.Buffered) is then all that was read
			// from nc (the connection's reading goroutine reads nc
			// itself).
			br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(buf), nc), max(len(buf), blocking.ReadBufSize))
			resp, err := http.ReadResponse(br, req)
			if err != nil {
				return nil, nil, &HandshakeError{Err: ErrMalformedResponse, Detail: err.Error()}
			}
			return resp, br, nil
		case bytes.Contains(buf, []byte("\n\n")):
			// Bare LF line ends (RFC 9112 section 2.2 lets a
			// recipient refuse them): no CRLFCRLF will come.
			return nil, nil, &HandshakeError{Err: ErrMalformedResponse, Detail: "a line of the head does not end in CRLF"}
		case err != nil:
			if err == io.EOF && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, len(buf))...)[:len(buf)]
		}
		var m int
		m, err = nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
	}
}
