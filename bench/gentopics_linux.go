//go:build linux

package bench

import "slices"

// The topics scenario on the load generator (see topics.go for the
// protocol): a subscribe phase, then a publish phase at a fixed rate.

// subscribe starts a loop's subscribe phase: its first rp.nPubs
// connections become its publishers, and every other sends its subscribe
// request; the phase ends when each has been answered (housekeeping).
func (l *loop) subscribe(rp *runPhase) {
	np := min(rp.nPubs, len(l.open))
	l.pubs = append(l.pubs[:0], l.open[:np]...)
	// A write that fails closes its connection, which reorders l.open.
	subs := slices.Clone(l.open[np:])
	rp.want = len(subs)
	for k, c := range subs {
		if c.state != stOpen {
			continue
		}
		l.tbuf = appendSubscribe(l.tbuf[:0], rp.spec.First+rp.subBase+k, rp.spec.PerConn, rp.spec.Topics)
		l.sendFrame(c, opText, l.tbuf)
	}
}

// publishTopic publishes the next message of a fixed rate, stamped t, on
// the loop's next publisher, to the next topic in turn. It reports false
// if no publisher is open.
func (l *loop) publishTopic(rp *runPhase, t int64) bool {
	for range len(l.pubs) {
		rp.rr = (rp.rr + 1) % len(l.pubs)
		c := l.pubs[rp.rr]
		if c.state != stOpen {
			continue
		}
		rp.seq++
		topic := rp.topic
		rp.topic = (rp.topic + 1) % rp.spec.Topics
		l.wbuf = l.appendMsg(l.wbuf[:0], topic, t, rp.seq)
		l.write(c, l.wbuf)
		return true
	}
	return false
}

// planTopics shares a topics phase out over the loops, given each loop's
// open connections and publishers: for the subscribe phase, which
// connections of each loop publish and the number of its first
// subscriber; for the publish phase, each loop's rate (in proportion to
// its publishers) and first topic.
func planTopics(spec runSpec, rps []*runPhase, open, pubs []int) {
	nl := len(rps)
	switch spec.Scenario {
	case topicsSubscribe:
		base := 0
		for i, rp := range rps {
			rp.nPubs = min(share(spec.Publishers, i, nl), open[i])
			rp.subBase = base
			base += open[i] - rp.nPubs
		}
	case Topics:
		total := 0
		for _, n := range pubs {
			total += n
		}
		for i, rp := range rps {
			if total > 0 {
				rp.rate = spec.Rate * float64(pubs[i]) / float64(total)
			}
			rp.topic = i * spec.Topics / nl
		}
	}
}
