package wsconn

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
)

// Table tracks the open connections of a server: O(1) add and remove (each
// Conn knows its slot), iteration for broadcasts and shutdown, and one
// sweeper goroutine that drives every connection's timers (idle, heartbeat,
// close), so no connection needs a timer or goroutine of its own for them.
type Table struct {
	cfg *Config

	mu    sync.Mutex
	conns []*Conn
	free  []int
	n     int
	empty *sync.Cond // signalled when n drops to 0

	stop chan struct{} // closes the sweeper; nil while there is none
	// now is a coarse clock for the connections' timer state, updated
	// by the sweeper on each tick; 0 when no timer is configured.
	now atomic.Int64

	// places counts the places taken against cfg.MaxConns: Places not
	// yet given to a connection or back, and connections that hold one
	// until they leave the table.
	places atomic.Int64

	// drainCode, once set by Drain, closes every connection that joins.
	drainCode   handler.CloseCode
	drainReason string
	// dropped, once set by TerminateAll, drops every connection that
	// joins: one whose handshake ended while the server was closing
	// (its engine then waits for it).
	dropped bool
	// drainUntil (unix nanos, 0: none) is Drain's deadline: until then
	// closing connections wait for the peer's answer even past
	// CloseTimeout.
	drainUntil atomic.Int64

	// topics holds the connections' subscriptions.
	topics topics
	// bmu serialises broadcasts (every connection sees them in one
	// order) and guards everyone, the list a broadcast goes through.
	bmu      sync.Mutex
	everyone []*Conn
}

// NewTable makes an empty table. Its sweeper runs only while the table holds
// connections, so an idle server keeps no goroutine for it.
func NewTable(cfg *Config) *Table {
	t := &Table{cfg: cfg}
	t.empty = sync.NewCond(&t.mu)
	t.topics.seed = maphash.MakeSeed()
	return t
}

// add puts c in the table; it reports the close code c must get at once if
// the table is draining (0 otherwise), and whether c must be dropped at
// once (see TerminateAll).
func (t *Table) add(c *Conn) (handler.CloseCode, string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k := len(t.free); k > 0 {
		c.slot = int32(t.free[k-1])
		t.free = t.free[:k-1]
		t.conns[c.slot] = c
	} else {
		c.slot = int32(len(t.conns))
		t.conns = append(t.conns, c)
	}
	c.table = t
	t.n++
	if t.n == 1 && t.stop == nil && t.needSweep() {
		t.now.Store(time.Now().UnixNano())
		t.stop = make(chan struct{})
		go t.sweep(t.stop)
	}
	return t.drainCode, t.drainReason, t.dropped
}

// Drain closes every connection with code, and every connection that joins
// from now on, once its handler has seen Opened.
//
// Until the deadline until (zero: none), connections wait for their peer's
// close frame even past CloseTimeout: a shutdown that gives clients ten
// seconds to answer gives them ten seconds.
func (t *Table) Drain(code handler.CloseCode, reason string, until time.Time) {
	if !until.IsZero() {
		t.drainUntil.Store(until.UnixNano())
	}
	t.mu.Lock()
	t.drainCode, t.drainReason = code, reason
	t.mu.Unlock()
	t.CloseAll(code, reason)
}

func (t *Table) remove(c *Conn) {
	t.unsubscribeAll(c)
	t.mu.Lock()
	if c.slot >= 0 && int(c.slot) < len(t.conns) && t.conns[c.slot] == c {
		t.conns[c.slot] = nil
		t.free = append(t.free, int(c.slot))
		c.slot = -1
		t.n--
		if c.has(stPlaced) {
			c.clear(stPlaced)
			t.places.Add(-1)
		}
		if t.n == 0 {
			// Give the slots' memory back once everyone has gone.
			t.conns, t.free = nil, nil
			if t.stop != nil {
				close(t.stop)
				t.stop = nil
			}
			t.empty.Broadcast()
		}
	}
	t.mu.Unlock()
}

// A Place is one of a table's MaxConns places, reserved (Reserve) before a
// handshake is answered so that the answer can be a refusal when every place
// is taken. It ends either with the connection made for it (Conn.Hold),
// which gives it back when it leaves the table, or with Release if no
// connection was made: whichever comes first. A nil Place holds nothing.
type Place struct {
	t     *Table
	ended atomic.Bool // held by a Conn, or released
}

// Reserve takes one of the table's MaxConns places, or reports false when
// every place is taken by a connection or another reservation. Without a
// bound it returns nil, true. The count is exact: a place is taken before
// the handshake's answer is written and given back when the connection
// leaves the table (or no connection is made).
func (t *Table) Reserve() (*Place, bool) {
	most := int64(t.cfg.MaxConns)
	if most <= 0 {
		return nil, true
	}
	for {
		n := t.places.Load()
		if n >= most {
			return nil, false
		}
		if t.places.CompareAndSwap(n, n+1) {
			return &Place{t: t}, true
		}
	}
}

// Release gives p back unless a connection holds it. It may be called any
// number of times, on a nil Place too.
func (p *Place) Release() {
	if p != nil && p.ended.CompareAndSwap(false, true) {
		p.t.places.Add(-1)
	}
}

// Hold gives c the place p (nil: none), before Start: it is given back when
// c leaves the table. Release on p does nothing afterwards.
func (c *Conn) Hold(p *Place) {
	if p != nil && p.ended.CompareAndSwap(false, true) {
		c.set(stPlaced)
	}
}

// Has reports whether c is a connection of t (open or not).
func (t *Table) Has(c *Conn) bool { return c != nil && c.table == t }

// Len returns the number of open connections.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// snapshot returns the current connections.
func (t *Table) snapshot() []*Conn {
	t.mu.Lock()
	out := make([]*Conn, 0, t.n)
	for _, c := range t.conns {
		if c != nil {
			out = append(out, c)
		}
	}
	t.mu.Unlock()
	return out
}

// Range calls f for every open connection until f returns false.
func (t *Table) Range(f func(handler.Conn) bool) {
	for _, c := range t.snapshot() {
		if !f(c) {
			return
		}
	}
}

// Broadcast publishes m to every open connection, in one order for all of
// them, and returns how many it was queued for. It never writes: see
// fanout.
func (t *Table) Broadcast(m *Prepared) int {
	t.bmu.Lock()
	defer t.bmu.Unlock()
	t.mu.Lock()
	all := t.everyone[:0]
	for _, c := range t.conns {
		if c != nil {
			all = append(all, c)
		}
	}
	t.mu.Unlock()
	var f fanout
	f.begin(t.cfg, m, len(all))
	for _, c := range all {
		f.deliver(c)
	}
	clear(all)
	t.everyone = all[:0]
	if cap(all) > 2*len(all) && cap(all) > 1024 {
		t.everyone = nil // the table shrank: so does the list
	}
	f.end(t.cfg.Observer, false)
	return f.queued
}

// CloseAll starts the closing handshake of every connection.
func (t *Table) CloseAll(code handler.CloseCode, reason string) {
	for _, c := range t.snapshot() {
		_ = c.Close(code, reason)
	}
}

// TerminateAll drops every connection, and every connection that joins
// from now on, once its handler has seen Opened.
func (t *Table) TerminateAll() {
	t.mu.Lock()
	t.dropped = true
	t.mu.Unlock()
	for _, c := range t.snapshot() {
		c.terminate("server closed")
	}
}

// Wait blocks until the table is empty or done is closed. It reports
// whether the table emptied.
func (t *Table) Wait(done <-chan struct{}) bool {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-done:
			t.mu.Lock()
			t.empty.Broadcast()
			t.mu.Unlock()
		case <-stop:
		}
	}()
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.n > 0 {
		select {
		case <-done:
			return false
		default:
		}
		t.empty.Wait()
	}
	return true
}

func (t *Table) needSweep() bool {
	c := t.cfg
	return c.IdleTimeout > 0 || c.PingInterval > 0 || c.CloseTimeout > 0 ||
		c.MessageTimeout > 0 || c.WriteTimeout > 0
}

// tick is how often the sweeper runs: a fraction of the shortest timeout.
func (t *Table) tick() time.Duration {
	d := time.Second
	for _, v := range []time.Duration{t.cfg.IdleTimeout, t.cfg.PingInterval, t.cfg.PongTimeout, t.cfg.CloseTimeout, t.cfg.MessageTimeout, t.cfg.WriteTimeout} {
		if v > 0 && v/4 < d {
			d = v / 4
		}
	}
	return max(d, 5*time.Millisecond)
}

func (t *Table) sweep(stop chan struct{}) {
	tk := time.NewTicker(t.tick())
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tk.C:
			t.now.Store(now.UnixNano())
			for _, c := range t.snapshot() {
				c.timers(now.UnixNano())
			}
		}
	}
}

// timers applies the connection's deadlines at time now.
func (c *Conn) timers(now int64) {
	cfg := c.cfg
	if cfg.WriteTimeout > 0 && c.has(stFlushing) && c.writeStalled(now) {
		c.writeTimedOut()
		return
	}
	if at := c.closingAt.Load(); at != 0 {
		if cfg.CloseTimeout > 0 && now-at > int64(cfg.CloseTimeout) && now > c.table.drainUntil.Load() {
			c.terminate("close timeout")
		}
		return
	}
	if c.has(stHeld) {
		return // the peer's silence is ours (see HoldRead)
	}
	if cfg.PingInterval > 0 {
		if sent := c.pingSent.Load(); sent != 0 {
			if cfg.PongTimeout > 0 && now-sent > int64(cfg.PongTimeout) {
				if o := cfg.Observer; o != nil {
					o.HeartbeatTimeout()
				}
				c.terminate("heartbeat timeout: no pong")
				return
			}
		} else if now-c.lastRead.Load() > int64(cfg.PingInterval) {
			c.pingSent.Store(now)
			// A client's transport writes synchronously: its ping
			// is left to a flusher, or a full socket would hold up
			// every other connection's timers. (A server's never
			// waits here.)
			_ = c.controlVia(ws.OpPing, nil, cfg.Client)
		}
	}
	if at := c.msgStart.Load(); cfg.MessageTimeout > 0 && at != 0 && now-at > int64(cfg.MessageTimeout) {
		c.messageTimedOut()
		return
	}
	if cfg.IdleTimeout > 0 && now-c.lastMessage.Load() > int64(cfg.IdleTimeout) {
		_ = c.Close(handler.CloseGoingAway, "idle timeout")
	}
}

// writeStalled reports whether queued frames have waited for the socket
// for WriteTimeout without progress. Only connections holding the right to
// write (stFlushing) are asked, so the sweep locks no idle connection. A
// blocking transport is never stalled here: it bounds its writes itself
// (WriteTimeout for each piece it writes), and the queue sees a long
// write's progress only when it returns.
func (c *Conn) writeStalled(now int64) bool {
	if c.tr.Blocking() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.q
	return q.pending() && q.since != 0 && now-q.since > int64(c.cfg.WriteTimeout)
}
