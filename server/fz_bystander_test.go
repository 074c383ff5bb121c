package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ws4go/ws4go/internal/conformance"
)

// fzQuietLogger drops the server's logs: fuzzing makes it log every failed
// connection.
func fzQuietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fzBystander is a well-behaved connection that stays open while the fuzzer
// attacks the server: it answers the heartbeat and must keep echoing. It is
// the conformance suite's raw client, which checks the handshake strictly.
type fzBystander struct {
	c    *conformance.Client
	msgs chan string
	n    int
}

func fzDialBystander(addr string) (*fzBystander, error) {
	ctx, cancel := context.WithTimeout(context.Background(), fzWait)
	defer cancel()
	c, err := conformance.Dial(ctx, conformance.Target{Addr: addr})
	if err != nil {
		return nil, fmt.Errorf("bystander: %w", err)
	}
	b := &fzBystander{c: c, msgs: make(chan string, 1)}
	go b.read()
	return b, nil
}

// read answers pings and hands text messages over until the connection
// ends.
func (b *fzBystander) read() {
	defer close(b.msgs)
	for {
		f, err := b.c.ReadFrame()
		if err != nil {
			return
		}
		switch f.Opcode {
		case conformance.OpPing:
			_ = b.write(conformance.OpPong, f.Payload)
		case conformance.OpText:
			b.msgs <- string(f.Payload)
		case conformance.OpClose:
			return
		}
	}
}

func (b *fzBystander) write(op byte, p []byte) error {
	_ = b.c.Conn().SetWriteDeadline(time.Now().Add(fzWait))
	return b.c.WriteFrame(true, 0, op, p, 0)
}

// echoes checks that the bystander's messages are still echoed.
func (b *fzBystander) echoes() error {
	b.n++
	msg := fmt.Sprintf("bystander %d", b.n)
	if err := b.write(conformance.OpText, []byte(msg)); err != nil {
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
