package bench

import (
	"errors"
	"fmt"
)

// echoClosed is the echo scenario's closed loop: the peak.
func (b *bout) echoClosed() error {
	if _, err := b.connect(b.cfg.EchoConns, 0); err != nil {
		return err
	}
	spec := runSpec{Scenario: Echo, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, Size: b.cfg.Size}
	r, cpu, err := b.measure("closed loop", spec)
	if err != nil {
		return err
	}
	res := b.res
	peak := float64(r.Received) / b.cfg.Duration.Seconds()
	if peak <= 0 {
		return errors.New("closed loop delivered nothing")
	}
	res.add("msgs/s", "1/s", "higher", peak)
	res.add("msgs/s per server core", "1/s", "higher", perCore(peak, cpu.server))
	res.add("server CPU per message", "µs", "lower", cpuPer(peak, cpu.server))
	p50, p99, p999 := quantiles(r.Latency)
	res.add("p50", "µs", "lower", p50)
	res.add("p99", "µs", "lower", p99)
	res.add("p99.9", "µs", "lower", p999)
	b.addCPU("", "", cpu)
	b.addRSS()
	return nil
}

// echoFixed is the echo scenario's fixed-rate phase, at rate messages/s
// (the same for every server).
func (b *bout) echoFixed(rate float64) error {
	if _, err := b.connect(b.cfg.EchoConns, 0); err != nil {
		return err
	}
	spec := runSpec{Scenario: Echo, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, Size: b.cfg.Size, Rate: rate}
	r, cpu, err := b.measure(fmt.Sprintf("fixed rate %s msgs/s", formatValue(rate)), spec)
	if err != nil {
		return err
	}
	res := b.res
	got := float64(r.Received) / b.cfg.Duration.Seconds()
	res.add("fixed rate", "1/s", "", rate)
	if got < 0.95*rate {
		res.warn("fixed rate: %.0f msgs/s delivered of %.0f offered", got, rate)
	}
	p50, p99, p999 := quantiles(r.Latency)
	res.add("p50 at fixed rate", "µs", "lower", p50)
	res.add("p99 at fixed rate", "µs", "lower", p99)
	res.add("p99.9 at fixed rate", "µs", "lower", p999)
	b.addCPU(" at fixed rate", "lower", cpu)
	return nil
}
