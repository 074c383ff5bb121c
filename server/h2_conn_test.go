package server_test

// Attacks on the HTTP/2 connection itself rather than its streams: a
// connection that opens no stream, trickles a header block, or sends only
// requests that are refused must not outlive HandshakeTimeout, and the
// HTTP/2 connections open at once are bounded.

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/observe"
	"github.com/ws4go/ws4go/server"
)

// h2Window is HandshakeTimeout in these tests: the time an HTTP/2
// connection has to open a stream.
const h2Window = 500 * time.Millisecond

// closedWithin waits for the server to close c and checks that it did so
// between from and to after the dial (the server's clock starts when it
// accepts, a little after).
func (c *rawH2) closedWithin(what string, from, to time.Duration) {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(time.Until(c.start.Add(to))):
		c.t.Fatalf("%s: still open %v after the dial, want closed by %v", what, time.Since(c.start).Round(time.Millisecond), to)
	}
	if c.at < from {
		c.t.Fatalf("%s: closed %v after the dial, want not before %v", what, c.at.Round(time.Millisecond), from)
	}
	c.t.Logf("%s: closed %v after the dial", what, c.at.Round(time.Millisecond))
}

// stillOpen checks that c is open now.
func (c *rawH2) stillOpen(what string) {
	c.t.Helper()
	select {
	case <-c.closed:
		c.t.Fatalf("%s: closed %v after the dial", what, c.at.Round(time.Millisecond))
	default:
	}
}

// h2WindowServer starts a server on e with HandshakeTimeout h2Window, an
// observer and, if plain, an s.HTTP that answers 204.
func h2WindowServer(t *testing.T, e server.Engine, plain bool) (*rawH2Dialer, *acObserver) {
	t.Helper()
	o := &acObserver{}
	s := &server.Server{HandshakeTimeout: h2Window, PingInterval: -1, Observer: o}
	if plain {
		s.HTTP = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	}
	addr, pool := startH2(t, e, s)
	return &rawH2Dialer{t: t, addr: addr, pool: pool}, o
}

// rawH2Dialer dials raw HTTP/2 connections to one server.
type rawH2Dialer struct {
	t    *testing.T
	addr string
	pool *x509.CertPool
}

func (d *rawH2Dialer) silent() *rawH2 { return dialH2(d.t, d.addr, d.pool, nil) }
func (d *rawH2Dialer) raw() *rawH2    { return dialRawH2(d.t, d.addr, d.pool, 65535) }

// TestH2ConnSilent: a client whose ALPN chose h2 and that sends nothing,
// not even the connection preface, is closed at HandshakeTimeout (counted
// as a handshake timeout), on both engines.
func TestH2ConnSilent(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		d, o := h2WindowServer(t, e, false)
		d.silent().closedWithin("ALPN h2, then silence", h2Window*8/10, h2Window+time.Second)
		expectRejected(t, o, observe.RejectTimeout, 1)
	})
}

// TestH2ConnNoStream: a client that sends the preface and SETTINGS, and
// answers the server's PINGs and SETTINGS, but opens no stream, is closed
// at HandshakeTimeout: the first request must come within it.
func TestH2ConnNoStream(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		d, o := h2WindowServer(t, e, false)
		d.raw().closedWithin("preface and SETTINGS, no stream", h2Window*8/10, h2Window+time.Second)
		expectRejected(t, o, observe.RejectTimeout, 1)
	})
}

// TestH2ConnTrickledHeaders: a client that starts an extended CONNECT's
// header block and trickles it in CONTINUATION frames of one byte (a
// request net/http never completes, so no handler runs) is closed at
// HandshakeTimeout.
func TestH2ConnTrickledHeaders(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		d, o := h2WindowServer(t, e, false)
		c := d.raw()
		<-c.acked
		// The block ends in a literal field "x" whose value announces
		// 4,000 bytes (an HPACK integer: 127 + 3,873), which follow a
		// byte at a time.
		c.headers(1, http2.HeadersFrameParam{BlockFragment: []byte{0x00, 0x01, 'x', 0x7f, 0xa1, 0x1e}},
			":method", "CONNECT", ":protocol", "websocket")
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			tk := time.NewTicker(h2Window / 10)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					return
				case <-c.closed:
					return
				case <-tk.C:
				}
				c.wmu.Lock()
				err := c.fr.WriteContinuation(1, false, []byte{'a'})
				c.wmu.Unlock()
				if err != nil {
					return
				}
			}
		}()
		c.closedWithin("a header block trickled in CONTINUATIONs", h2Window*8/10, h2Window+time.Second)
		expectRejected(t, o, observe.RejectTimeout, 1)
	})
}

// TestH2ConnRefusedRequests: requests that are refused (here plain GETs to
// a server without s.HTTP, each answered 400) do not keep a connection:
// it is closed at HandshakeTimeout after the dial however often they come,
// while each is still answered.
func TestH2ConnRefusedRequests(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		d, o := h2WindowServer(t, e, false)
		c := d.raw()
		answered := 0
		for id := uint32(1); ; id += 2 {
			c.get(id, "/")
			select {
			case st := <-c.status:
				if st[1] != "400" {
					t.Fatalf("a plain GET without s.HTTP: %s, want 400", st[1])
				}
				answered++
			case <-c.closed:
			case <-time.After(2 * time.Second):
				t.Fatal("a plain GET not answered in 2 s")
			}
			if time.Since(c.start) > h2Window+time.Second {
				break
			}
			select {
			case <-c.closed:
			case <-time.After(h2Window / 4):
				continue
			}
			break
		}
		if answered < 3 {
			t.Errorf("%d requests answered before the close, want at least 3", answered)
		}
		c.closedWithin("a refused request every quarter of HandshakeTimeout", h2Window*8/10, h2Window+time.Second)
		expectRejected(t, o, observe.RejectTimeout, 1)
	})
}

// TestH2ConnIdleAfterStream: a connection is held while a WebSocket stream
// is open, however long, and closed HandshakeTimeout after its last stream
// ended (not counted as a timeout: it served one).
func TestH2ConnIdleAfterStream(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		d, o := h2WindowServer(t, e, false)
		c := d.raw()
		c.openStreams(1)
		// The stream lives past the first window.
		<-time.After(time.Until(c.start.Add(2 * h2Window)))
		c.stillOpen("a WebSocket stream open")
		c.wmu.Lock()
		c.fr.WriteRSTStream(1, http2.ErrCodeCancel)
		c.wmu.Unlock()
		ended := time.Since(c.start)
		c.closedWithin("idle after its stream ended", ended+h2Window*8/10, ended+h2Window+time.Second)
		if n := o.rejected[observe.RejectTimeout].Load(); n != 0 {
			t.Errorf("the idle close counted as %d handshake timeouts", n)
		}
	})
}

// TestH2ConnServedRequests: plain requests that s.HTTP serves keep the
// connection as a WebSocket does: it stays open while they come more
// often than HandshakeTimeout, and is closed HandshakeTimeout after the
// last one.
func TestH2ConnServedRequests(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		d, _ := h2WindowServer(t, e, true)
		c := d.raw()
		var last time.Duration
		for id := uint32(1); id < 2*6; id += 2 {
			c.get(id, "/page")
			select {
			case st := <-c.status:
				if st[1] != "204" {
					t.Fatalf("a GET to s.HTTP: %s, want 204", st[1])
				}
			case <-c.closed:
				t.Fatalf("closed %v after the dial while its requests were served", c.at)
			}
			last = time.Since(c.start)
			<-time.After(h2Window / 2)
		}
		c.closedWithin("idle after its last request", last+h2Window*8/10, last+h2Window+time.Second)
	})
}

// TestMaxH2Connections: past Server.MaxH2Connections HTTP/2 connections,
// ALPN gives a client that offers h2 and http/1.1 HTTP/1.1 (its WebSocket
// then opens as an upgrade) and fails the TLS handshake of one that offers
// h2 alone, both counted as observe.RejectMaxH2Connections, on both
// engines; once an HTTP/2 connection ends its place is free again. The
// WebSocket streams of the connections open are not held back.
func TestMaxH2Connections(t *testing.T) {
	forEngine(t, func(t *testing.T, e server.Engine) {
		o := &acObserver{}
		s := &server.Server{MaxH2Connections: 2, PingInterval: -1, Observer: o}
		addr, pool := startH2(t, e, s)
		a := dialRawH2(t, addr, pool, 65535)
		a.openStreams(1)
		b := dialRawH2(t, addr, pool, 65535)
		b.openStreams(1)

		resp, c := tlsUpgradeALPN(t, addr, pool, "h2", "http/1.1")
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("the downgraded client's upgrade: %s", resp.Status)
		}
		c.echoes("over HTTP/1.1")
		tc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
		if err == nil {
			err = tc.Handshake()
			tc.Close()
		}
		if err == nil {
			t.Fatal("a client offering h2 alone past MaxH2Connections: handshake succeeded")
		}
		expectRejected(t, o, observe.RejectMaxH2Connections, 2)

		a.tc.Close()
		hcEventually(t, 5*time.Second, "the closed connection's place free", func() bool {
			tc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"h2", "http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer tc.Close()
			return tc.ConnectionState().NegotiatedProtocol == "h2"
		})
		c.closeNormally()
	})
}

// TestMaxH2ConnectionsOwnListener: on a tls.NewListener of the
// application's, whose ALPN the server cannot steer, an HTTP/2 connection
// past MaxH2Connections is closed after its TLS handshake and counted.
func TestMaxH2ConnectionsOwnListener(t *testing.T) {
	o := &acObserver{}
	s := &server.Server{MaxH2Connections: 1, PingInterval: -1, Observer: o, NewHandler: handler.NewEcho}
	cert, pool := testutil.SelfSigned(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := testutil.Serve(t, s, tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}))
	dialRawH2(t, addr, pool, 65535).openStreams(1)
	d := &rawH2Dialer{t: t, addr: addr, pool: pool}
	d.silent().closedWithin("past MaxH2Connections", 0, time.Second)
	expectRejected(t, o, observe.RejectMaxH2Connections, 1)
}

// expectRejected waits for n refusals for r to be counted.
func expectRejected(t *testing.T, o *acObserver, r observe.Reason, n int64) {
	t.Helper()
	hcEventually(t, 2*time.Second, r.String()+" counted", func() bool { return o.rejected[r].Load() == n })
}
