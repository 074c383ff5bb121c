package bench

func (b *bout) idle() error {
	before, err := b.memory()
	if err != nil {
		return err
	}
	cr, err := b.connect(b.cfg.IdleConns, b.cfg.Ramp)
	if err != nil {
		return err
	}
	r, cpu, err := b.measure("holding", runSpec{Scenario: Idle, Duration: b.cfg.Hold})
	if err != nil {
		return err
	}
	held := r.Open
	res := b.res
	res.add("connections held", "", "", float64(held))
	if cr.Elapsed > 0 {
		res.add("handshakes/s", "1/s", "higher", float64(cr.Opened)/cr.Elapsed.Seconds())
	}
	_, p99, _ := quantiles(cr.Handshake)
	res.add("handshake p99", "ms", "lower", p99/1000)
	if g, ok := b.proc.goroutines(b.ctx); ok {
		res.add("server goroutines", "", "lower", g)
	}
	// Read before the collection: what the server holds in use.
	st, err := b.proc.stats()
	if err != nil {
		return err
	}
	after, err := b.memory()
	if err != nil {
		return err
	}
	if !before.gc || !after.gc {
		res.warn("the server's /gc did not answer: RSS read without a forced collection")
	}
	if held > 0 {
		res.add("server RSS per connection", "KiB", "lower", float64(after.rss-before.rss)/1024/float64(held))
		if before.ok && after.ok {
			res.add("server heap per connection", "KiB", "lower", (after.heap-before.heap)/1024/float64(held))
		}
	}
	res.add("server RSS", "MiB", "lower", float64(after.rss)/(1<<20))
	res.add("server RSS before collection", "MiB", "", float64(st.RSS)/(1<<20))
	res.add("server peak RSS", "MiB", "", float64(st.HWM)/(1<<20))
	res.add("server threads", "", "", float64(st.Threads))
	res.add("server CPU while idle", "%", "lower", cpu.server)
	res.add("client CPU while connecting", "%", "", pct(cr.CPU, cr.Elapsed))
	res.add("client CPU while idle", "%", "", cpu.client)
	res.add("rest of machine CPU while idle", "%", "", cpu.rest)
	return nil
}
