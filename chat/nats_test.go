package chat_test

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ws4go/ws4go/chat"
	"github.com/ws4go/ws4go/server"
)

// TestNATSTwoNodes: clients on two ws4go nodes share a room through a real
// NATS server; every member gets every message once, each sender's in
// order, and the members of one node share one order.
func TestNATSTwoNodes(t *testing.T) {
	ns := natsServer(t, 0)
	// One node per engine.
	addrA, _ := natsNode(t, ns.ClientURL(), server.EngineGoroutine)
	addrB, _ := natsNode(t, ns.ClientURL(), server.EngineNetpoll)

	a1 := join(t, addrA, "/ws?room=r&name=a1")
	a2 := join(t, addrA, "/ws?room=r&name=a2")
	b1 := join(t, addrB, "/ws?room=r&name=b1")
	b2 := join(t, addrB, "/ws?room=r&name=b2")
	// Joins cross nodes: a1 sees b1 join.
	a1.waitFor(func(ev chat.Event) bool { return ev.Type == chat.TypeJoin && ev.ID == b1.id })

	const n = 200
	members := []*member{a1, a2, b1, b2}
	want := map[string]int{}
	var wg sync.WaitGroup
	for _, m := range members {
		want[m.id] = n
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= n; i++ {
				m.say(fmt.Sprintf("%s %d", m.name, i))
			}
		}()
	}
	wg.Wait()
	got := map[*member][]chat.Event{}
	for _, m := range members {
		got[m] = m.messages(len(members) * n)
		checkOncePerSenderOrder(t, m.name, got[m], want)
	}
	for _, pair := range [][2]*member{{a1, a2}, {b1, b2}} {
		if !slices.EqualFunc(got[pair[0]], got[pair[1]], func(x, y chat.Event) bool { return x.ID == y.ID && x.Seq == y.Seq }) {
			t.Fatalf("%s and %s, on one node, got different orders", pair[0].name, pair[1].name)
		}
	}
	// Nothing more: no duplicates trail behind.
	a1.say("a1 201")
	if ev := a1.waitFor(isMessage); ev.ID != a1.id || ev.Seq != n+1 {
		t.Fatalf("after the burst a1 got %+v", ev)
	}

	// A leave on node B reaches node A.
	_ = b2.c.Close(1000, "")
	if ev := a1.waitFor(func(ev chat.Event) bool { return ev.Type == chat.TypeLeave }); ev.ID != b2.id {
		t.Fatalf("leave %+v, want b2's", ev)
	}
}

// TestNATSBrokerRestart: the NATS server goes away and comes back on the
// same port; the nodes reconnect and the room works again. Messages sent
// during the outage arrive at most once and in order (how many arrive is
// logged: that is the loss window).
func TestNATSBrokerRestart(t *testing.T) {
	ns := natsServer(t, 0)
	port := ns.Addr().(*net.TCPAddr).Port
	url := ns.ClientURL()
	addrA, ntA := natsNode(t, url, server.EngineGoroutine)
	addrB, ntB := natsNode(t, url, server.EngineNetpoll)
	a := join(t, addrA, "/ws?room=r&name=a")
	b := join(t, addrB, "/ws?room=r&name=b")

	seq := 0
	send := func(k int) {
		for i := 0; i < k; i++ {
			seq++
			a.say(fmt.Sprintf("a %d", seq))
		}
	}
	send(10)
	b.messages(10)
	a.messages(10)

	// Broker down.
	downA := ntA.Conn().StatusChanged(nats.RECONNECTING)
	downB := ntB.Conn().StatusChanged(nats.RECONNECTING)
	ns.Shutdown()
	ns.WaitForShutdown()
	waitStatus(t, downA, "node A to notice the broker is gone")
	waitStatus(t, downB, "node B to notice the broker is gone")
	send(10) // buffered by nats.go on node A

	// Broker back, on the same address.
	upA := ntA.Conn().StatusChanged(nats.CONNECTED)
	upB := ntB.Conn().StatusChanged(nats.CONNECTED)
	natsServer(t, port)
	waitStatus(t, upA, "node A to reconnect")
	waitStatus(t, upB, "node B to reconnect")
	for _, nt := range []*chat.NATS{ntA, ntB} {
		if err := nt.Conn().Flush(); err != nil {
			t.Fatal(err)
		}
	}
	send(10)

	// After the outage every message arrives; during it, at most once and
	// in order.
	for _, m := range []*member{a, b} {
		var seqs []uint64
		for {
			ev := m.waitFor(isMessage)
			seqs = append(seqs, ev.Seq)
			if ev.Seq == 30 {
				break
			}
		}
		during := 0
		for i, s := range seqs {
			if i > 0 && s <= seqs[i-1] {
				t.Fatalf("%s: seq %d after %d", m.name, s, seqs[i-1])
			}
			if s > 10 && s <= 20 {
				during++
			}
		}
		if len(seqs)-during != 10 {
			t.Fatalf("%s: %v: missing messages sent after the broker came back", m.name, seqs)
		}
		t.Logf("%s: %d of the 10 messages sent while the broker was down arrived", m.name, during)
	}
}

func waitStatus(t *testing.T, ch chan nats.Status, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}
