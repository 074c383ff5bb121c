package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ws4go/ws4go/handler"
)

// Backoff is how long Redial waits between connection attempts: Min after
// the first failure, then Factor times longer after each further consecutive
// failure, never more than Max, each delay shortened by a random fraction of
// up to Jitter (so that many clients dropped at once do not all come back at
// the same instant). A failure is a dial that failed, or a connection that
// closed before it had been open for Stable: a server that accepts and
// closes at once is redialled ever more slowly, not every Min. The zero
// value uses the defaults.
type Backoff struct {
	// Min is the first delay (default 250 ms). It is also the delay before
	// redialling after a stable connection ends.
	Min time.Duration
	// Max caps the delay (default 30 s).
	Max time.Duration
	// Factor is the growth per consecutive failure (default 2).
	Factor float64
	// Jitter is the fraction of each delay that is random: the delay is
	// drawn uniformly from [d×(1−Jitter), d] (default 0.5; negative: no
	// jitter; at most 1).
	Jitter float64
	// MaxAttempts is the number of consecutive failed attempts after which
	// Redial gives up (0: never).
	MaxAttempts int
	// Stable is how long a connection must stay open to reset the count
	// of consecutive failures (default 5 s); one that ends sooner counts
	// as a failure.
	Stable time.Duration
}

// DefaultStable is the default Backoff.Stable.
const DefaultStable = 5 * time.Second

// ErrUnstable is why Redial gave up when the last of its MaxAttempts
// failures was a connection that closed before Backoff.Stable; Err wraps it
// with how long the connection lasted and how it closed.
var ErrUnstable = errors.New("ws4go client: the connection closed before it was stable")

func (b Backoff) stable() time.Duration {
	if b.Stable <= 0 {
		return DefaultStable
	}
	return b.Stable
}

// Delay returns the delay after the n-th consecutive failure (n ≥ 1), with
// r a uniform random number in [0, 1).
func (b Backoff) Delay(n int, r float64) time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 250 * time.Millisecond
	}
	if hi <= 0 {
		hi = 30 * time.Second
	}
	hi = max(hi, lo)
	f := b.Factor
	if f < 1 {
		f = 2
	}
	d := float64(lo) * math.Pow(f, float64(max(n-1, 0)))
	d = min(d, float64(hi))
	j := b.Jitter
	switch {
	case j == 0:
		j = 0.5
	case j < 0:
		j = 0
	case j > 1:
		j = 1
	}
	return time.Duration(d * (1 - j*r))
}

// Redialer keeps a connection open: see Redial.
type Redialer struct {
	url  string
	f    handler.Factory
	opts *Options
	b    Backoff

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	cur     *Conn
	err     error
	stopped bool
}

// Redial keeps a connection to rawURL open until ctx ends or Stop is called
// (opt-in reconnection). It dials at once and returns; whenever a connection
// ends (the server closed it, the network failed, the heartbeat timed out),
// or an attempt fails, it dials again after a delay given by b (nil: the
// defaults). Each connection gets a fresh handler from f, with the usual
// sequence Opened ... Closed; a handler whose dial fails is dropped without
// any callback. Options apply to every attempt as for Dial.
//
// Messages sent while no connection is open are not queued: Conn returns nil
// then, and sends on a Conn that has closed return handler.ErrClosed.
func Redial(ctx context.Context, rawURL string, f handler.Factory, opts *Options, b *Backoff) *Redialer {
	if opts == nil {
		opts = &Options{}
	}
	r := &Redialer{url: rawURL, f: f, opts: opts, done: make(chan struct{})}
	if b != nil {
		r.b = *b
	}
	r.ctx, r.cancel = context.WithCancel(ctx)
	go r.run()
	return r
}

// Conn returns the open connection, or nil between connections.
func (r *Redialer) Conn() *Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// Stop stops redialling and closes the open connection, if any, with 1000.
// It does not wait: Done is closed once everything has ended. It may be
// called from a handler callback.
func (r *Redialer) Stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.cancel()
}

// Done is closed when the Redialer has stopped: after Stop, when ctx ended,
// or when Backoff.MaxAttempts consecutive attempts failed. The last
// connection's Closed callback has returned by then.
func (r *Redialer) Done() <-chan struct{} { return r.done }

// Err is why the Redialer stopped, once Done is closed: nil after Stop,
// ctx's error, or after MaxAttempts failures, the last dial error or an
// ErrUnstable.
func (r *Redialer) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *Redialer) finish(err error) {
	r.mu.Lock()
	if r.stopped {
		err = nil
	}
	r.err = err
	r.cur = nil
	r.mu.Unlock()
	r.cancel()
	close(r.done)
}

func (r *Redialer) run() {
	log := r.opts.logger()
	failures := 0
	var wait time.Duration
	// failed counts a failed attempt (what says why it is retried): it
	// reports whether Redial gives up, after MaxAttempts of them, and
	// otherwise sets the delay before the next attempt.
	failed := func(err error, what string) bool {
		failures++
		if r.b.MaxAttempts > 0 && failures >= r.b.MaxAttempts {
			log.Warn("ws4go client: giving up redialling", "url", r.url, "attempts", failures, "err", err)
			r.finish(err)
			return true
		}
		wait = r.b.Delay(failures, rand.Float64())
		log.Warn(what, "url", r.url, "attempt", failures, "in", wait, "err", err)
		return false
	}
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-r.ctx.Done():
				t.Stop()
				r.finish(context.Cause(r.ctx))
				return
			}
		}
		// Conn is set before Opened runs, so the handler may use it.
		c, err := dial(r.ctx, r.url, r.f(), r.opts)
		if err != nil {
			if r.ctx.Err() != nil {
				r.finish(context.Cause(r.ctx))
				return
			}
			if failed(err, "ws4go client: dial failed; retrying") {
				return
			}
			continue
		}
		r.mu.Lock()
		r.cur = c
		r.mu.Unlock()
		opened := time.Now()
		c.start()
		select {
		case <-c.Done():
		case <-r.ctx.Done():
			_ = c.Close(handler.CloseNormal, "")
			<-c.Done()
			r.finish(context.Cause(r.ctx))
			return
		}
		up := time.Since(opened)
		r.mu.Lock()
		r.cur = nil
		r.mu.Unlock()
		if up >= r.b.stable() {
			failures = 0
			wait = r.b.Delay(1, rand.Float64())
			log.Info("ws4go client: connection ended; redialling", "url", r.url, "after", up, "in", wait)
			continue
		}
		// A server that accepts and then closes at once (overloaded,
		// rejecting this client after the handshake, crashing) must
		// not be hammered: such a connection is a failed attempt.
		code, reason := c.c.CloseStatus()
		err = fmt.Errorf("%w: open for %v, closed with %d %q", ErrUnstable, up.Round(time.Millisecond), code, reason)
		if failed(err, "ws4go client: connection closed early; retrying") {
			return
		}
	}
}
