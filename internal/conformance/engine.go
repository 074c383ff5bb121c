package conformance

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// This file holds the scenario engine the built-in cases use: a script of
// writes and waits, a background reader recording every event, and an exact
// comparison with the expected event sequence. Family-specific files build
// scenarios with the small constructors at the end.

// fr describes one frame a scenario sends.
type fr struct {
	fin      bool
	rsv      byte
	op       byte
	payload  []byte
	unmasked bool // send without a masking key (a client MUST mask)
	declLen  int  // > 0: the header announces declLen bytes; only payload is sent
}

// encode appends the frame's wire form, masked with a fresh random key.
func (f fr) encode(dst []byte) []byte {
	if f.declLen > 0 {
		k := newMask()
		dst = appendHeader(dst, f.fin, f.rsv, f.op, uint64(f.declLen), &k)
		start := len(dst)
		dst = append(dst, f.payload...)
		maskBytes(k, 0, dst[start:])
		return dst
	}
	if f.unmasked {
		return appendFrame(dst, f.fin, f.rsv, f.op, f.payload, nil)
	}
	k := newMask()
	return appendFrame(dst, f.fin, f.rsv, f.op, f.payload, &k)
}

// action is one step of a scenario: a write, a wait for events, or a pause.
type action struct {
	frames    []fr
	raw       []byte
	chop      int           // write size in bytes; 0: one write
	chopDelay time.Duration // pause between chopped writes
	wait      int           // > 0: wait until this many events were recorded
	sleep     time.Duration // pause
	always    bool          // write even after the server's Close frame
}

// scenario is a script and its exact expected outcome.
type scenario struct {
	actions []action
	expect  []Event
	// closeAfter: once the events before the trailing close(1000),
	// tcp-closed of expect have arrived, the client sends Close 1000.
	closeAfter bool
	// wait bounds each wait for events (default 5 s).
	wait time.Duration
	// prepare, if set, runs on the new connection before anything is sent
	// or read: a parameterised family (e.g. one negotiating an extension)
	// can check c.Extensions and set c.AllowRSV and c.Transform there. An
	// error fails the case.
	prepare func(c *Client) error
}

// recorder reads events in the background and records them.
type recorder struct {
	c      *Client
	ctx    context.Context
	mu     sync.Mutex
	evs    []Event
	change chan struct{} // closed and replaced whenever something is recorded
	done   chan struct{} // closed when the reading goroutine ends
	closed bool          // a Close frame was recorded
	code   int           // its code
	at     time.Time     // when it arrived
	quit   bool          // the scenario is over: record nothing more
}

func newRecorder(ctx context.Context, c *Client) *recorder {
	r := &recorder{c: c, ctx: ctx, change: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	return r
}

func (r *recorder) loop() {
	defer close(r.done)
	for {
		e, err := r.c.ReadEvent()
		if err != nil {
			if r.ctx.Err() != nil {
				e = Event{Kind: EventTimeout, Detail: "case timeout"}
			} else {
				e = Event{Kind: EventError, Detail: err.Error()}
			}
		}
		r.add(e)
		if err != nil || e.Kind == EventTCPClosed || e.Kind == EventError {
			return
		}
	}
}

// add records e unless the scenario is over.
func (r *recorder) add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.quit {
		return
	}
	r.evs = append(r.evs, e)
	if e.Kind == EventClose && !r.closed {
		r.closed, r.code, r.at = true, e.Code, time.Now()
	}
	close(r.change)
	r.change = make(chan struct{})
}

// waitUntil waits until cond holds (checked under the lock), the reader ends,
// the deadline passes or the case context ends. It reports whether cond held.
func (r *recorder) waitUntil(deadline time.Time, cond func() bool) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		r.mu.Lock()
		ok, ch := cond(), r.change
		r.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-r.done:
			r.mu.Lock()
			ok = cond()
			r.mu.Unlock()
			return ok
		case <-t.C:
			return false
		case <-r.ctx.Done():
			return false
		}
	}
}

// ended reports whether the server's side is over: Close frame seen or
// reader finished.
func (r *recorder) ended() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return true
	}
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// running reports whether the reading goroutine is still going.
func (r *recorder) running() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// finish stops recording, closes the connection and returns the events.
func (r *recorder) finish() []Event {
	r.mu.Lock()
	r.quit = true
	evs := r.evs
	r.mu.Unlock()
	r.c.Close()
	<-r.done
	return evs
}

// run executes the scenario against t.
func (sc scenario) run(ctx context.Context, t *Target) Outcome {
	if t.pmd != nil {
		sc, t = t.pmd.adapt(sc, t)
	}
	exp := summarize(sc.expect)
	c, err := Dial(ctx, *t)
	if err != nil {
		return Outcome{Expected: exp, Got: Event{Kind: EventError, Detail: err.Error()}.String()}
	}
	defer c.Close()
	if sc.prepare != nil {
		if err := sc.prepare(c); err != nil {
			return Outcome{Expected: exp, Got: Event{Kind: EventError, Detail: err.Error()}.String()}
		}
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	rec := newRecorder(ctx, c)
	wait := sc.wait
	if wait <= 0 {
		wait = 5 * time.Second
	}
	waitFor := func(n int) {
		if n <= 0 {
			return
		}
		ok := rec.waitUntil(time.Now().Add(wait), func() bool { return len(rec.evs) >= n || rec.closed })
		if !ok && rec.running() && ctx.Err() == nil {
			rec.add(Event{Kind: EventTimeout, Detail: fmt.Sprintf("event #%d not received within %v", n, wait)})
		}
	}

	midFrame, writeFailed := false, false
	var buf []byte
	for _, a := range sc.actions {
		if ctx.Err() != nil || (rec.ended() && !a.always) {
			break
		}
		switch {
		case a.wait > 0:
			waitFor(a.wait)
		case a.sleep > 0:
			select {
			case <-time.After(a.sleep):
			case <-ctx.Done():
			}
		default:
			buf = buf[:0]
			for _, f := range a.frames {
				buf = f.encode(buf)
			}
			buf = append(buf, a.raw...)
			c.ChopDelay = a.chopDelay
			if err := c.WriteRaw(buf, a.chop); err != nil {
				writeFailed = true
			}
			midFrame = len(a.frames) > 0 && a.frames[len(a.frames)-1].declLen > 0
		}
		if writeFailed {
			break
		}
	}
	if sc.closeAfter && !writeFailed && ctx.Err() == nil {
		waitFor(len(sc.expect) - 2)
		if !rec.ended() {
			c.SendClose(1000, "")
		}
	}

	// Final phase: a Close frame from the server, then the TCP close.
	if ctx.Err() == nil {
		if rec.waitUntil(time.Now().Add(CloseTimeout), func() bool { return rec.closed }) {
			c.wmu.Lock()
			sent := c.closeSent
			c.wmu.Unlock()
			if !sent && !midFrame {
				// Echo the server's code, as RFC 6455 §5.5.1 suggests.
				c.SendClose(rec.code, "")
			}
			if !rec.waitUntil(rec.at.Add(CloseTimeout), func() bool { return false }) && rec.running() && ctx.Err() == nil {
				rec.add(Event{Kind: EventTimeout, Detail: fmt.Sprintf("TCP still open %v after the Close frame", CloseTimeout)})
			}
		} else if rec.running() && ctx.Err() == nil {
			rec.add(Event{Kind: EventTimeout, Detail: fmt.Sprintf("no Close frame within %v", CloseTimeout)})
		}
	}
	if ctx.Err() != nil && rec.running() {
		rec.add(Event{Kind: EventTimeout, Detail: "case timeout"})
	}
	got := rec.finish()
	return Outcome{Expected: exp, Got: summarize(got), OK: sameEvents(got, sc.expect)}
}

// Constructors used by the case tables.

func textFr(s string) fr { return fr{fin: true, op: OpText, payload: []byte(s)} }
func textB(p []byte) fr  { return fr{fin: true, op: OpText, payload: p} }
func binFr(p []byte) fr  { return fr{fin: true, op: OpBinary, payload: p} }
func pingFr(p []byte) fr { return fr{fin: true, op: OpPing, payload: p} }
func pongFr(p []byte) fr { return fr{fin: true, op: OpPong, payload: p} }
func closeFr(code int, r string) fr {
	return fr{fin: true, op: OpClose, payload: closePayload(code, r)}
}
func frag(op byte, fin bool, p []byte) fr {
	return fr{fin: fin, op: op, payload: p}
}
func contFr(fin bool, p []byte) fr { return fr{fin: fin, op: OpContinuation, payload: p} }

func textEv(s string) Event { return Event{Kind: EventMessage, Opcode: OpText, Payload: []byte(s)} }
func msgEv(op byte, p []byte) Event {
	if p == nil {
		p = []byte{}
	}
	return Event{Kind: EventMessage, Opcode: op, Payload: p}
}
func pongEv(p []byte) Event { return Event{Kind: EventPong, Payload: p} }
func closeEv(code int) Event {
	return Event{Kind: EventClose, Code: code}
}

var tcpClosed = Event{Kind: EventTCPClosed}

// send writes the frames in one write.
func send(frames ...fr) action { return action{frames: frames} }

// sendAnyway writes the frames in one write, even if the server has already
// sent its Close frame.
func sendAnyway(frames ...fr) action { return action{frames: frames, always: true} }

// chopped writes the frames in writes of n bytes; small writes are paced so
// that they reach the server in separate segments.
func chopped(n int, frames ...fr) action {
	a := action{frames: frames, chop: n}
	size := 0
	for _, f := range frames {
		size += len(f.payload) + 14
	}
	if size/max(n, 1) <= 300 {
		a.chopDelay = 200 * time.Microsecond
	}
	return a
}

// waitN waits until n events in all were received.
func waitN(n int) action { return action{wait: n} }

// pause sleeps.
func pause(d time.Duration) action { return action{sleep: d} }

// acts is shorthand for a list of actions.
func acts(a ...action) []action { return a }

// echoCase: the script must produce exactly pre, after which the client
// closes with 1000 and expects close(1000), tcp-closed.
func echoCase(id, desc string, a []action, pre ...Event) Case {
	exp := append(append([]Event{}, pre...), closeEv(1000), tcpClosed)
	return scenarioCase(id, desc, scenario{actions: a, expect: exp, closeAfter: true})
}

// failCase: the script must produce exactly pre, then close(code), then the
// server closes TCP.
func failCase(id, desc string, code int, a []action, pre ...Event) Case {
	exp := append(append([]Event{}, pre...), closeEv(code), tcpClosed)
	return scenarioCase(id, desc, scenario{actions: a, expect: exp})
}

// scenarioCase wraps a scenario in a Case.
func scenarioCase(id, desc string, sc scenario) Case {
	return Case{ID: id, Description: desc, Run: sc.run}
}
