package chat

import "sync"

// Transport carries the events of rooms between the nodes that serve them.
// A Chat subscribes to a room while it has members in it and publishes its
// members' events there; the transport hands every event published to a
// room to every subscription to that room, the publisher's own included.
// Hub keeps rooms in memory (one node); NATS shares them through a NATS
// server.
type Transport interface {
	// Subscribe calls deliver with every event published to room from now
	// on, until unsubscribe is called. Calls for one subscription come one
	// at a time, in the order the transport received the events. deliver
	// must return quickly and must not call the Transport; it may keep
	// event but must not modify it.
	Subscribe(room string, deliver func(event []byte)) (unsubscribe func() error, err error)
	// Publish sends event to every subscription to room. The caller must
	// not modify event afterwards.
	Publish(room string, event []byte) error
}

// Hub is the in-memory Transport: rooms shared by the Chats of one process.
// Publish hands the event to every subscription before it returns, under a
// lock per room, so all subscriptions to a room see its events in the same
// order. The zero value is ready to use.
type Hub struct {
	mu    sync.Mutex
	rooms map[string]*hubRoom
}

type hubRoom struct {
	mu   sync.Mutex
	subs map[*hubSub]struct{}
}

type hubSub struct{ deliver func([]byte) }

// Subscribe implements Transport.
func (h *Hub) Subscribe(room string, deliver func([]byte)) (func() error, error) {
	s := &hubSub{deliver: deliver}
	h.mu.Lock()
	if h.rooms == nil {
		h.rooms = map[string]*hubRoom{}
	}
	r := h.rooms[room]
	if r == nil {
		r = &hubRoom{subs: map[*hubSub]struct{}{}}
		h.rooms[room] = r
	}
	r.mu.Lock()
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	h.mu.Unlock()
	var once sync.Once
	return func() error {
		once.Do(func() {
			h.mu.Lock()
			r.mu.Lock()
			delete(r.subs, s)
			if len(r.subs) == 0 && h.rooms[room] == r {
				delete(h.rooms, room)
			}
			r.mu.Unlock()
			h.mu.Unlock()
		})
		return nil
	}, nil
}

// Publish implements Transport.
func (h *Hub) Publish(room string, event []byte) error {
	h.mu.Lock()
	r := h.rooms[room]
	h.mu.Unlock()
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.subs {
		s.deliver(event)
	}
	return nil
}
