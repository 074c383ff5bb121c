package chat

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// NATS is a Transport over a NATS server (core NATS, github.com/nats-io/nats.go):
// room R is the subject SubjectPrefix+"."+R, each node subscribes to the
// subjects of the rooms it has members in, and publishes its members'
// events there. NATS keeps the order of the messages of one publishing
// connection, so every member receives each sender's messages in order.
//
// Delivery is at most once (core NATS keeps nothing), and a broker outage
// has a loss window. The connection reconnects forever. While it is
// disconnected, events published are buffered by nats.go (up to 8 MiB; past
// that Publish fails and the sender gets an error event) and sent once it is
// back, after its subscriptions have been restored. A node therefore loses:
// the events the broker was forwarding when it went down, and the events
// other nodes published (or flushed from their buffers) between the
// broker's return and this node's own reconnection and resubscription.
// Clients stay connected to their node throughout; they just miss those
// events. Members of the same node keep receiving each other's messages
// only once the broker is back, since every event goes through it.
type NATS struct {
	nc     *nats.Conn
	prefix string
	own    bool
	log    *slog.Logger
}

// NATSOptions configures ConnectNATS. The zero value is ready to use.
type NATSOptions struct {
	// SubjectPrefix is the prefix of the rooms' subjects (default
	// "ws4go.chat"): room "go" is subject "ws4go.chat.go".
	SubjectPrefix string
	// Name is the connection's name as the NATS server shows it (default
	// "ws4go").
	Name string
	// ReconnectWait is the delay between reconnection attempts (default
	// 250 ms, plus nats.go's jitter).
	ReconnectWait time.Duration
	// Logger receives disconnections, reconnections and errors (default
	// slog.Default()).
	Logger *slog.Logger
}

// ConnectNATS connects to the NATS server(s) at url (comma-separated
// nats://host:port URLs) and returns the Transport. The first connection
// must succeed; after that it reconnects forever.
func ConnectNATS(url string, o NATSOptions) (*NATS, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	name := o.Name
	if name == "" {
		name = "ws4go"
	}
	wait := o.ReconnectWait
	if wait <= 0 {
		wait = 250 * time.Millisecond
	}
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("chat: disconnected from NATS; reconnecting", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("chat: reconnected to NATS", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Error("chat: NATS error", "subject", subject, "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("chat: connecting to NATS at %s: %w", url, err)
	}
	n := NewNATS(nc, o.SubjectPrefix)
	n.own, n.log = true, log
	return n, nil
}

// NewNATS makes a Transport over an existing NATS connection, with room
// subjects under prefix (default "ws4go.chat"). Close does not close nc.
func NewNATS(nc *nats.Conn, prefix string) *NATS {
	if prefix == "" {
		prefix = "ws4go.chat"
	}
	return &NATS{nc: nc, prefix: prefix, log: slog.Default()}
}

// Conn returns the NATS connection.
func (n *NATS) Conn() *nats.Conn { return n.nc }

func (n *NATS) subject(room string) string { return n.prefix + "." + room }

// Subscribe implements Transport. It returns once the NATS server has
// registered the subscription (or, while disconnected, at once: the
// subscription is registered on reconnection).
func (n *NATS) Subscribe(room string, deliver func([]byte)) (func() error, error) {
	sub, err := n.nc.Subscribe(n.subject(room), func(m *nats.Msg) { deliver(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("chat: subscribing to %s: %w", n.subject(room), err)
	}
	if err := n.nc.FlushTimeout(5 * time.Second); err != nil && !errors.Is(err, nats.ErrConnectionReconnecting) {
		n.log.Warn("chat: NATS did not confirm a subscription", "subject", sub.Subject, "err", err)
	}
	return sub.Unsubscribe, nil
}

// Publish implements Transport.
func (n *NATS) Publish(room string, event []byte) error {
	return n.nc.Publish(n.subject(room), event)
}

// Close drains and closes the connection made by ConnectNATS: events
// published so far are flushed first.
func (n *NATS) Close() error {
	if !n.own {
		return nil
	}
	closed := n.nc.StatusChanged(nats.CLOSED)
	if err := n.nc.Drain(); err != nil {
		n.nc.Close()
		return err
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		n.nc.Close()
	}
	return nil
}
