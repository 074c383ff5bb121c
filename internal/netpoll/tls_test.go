//go:build linux

package netpoll

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// The ciphertext a TLS connection keeps for a socket that takes no more is
// bounded: crypto/tls writes on its own while it reads (KeyUpdate answers,
// alerts), so a peer that asks for answers and never reads them could
// otherwise make the server hold them all. Past tlsMaxPending the write
// fails (and with it the connection); while any is pending, input waits
// (inputPaused), and what a peer reads later arrives whole and in order.
func TestTLSPendingBounded(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if err := unix.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	tio := &tlsIO{fed: true, fd: fds[0]}
	var sent bytes.Buffer
	for i := 0; ; i++ {
		rec := bytes.Repeat([]byte{byte(i)}, 22) // a KeyUpdate record's size
		n, err := tio.Write(rec)
		if err != nil {
			if !errors.Is(err, errTooMuchPending) {
				t.Fatalf("write %d: %v, want errTooMuchPending", i, err)
			}
			break
		}
		sent.Write(rec[:n])
		if i > 1<<24 {
			t.Fatal("pending ciphertext never bounded")
		}
	}
	if p := tio.Pending(); p == 0 || p > tlsMaxPending {
		t.Fatalf("%d bytes pending, want some, at most %d", p, tlsMaxPending)
	}
	c := &conn{tls: true, x: &extra{tls: tio}}
	if !c.inputPaused() {
		t.Fatal("input not paused while ciphertext is pending")
	}
	// The peer reads: everything kept arrives, in order.
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	for got.Len() < sent.Len() {
		if _, err := tio.flush(); err != nil {
			t.Fatal(err)
		}
		n, err := unix.Read(fds[1], buf)
		if err != nil {
			t.Fatal(err)
		}
		got.Write(buf[:n])
	}
	if !bytes.Equal(got.Bytes(), sent.Bytes()) {
		t.Fatal("the peer read other bytes than were written")
	}
	if c.inputPaused() {
		t.Fatal("input still paused with nothing pending")
	}
}
