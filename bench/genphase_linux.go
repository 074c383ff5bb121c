//go:build linux

package bench

import (
	"cmp"
	"errors"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// --- connect phase -------------------------------------------------------

func (l *loop) startConnect(cp *connectPhase) {
	l.cp = cp
	l.rampUp(time.Now().UnixNano())
	l.connectDone()
}

func (l *loop) rampUp(now int64) {
	cp := l.cp
	allowed := cp.n
	if cp.rate > 0 {
		allowed = min(cp.n, int(cp.rate*float64(now-cp.start)/1e9)+1)
	}
	for cp.started < allowed && len(cp.pending) < cp.maxPending {
		cp.started++
		c, err := l.dial(roleHeld, now)
		if err != nil {
			cp.failed++
			cp.last = now
			if cp.firstErr == "" {
				cp.firstErr = err.Error()
			}
			if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
				// Out of descriptors: the rest fail too.
				cp.failed += cp.n - cp.started
				cp.started = cp.n
			}
			continue
		}
		cp.pending[c] = struct{}{}
	}
}

func (l *loop) connectDone() {
	cp := l.cp
	if cp == nil || cp.opened+cp.failed < cp.n {
		return
	}
	l.cp = nil
	r := connectResult{Opened: cp.opened, Failed: cp.failed, FirstError: cp.firstErr, Handshake: cp.hist.Export()}
	if cp.last > cp.start {
		r.Elapsed = time.Duration(cp.last - cp.start)
	}
	cp.done <- r
}

func (l *loop) abortConnect() {
	cp := l.cp
	if cp == nil {
		return
	}
	for c := range cp.pending {
		l.fail(c, errors.New("aborted"))
	}
	cp.failed += cp.n - cp.started
	cp.started = cp.n
	l.connectDone()
}

// --- run phase -----------------------------------------------------------

func (l *loop) startRun(rp *runPhase) {
	if l.rp != rp {
		return // finished already (aborted)
	}
	rp.started = true
	now := time.Now().UnixNano()
	switch rp.spec.Scenario {
	case Echo:
		if rp.rate > 0 {
			l.startTicker(rp, now)
		} else {
			for _, c := range l.open {
				rp.seq++
				l.sendMsg(c, time.Now().UnixNano(), rp.seq)
			}
		}
	case Broadcast:
		if rp.publisher {
			rp.pubConn = l.open[0]
			if rp.rate > 0 {
				l.startTicker(rp, now)
			} else {
				l.publish(now)
			}
		}
	case topicsSubscribe:
		l.subscribe(rp)
	case Topics:
		if rp.rate > 0 && len(l.pubs) > 0 {
			l.startTicker(rp, now)
		}
	case Churn:
		rp.churn = map[*conn]struct{}{}
		rp.churnWant = rp.slots
		l.churnDial(now)
	}
}

// startTicker arms the timer that paces a fixed rate: every tick sends the
// messages due, each stamped with its tick's time, so a late sender shows
// as latency (no coordinated omission).
func (l *loop) startTicker(rp *runPhase, now int64) {
	rp.tick = max(int64(100*time.Microsecond), int64(1e9/rp.rate))
	rp.tick = min(rp.tick, int64(10*time.Millisecond))
	first := max(rp.start-now, 1000)
	_ = unix.TimerfdSettime(l.tfd, 0, &unix.ItimerSpec{
		Value:    unix.NsecToTimespec(first),
		Interval: unix.NsecToTimespec(rp.tick),
	}, nil)
}

func (l *loop) stopTicker() {
	_ = unix.TimerfdSettime(l.tfd, 0, &unix.ItimerSpec{}, nil)
}

// pace sends the messages of every tick due by now.
func (l *loop) pace(now int64) {
	rp := l.rp
	if rp.rate <= 0 {
		return
	}
	for {
		t := rp.start + rp.tickIdx*rp.tick
		if t > now || t >= rp.end {
			return
		}
		rp.tickIdx++
		due := int64(rp.rate*float64(rp.tickIdx*rp.tick)/1e9) - rp.scheduled
		for ; due > 0; due-- {
			rp.scheduled++
			if !l.sendDue(rp, t) {
				return
			}
			if t >= rp.from {
				rp.sent++
				rp.lag = max(rp.lag, now-t)
			}
		}
	}
}

// sendDue sends the next message of a fixed rate, stamped t: a broadcast
// on the publisher's connection, a publish on the next publisher's, an
// echo on the next connection's. It reports false if there is no
// connection to send on.
func (l *loop) sendDue(rp *runPhase, t int64) bool {
	switch {
	case rp.publisher:
		if rp.pubConn.state != stOpen {
			return false
		}
		rp.seq++
		l.armSlot(rp, t)
		l.sendMsg(rp.pubConn, t, rp.seq)
	case rp.spec.Scenario == Topics:
		return l.publishTopic(rp, t)
	default:
		if len(l.open) == 0 {
			return false
		}
		rp.rr = (rp.rr + 1) % len(l.open)
		rp.seq++
		l.sendMsg(l.open[rp.rr], t, rp.seq)
	}
	return true
}

func (l *loop) finishRun(now int64) {
	rp := l.rp
	if rp == nil {
		return
	}
	l.rp = nil
	l.stopTicker()
	for c := range rp.churn {
		l.closeConn(c, true)
	}
	var busy float64
	if rp.end > rp.from {
		busy = float64(rp.busy) / float64(rp.end-rp.from)
	}
	rp.done <- loopRun{runResult: runResult{
		Sent: rp.sent, Received: rp.recv, Completed: rp.completed, Incomplete: rp.incomplete,
		Errors: rp.errors, Open: len(l.open), FirstError: rp.firstErr,
		Latency: rp.hist.Export(), Completion: rp.comp.Export(),
		Lag: time.Duration(rp.lag), Busy: busy,
	}, track: rp.track}
}

// onMessage handles a complete message of opcode op from the server.
func (l *loop) onMessage(c *conn, op byte, head []byte, now int64) {
	rp := l.rp
	if rp != nil && rp.spec.Scenario == topicsSubscribe {
		if op == opText { // "ok": the server holds the subscriptions
			rp.completed++
		}
		return
	}
	if rp == nil || len(head) < stampSize {
		return
	}
	ts, seq := readStamp(head)
	if uint16(seq>>48) != rp.phase {
		return // a straggler from an earlier phase
	}
	seq &= 1<<48 - 1
	measured := now >= rp.from && now < rp.end
	switch rp.spec.Scenario {
	case Echo:
		if measured {
			rp.recv++
			recordUS(rp.hist, now-ts)
		}
		if rp.rate <= 0 && now < rp.end && c.state == stOpen {
			rp.seq++
			if measured {
				rp.sent++
			}
			l.sendMsg(c, now, rp.seq)
		}
	case Broadcast, Topics:
		if measured {
			rp.recv++
			recordUS(rp.hist, now-ts)
		}
		if rp.track != nil {
			t := rp.track[seq]
			if t == nil && len(rp.track) < maxTracked {
				t = &msgTrack{ts: ts}
				rp.track[seq] = t
			}
			if t != nil {
				t.got++
				t.last = now
			}
		}
		if bc := rp.bc; bc != nil && bc.pub != nil {
			s := &bc.slots[seq%bcastSlots]
			if s.seq.Load() == seq && s.got.Add(1) == bc.expected {
				if measured {
					rp.completed++
					recordUS(rp.comp, now-ts)
				}
				if !bc.fixed {
					pub := bc.pub
					if pub == l {
						l.broadcastDone(seq)
					} else {
						pub.do(func() { pub.broadcastDone(seq) })
					}
				}
			}
		}
	case Churn:
		if c.role == roleChurn && c.state == stOpen {
			if l.g.cfg.Raw {
				l.churnDone(c, now)
				return
			}
			c.state = stClosing
			l.sendFrame(c, opClose, []byte{0x03, 0xe8}) // 1000
		}
	}
}

// --- broadcast -----------------------------------------------------------

// armSlot readies the slot that counts the deliveries of broadcast message
// rp.seq, sent at ts.
func (l *loop) armSlot(rp *runPhase, ts int64) {
	s := &rp.bc.slots[rp.seq%bcastSlots]
	s.got.Store(0)
	s.ts.Store(ts)
	s.seq.Store(rp.seq)
}

// publish keeps Window messages in flight (closed loop), written Batch at
// a time (one write each).
func (l *loop) publish(now int64) {
	rp := l.rp
	if rp == nil || !rp.publisher || rp.bc.fixed {
		return
	}
	batch := rp.spec.Batch
	for rp.bc.window-len(rp.inflight) >= batch && now < rp.end && rp.pubConn.state == stOpen {
		l.wbuf = l.wbuf[:0]
		for range batch {
			rp.seq++
			rp.inflight = append(rp.inflight, inflightMsg{seq: rp.seq, ts: now})
			l.armSlot(rp, now)
			l.wbuf = l.appendMsg(l.wbuf, -1, now, rp.seq)
			if now >= rp.from {
				rp.sent++
			}
		}
		l.write(rp.pubConn, l.wbuf)
	}
}

// broadcastDone runs on the publisher's loop when message seq reached every
// connection.
func (l *loop) broadcastDone(seq uint64) {
	rp := l.rp
	if rp == nil || !rp.publisher {
		return
	}
	for i, m := range rp.inflight {
		if m.seq == seq {
			rp.inflight = append(rp.inflight[:i], rp.inflight[i+1:]...)
			break
		}
	}
	l.publish(time.Now().UnixNano())
}

func (l *loop) expireBroadcasts(now int64) {
	rp := l.rp
	for len(rp.inflight) > 0 && now-rp.inflight[0].ts > int64(broadcastTimeout) {
		s := &rp.bc.slots[rp.inflight[0].seq%bcastSlots]
		s.seq.Store(0)
		if rp.inflight[0].ts >= rp.from {
			rp.incomplete++
		}
		rp.inflight = rp.inflight[1:]
	}
}

// completeMessages adds up the loops' counts of each broadcast message and
// lists those that reached all expected connections of this process, in
// the order they were sent.
func completeMessages(tracks []map[uint64]*msgTrack, expected int64) []messageDone {
	sum := map[uint64]*msgTrack{}
	for _, tr := range tracks {
		for seq, t := range tr {
			if a := sum[seq]; a != nil {
				a.got += t.got
				a.last = max(a.last, t.last)
			} else {
				c := *t
				sum[seq] = &c
			}
		}
	}
	var out []messageDone
	for seq, t := range sum {
		if t.got >= expected {
			out = append(out, messageDone{Seq: seq, Sent: t.ts, Last: t.last})
		}
	}
	slices.SortFunc(out, func(a, b messageDone) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// --- churn ---------------------------------------------------------------

func (l *loop) churnDial(now int64) {
	rp := l.rp
	for rp.churnWant > 0 && now < rp.end {
		c, err := l.dial(roleChurn, now)
		if err != nil {
			rp.errors++
			if rp.firstErr == "" {
				rp.firstErr = err.Error()
			}
			return // retried on the next turn of the loop
		}
		rp.churnWant--
		rp.churn[c] = struct{}{}
	}
}

func (l *loop) churnDone(c *conn, now int64) {
	rp := l.rp
	l.closeConn(c, false)
	if rp == nil {
		return
	}
	delete(rp.churn, c)
	if now >= rp.from && now < rp.end {
		rp.completed++
		recordUS(rp.hist, now-c.started)
	}
	rp.churnWant++
	l.churnDial(now)
}

// --- teardown ------------------------------------------------------------

func (l *loop) shutdown() {
	if l.rp != nil {
		l.finishRun(time.Now().UnixNano())
	}
	if l.cp != nil {
		l.abortConnect()
	}
	for _, c := range l.byFD {
		if c != nil {
			l.closeConn(c, true)
		}
	}
	l.quit = true
}
