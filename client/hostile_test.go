package client_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"math"
	"net"
	"net/http"
	"testing"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
)

// TestLengthOverflowFromServer: a malicious server sends a 1-byte fragment,
// then a continuation frame of 2^63-1 bytes, and streams on: the client
// must fail with 1009 at the header, as the limit says, rather than let the
// wrapped sum remove the limit and buffer without bound.
func TestLengthOverflowFromServer(t *testing.T) {
	got := make(chan []byte, 1)
	addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
		io.WriteString(nc, accept101(req, ""))
		_ = ws.WriteFrame(nc, ws.Frame{Header: ws.Header{OpCode: ws.OpBinary, Length: 1}, Payload: []byte("a")})
		hdr := []byte{0x00, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint64(hdr[2:], math.MaxInt64)
		nc.Write(hdr)
		go func() { // stream on until the client gives up
			junk := make([]byte, 64<<10)
			for {
				if _, err := nc.Write(junk); err != nil {
					return
				}
			}
		}()
		if _, p, err := readFrame(br); err == nil {
			got <- p
		}
	})
	r := newRecorder()
	dial(t, "ws://"+addr+"/", r, &client.Options{MaxMessageSize: 1 << 20})
	if ev := r.waitClosed(t); ev.code != handler.CloseMessageTooBig {
		t.Fatalf("Closed(%d, %q), want 1009", ev.code, ev.reason)
	}
	if p := <-got; len(p) < 2 || binary.BigEndian.Uint16(p) != 1009 {
		t.Fatalf("close frame %q, want 1009", p)
	}
}
