package tlsattack

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ws4go/ws4go/internal/testcert"
)

// TestKeyUpdates: a crypto/tls peer reads what the attacking end (client,
// then server) wrote through crypto/tls, then, after Take, data with
// KeyUpdates asking for an update in between, all decrypted in order: the
// records continue the stream with the right keys, and each KeyUpdate
// moves both ends to the next secret. The peer answers every KeyUpdate (the
// attacking end does not read the answers).
func TestKeyUpdates(t *testing.T) {
	cert, pool, err := testcert.New(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srvCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	cliCfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	for _, client := range []bool{true, false} {
		t.Run(map[bool]string{true: "client", false: "server"}[client], func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			attacker := make(chan *Conn, 1)
			errc := make(chan error, 2)
			var peer *tls.Conn
			handshake := func(p *tls.Conn) {
				peer = p
				go func() { errc <- p.Handshake() }()
			}
			accepted := make(chan net.Conn, 1)
			go func() {
				nc, _ := l.Accept()
				accepted <- nc
			}()
			if client {
				go func() {
					c, err := Dial(l.Addr().String(), cliCfg, 0)
					if err != nil {
						errc <- err
					}
					attacker <- c
				}()
				handshake(tls.Server(<-accepted, srvCfg))
			} else {
				nc, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				handshake(tls.Client(nc, cliCfg))
				go func() {
					c, err := Server(<-accepted, srvCfg)
					if err != nil {
						errc <- err
					}
					attacker <- c
				}()
			}
			c := <-attacker
			if err := <-errc; err != nil || c == nil {
				t.Fatalf("handshake: %v", err)
			}
			defer c.Close()
			defer peer.Close()
			got := make(chan []byte, 1)
			go func() {
				_ = peer.SetDeadline(time.Now().Add(10 * time.Second))
				b, err := io.ReadAll(peer)
				got <- b
				errc <- err
			}()
			want := exchange(t, c)
			// The end of the stream: the TCP half-close (no
			// close_notify, which crypto/tls reads as a clean EOF at a
			// record boundary).
			if err := c.raw.Conn.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			b := <-got
			if err := <-errc; err != nil {
				t.Fatalf("peer: %v", err)
			}
			if !bytes.Equal(b, want) {
				t.Fatalf("the peer read %d bytes, want %d (the same: %v)", len(b), len(want), bytes.HasPrefix(want, b))
			}
		})
	}
}

// exchange writes through crypto/tls, takes over, writes data and
// KeyUpdates, and returns the data the peer must read.
func exchange(t *testing.T, c *Conn) []byte {
	t.Helper()
	var want []byte
	for _, s := range []string{"before ", "take: "} {
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		want = append(want, s...)
	}
	if err := c.Take(); err != nil {
		t.Fatal(err)
	}
	var out []byte
	big := bytes.Repeat([]byte("x"), 40<<10) // three records
	out = c.AppendData(out, big)
	want = append(want, big...)
	for i := range 100 {
		out = c.AppendKeyUpdate(out)
		p := []byte{'a' + byte(i%26)}
		out = c.AppendData(out, p)
		want = append(want, p...)
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	return want
}
