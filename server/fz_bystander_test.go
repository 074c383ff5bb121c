package server_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// fzQuietLogger drops the server's logs: fuzzing makes it log every failed
// connection.
func fzQuietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fzBystander is a well-behaved connection that stays open while the fuzzer
// attacks the server: it answers the heartbeat and must keep echoing.
type fzBystander struct {
	nc   net.Conn
	wmu  sync.Mutex
	msgs chan string
	n    int
}

func fzDialBystander(addr string) (*fzBystander, error) {
	nc, err := net.DialTimeout("tcp", addr, fzWait)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(fzWait))
	if _, err := io.WriteString(nc, upgradeRequest(addr, "/")); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, fmt.Errorf("bystander handshake: %v %v", resp, err)
	}
	_ = nc.SetDeadline(time.Time{})
	b := &fzBystander{nc: nc, msgs: make(chan string, 1)}
	go b.read(br)
	return b, nil
}

// read answers pings and hands text messages over until the connection
// ends.
func (b *fzBystander) read(br *bufio.Reader) {
	defer close(b.msgs)
	for {
		h, err := ws.ReadHeader(br)
		if err != nil {
			return
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(br, p); err != nil {
			return
		}
		switch h.OpCode {
		case ws.OpPing:
			b.write(ws.OpPong, p)
		case ws.OpText:
			b.msgs <- string(p)
		case ws.OpClose:
			return
		}
	}
}

func (b *fzBystander) write(op ws.OpCode, p []byte) error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	_ = b.nc.SetWriteDeadline(time.Now().Add(fzWait))
	_, err := b.nc.Write(frame(true, 0, op, p))
	return err
}

// echoes checks that the bystander's messages are still echoed.
func (b *fzBystander) echoes() error {
	b.n++
	msg := fmt.Sprintf("bystander %d", b.n)
	if err := b.write(ws.OpText, []byte(msg)); err != nil {
		return err
	}
	select {
	case got, ok := <-b.msgs:
		if !ok {
			return fmt.Errorf("connection closed instead of echoing %q", msg)
		}
		if got != msg {
			return fmt.Errorf("echoed %q, want %q", got, msg)
		}
	case <-time.After(fzWait):
		return fmt.Errorf("no echo of %q within %v", msg, fzWait)
	}
	return nil
}
