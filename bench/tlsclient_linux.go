//go:build linux

package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/net/http2"
	"golang.org/x/sys/unix"
)

// tlsClient is the load generator of the wss:// scenarios: Go's crypto/tls
// with a goroutine per connection, in the benchmark's process. It is not
// the epoll generator: that one would need a TLS engine of its own, and
// what is measured is the server's process (its RSS and CPU), not the
// client's. It offers TLS 1.3 with crypto/tls's default curve preferences
// (X25519MLKEM768 first, as browsers do) and no session cache, so every
// handshake is a full one. It speaks the same WebSocket as the epoll
// generator (frame.go) and binds its connections to the same source
// addresses, in turn.
//
// In HTTP/2 mode (h2Streams > 0) each WebSocket is an RFC 8441 stream
// (internal/h2stream, a net.Conn) and h2Streams of them share a TLS
// connection, as a browser's would; the frames and the phases are the
// same. The process must import package xconnect (ws4go's command and
// this package's tests do), or x/net/http2 refuses extended CONNECT.
type tlsClient struct {
	target  loadTarget
	tls     *tls.Config
	sources []*net.TCPAddr
	srcNext atomic.Uint64
	hsReq   []byte
	opened  atomic.Int64
	conns   []*tlsConn
	// state is the first handshake's outcome, for the report.
	state atomic.Pointer[tls.ConnectionState]

	// HTTP/2 mode: stream i goes on TLS connection i/h2Streams.
	h2Streams int
	h2URL     *url.URL
	h2tr      *http2.Transport
	h2mu      sync.Mutex
	h2conns   []*h2Conn
	streams   atomic.Int64 // streams asked for so far
}

var _ loadClient = (*tlsClient)(nil)

// newTLSClient makes the wss:// load generator for target (whose
// certificate it does not verify: it measures, it does not test); with
// h2Streams > 0, the HTTP/2 one, that many streams per TLS connection
// (at most the server's SETTINGS_MAX_CONCURRENT_STREAMS: more wait).
func newTLSClient(target loadTarget, sources []string, h2Streams int) (*tlsClient, error) {
	if _, err := parseTarget(target.Addr); err != nil {
		return nil, err
	}
	srcs, err := parseSources(sources)
	if err != nil {
		return nil, err
	}
	c := &tlsClient{
		target: target,
		tls: &tls.Config{
			InsecureSkipVerify: true, //nolint:gosec // a load generator: the server's certificate is the benchmark's own
			MinVersion:         tls.VersionTLS13,
			NextProtos:         []string{"http/1.1"},
		},
		hsReq:     handshakeRequest(target.Addr, target.Path),
		h2Streams: h2Streams,
	}
	if h2Streams > 0 {
		c.tls.NextProtos = []string{http2.NextProtoTLS}
		c.h2URL = &url.URL{Scheme: "https", Host: target.Addr, Path: target.Path}
		// Strict: a stream past the server's limit waits rather than
		// failing; no pings, which would wake the idle server.
		c.h2tr = &http2.Transport{StrictMaxConcurrentStreams: true}
	}
	for _, s := range srcs {
		c.sources = append(c.sources, &net.TCPAddr{IP: net.IP(s[:])})
	}
	return c, nil
}

// noPort sets IP_BIND_ADDRESS_NO_PORT, so that binding a source address
// does not pin a port for every destination (see MACHINE-NOTES).
func noPort(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	return errors.Join(err, serr)
}

// dial opens one WebSocket: TCP, TLS, then the WebSocket handshake; in
// HTTP/2 mode, a stream (extended CONNECT) on a shared TLS connection.
func (c *tlsClient) dial(ctx context.Context, timeout time.Duration) (*tlsConn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if c.h2Streams > 0 {
		return c.openStream(ctx)
	}
	tc, err := c.dialTLS(ctx)
	if err != nil {
		return nil, err
	}
	conn := &tlsConn{nc: tc, buf: make([]byte, 4096)}
	if err := c.upgrade(ctx, conn); err != nil {
		drop(tc)
		return nil, err
	}
	return conn, nil
}

// dialTLS opens a TCP connection from the next source address and runs
// the TLS handshake.
func (c *tlsClient) dialTLS(ctx context.Context) (*tls.Conn, error) {
	d := net.Dialer{Control: noPort}
	if len(c.sources) > 0 {
		d.LocalAddr = c.sources[c.srcNext.Add(1)%uint64(len(c.sources))]
	}
	nc, err := d.DialContext(ctx, "tcp", c.target.Addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(nc, c.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		drop(tc)
		return nil, err
	}
	if c.state.Load() == nil {
		st := tc.ConnectionState()
		c.state.CompareAndSwap(nil, &st)
	}
	return tc, nil
}

// Connect opens spec.Conns connections, at most spec.MaxPending at once,
// started at spec.Rate per second if set, and holds them.
func (c *tlsClient) Connect(ctx context.Context, spec connectSpec) (connectResult, error) {
	if spec.MaxPending <= 0 {
		spec.MaxPending = defaultMaxPending
	}
	if spec.Timeout <= 0 {
		spec.Timeout = 10 * time.Second
	}
	cpu0 := selfCPU()
	start := time.Now()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		res      connectResult
		hist     = newHist()
		wg       sync.WaitGroup
		lastDone time.Time
	)
	for range min(spec.MaxPending, spec.Conns) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(spec.Conns) {
					return
				}
				if spec.Rate > 0 {
					due := start.Add(time.Duration(float64(i) / spec.Rate * float64(time.Second)))
					time.Sleep(time.Until(due))
				}
				t0 := time.Now()
				conn, err := c.dial(ctx, spec.Timeout)
				now := time.Now()
				mu.Lock()
				lastDone = now
				if err != nil {
					res.Failed++
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
				} else {
					res.Opened++
					recordUS(hist, int64(now.Sub(t0)))
					c.conns = append(c.conns, conn)
					c.opened.Add(1)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Elapsed = lastDone.Sub(start)
	res.Handshake = hist.Export()
	res.CPU = selfCPU() - cpu0
	return res, ctx.Err()
}

// Negotiated says what the first handshake agreed on ("" before one).
func (c *tlsClient) Negotiated() string {
	st := c.state.Load()
	if st == nil {
		return ""
	}
	s := fmt.Sprintf("%s, %s, %s", tls.VersionName(st.Version), st.CurveID, tls.CipherSuiteName(st.CipherSuite))
	if c.h2Streams > 0 {
		s += ", ALPN " + st.NegotiatedProtocol
	}
	return s
}

// Opened is the number of connections open so far (read at any time, for
// progress).
func (c *tlsClient) Opened() int64 { return c.opened.Load() }

// Run drives one measured phase: Idle holds the connections and checks at
// the end that they are still open; Echo is the closed loop (one message
// in flight per connection; no fixed rate); HandshakeWSS opens, upgrades
// and closes connections over and over, spec.Concurrency at once.
func (c *tlsClient) Run(ctx context.Context, spec runSpec) (runResult, error) {
	if spec.Size < stampSize {
		spec.Size = stampSize
	}
	cpu0 := selfCPU()
	t0 := time.Now()
	from, end := t0.Add(spec.Warmup), t0.Add(spec.Warmup+spec.Duration)
	var (
		mu  sync.Mutex
		out runResult
		wg  sync.WaitGroup
	)
	lat := newHist()
	// finish merges one goroutine's figures into out.
	finish := func(recv, done int64, h *hdrhistogram.Histogram, err error) {
		mu.Lock()
		defer mu.Unlock()
		out.Received += recv
		out.Sent += recv
		out.Completed += done
		if h != nil {
			lat.Merge(h)
		}
		if err != nil && ctx.Err() == nil {
			out.Errors++
			if out.FirstError == "" {
				out.FirstError = err.Error()
			}
		}
	}
	switch spec.Scenario {
	case Idle:
		select {
		case <-time.After(time.Until(end)):
		case <-ctx.Done():
		}
		// Each check waits a millisecond: many at once.
		sem := make(chan struct{}, defaultMaxPending)
		for _, conn := range c.conns {
			if conn.dead { // counted when it was lost
				continue
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				finish(0, 0, nil, conn.alive())
				<-sem
			}()
		}
		wg.Wait()
	case Echo:
		if spec.Rate > 0 {
			return out, errors.New("bench: the wss:// client runs echo in closed loop only")
		}
		for _, conn := range c.conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := newHist()
				recv, err := conn.echoLoop(ctx, spec.Size, from, end, h)
				finish(recv, 0, h, err)
			}()
		}
		wg.Wait()
	case HandshakeWSS:
		if c.h2Streams > 0 {
			return out, errors.New("bench: the HTTP/2 client runs no handshake cycles")
		}
		for range max(1, spec.Concurrency) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := newHist()
				var done int64
				for ctx.Err() == nil && time.Now().Before(end) {
					s := time.Now()
					conn, err := c.dial(ctx, 10*time.Second)
					if err == nil {
						err = conn.closeHandshake()
					}
					if now := time.Now(); !s.Before(from) && !now.After(end) {
						if err != nil {
							finish(0, 0, nil, err)
							continue
						}
						done++
						recordUS(h, int64(now.Sub(s)))
					}
				}
				finish(0, done, h, nil)
			}()
		}
		wg.Wait()
	default:
		return out, fmt.Errorf("bench: the wss:// client does not run %s", spec.Scenario)
	}
	open := 0
	for _, conn := range c.conns {
		if !conn.dead {
			open++
		}
	}
	out.Open = open
	out.Latency = lat.Export()
	out.Elapsed = time.Since(t0)
	out.From, out.End = from.UnixNano(), end.UnixNano()
	out.CPU = selfCPU() - cpu0
	return out, ctx.Err()
}

// Close drops every connection: in HTTP/2 mode, the TLS connections
// first, so that the server gets no stream resets one by one.
func (c *tlsClient) Close() error {
	for _, hc := range c.h2conns {
		if hc != nil && hc.cc != nil {
			drop(hc.tc)
			hc.cc.Close()
		}
	}
	c.h2conns = nil
	for _, conn := range c.conns {
		drop(conn.nc)
	}
	c.conns = nil
	return nil
}
