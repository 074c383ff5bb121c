package bench

func (b *bout) churn() error {
	spec := runSpec{Scenario: Churn, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, Size: b.cfg.Size, Concurrency: b.cfg.ChurnConc}
	return b.cycles(spec, "churning", "connections/s", "")
}

// handshakes is the handshake-wss scenario: full TLS and WebSocket
// handshakes, each connection closed after its handshake.
func (b *bout) handshakes() error {
	spec := runSpec{Scenario: HandshakeWSS, Warmup: b.cfg.Warmup, Duration: b.cfg.Duration, Concurrency: b.cfg.ChurnConc}
	return b.cycles(spec, "handshaking", "handshakes/s", "server CPU per handshake")
}

// cycles runs a scenario of connect-handshake-close cycles and reports
// their rate (as rate, "connections/s"), per server core, the server's CPU
// per cycle (as cpuRow, if named), the cycles' latency and failures.
func (b *bout) cycles(spec runSpec, phase, rate, cpuRow string) error {
	r, cpu, err := b.measure(phase, spec)
	if err != nil {
		return err
	}
	res := b.res
	n := float64(r.Completed) / b.cfg.Duration.Seconds()
	res.add(rate, "1/s", "higher", n)
	res.add(rate+" per server core", "1/s", "higher", perCore(n, cpu.server))
	if cpuRow != "" {
		res.add(cpuRow, "µs", "lower", cpuPer(n, cpu.server))
	}
	p50, p99, _ := quantiles(r.Latency)
	res.add("cycle p50", "ms", "lower", p50/1000)
	res.add("cycle p99", "ms", "lower", p99/1000)
	res.add("failed cycles", "", "lower", float64(r.Errors))
	b.addCPU("", "", cpu)
	b.addRSS()
	return nil
}
