//go:build linux

package netpoll

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// work is a worker's loop: take a batch of events, process them one by one
// (a connection's events run on one worker at a time, in order: see
// conn.pend), repeat. When nothing is ready it waits in the Go runtime's
// poller for the epoll set to become readable.
func (e *Engine) work(w *worker) {
	defer e.workerDone(w)
	n := 0
	for !w.replaced.Load() {
		// After a batch of one event or none, most likely nothing is
		// ready: skip straight to waiting (which polls first anyway).
		if n > 1 {
			n = epollPoll(e.epfd, w.events)
		} else {
			n = 0
		}
		if n == 0 {
			w.busy.Store(false)
			e.busy.Add(-1)
			var err error
			n, err = e.wait(w)
			w.busy.Store(true)
			if e.busy.Add(1) == 1 && e.monParked.Load() {
				select {
				case e.monWake <- struct{}{}:
				default:
				}
			}
			if err != nil {
				if !e.stopping.Load() {
					e.cfg.Logger.Error("ws4go netpoll: waiting for events failed", "err", err)
				}
				return
			}
			if n == 0 {
				continue // woken as a spare
			}
		}
		w.mu.Lock()
		w.n, w.next = n, 0
		w.batch++
		w.mu.Unlock()
		for {
			w.mu.Lock()
			if w.next >= w.n {
				w.mu.Unlock()
				break
			}
			ev := w.events[w.next]
			w.next++
			w.mu.Unlock()
			if !e.dispatch(w, &ev) {
				return
			}
		}
	}
}

// errStopping ends a worker's wait when the engine stops.
var errStopping = errors.New("ws4go netpoll: stopping")

// wait waits for events: in the runtime's poller if no other worker does,
// else as a spare until woken (then it returns no events).
func (e *Engine) wait(w *worker) (int, error) {
	if e.stopping.Load() {
		return 0, errStopping
	}
	if !e.waiter.CompareAndSwap(nil, w) {
		e.smu.Lock()
		if e.stopping.Load() {
			e.smu.Unlock()
			return 0, errStopping
		}
		e.spares = append(e.spares, w)
		e.smu.Unlock()
		<-w.wake
		return 0, nil
	}
	n := 0
	err := e.erc.Read(func(uintptr) bool {
		n = epollPoll(e.epfd, w.events)
		return n > 0
	})
	e.waiter.Store(nil)
	if n > 1 {
		// More may come while these are processed: get a peer polling.
		e.wakeSpare()
	}
	return n, err
}

// wakeSpare wakes a spare worker, if there is one.
func (e *Engine) wakeSpare() bool {
	e.smu.Lock()
	k := len(e.spares)
	if k == 0 {
		e.smu.Unlock()
		return false
	}
	w := e.spares[k-1]
	e.spares[k-1] = nil
	e.spares = e.spares[:k-1]
	e.smu.Unlock()
	w.wake <- struct{}{}
	return true
}

func (e *Engine) workerDone(w *worker) {
	e.busy.Add(-1)
	e.wmu.Lock()
	e.nworkers--
	for i, a := range e.active {
		if a == w {
			e.active = append(e.active[:i], e.active[i+1:]...)
			break
		}
	}
	e.wmu.Unlock()
	e.wg.Done()
}

// dispatch processes one event; false means the engine is stopping. w is
// nil when the monitor hands on a stalled worker's batch: it runs no
// handler, so a connection is scheduled on the workers instead of run, and
// the eventfd is left to them (it stays set while connections are pending).
// A listener is accepted from either way: it is edge-triggered, so nobody
// else will be told, and accepting runs no handler.
func (e *Engine) dispatch(w *worker, ev *unix.EpollEvent) bool {
	switch ev.Pad {
	case tagWake:
		if w == nil {
			break
		}
		if e.stopping.Load() {
			return false
		}
		// Run pending connections, up to a batch's worth, without an
		// epoll_wait between them (a publish to many connections
		// makes many pending); while more wait, a spare joins in.
		for i := 0; i < eventsPerWait && !e.stopping.Load(); i++ {
			c, more := e.popPending()
			if c == nil {
				break
			}
			if more && i == 0 {
				e.wakeSpare()
			}
			c.run(w.buf)
			w.advance()
		}
	case tagListen:
		e.lmu.RLock()
		ln := e.lfds[ev.Fd]
		e.lmu.RUnlock()
		if ln != nil {
			e.acceptAll(ln)
		}
	default:
		c := e.lookup(ev)
		switch {
		case c == nil:
		case w == nil:
			c.ev.Or(ev.Events)
			c.schedule()
		default:
			c.event(ev.Events, w.buf)
		}
	}
	return true
}

// lookup returns the connection ev is for: the one registered on its
// descriptor with its generation, nil if that one is gone.
func (e *Engine) lookup(ev *unix.EpollEvent) *conn {
	t := e.tab.Load()
	if ev.Fd < 0 || int(ev.Fd) >= len(t.slots) {
		return nil
	}
	if c := t.slots[ev.Fd].Load(); c != nil && c.gen == ev.Pad {
		return c
	}
	return nil
}

// push hands c, which the caller owns (c.pend > 0), to the workers.
func (e *Engine) push(c *conn) {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	if e.pdone {
		return // every connection has finished
	}
	e.pending = append(e.pending, c)
	if len(e.pending) == 1 {
		one := [8]byte{1}
		_, _ = unix.Write(e.wakeFd, one[:])
	}
}

// popPending takes one pending connection and reports whether more wait;
// the eventfd stays set while they do, so other workers take them
// meanwhile.
func (e *Engine) popPending() (*conn, bool) {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	if len(e.pending) == 0 {
		return nil, false
	}
	c := e.pending[0]
	e.pending[0] = nil
	e.pending = e.pending[1:]
	if len(e.pending) == 0 {
		e.pending = nil
		var buf [8]byte
		_, _ = unix.Read(e.wakeFd, buf[:])
	}
	return c, len(e.pending) > 0
}

// advance tells the monitor that w moved on (to another pending
// connection within one event).
func (w *worker) advance() {
	w.mu.Lock()
	w.batch++
	w.mu.Unlock()
}

// monitor finds workers stalled on one event (a handler that blocks): it
// hands the rest of their batch to the pending list and gets another worker
// polling in the place of each (a spare, or a new worker, up to
// Config.Workers goroutines in all), so a handler that blocks holds up its
// own connection and not the others. It sleeps while no worker is busy.
func (e *Engine) monitor() {
	defer e.wg.Done()
	tm := time.NewTimer(stallAfter)
	defer tm.Stop()
	for !e.stopping.Load() {
		if e.busy.Load() == 0 {
			e.monParked.Store(true)
			if e.busy.Load() == 0 {
				<-e.monWake
			}
			e.monParked.Store(false)
			continue
		}
		tm.Reset(stallAfter)
		<-tm.C
		e.checkStalls()
	}
}

func (e *Engine) checkStalls() {
	var stolen []unix.EpollEvent
	e.wmu.Lock()
	for _, w := range e.active {
		if !w.busy.Load() || !w.mu.TryLock() {
			w.lastPos, w.helped = 0, false
			continue
		}
		pos := uint64(w.batch)<<32 | uint64(w.next)
		same := pos == w.lastPos
		stalled := same && !w.helped // acted on once per stall
		w.helped = same
		w.lastPos = pos
		if stalled && w.next < w.n {
			stolen = append(stolen, w.events[w.next:w.n]...)
			w.next = w.n
		}
		w.mu.Unlock()
		if stalled && !w.replaced.Load() && !e.stopping.Load() && !e.wakeSpare() && e.nworkers < e.cfg.Workers {
			w.replaced.Store(true)
			e.startWorkerLocked()
		}
	}
	e.wmu.Unlock()
	for i := range stolen {
		e.dispatch(nil, &stolen[i])
	}
}
