package wsconn

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ws4go/ws4go/handler"
)

// checkRegistry compares the registry of tab with want (topic → the
// connections subscribed) and checks its own invariants: every node's
// indexes point back at it from both sides, the counters agree, no topic
// without subscribers is left in the index.
func checkRegistry(t *testing.T, tab *Table, want map[string]map[*Conn]bool) {
	t.Helper()
	r := &tab.topics
	topics, subs := 0, 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		if sh.m != nil && len(sh.m) == 0 {
			t.Errorf("shard %d keeps an empty map", i)
		}
		for name, tp := range sh.m {
			tp.mu.Lock()
			topics++
			subs += len(tp.subs)
			if tp.gone || len(tp.subs) == 0 || tp.name != name {
				t.Errorf("topic %q: gone %v, %d subscribers, named %q", name, tp.gone, len(tp.subs), tp.name)
			}
			got := map[*Conn]bool{}
			for j, s := range tp.subs {
				got[s.c] = true
				if int(s.s.ti) != j || s.s.t != tp {
					t.Errorf("topic %q: entry %d has index %d", name, j, s.s.ti)
				}
				s.c.mu.Lock()
				if s.c.x == nil || s.c.x.subs == nil || int(s.s.ci) >= len(*s.c.x.subs) || (*s.c.x.subs)[s.s.ci] != s.s {
					t.Errorf("topic %q: a subscriber's list does not hold its node", name)
				}
				s.c.mu.Unlock()
			}
			if len(got) != len(tp.subs) {
				t.Errorf("topic %q lists a connection twice", name)
			}
			if fmt.Sprint(got) != fmt.Sprint(want[name]) {
				t.Errorf("topic %q: subscribers %v, want %v", name, got, want[name])
			}
			tp.mu.Unlock()
		}
		sh.mu.Unlock()
	}
	wantTopics, wantSubs := 0, 0
	for _, cs := range want {
		if len(cs) > 0 {
			wantTopics++
			wantSubs += len(cs)
		}
	}
	if topics != wantTopics || subs != wantSubs {
		t.Errorf("registry holds %d topics, %d subscriptions; want %d, %d", topics, subs, wantTopics, wantSubs)
	}
	if gt, gs := tab.TopicStats(); gt != topics || gs != subs {
		t.Errorf("counters say %d topics, %d subscriptions; the index %d, %d", gt, gs, topics, subs)
	}
}

// FuzzSubscriptions runs random subscribes, unsubscribes and closes against
// a model (a map), checking the registry after each step.
func FuzzSubscriptions(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte{0x00, 0x10, 0x20, 0x01, 0x11, 0x41, 0x81, 0xc1, 0x00})
	f.Add([]byte{0x03, 0x13, 0x23, 0x33, 0xc3, 0x03, 0x43})
	f.Fuzz(func(t *testing.T, ops []byte) {
		cfg := &Config{MaxMessageSize: 1 << 20, MaxWriteQueue: 1 << 20, MaxSubscriptions: 3, MaxTotalSubscriptions: 8}
		tab := NewTable(cfg)
		e := &fakeEngine{}
		const nconns, ntopics = 4, 5
		conns := make([]*Conn, nconns)
		for i := range conns {
			conns[i], _ = subscriberConn(tab, e, -1, nil)
		}
		model := map[string]map[*Conn]bool{}
		per := map[*Conn]int{}
		total := 0
		gone := map[*Conn]bool{}
		for _, op := range ops {
			c := conns[op&3]
			name := fmt.Sprint("t", (op>>2)&7%ntopics)
			switch op >> 6 {
			case 0, 1: // subscribe
				err := tab.Subscribe(c, name)
				in := model[name][c]
				switch {
				case gone[c]:
					if !errors.Is(err, handler.ErrClosed) {
						t.Fatalf("subscribe on a closed connection: %v", err)
					}
				case in:
					if err != nil {
						t.Fatalf("subscribing again: %v", err)
					}
				case per[c] >= cfg.MaxSubscriptions || total >= cfg.MaxTotalSubscriptions:
					if !errors.Is(err, ErrTooManySubscriptions) {
						t.Fatalf("past a bound: %v", err)
					}
				default:
					if err != nil {
						t.Fatal(err)
					}
					if model[name] == nil {
						model[name] = map[*Conn]bool{}
					}
					model[name][c] = true
					per[c]++
					total++
				}
			case 2: // unsubscribe
				if err := tab.Unsubscribe(c, name); err != nil {
					t.Fatal(err)
				}
				if model[name][c] {
					delete(model[name], c)
					per[c]--
					total--
				}
			case 3: // the connection ends
				if !gone[c] {
					c.Terminate()
					c.Finish()
					gone[c] = true
					for name := range model {
						if model[name][c] {
							delete(model[name], c)
							total--
						}
					}
					per[c] = 0
				}
			}
			checkRegistry(t, tab, model)
			got := map[string]bool{}
			for _, n := range c.Subscriptions() {
				got[n] = true
			}
			for name, cs := range model {
				if cs[c] != got[name] {
					t.Fatalf("Subscriptions of a connection: %v, the model has %q: %v", got, name, cs[c])
				}
			}
		}
		for _, c := range conns {
			c.Terminate()
			c.Finish()
		}
		checkRegistry(t, tab, nil)
	})
}

// TestTopicNames: hostile names get clear errors, on every entry point.
func TestTopicNames(t *testing.T) {
	tab := NewTable(&Config{MaxMessageSize: 1 << 20})
	c, _ := subscriberConn(tab, &fakeEngine{}, -1, nil)
	m := prepared(t, handler.Text, "x")
	for _, name := range []string{"", strings.Repeat("a", MaxTopicLength+1), "bad\xff", "\xc3"} {
		for what, err := range map[string]error{
			"Subscribe":   tab.Subscribe(c, name),
			"Unsubscribe": tab.Unsubscribe(c, name),
			"Publish":     func() error { _, err := tab.Publish(name, m); return err }(),
		} {
			if !errors.Is(err, ErrTopicName) {
				t.Errorf("%s(%q): %v, want ErrTopicName", what, name, err)
			}
		}
	}
	for _, name := range []string{"a", strings.Repeat("é", MaxTopicLength/2), "with space/and:punct\x00"} {
		if err := tab.Subscribe(c, name); err != nil {
			t.Errorf("Subscribe(%q): %v", name, err)
		}
	}
	if _, err := NewPrepared(handler.Text, []byte("bad\xff")); !errors.Is(err, ErrInvalidUTF8) {
		t.Errorf("a text message that is not UTF-8: %v", err)
	}
	if _, err := NewPrepared(9, nil); err == nil {
		t.Error("a message of type 9 prepared")
	}
	c.Terminate()
	c.Finish()
	checkRegistry(t, tab, nil)
}

// TestPublishRace publishes from several goroutines while others
// subscribe, unsubscribe and close connections (run it with -race): every
// subscriber sees each publisher's messages in order, all subscribers of
// the topic see them in one order, and the registry ends empty.
func TestPublishRace(t *testing.T) {
	cfg := &Config{MaxMessageSize: 1 << 20, MaxWriteQueue: 64 << 20, Budget: &Budget{}}
	tab := NewTable(cfg)
	e := &fakeEngine{}
	const nconns, publishers, each = 8, 3, 200
	var conns []*Conn
	var pipes []*enginePipe
	for range nconns {
		c, p := subscriberConn(tab, e, -1, nil)
		if err := tab.Subscribe(c, "t"); err != nil {
			t.Fatal(err)
		}
		conns, pipes = append(conns, c), append(pipes, p)
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				m := prepared(t, handler.Text, fmt.Sprintf("%d.%d", p, i))
				if _, err := tab.Publish("t", m); err != nil {
					t.Error(err)
				}
				e.run()
			}
		})
	}
	// Churn on other topics and other connections meanwhile.
	wg.Go(func() {
		for i := range 300 {
			c, _ := subscriberConn(tab, e, -1, nil)
			_ = tab.Subscribe(c, "t")
			_ = tab.Subscribe(c, fmt.Sprint("o", i%7))
			if i%2 == 0 {
				_ = tab.Unsubscribe(c, "t")
			}
			c.Terminate()
			c.Finish()
		}
	})
	wg.Wait()
	e.run()
	var first []string
	for i, p := range pipes {
		var got []string
		last := map[byte]int{}
		for _, f := range frames(t, p.drain(-1)) {
			var pub, seq int
			fmt.Sscanf(string(f.Payload), "%d.%d", &pub, &seq)
			if prev, ok := last[byte(pub)]; ok && seq != prev+1 {
				t.Fatalf("subscriber %d: publisher %d's %d after %d", i, pub, seq, prev)
			}
			last[byte(pub)] = seq
			got = append(got, string(f.Payload))
		}
		if len(got) != publishers*each {
			t.Fatalf("subscriber %d got %d messages, want %d", i, len(got), publishers*each)
		}
		if first == nil {
			first = got
		} else if !slices.Equal(got, first) {
			t.Fatalf("subscribers 0 and %d saw the topic in different orders", i)
		}
	}
	for _, c := range conns {
		c.Terminate()
		c.Finish()
	}
	checkRegistry(t, tab, nil)
	if cfg.Budget.Held() != 0 {
		t.Fatalf("budget holds %d at the end", cfg.Budget.Held())
	}
}

// TestSubscriptionMemory measures the heap one subscription takes, in the
// shape of the bench's topics scenario (15,000 connections subscribed to
// 10 of 1,000 topics each): it must stay under 100 bytes, and a connection
// without subscriptions must pay nothing for them. The worst case, each
// subscription a topic of its own with the longest name, must stay under
// the README's 500 bytes.
func TestSubscriptionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures 150,000 subscriptions")
	}
	const per = 10
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("topic-%d", i)
	}
	shared := subscriptionHeap(t, 15000, per, func(i, j int) string { return names[(i*7+j*101)%len(names)] })
	t.Logf("%d subscriptions to %d topics: %.1f bytes each (heap growth, topics and each connection's rare part included)", 15000*per, len(names), shared)
	if shared > 100 {
		t.Errorf("a subscription takes %.1f bytes, the budget is 100", shared)
	}
	long := strings.Repeat("x", MaxTopicLength-8)
	alone := subscriptionHeap(t, 1500, per, func(i, j int) string { return fmt.Sprintf("%s%08d", long, i*per+j) })
	t.Logf("a subscription to a topic of its own named with %d bytes: %.0f bytes", MaxTopicLength, alone)
	if alone > 500 {
		t.Errorf("a subscription to a topic of its own takes %.0f bytes, the README says at most 500", alone)
	}
}

// subscriptionHeap subscribes each of n new connections to per topics
// (topic(i, j) names the jth of the ith) and returns the heap growth per
// subscription; it checks that nothing is left once they end.
func subscriptionHeap(t *testing.T, n, per int, topic func(i, j int) string) float64 {
	t.Helper()
	tab := NewTable(&Config{MaxMessageSize: 1 << 20, MaxSubscriptions: per, MaxTotalSubscriptions: n * per})
	conns := make([]*Conn, n)
	for i := range conns {
		conns[i], _ = subscriberConn(tab, &fakeEngine{}, -1, handler.Base{})
		if conns[i].x != nil {
			t.Fatal("a connection without subscriptions holds its rare part")
		}
	}
	before := heapInUse()
	for i, c := range conns {
		for j := range per {
			if err := tab.Subscribe(c, topic(i, j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	after := heapInUse()
	if _, subs := tab.TopicStats(); subs != n*per {
		t.Fatalf("%d subscriptions, want %d", subs, n*per)
	}
	for _, c := range conns {
		c.Terminate()
		c.Finish()
	}
	checkRegistry(t, tab, nil)
	return float64(after-before) / float64(n*per)
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
