package bench

import (
	"errors"
	"fmt"
	"math"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// The fan-out scenarios: broadcast (closed loop), broadcast-rate (a fixed
// offered rate), topics (subscriptions, then publishes at a fixed rate)
// and generator (the load generator's own capacity).

// subscribeTimeout bounds the topics scenario's subscribe phase.
const subscribeTimeout = time.Minute

// Limits on the client's own lateness at a fixed rate, past which a result
// is flagged: the generator, not the server, may have set the figures.
const (
	maxLag  = 50 * time.Millisecond // a message sent this long after it was due
	maxBusy = 0.9                   // share of the time a client event loop was busy
)

// connectFanout opens n connections at -ramp and lets the server take in
// the last ones: a server adds a connection to its broadcast set, or
// starts reading its subscribe request, after it has sent the 101.
func (b *bout) connectFanout(n int) (connectResult, error) {
	cr, err := b.connect(n, b.cfg.Ramp)
	if err != nil {
		return cr, err
	}
	return cr, b.settle(500 * time.Millisecond)
}

func (b *bout) broadcast() error {
	if _, err := b.connectFanout(b.cfg.BroadcastConns); err != nil {
		return err
	}
	spec := runSpec{Scenario: Broadcast, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, Size: b.cfg.Size,
		Publisher: true, Window: b.cfg.Window, Gather: b.cfg.Gather}
	r, cpu, err := b.measure("broadcasting", spec)
	if err != nil {
		return err
	}
	res := b.res
	if b.procs > 1 {
		res.note("the closed loop was paced by the publisher's process (1 of %d): the next message left when the last had reached its connections; the fan-out figures cover every process", b.procs)
	}
	res.add("connections", "", "", float64(r.Open))
	res.add("broadcasts/s", "1/s", "higher", float64(r.Completed)/b.cfg.Duration.Seconds())
	b.addDeliveries(r, cpu, math.NaN())
	return nil
}

// broadcastRate is the broadcast-rate scenario: one publisher at a fixed
// offered rate, meant to be above what the servers sustain.
func (b *bout) broadcastRate() error {
	if _, err := b.connectFanout(b.cfg.RateConns); err != nil {
		return err
	}
	spec := runSpec{Scenario: Broadcast, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, Size: b.cfg.Size,
		Rate: b.cfg.BroadcastRate, Publisher: true, Gather: b.cfg.Gather}
	r, cpu, err := b.measure(fmt.Sprintf("publishing %s msgs/s", formatValue(b.cfg.BroadcastRate)), spec)
	if err != nil {
		return err
	}
	secs := b.cfg.Duration.Seconds()
	b.res.add("connections", "", "", float64(r.Open))
	b.res.add("broadcasts/s", "1/s", "higher", float64(r.Completed)/secs)
	b.addOffered(spec.Rate, r, float64(r.Sent)*float64(r.Open)/secs)
	b.addDeliveries(r, cpu, float64(r.Sent)*float64(r.Open)/secs)
	return nil
}

// generator measures the load generator: the raw TCP server in broadcast
// mode hands every connection the publisher's frames as it wrote them,
// GenBatch frames a write, GenWindow in flight (closed loop), so the
// server's work is one write per connection and batch, and what the
// client can read and parse shows.
func (b *bout) generator() error {
	if _, err := b.connectFanout(b.cfg.RateConns); err != nil {
		return err
	}
	spec := runSpec{Scenario: Broadcast, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, Size: b.cfg.Size,
		Publisher: true, Batch: b.cfg.GenBatch, Window: genWindow * b.cfg.GenBatch, Gather: b.cfg.Gather}
	r, cpu, err := b.measure("reading", spec)
	if err != nil {
		return err
	}
	res := b.res
	secs := b.cfg.Duration.Seconds()
	d := float64(r.Received) / secs
	res.add("connections", "", "", float64(r.Open))
	res.add("frames per write", "", "", float64(b.cfg.GenBatch))
	res.add("deliveries/s", "1/s", "higher", d)
	res.add("deliveries/s per client core", "1/s", "higher", perCore(d, cpu.client))
	res.add("client CPU per delivery", "µs", "lower", cpuPer(d, cpu.client))
	res.add("client loop busy", "%", "", 100*r.Busy)
	b.addCPU("", "", cpu)
	res.add("server CPU per delivery", "µs", "", cpuPer(d, cpu.server))
	return nil
}

// hasValues reports whether s holds any value.
func hasValues(s *hdrhistogram.Snapshot) bool {
	return s != nil && hdrhistogram.Import(s).TotalCount() > 0
}

// genWindow is the generator scenario's batches in flight.
const genWindow = 4

// topics is the topics scenario: TopicsConns connections subscribe to
// TopicsPerConn of Topics topics each (topicsOf), then TopicsPublishers
// more connections publish at TopicsRate.
func (b *bout) topics() error {
	cfg := b.cfg
	before, err := b.memory()
	if err != nil {
		return err
	}
	cr, err := b.connectFanout(cfg.TopicsConns + cfg.TopicsPublishers)
	if err != nil {
		return err
	}
	conns, err := b.memory()
	if err != nil {
		return err
	}
	shape := runSpec{Topics: cfg.Topics, PerConn: cfg.TopicsPerConn, Publishers: cfg.TopicsPublishers}
	sub := shape
	sub.Scenario, sub.Duration = topicsSubscribe, subscribeTimeout
	stop := b.prog.phase(b.label+": subscribing", 0, nil)
	t0 := time.Now()
	r, err := b.client.Run(b.ctx, sub)
	took := time.Since(t0)
	stop()
	if err != nil {
		return err
	}
	wanted := int64(cr.Opened - cfg.TopicsPublishers)
	if r.Completed < wanted {
		b.res.warn("subscribing: %d of %d subscribe requests answered in %v", r.Completed, wanted, took.Round(time.Millisecond))
	}
	if r.Completed == 0 {
		return errors.New("no subscribe request was answered")
	}
	subs, err := b.memory()
	if err != nil {
		return err
	}
	res := b.res
	nsubs := float64(r.Completed) * float64(min(cfg.TopicsPerConn, cfg.Topics))
	res.add("subscribers", "", "", float64(r.Completed))
	res.add("subscriptions", "", "", nsubs)
	res.add("subscriptions/s", "1/s", "", nsubs/took.Seconds())
	if !before.gc || !conns.gc || !subs.gc {
		res.warn("the server's /gc did not answer: memory read without a forced collection")
	}
	if n := float64(cr.Opened); n > 0 {
		res.add("server RSS per connection", "KiB", "lower", float64(conns.rss-before.rss)/1024/n)
		if before.ok && conns.ok {
			res.add("server heap per connection", "KiB", "lower", (conns.heap-before.heap)/1024/n)
		}
	}
	res.add("server RSS per subscription", "B", "lower", float64(subs.rss-conns.rss)/nsubs)
	if conns.ok && subs.ok {
		res.add("server heap per subscription", "B", "lower", (subs.heap-conns.heap)/nsubs)
	}

	pub := shape
	pub.Scenario, pub.Warmup, pub.Duration, pub.Size, pub.Rate = Topics, cfg.Warmup, cfg.Duration, cfg.Size, cfg.TopicsRate
	pub.Gather = cfg.Gather
	r, cpu, err := b.measure(fmt.Sprintf("publishing %s msgs/s", formatValue(cfg.TopicsRate)), pub)
	if err != nil {
		return err
	}
	secs := cfg.Duration.Seconds()
	offered := float64(r.Sent) * nsubs / float64(cfg.Topics) / secs
	b.addOffered(pub.Rate, r, offered)
	b.addDeliveries(r, cpu, offered)
	return nil
}

// addOffered adds what a fixed-rate phase offered (messages/s published,
// deliveries/s they make), and warns when the client fell short of rate
// or behind its schedule.
func (b *bout) addOffered(rate float64, r runResult, offered float64) {
	res := b.res
	sent := float64(r.Sent) / b.cfg.Duration.Seconds()
	res.add("published/s", "1/s", "", sent)
	res.add("offered deliveries/s", "1/s", "", offered)
	if sent < 0.95*rate {
		res.warn("the client published %.0f msgs/s of the %.0f asked", sent, rate)
	}
	if r.Lag > maxLag {
		res.warn("the client sent a message %v after it was due", r.Lag.Round(time.Millisecond))
	}
}

// addDeliveries adds the figures of a fan-out phase: deliveries/s (and,
// at a fixed rate, their share of offered), per core of the server, the
// server's and the client's CPU per delivery, the delivery latency, the
// fan-out time when broadcasts were tracked, CPU and RSS.
func (b *bout) addDeliveries(r runResult, cpu cpuUse, offered float64) {
	res := b.res
	d := float64(r.Received) / b.cfg.Duration.Seconds()
	res.add("deliveries/s", "1/s", "higher", d)
	if offered > 0 {
		res.add("delivered", "% of offered", "higher", 100*d/offered)
	}
	res.add("deliveries/s per server core", "1/s", "higher", perCore(d, cpu.server))
	res.add("server CPU per delivery", "µs", "lower", cpuPer(d, cpu.server))
	if hasValues(r.Completion) {
		p50, p99, _ := quantiles(r.Completion)
		res.add("fan-out p50", "ms", "lower", p50/1000)
		res.add("fan-out p99", "ms", "lower", p99/1000)
	}
	d50, d99, d999 := quantiles(r.Latency)
	res.add("delivery p50", "ms", "lower", d50/1000)
	res.add("delivery p99", "ms", "lower", d99/1000)
	res.add("delivery p99.9", "ms", "lower", d999/1000)
	b.addCPU("", "", cpu)
	res.add("client CPU per delivery", "µs", "", cpuPer(d, cpu.client))
	if offered > 0 {
		res.add("client send lag", "ms", "", float64(r.Lag)/1e6)
	}
	res.add("client loop busy", "%", "", 100*r.Busy)
	if r.Busy > maxBusy {
		res.warn("a client event loop was busy %.0f%% of the time: the client may have been the ceiling", 100*r.Busy)
	}
	b.addRSS()
}

// describeFanout says in words what broadcast-rate, topics and generator
// measure under cfg.
func describeFanout(sc Scenario, cfg *Config) string {
	measured := fmt.Sprintf("%v measured after a %v warmup%s", cfg.Duration, cfg.Warmup, gatherNote(cfg))
	switch sc {
	case BroadcastRate:
		return fmt.Sprintf("%d connections to /broadcast, one of which publishes %d-byte messages at a fixed rate of %s msgs/s (%s deliveries/s offered), which the server sends to all of them (the publisher too); %s; delivery latency is from the time each message was due, and deliveries/s counts those received in the measured time", cfg.RateConns, cfg.Size, formatValue(cfg.BroadcastRate), formatValue(cfg.BroadcastRate*float64(cfg.RateConns)), measured)
	case Topics:
		per := float64(cfg.TopicsConns) * float64(min(cfg.TopicsPerConn, cfg.Topics)) / float64(cfg.Topics)
		return fmt.Sprintf("%d connections to /topics each subscribe to %d of %d topics (connection i to topics %d·i+j mod %d: about %s subscribers a topic), then %d more connections publish %d-byte messages to the topics in turn at a fixed rate of %s msgs/s (about %s deliveries/s offered); memory is read after the server's /gc before connecting, before subscribing and after; %s; delivery latency is from the time each message was due", cfg.TopicsConns, cfg.TopicsPerConn, cfg.Topics, cfg.TopicsPerConn, cfg.Topics, formatValue(per), cfg.TopicsPublishers, cfg.Size, formatValue(cfg.TopicsRate), formatValue(cfg.TopicsRate*per), measured)
	case Generator:
		return fmt.Sprintf("the load generator's own capacity: %d connections to the raw TCP server in broadcast mode, one of which writes %d-byte WebSocket frames (unmasked, as a server sends them) %d to a write, %d writes in flight (closed loop); the server writes each batch as it read it to every connection, so each client read holds several frames, as from a server that coalesces its writes; %s", cfg.RateConns, cfg.Size, cfg.GenBatch, genWindow, measured)
	}
	return string(sc)
}

// gatherNote says how the client gathers events in the fan-out
// scenarios (runSpec.Gather).
func gatherNote(cfg *Config) string {
	if cfg.Gather <= 0 {
		return ""
	}
	return fmt.Sprintf("; a client event loop whose last wait returned fewer than %d events waits %v before the next, so that frames written one at a time do not wake it for each (at most that much is added to a delivery's latency)", gatherBelow, cfg.Gather)
}
