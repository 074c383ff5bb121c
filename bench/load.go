package bench

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// loadTarget says where and how the load generator connects.
type loadTarget struct {
	// Addr is the server's IPv4 host:port ("127.0.0.1:9400").
	Addr string
	// Path is the request path of the WebSocket endpoint ("/ws").
	Path string
	// Raw speaks plain TCP: no handshake, no framing; a message is Size
	// bytes of the stream (the raw TCP echo floor).
	Raw bool
	// RawHandshake, with Raw, makes a 16-byte echo stand for the
	// handshake: a connection counts as open once the server has
	// accepted it and answered, not when the kernel has completed the
	// TCP handshake (which says nothing of the server, and lets a client
	// overrun its accept queue). Only for servers that echo.
	RawHandshake bool
	// RawFrames, with Raw, has the client send and read WebSocket frames
	// as a server writes them (unmasked) over the plain TCP stream: the
	// raw TCP server in broadcast mode then hands every connection the
	// publisher's frames as they were written, so the generator parses
	// frames at no WebSocket server's expense (the generator scenario).
	RawFrames bool `json:",omitempty"`
}

// clientConfig configures one load generator process.
type clientConfig struct {
	loadTarget
	// Sources are the local addresses connections are bound to, in turn
	// (with IP_BIND_ADDRESS_NO_PORT, so the port is picked per
	// destination at connect time). Default: 127.0.0.2 to 127.0.0.9.
	Sources []string
	// Loops is the number of epoll event loops (default 2).
	Loops int
}

// connectSpec is the connection phase: open Conns connections and hold them.
type connectSpec struct {
	Conns int
	// Rate is the ramp-up: connections started per second (0: as fast
	// as MaxPending allows).
	Rate float64
	// MaxPending bounds the handshakes in flight at once (default
	// defaultMaxPending); several processes share it.
	MaxPending int
	// Timeout fails a connection not open after this long (default 10 s).
	Timeout time.Duration
}

// broadcastTimeout gives up on a message that has not reached every
// connection (one was lost) so the closed loop goes on.
const broadcastTimeout = 2 * time.Second

// defaultMaxPending is the default bound on the handshakes in flight of a
// connection phase.
const defaultMaxPending = 256

// connectResult is what a connection phase did.
type connectResult struct {
	Opened, Failed int
	// Elapsed runs from the first connect to the last connection open
	// or failed.
	Elapsed    time.Duration
	FirstError string `json:",omitempty"`
	// Handshake is the time from connect() to the server's 101, in µs.
	Handshake *hdrhistogram.Snapshot `json:",omitempty"`
	// CPU is the client's own CPU time during the phase.
	CPU time.Duration
}

// Scenario names a load pattern.
type Scenario string

// Scenarios.
const (
	// Idle holds N connections and does nothing: server memory per
	// connection, goroutines, handshake rate.
	Idle Scenario = "idle"
	// Echo sends messages on C connections, each echoed back: closed
	// loop (one message in flight per connection) or a fixed rate.
	Echo Scenario = "echo"
	// Broadcast has one connection publish to /broadcast and every
	// connection (the publisher too) receive each message, in closed
	// loop: the next message leaves when the last has reached everyone.
	Broadcast Scenario = "broadcast"
	// BroadcastRate is Broadcast at a fixed offered rate (messages
	// published per second), meant to be above what a server sustains.
	BroadcastRate Scenario = "broadcast-rate"
	// Topics has connections subscribe to topics on /topics and
	// publishers publish to the topics at a fixed rate.
	Topics Scenario = "topics"
	// Generator measures the load generator itself: the raw TCP server
	// in broadcast mode hands every connection the publisher's batches
	// of frames as written (pre-coalesced), in closed loop.
	Generator Scenario = "generator"
	// Churn connects, sends one message, waits for its echo and closes,
	// over and over, with C cycles in flight.
	Churn Scenario = "churn"

	// IdleWSS is Idle over wss:// (TLS 1.3).
	IdleWSS Scenario = "idle-wss"
	// EchoWSS is Echo's closed loop over wss://.
	EchoWSS Scenario = "echo-wss"
	// HandshakeWSS opens a wss:// connection (TCP, a full TLS 1.3
	// handshake, the WebSocket handshake) and closes it (closing
	// handshake), over and over, with C cycles in flight: handshakes/s
	// and the server's CPU per handshake.
	HandshakeWSS Scenario = "handshake-wss"

	// IdleH2 is IdleWSS with the WebSockets opened as RFC 8441 streams,
	// up to Config.H2Streams on each TLS connection (HTTP/2).
	IdleH2 Scenario = "idle-h2"
	// EchoH2 is EchoWSS over RFC 8441 streams.
	EchoH2 Scenario = "echo-h2"
)

// Scenarios lists the scenarios the benchmark runs by default, in the order
// it runs them.
var Scenarios = []Scenario{Generator, Idle, Echo, Broadcast, BroadcastRate, Topics, Churn}

// topicsSubscribe is the first phase of the topics scenario on the load
// generator: every connection but the publishers subscribes.
const topicsSubscribe Scenario = "topics-subscribe"

// TLSScenarios are the scenarios over TLS, run when named, after the
// plain ones: the wss:// ones (with servers that serve TLS: ServerSpec.TLS)
// and those over HTTP/2 (with servers that serve it: ServerSpec.H2).
var TLSScenarios = []Scenario{IdleWSS, EchoWSS, HandshakeWSS, IdleH2, EchoH2}

// TLS reports whether sc runs over TLS (wss:// or HTTP/2).
func (sc Scenario) TLS() bool {
	switch sc {
	case IdleWSS, EchoWSS, HandshakeWSS, IdleH2, EchoH2:
		return true
	}
	return false
}

// h2 reports whether sc opens its WebSockets as HTTP/2 streams.
func (sc Scenario) h2() bool { return sc == IdleH2 || sc == EchoH2 }

// http1 is the wss:// scenario that sc, over HTTP/2, is compared with (""
// for the others).
func (sc Scenario) http1() Scenario {
	switch sc {
	case IdleH2:
		return IdleWSS
	case EchoH2:
		return EchoWSS
	}
	return ""
}

// fanout reports whether sc sends each message to many connections.
func (sc Scenario) fanout() bool {
	switch sc {
	case Broadcast, BroadcastRate, Topics, Generator:
		return true
	}
	return false
}

// plain is the scenario whose load sc runs (itself if it has no plain
// twin): the wss:// and HTTP/2 variants reuse their plain twin's
// procedure.
func (sc Scenario) plain() Scenario {
	switch sc {
	case IdleWSS, IdleH2:
		return Idle
	case EchoWSS, EchoH2:
		return Echo
	}
	return sc
}

// runSpec is one measured phase on the connections already open.
type runSpec struct {
	Scenario Scenario
	// Warmup runs the load before measuring; Duration is measured.
	Warmup, Duration time.Duration
	// Size is the message size in bytes (at least stampSize).
	Size int
	// Rate, for echo, is messages per second over all connections of
	// this process; for broadcast, messages published per second. Zero
	// is closed loop.
	Rate float64
	// Publisher: for broadcast, one connection of this process publishes.
	Publisher bool
	// Window bounds the broadcast messages in flight in closed loop: the
	// next is published when one has reached every connection of the
	// publisher's process (default 1).
	Window int
	// Concurrency is the number of churn cycles in flight.
	Concurrency int
	// Batch, for broadcast in closed loop, is the number of messages the
	// publisher writes at once, as one write (default 1); Window should
	// be a multiple of it.
	Batch int `json:",omitempty"`
	// Topics, PerConn and Publishers shape the topics scenario: the
	// first Publishers connections of the process publish, and the
	// others (numbered from First over every process) subscribe to
	// PerConn of Topics topics each (see topicsOf).
	Topics, PerConn, Publishers, First int `json:",omitempty"`
	// Gather, for the fan-out scenarios, is how long an event loop waits
	// before its next epoll_wait when the last returned few events, so
	// that a server writing its frames one at a time does not wake the
	// client for each: it adds at most Gather to a delivery's measured
	// latency and takes about half the client's CPU per delivery then.
	Gather time.Duration `json:",omitempty"`
	// PerMessage, for broadcast, lists in runResult.Messages when each
	// message reached the last connection of this process, so that the
	// fan-out over several processes can be worked out (multiClient sets
	// it).
	PerMessage bool `json:",omitempty"`
}

// runResult is what a phase measured, over its Duration (not the warmup).
type runResult struct {
	// Sent and Received count messages (broadcast: Received counts
	// deliveries to every connection).
	Sent, Received int64
	// Completed counts broadcast messages that reached every connection
	// of the publisher's process, or churn cycles done; Incomplete the
	// broadcasts that timed out.
	Completed, Incomplete int64
	// Errors counts connections lost or churn cycles failed.
	Errors     int64
	FirstError string `json:",omitempty"`
	Elapsed    time.Duration
	// Latency, in µs: echo round trip, broadcast delivery, churn cycle.
	Latency *hdrhistogram.Snapshot `json:",omitempty"`
	// Completion, in µs: the time for a broadcast to reach every
	// connection of the publisher's process.
	Completion *hdrhistogram.Snapshot `json:",omitempty"`
	// CPU is the client's own CPU time during the phase.
	CPU time.Duration
	// Lag is how late, at most, the client sent a message of a fixed
	// rate after the time it was due, in the measured time.
	Lag time.Duration `json:",omitempty"`
	// Busy is the share of the measured time the busiest event loop
	// spent out of epoll_wait (0 to 1): near 1, the client was the
	// ceiling.
	Busy float64 `json:",omitempty"`
	// Open is the number of connections still open at the end.
	Open int
	// From and End bound the measured time (Unix ns).
	From, End int64 `json:",omitempty"`
	// Messages, with runSpec.PerMessage, are the broadcast messages that
	// reached every connection of this process, warmup included.
	Messages []messageDone `json:",omitempty"`
}

// messageDone is when a broadcast message, sent at Sent, reached the last
// connection of one client process (times in Unix ns).
type messageDone struct {
	Seq  uint64 `json:"s"`
	Sent int64  `json:"t"`
	Last int64  `json:"l"`
}

// loadClient is one load-generating process, or several behind one interface.
type loadClient interface {
	Connect(ctx context.Context, spec connectSpec) (connectResult, error)
	Run(ctx context.Context, spec runSpec) (runResult, error)
	Close() error
}

// Histogram bounds: 1 µs to 100 s, 3 significant figures.
const (
	histMin   = 1
	histMax   = 100_000_000
	histSigFi = 3
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSigFi) }

// recordUS records a duration in nanoseconds into h, in µs, clamped.
func recordUS(h *hdrhistogram.Histogram, ns int64) {
	us := ns / 1000
	if us < histMin {
		us = histMin
	} else if us > histMax {
		us = histMax
	}
	_ = h.RecordValue(us)
}

// mergeSnap adds snapshot s into *dst (a nil *dst starts empty).
func mergeSnap(dst **hdrhistogram.Snapshot, s *hdrhistogram.Snapshot) {
	if s == nil {
		return
	}
	if *dst == nil {
		*dst = s
		return
	}
	h := hdrhistogram.Import(*dst)
	h.Merge(hdrhistogram.Import(s))
	*dst = h.Export()
}

// mergeConnect combines the results of several processes.
func mergeConnect(rs []connectResult) connectResult {
	var out connectResult
	for _, r := range rs {
		out.Opened += r.Opened
		out.Failed += r.Failed
		out.Elapsed = max(out.Elapsed, r.Elapsed)
		if out.FirstError == "" {
			out.FirstError = r.FirstError
		}
		mergeSnap(&out.Handshake, r.Handshake)
		out.CPU += r.CPU
	}
	return out
}

// mergeRun combines the results of several processes.
func mergeRun(rs []runResult) runResult {
	var out runResult
	for _, r := range rs {
		out.Sent += r.Sent
		out.Received += r.Received
		out.Completed += r.Completed
		out.Incomplete += r.Incomplete
		out.Errors += r.Errors
		if out.FirstError == "" {
			out.FirstError = r.FirstError
		}
		out.Elapsed = max(out.Elapsed, r.Elapsed)
		mergeSnap(&out.Latency, r.Latency)
		mergeSnap(&out.Completion, r.Completion)
		out.CPU += r.CPU
		out.Lag = max(out.Lag, r.Lag)
		out.Busy = max(out.Busy, r.Busy)
		out.Open += r.Open
		if out.End == 0 {
			out.From, out.End = r.From, r.End
		}
	}
	return out
}

// defaultSources returns n source addresses starting at 127.0.0.(2+first).
func defaultSources(n, first int) []string {
	out := make([]string, 0, n)
	for i := range n {
		k := 2 + first + i
		out = append(out, fmt.Sprintf("127.%d.%d.%d", 0, k/256, k%256))
	}
	return out
}

// parseSources checks that every source is an IPv4 address in
// 127.0.0.0/8: the benchmark never sends traffic off this machine.
func parseSources(srcs []string) ([][4]byte, error) {
	var out [][4]byte
	for _, s := range srcs {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() || !a.IsLoopback() {
			return nil, fmt.Errorf("bench: source address %q is not an IPv4 loopback address", s)
		}
		out = append(out, a.As4())
	}
	return out, nil
}

// parseTarget checks that the target is an IPv4 loopback address.
func parseTarget(addr string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return ap, fmt.Errorf("bench: target %q: %v", addr, err)
	}
	if !ap.Addr().Is4() || !ap.Addr().IsLoopback() {
		return ap, fmt.Errorf("bench: target %q is not an IPv4 loopback address", addr)
	}
	return ap, nil
}
