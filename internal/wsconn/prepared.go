package wsconn

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/proto"
)

// ErrInvalidUTF8 refuses a text message to publish or prepare that is not
// valid UTF-8: every subscriber would fail it with 1007.
var ErrInvalidUTF8 = errors.New("ws4go: a text message must be valid UTF-8")

// Prepared is a message encoded once as a server's frame, to be queued for
// any number of connections: every queue that holds it refers to the same
// bytes, which nobody modifies. The frame's memory counts once in the
// server-wide budget (Budget) while any queue holds it, and against each
// connection's own MaxWriteQueue as if that connection held it alone.
type Prepared struct {
	typ   handler.MessageType
	n     int    // payload bytes
	frame []byte // header and payload, unmasked and uncompressed
	alloc int    // the frame's allocation, as the heap holds it

	// refs counts the queue entries that hold frame, plus one for each
	// publish in progress (so that it cannot reach zero in between).
	refs atomic.Int64
	// mu guards charged, which changes when refs leaves or reaches zero.
	mu sync.Mutex
	// charged is the budget frame is counted in while refs > 0: the one
	// of the first publish that found it counted nowhere.
	charged *Budget

	// (Compressed variants, made once per negotiated window size the
	// first time a connection that needs one takes the message, belong
	// here: each with its own allocation, counted as alloc is.)
}

// NewPrepared encodes a message of type t with payload p, which it copies.
// A text message must be valid UTF-8.
func NewPrepared(t handler.MessageType, p []byte) (*Prepared, error) {
	if t != handler.Text && t != handler.Binary {
		return nil, fmt.Errorf("ws4go: bad message type %d", t)
	}
	if t == handler.Text && !utf8.Valid(p) {
		return nil, ErrInvalidUTF8
	}
	var hdr [ws.MaxHeaderSize]byte
	hn := proto.PutHeader(&hdr, true, 0, ws.OpCode(t), len(p))
	frame := append(append(make([]byte, 0, hn+len(p)), hdr[:hn]...), p...)
	return &Prepared{typ: t, n: len(p), frame: frame, alloc: allocSize(cap(frame))}, nil
}

// Type returns the message's type.
func (m *Prepared) Type() handler.MessageType { return m.typ }

// Len returns the message's payload length.
func (m *Prepared) Len() int { return m.n }

// hold counts k more references (a publish about to queue m for up to k-1
// connections, and itself), and counts the frame in b if it is counted
// nowhere yet.
func (m *Prepared) hold(b *Budget, k int64) {
	m.refs.Add(k)
	if b == nil {
		return
	}
	m.mu.Lock()
	if m.charged == nil {
		m.charged = b
		b.add(int64(m.alloc))
	}
	m.mu.Unlock()
}

// unref drops k references; the last gives the frame's memory back to the
// budget it was counted in.
func (m *Prepared) unref(k int64) {
	if m.refs.Add(-k) != 0 {
		return
	}
	m.mu.Lock()
	if m.refs.Load() == 0 && m.charged != nil {
		m.charged.add(-int64(m.alloc))
		m.charged = nil
	}
	m.mu.Unlock()
}
