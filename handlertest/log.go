package handlertest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// Logger returns a logger for a server under test t (a Server's
// Config.Logger, or any server.Server's Logger): its records go to t.Log,
// and an error record fails t with t.Errorf. The server logs errors for
// bugs of the code it runs: a panic in a handler's callback, in its
// factory or in an accept hook (the record then has the panic's value and
// its stack), a factory that returns nil, an accept hook that picks a
// subprotocol the client did not offer. Without it the test sees only the
// connection closed with 1011, or a 500.
//
// Records that arrive after the test has ended go to standard error if
// they are errors, and are dropped otherwise (t.Log would panic then).
func Logger(t testing.TB) *slog.Logger {
	h := &tbHandler{sink: &tbSink{t: t}}
	t.Cleanup(func() {
		h.sink.mu.Lock()
		h.sink.done = true
		h.sink.mu.Unlock()
	})
	return slog.New(h)
}

// tbSink is where a Logger's records go: t, until the test ends.
type tbSink struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

// tbHandler formats records for a test's log: the message, then key=value
// attributes, then the multi-line ones (a stack) as they are.
type tbHandler struct {
	sink   *tbSink
	attrs  []slog.Attr
	prefix string // of keys: the groups opened, each followed by "."
}

func (h *tbHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *tbHandler) Handle(_ context.Context, r slog.Record) error {
	var b, tail strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range h.attrs { // their keys have their groups already
		h.write(&b, &tail, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		h.write(&b, &tail, h.prefix, a)
		return true
	})
	text := b.String() + tail.String()
	s := h.sink
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.done && r.Level >= slog.LevelError:
		fmt.Fprintf(os.Stderr, "handlertest: after %s ended: %s\n", s.t.Name(), text)
	case s.done:
	case r.Level >= slog.LevelError:
		s.t.Errorf("handlertest: the server logged %s", text)
	default:
		s.t.Log(text)
	}
	return nil
}

// write appends a to b as " key=value", or to tail on lines of its own if
// its value spans lines.
func (h *tbHandler) write(b, tail *strings.Builder, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, g := range v.Group() {
			h.write(b, tail, prefix, g)
		}
		return
	}
	if a.Equal(slog.Attr{}) {
		return
	}
	s := v.String()
	if strings.Contains(s, "\n") {
		fmt.Fprintf(tail, "\n%s%s:\n%s", prefix, a.Key, strings.TrimRight(s, "\n"))
		return
	}
	fmt.Fprintf(b, " %s%s=%s", prefix, a.Key, s)
}

func (h *tbHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = make([]slog.Attr, 0, len(h.attrs)+len(as))
	h2.attrs = append(h2.attrs, h.attrs...)
	for _, a := range as {
		if h.prefix != "" {
			a.Key = h.prefix + a.Key
		}
		h2.attrs = append(h2.attrs, a)
	}
	return &h2
}

func (h *tbHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix += name + "."
	return &h2
}
