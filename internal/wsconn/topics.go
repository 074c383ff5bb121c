package wsconn

import (
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/ws4go/ws4go/handler"
)

// MaxTopicLength is the longest topic name, in bytes.
const MaxTopicLength = 256

// Errors of the topic registry.
var (
	// ErrTopicName refuses a topic name that is empty, longer than
	// MaxTopicLength or not valid UTF-8.
	ErrTopicName = fmt.Errorf("ws4go: a topic name is 1 to %d bytes of UTF-8", MaxTopicLength)
	// ErrTooManySubscriptions refuses a subscription past
	// Config.MaxSubscriptions or Config.MaxTotalSubscriptions.
	ErrTooManySubscriptions = errors.New("ws4go: too many subscriptions")
)

// CheckTopic returns ErrTopicName (wrapped with what is wrong) for a name
// that cannot be a topic's.
func CheckTopic(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: it is empty", ErrTopicName)
	case len(name) > MaxTopicLength:
		return fmt.Errorf("%w: it has %d", ErrTopicName, len(name))
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: it is not valid UTF-8", ErrTopicName)
	}
	return nil
}

// topicShards is how many locks the registry's index is split under, so
// that subscriptions to different topics rarely wait for each other.
const topicShards = 64

// topics is a table's registry of subscriptions. Each topic has its own
// lock, held while it is published to (so that all its subscribers see its
// messages in one order) or its subscribers change; the index from names
// to topics is sharded. A topic exists while it has subscribers.
//
// A subscription is a small node referred to from both sides, each side
// holding the node's index in the other (topic.subs, the connection's
// list), so that either side removes it in O(1) by moving its last entry
// into its place. What it costs is measured by TestSubscriptionMemory.
type topics struct {
	seed   maphash.Seed
	shards [topicShards]topicShard
	subs   atomic.Int64 // subscriptions
	topics atomic.Int64 // topics (with at least one subscriber)
}

type topicShard struct {
	mu sync.Mutex
	m  map[string]*topic // nil while empty
	_  [40]byte          // (a cache line each)
}

type topic struct {
	name string
	mu   sync.Mutex
	subs []subscriber
	// gone: the topic lost its last subscriber and is (being) removed
	// from the index; whoever finds it so looks it up again.
	gone bool
}

// subscriber is an entry of topic.subs: the connection, for the publish
// loop, and its node.
type subscriber struct {
	c *Conn
	s *subscription
}

// subscription is the node of one connection's subscription to one topic.
type subscription struct {
	t  *topic
	ti int32 // index in t.subs (t.mu)
	ci int32 // index in the connection's list (its mu)
}

func (r *topics) shard(name string) *topicShard {
	return &r.shards[maphash.String(r.seed, name)%topicShards]
}

// lookup returns the topic named name, nil if it has no subscriber.
func (r *topics) lookup(name string) *topic {
	sh := r.shard(name)
	sh.mu.Lock()
	t := sh.m[name]
	sh.mu.Unlock()
	return t
}

// forget removes t, marked gone, from the index.
func (r *topics) forget(t *topic) {
	sh := r.shard(t.name)
	sh.mu.Lock()
	if sh.m[t.name] == t {
		delete(sh.m, t.name)
		r.topics.Add(-1)
		// (Issue 22: a broker hears here that this node lost the
		// topic's last subscriber.)
		if len(sh.m) == 0 {
			sh.m = nil // a map keeps its buckets: give them back
		}
	}
	sh.mu.Unlock()
}

// removeLocked takes s out of t.subs; it reports whether t has no
// subscriber left, and is then marked gone (the caller forgets it once
// t.mu is released).
func (t *topic) removeLocked(s *subscription) bool {
	last := len(t.subs) - 1
	if i := s.ti; int(i) != last {
		t.subs[i] = t.subs[last]
		t.subs[i].s.ti = i
	}
	t.subs[last] = subscriber{}
	t.subs = t.subs[:last]
	s.ti = -1
	if last == 0 {
		t.gone = true
		t.subs = nil
		return true
	}
	if cap(t.subs) > 64 && len(t.subs) < cap(t.subs)/4 {
		t.subs = append([]subscriber(nil), t.subs...) // shrink
	}
	return false
}

// Subscribe subscribes c, a connection of t, to the topic named name. It is
// nil if c is subscribed already.
func (t *Table) Subscribe(c *Conn, name string) error {
	if err := CheckTopic(name); err != nil {
		return err
	}
	r := &t.topics
	sh := r.shard(name)
	for {
		sh.mu.Lock()
		tp := sh.m[name]
		if tp == nil {
			tp = &topic{name: strings.Clone(name)}
			if sh.m == nil {
				sh.m = map[string]*topic{}
			}
			sh.m[tp.name] = tp
			r.topics.Add(1)
			// (Issue 22: a broker hears here that this node has a
			// subscriber of the topic, its first.)
		}
		sh.mu.Unlock()
		tp.mu.Lock()
		if tp.gone {
			tp.mu.Unlock()
			r.forget(tp) // (if its last subscriber's goroutine has not yet)
			continue
		}
		err := t.addLocked(tp, c)
		gone := len(tp.subs) == 0
		if gone {
			tp.gone = true // made for c, which could not join
		}
		tp.mu.Unlock()
		if gone {
			r.forget(tp)
		}
		return err
	}
}

// addLocked adds c to tp's subscribers, within the bounds.
func (t *Table) addLocked(tp *topic, c *Conn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.has(stGone | stCloseSent) {
		return handler.ErrClosed
	}
	var list []*subscription
	if c.x != nil && c.x.subs != nil {
		list = *c.x.subs
	}
	for _, s := range list {
		if s.t == tp {
			return nil
		}
	}
	if max := t.cfg.MaxSubscriptions; max > 0 && len(list) >= max {
		return fmt.Errorf("%w: a connection may have %d (Server.MaxSubscriptions)", ErrTooManySubscriptions, max)
	}
	r := &t.topics
	if n := r.subs.Add(1); t.cfg.MaxTotalSubscriptions > 0 && n > int64(t.cfg.MaxTotalSubscriptions) {
		r.subs.Add(-1)
		return fmt.Errorf("%w: the server holds its %d (Server.MaxTotalSubscriptions)", ErrTooManySubscriptions, t.cfg.MaxTotalSubscriptions)
	}
	s := &subscription{t: tp, ti: int32(len(tp.subs)), ci: int32(len(list))}
	tp.subs = append(tp.subs, subscriber{c: c, s: s})
	x := c.rareLocked()
	if x.subs == nil {
		x.subs = new([]*subscription)
	}
	*x.subs = append(*x.subs, s)
	return nil
}

// Unsubscribe ends c's subscription to the topic named name, if it has one.
func (t *Table) Unsubscribe(c *Conn, name string) error {
	if err := CheckTopic(name); err != nil {
		return err
	}
	r := &t.topics
	for {
		tp := r.lookup(name)
		if tp == nil {
			return nil
		}
		tp.mu.Lock()
		if tp.gone {
			tp.mu.Unlock()
			r.forget(tp)
			continue
		}
		var s *subscription
		c.mu.Lock()
		if c.x != nil && c.x.subs != nil {
			list := *c.x.subs
			for i, si := range list {
				if si.t == tp {
					s = si
					last := len(list) - 1
					list[i] = list[last]
					list[i].ci = int32(i)
					list[last] = nil
					*c.x.subs = list[:last]
					break
				}
			}
		}
		c.mu.Unlock()
		gone := false
		if s != nil {
			gone = tp.removeLocked(s)
			r.subs.Add(-1)
		}
		tp.mu.Unlock()
		if gone {
			r.forget(tp)
		}
		return nil
	}
}

// unsubscribeAll ends every subscription of c, which has gone (no new one
// can begin).
func (t *Table) unsubscribeAll(c *Conn) {
	c.mu.Lock()
	var list []*subscription
	if c.x != nil && c.x.subs != nil {
		list = *c.x.subs
		c.x.subs = nil
	}
	c.mu.Unlock()
	r := &t.topics
	for _, s := range list {
		tp := s.t
		tp.mu.Lock()
		gone := tp.removeLocked(s)
		tp.mu.Unlock()
		if gone {
			r.forget(tp)
		}
	}
	r.subs.Add(-int64(len(list)))
}

// Subscriptions returns the topics c is subscribed to.
func (c *Conn) Subscriptions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.x == nil || c.x.subs == nil {
		return nil
	}
	out := make([]string, len(*c.x.subs))
	for i, s := range *c.x.subs {
		out[i] = s.t.name
	}
	return out
}

// Subscribers returns how many connections are subscribed to the topic
// named name.
func (t *Table) Subscribers(name string) int {
	tp := t.topics.lookup(name)
	if tp == nil {
		return 0
	}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return len(tp.subs)
}

// TopicStats returns the topics with subscribers and the subscriptions.
func (t *Table) TopicStats() (topics, subscriptions int) {
	return int(t.topics.topics.Load()), int(t.topics.subs.Load())
}

// Publish queues m for every subscriber of the topic named name, in one
// order for all of them (publishes to one topic are serialised), and
// returns how many it was queued for. It never writes: see fanout.
func (t *Table) Publish(name string, m *Prepared) (int, error) {
	if err := CheckTopic(name); err != nil {
		return 0, err
	}
	tp := t.topics.lookup(name)
	if tp == nil {
		return 0, nil
	}
	var f fanout
	tp.mu.Lock()
	if tp.gone {
		tp.mu.Unlock()
		return 0, nil
	}
	f.begin(t.cfg, m, len(tp.subs))
	for _, s := range tp.subs {
		f.deliver(s.c)
	}
	tp.mu.Unlock()
	f.end(t.cfg.Observer, false)
	return f.queued, nil
}
