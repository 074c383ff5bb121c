// Package metrics counts what a ws4go server and its connections do into
// Prometheus collectors. A *Metrics is an observe.Observer: set it as a
// server's Observer.
//
//	m, err := metrics.New(prometheus.DefaultRegisterer, nil)
//	if err != nil { ... }
//	srv := &server.Server{NewHandler: handler.NewEcho, Observer: m}
//	m.Watch(srv) // the gauges read from srv.Stats()
//	http.Handle("/metrics", promhttp.Handler())
//
// The metrics (all with the prefix ws4go_, base units, _total on counters):
//
//	ws4go_connections_open                      gauge     WebSocket connections open now
//	ws4go_connections_accepted_total            counter   TCP connections accepted (an upgrade request on the net/http path)
//	ws4go_connections_opened_total{http}        counter   handshakes that succeeded, by the HTTP version that carried them
//	ws4go_handshakes_rejected_total{status,reason} counter handshakes refused, by HTTP status and reason
//	ws4go_received_messages_total{type}         counter   data messages (text, binary) and control frames (ping, pong, close) received
//	ws4go_received_bytes_total{type}            counter   their payload bytes
//	ws4go_sent_messages_total{type}             counter   the same, sent (or queued)
//	ws4go_sent_bytes_total{type}                counter   their payload bytes
//	ws4go_connections_closed_total{code,initiator} counter connections ended, by the close code the handler got and who sent the first close frame
//	ws4go_heartbeat_timeouts_total              counter   connections dropped for not answering pings
//	ws4go_write_queue_overflows_total           counter   connections closed because the peer did not read
//	ws4go_limit_closes_total{limit}             counter   connections ended for passing a limit (message_timeout, write_timeout, budget)
//	ws4go_panics_total{site}                    counter   panics recovered in user code (callback, factory, origin, accept)
//	ws4go_buffered_bytes                        gauge     bytes held across all connections (the bound is Server.MaxBufferedBytes)
//	ws4go_handler_duration_seconds              histogram time spent in each handler callback
//	ws4go_broadcast_recipients                  histogram connections each broadcast or publish was queued for
//	ws4go_publish_skipped_total                 counter   deliveries a broadcast or publish skipped (Server.SlowSubscribers SlowSkip)
//	ws4go_topics                                gauge     topics with subscribers
//	ws4go_subscriptions                         gauge     subscriptions of all connections
//	ws4go_netpoll_workers_busy                  gauge     netpoll workers running a connection now (0 on the goroutine engine)
//	ws4go_netpoll_worker_queue_length           gauge     ready connections waiting for a netpoll worker
//
// The label values are bounded: http is "1.1" (an upgrade) or "2" (an RFC
// 8441 stream; "other" for any other version); type is one of text,
// binary, ping, pong, close; initiator one of server, peer, none (the connection ended without
// a close frame); code is the number of a code in 1000–1015, "3xxx" for
// 3000–3999, "4xxx" for 4000–4999, else "other"; reason is one of
// malformed, method, http_version, host, not_upgrade, key, no_version,
// extension (400), origin, host_not_allowed (403), accept (the server's
// Accept hook refused; labelled 403 whatever status the hook answered
// with), not_found (404), timeout
// (408: the head did not arrive in time), version (426), too_large (431),
// internal, panic (500), shutting_down, max_connections (503: the server
// holds Server.MaxConnections WebSockets), and, labelled status 0 (no
// HTTP response: the TLS handshake failed), tls_timeout, tls_closed,
// tls_not_tls, tls_unsupported, tls_certificate, tls_other, and
// max_h2_connections (HTTP/2 refused: Server.MaxH2Connections reached):
// see observe.Reason.
//
// The hooks are cheap: every label child the per-message hooks use is
// resolved once, in New, and each hook is one or two atomic adds (the
// handler histogram a few more). A server whose Observer is nil pays
// nothing but a nil check.
package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/observe"
	"github.com/ws4go/ws4go/server"
)

// DefHandlerBuckets are the default buckets of
// ws4go_handler_duration_seconds: 10 µs to 10 s.
var DefHandlerBuckets = []float64{
	.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005,
	.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10,
}

// DefBroadcastBuckets are the default buckets of ws4go_broadcast_recipients.
var DefBroadcastBuckets = []float64{0, 1, 10, 100, 1000, 10000, 100000}

// Options tunes the metrics; the zero value is the default.
type Options struct {
	// ConstLabels are added to every metric (to tell apart several
	// servers in one process, say).
	ConstLabels prometheus.Labels
	// HandlerBuckets and BroadcastBuckets replace the histograms'
	// default buckets.
	HandlerBuckets, BroadcastBuckets []float64
}

// StatsSource is what Watch reads the gauges of a server's state from: a
// *server.Server.
type StatsSource interface {
	Stats() server.Stats
}

// Metrics implements observe.Observer with Prometheus collectors. It is
// also a prometheus.Collector of all of them. Safe for concurrent use.
type Metrics struct {
	open        prometheus.Gauge
	accepted    prometheus.Counter
	openedVec   *prometheus.CounterVec
	opened      [2]prometheus.Counter // HTTP/1.1, HTTP/2
	openedOther lazyCounter
	rejected    [observe.NumReasons]prometheus.Counter

	recvMsgs, recvBytes, sentMsgs, sentBytes [observe.NumKinds]prometheus.Counter

	closedVec *prometheus.CounterVec
	closed    [numCodes][numSides]lazyCounter

	heartbeat prometheus.Counter
	overflow  prometheus.Counter
	skipped   prometheus.Counter
	panics    [observe.NumSites]prometheus.Counter
	limits    [observe.NumLimits]prometheus.Counter
	handler   prometheus.Histogram
	fanout    prometheus.Histogram

	collectors []prometheus.Collector

	mu      sync.Mutex
	sources []StatsSource
}

var _ observe.Observer = (*Metrics)(nil)

// New makes the metrics with options o (nil: the defaults) and registers
// them on reg (nil: not registered; register the *Metrics, a Collector,
// yourself). It is the one constructor: the error is a registration
// conflict on reg.
func New(reg prometheus.Registerer, o *Options) (*Metrics, error) {
	if o == nil {
		o = &Options{}
	}
	m := &Metrics{}
	cl := o.ConstLabels
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: cl})
		m.collectors = append(m.collectors, c)
		return c
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: cl}, labels)
		m.collectors = append(m.collectors, c)
		return c
	}
	gaugeFunc := func(name, help string, f func() float64) {
		m.collectors = append(m.collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: cl}, f))
	}
	histogram := func(name, help string, buckets, def []float64) prometheus.Histogram {
		if buckets == nil {
			buckets = def
		}
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, ConstLabels: cl, Buckets: buckets})
		m.collectors = append(m.collectors, h)
		return h
	}

	m.open = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ws4go_connections_open", Help: "WebSocket connections open now.", ConstLabels: cl})
	m.collectors = append(m.collectors, m.open)
	m.accepted = counter("ws4go_connections_accepted_total", "TCP connections accepted (their opening handshake started).")
	m.openedVec = counterVec("ws4go_connections_opened_total", "WebSocket handshakes that succeeded, by the HTTP version that carried them.", "http")
	for i := range m.opened {
		m.opened[i] = m.openedVec.WithLabelValues(httpLabels[i])
	}
	rejected := counterVec("ws4go_handshakes_rejected_total", "Opening handshakes refused, by HTTP status and reason.", "status", "reason")
	for r := range observe.NumReasons {
		m.rejected[r] = rejected.WithLabelValues(strconv.Itoa(r.Status()), r.String())
	}

	recvMsgs := counterVec("ws4go_received_messages_total", "Data messages and control frames received, by type.", "type")
	recvBytes := counterVec("ws4go_received_bytes_total", "Payload bytes of the messages and control frames received, by type.", "type")
	sentMsgs := counterVec("ws4go_sent_messages_total", "Data messages and control frames sent or queued, by type.", "type")
	sentBytes := counterVec("ws4go_sent_bytes_total", "Payload bytes of the messages and control frames sent or queued, by type.", "type")
	for k := range observe.NumKinds {
		name := k.String()
		m.recvMsgs[k] = recvMsgs.WithLabelValues(name)
		m.recvBytes[k] = recvBytes.WithLabelValues(name)
		m.sentMsgs[k] = sentMsgs.WithLabelValues(name)
		m.sentBytes[k] = sentBytes.WithLabelValues(name)
	}

	m.closedVec = counterVec("ws4go_connections_closed_total",
		"WebSocket connections ended, by the close code their handler got (1006: no close frame) and the side that sent the first close frame (none: no closing handshake).",
		"code", "initiator")
	m.heartbeat = counter("ws4go_heartbeat_timeouts_total", "Connections dropped for not answering the heartbeat ping.")
	m.overflow = counter("ws4go_write_queue_overflows_total", "Connections closed because their peer did not read what was queued for it.")
	panics := counterVec("ws4go_panics_total", "Panics recovered in user code, by where they happened (callback, factory, origin, accept).", "site")
	for k := range observe.NumSites {
		m.panics[k] = panics.WithLabelValues(k.String())
	}
	limits := counterVec("ws4go_limit_closes_total", "Connections ended for passing a limit: message_timeout (a message did not arrive whole in time), write_timeout (queued frames made no progress), budget (the server-wide bound on buffered bytes).", "limit")
	for k := range observe.NumLimits {
		m.limits[k] = limits.WithLabelValues(k.String())
	}
	gaugeFunc("ws4go_buffered_bytes", "Bytes held now for partial messages, inflater output and write queues across all connections (the bound is Server.MaxBufferedBytes).", func() float64 {
		return float64(m.stats().Buffered)
	})
	m.handler = histogram("ws4go_handler_duration_seconds", "Time spent in each handler callback.", o.HandlerBuckets, DefHandlerBuckets)
	m.fanout = histogram("ws4go_broadcast_recipients", "Connections each broadcast or publish to a topic was queued for.", o.BroadcastBuckets, DefBroadcastBuckets)
	m.skipped = counter("ws4go_publish_skipped_total", "Deliveries of a broadcast or publish skipped because the subscriber's write queue had no room (Server.SlowSubscribers SlowSkip).")
	gaugeFunc("ws4go_topics", "Topics with at least one subscriber.", func() float64 {
		return float64(m.stats().Topics)
	})
	gaugeFunc("ws4go_subscriptions", "Subscriptions to topics of all connections.", func() float64 {
		return float64(m.stats().Subscriptions)
	})
	gaugeFunc("ws4go_netpoll_workers_busy", "Netpoll engine workers running a connection now.", func() float64 {
		return float64(m.stats().WorkersBusy)
	})
	gaugeFunc("ws4go_netpoll_worker_queue_length", "Ready connections waiting for a netpoll engine worker.", func() float64 {
		return float64(m.stats().WorkerQueue)
	})

	if reg != nil {
		if err := reg.Register(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Watch makes the gauges that read a server's Stats (ws4go_buffered_bytes,
// ws4go_topics, ws4go_subscriptions and the netpoll worker gauges) report
// s's, summed over every source watched; without it they stay at 0. Call it
// once the server is made; it reads s only when metrics are collected.
func (m *Metrics) Watch(s StatsSource) {
	if s == nil {
		return
	}
	m.mu.Lock()
	m.sources = append(m.sources, s)
	m.mu.Unlock()
}

func (m *Metrics) stats() server.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	var sum server.Stats
	for _, s := range m.sources {
		st := s.Stats()
		sum.Connections += st.Connections
		sum.WorkersBusy += st.WorkersBusy
		sum.WorkerQueue += st.WorkerQueue
		sum.Buffered += st.Buffered
		sum.Topics += st.Topics
		sum.Subscriptions += st.Subscriptions
	}
	return sum
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors {
		c.Collect(ch)
	}
}

// Accepted implements observe.Observer.
func (m *Metrics) Accepted() { m.accepted.Inc() }

// Rejected implements observe.Observer.
func (m *Metrics) Rejected(r observe.Reason) {
	if r < observe.NumReasons {
		m.rejected[r].Inc()
	}
}

// Opened implements observe.Observer.
func (m *Metrics) Opened() { m.open.Inc() }

// httpLabels are the values of ws4go_connections_opened_total's http label.
var httpLabels = [...]string{"1.1", "2", "other"}

// OpenedHTTP implements observe.Observer: it counts the handshake.
func (m *Metrics) OpenedHTTP(major int) {
	if major == 1 || major == 2 {
		m.opened[major-1].Inc()
		return
	}
	m.openedOther.get(m.openedVec, httpLabels[2]).Inc()
}

// Closed implements observe.Observer.
func (m *Metrics) Closed(code handler.CloseCode, by observe.Side) {
	m.open.Dec()
	if by > observe.Peer {
		by = observe.Nobody
	}
	ci := codeIndex(code)
	m.closed[ci][by].get(m.closedVec, codeLabels[ci], by.String()).Inc()
}

// Received implements observe.Observer.
func (m *Metrics) Received(k observe.Kind, bytes int) {
	if k < observe.NumKinds {
		m.recvMsgs[k].Inc()
		m.recvBytes[k].Add(float64(bytes))
	}
}

// Sent implements observe.Observer.
func (m *Metrics) Sent(k observe.Kind, bytes int) {
	if k < observe.NumKinds {
		m.sentMsgs[k].Inc()
		m.sentBytes[k].Add(float64(bytes))
	}
}

// HandlerDone implements observe.Observer.
func (m *Metrics) HandlerDone(d time.Duration) { m.handler.Observe(d.Seconds()) }

// HeartbeatTimeout implements observe.Observer.
func (m *Metrics) HeartbeatTimeout() { m.heartbeat.Inc() }

// WriteQueueOverflow implements observe.Observer.
func (m *Metrics) WriteQueueOverflow() { m.overflow.Inc() }

// Broadcast implements observe.Observer.
func (m *Metrics) Broadcast(n int) { m.fanout.Observe(float64(n)) }

// Skipped implements observe.Observer.
func (m *Metrics) Skipped(n int) { m.skipped.Add(float64(n)) }

// Panicked implements observe.Observer.
func (m *Metrics) Panicked(s observe.Site) {
	if s < observe.NumSites {
		m.panics[s].Inc()
	}
}

// Limited implements observe.Observer.
func (m *Metrics) Limited(l observe.Limit) {
	if l < observe.NumLimits {
		m.limits[l].Inc()
	}
}

// lazyCounter is a label child resolved on first use, then kept: close codes
// are many combinations, most never seen, so they are not exposed until
// they happen.
type lazyCounter struct {
	once sync.Once
	c    prometheus.Counter
}

func (l *lazyCounter) get(v *prometheus.CounterVec, labels ...string) prometheus.Counter {
	l.once.Do(func() { l.c = v.WithLabelValues(labels...) })
	return l.c
}

// Close codes as label values: 1000–1015 by number, then the ranges.
const (
	code3xxx = 16 + iota
	code4xxx
	codeOther
	numCodes
)

var codeLabels = func() (l [numCodes]string) {
	for i := range 16 {
		l[i] = strconv.Itoa(1000 + i)
	}
	l[code3xxx], l[code4xxx], l[codeOther] = "3xxx", "4xxx", "other"
	return l
}()

func codeIndex(c handler.CloseCode) int {
	switch {
	case c >= 1000 && c <= 1015:
		return int(c - 1000)
	case c >= 3000 && c <= 3999:
		return code3xxx
	case c >= 4000 && c <= 4999:
		return code4xxx
	}
	return codeOther
}

const numSides = int(observe.Peer) + 1
