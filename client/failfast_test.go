package client_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/observe"
	"github.com/ws4go/ws4go/server"
)

// TestCompressedFailsFast: a hostile server announces a compressed message
// in one frame, sends the start of its payload and stalls. What arrived
// already inflates to invalid UTF-8, or past MaxMessageSize: the client
// must close with 1007 or 1009 on those bytes, without waiting for the rest
// of the frame, which never comes.
func TestCompressedFailsFast(t *testing.T) {
	var text strings.Builder
	for text.Len() < 1<<20 {
		text.WriteString("a line of text that goes on, κόσμε. ")
	}
	badText := deflateMessage([]byte("ok \xff " + text.String())) // invalid at byte 3
	bomb := deflateMessage(make([]byte, 64<<20))
	for _, tc := range []struct {
		name  string
		ans   string // with or without the server's context kept
		op    ws.OpCode
		z     []byte
		start int // bytes of payload sent before the stall
		want  handler.CloseCode
	}{
		{"invalid UTF-8 early", "permessage-deflate", ws.OpText, badText, 64, handler.CloseInvalidPayload},
		{"past MaxMessageSize early", "permessage-deflate", ws.OpBinary, bomb, 4 << 10, handler.CloseMessageTooBig},
		{"past MaxMessageSize early, no context", "permessage-deflate; server_no_context_takeover", ws.OpBinary, bomb, 4 << 10, handler.CloseMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.start >= len(tc.z)/4 {
				t.Fatalf("the message is only %d bytes compressed: sending %d is not its start", len(tc.z), tc.start)
			}
			got := make(chan []byte, 1)
			addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
				io.WriteString(nc, accept101(req, extensionsHeader(tc.ans)))
				// The header announces the whole payload; the start
				// follows, then nothing.
				_ = ws.WriteHeader(nc, ws.Header{Fin: true, Rsv: 0x4, OpCode: tc.op, Length: int64(len(tc.z))})
				_, _ = nc.Write(tc.z[:tc.start])
				for {
					h, p, err := readFrame(br)
					if err != nil {
						close(got)
						return
					}
					if h.OpCode == ws.OpClose {
						got <- p
						return
					}
				}
			})
			r := newRecorder()
			dial(t, "ws://"+addr+"/", r, &client.Options{MaxMessageSize: 1 << 20, PingInterval: -1})
			select {
			case p, ok := <-got:
				if !ok || len(p) < 2 || handler.CloseCode(binary.BigEndian.Uint16(p)) != tc.want {
					t.Fatalf("close frame %q (%v), want code %d", p, ok, tc.want)
				}
			case <-time.After(waitTimeout):
				t.Fatal("no close frame: the client waits for the rest of the message")
			}
			if ev := r.waitClosed(t); ev.code != tc.want {
				t.Fatalf("Closed(%d, %q), want %d", ev.code, ev.reason, tc.want)
			}
			if len(r.msgs) != 0 {
				t.Fatal("a message was delivered")
			}
		})
	}
}

// countingObserver counts what it is told.
type countingObserver struct {
	observe.Base
	mu             sync.Mutex
	opened         int
	sent, received map[observe.Kind]int // bytes
	closedCode     handler.CloseCode
	closedBy       observe.Side
	closed         int
}

func (o *countingObserver) Opened() { o.mu.Lock(); o.opened++; o.mu.Unlock() }
func (o *countingObserver) Sent(k observe.Kind, n int) {
	o.mu.Lock()
	o.sent[k] += n
	o.mu.Unlock()
}
func (o *countingObserver) Received(k observe.Kind, n int) {
	o.mu.Lock()
	o.received[k] += n
	o.mu.Unlock()
}
func (o *countingObserver) Closed(code handler.CloseCode, by observe.Side) {
	o.mu.Lock()
	o.closed++
	o.closedCode, o.closedBy = code, by
	o.mu.Unlock()
}

// TestObserver: the client tells Options.Observer what its connection
// does, with the sides as the server's observer names them (Peer: the
// client sent the first close frame).
func TestObserver(t *testing.T) {
	addr := start(t, &server.Server{NewHandler: handler.NewEcho})
	o := &countingObserver{sent: map[observe.Kind]int{}, received: map[observe.Kind]int{}}
	r := newRecorder()
	c := dial(t, "ws://"+addr+"/", r, &client.Options{Observer: o, PingInterval: -1})
	msg := bytes.Repeat([]byte("observed "), 100) // compressed on the wire
	if err := c.SendText(string(msg)); err != nil {
		t.Fatal(err)
	}
	r.expect(t, handler.Text, msg)
	if err := c.Ping([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	r.expectPong(t, "hi")
	_ = c.Close(handler.CloseNormal, "bye")
	r.expectClosed(t, handler.CloseNormal, "bye")
	<-c.Done()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.opened != 1 || o.closed != 1 || o.closedCode != handler.CloseNormal || o.closedBy != observe.Peer {
		t.Fatalf("opened %d, closed %d (%d by %v); want 1, 1 (1000 by peer)", o.opened, o.closed, o.closedCode, o.closedBy)
	}
	if o.sent[observe.KindText] != len(msg) || o.received[observe.KindText] != len(msg) {
		t.Fatalf("text sent %d, received %d bytes; want %d each (inflated)", o.sent[observe.KindText], o.received[observe.KindText], len(msg))
	}
	if o.sent[observe.KindPing] != 2 || o.received[observe.KindPong] != 2 {
		t.Fatalf("ping sent %d, pong received %d bytes; want 2 each", o.sent[observe.KindPing], o.received[observe.KindPong])
	}
	if o.sent[observe.KindClose] != 5 || o.received[observe.KindClose] != 5 {
		t.Fatalf("close sent %d, received %d bytes; want 5 each", o.sent[observe.KindClose], o.received[observe.KindClose])
	}
}
