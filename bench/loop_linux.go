//go:build linux

package bench

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

type connState uint8

const (
	stConnecting connState = iota
	stHandshake
	stOpen
	stClosing // close frame sent (churn) or received
	stClosed
)

// Connection roles.
const (
	roleHeld  uint8 = iota // opened by Connect, held until Close
	roleChurn              // a churn cycle
)

// conn is one client connection, owned by its loop.
type conn struct {
	fd        int32
	idx       int32 // in loop.open, or -1
	state     connState
	role      uint8
	closeRecv bool
	started   int64  // connect() time, Unix ns
	in        []byte // handshake response bytes so far
	out       []byte // bytes the socket did not take yet
	fr        frameReader
	rawGot    int64 // raw: bytes of the current message received
	rawHeadN  uint8
	rawHead   [stampSize]byte
}

// connectPhase is a loop's part of Connect.
type connectPhase struct {
	n, started, opened, failed int
	rate                       float64
	maxPending                 int
	timeout                    int64
	start, last                int64
	hist                       *hdrhistogram.Histogram
	pending                    map[*conn]struct{}
	firstErr                   string
	lastScan                   int64
	done                       chan<- connectResult
}

// bcastSlots is the size of the ring that counts broadcast deliveries.
const bcastSlots = 4096

// bcast is the state of a broadcast run shared by a process's loops.
type bcast struct {
	expected int64 // connections of this process at the start
	window   int
	fixed    bool
	pub      *loop // the publisher's loop (nil: not this process)
	slots    [bcastSlots]struct {
		seq atomic.Uint64
		ts  atomic.Int64
		got atomic.Int64
	}
}

// runPhase is a loop's part of Run.
type runPhase struct {
	spec             runSpec
	phase            uint16
	start, from, end int64
	hist, comp       *hdrhistogram.Histogram
	done             chan<- loopRun
	started          bool

	sent, recv, completed, incomplete, errors int64
	firstErr                                  string

	// fixed rate
	rate      float64
	tick      int64 // ns
	tickIdx   int64
	scheduled int64
	rr        int
	seq       uint64
	lag       int64 // most a message left after it was due (ns)
	busy      int64 // time out of epoll_wait in the measured time (ns)

	// broadcast
	bc        *bcast
	publisher bool
	pubConn   *conn
	inflight  []inflightMsg
	track     map[uint64]*msgTrack // with RunSpec.PerMessage

	// topics
	nPubs   int // subscribe: connections of the loop that publish
	subBase int // subscribe: number of the loop's first subscriber in the process
	want    int // subscribe: answers awaited
	topic   int // publish: the next topic

	// churn
	slots     int
	churnWant int
	churn     map[*conn]struct{}
	lastScan  int64
}

type inflightMsg struct {
	seq uint64
	ts  int64
}

// msgTrack counts the deliveries of one broadcast message to a loop's
// connections (runSpec.PerMessage).
type msgTrack struct {
	got      int64
	ts, last int64 // sent, last delivery (Unix ns)
}

// maxTracked bounds the messages a loop tracks in a run (memory).
const maxTracked = 1 << 20

// loopRun is a loop's result of a run phase: its counts and histograms,
// and the broadcast messages it tracked.
type loopRun struct {
	runResult
	track map[uint64]*msgTrack
}

// loop is one event loop: an epoll instance, the connections registered
// with it, and the phase it is running.
type loop struct {
	g      *generator
	id     int
	ep     int
	wakefd int
	tfd    int
	dst    unix.SockaddrInet4 // a copy per loop: Connect writes into it

	mu   sync.Mutex
	cmds []func()
	run1 []func()

	byFD    []*conn
	open    []*conn
	rbuf    []byte
	wbuf    []byte
	tbuf    []byte // a subscribe request, or a publish before framing
	payload []byte
	pubs    []*conn // the topics scenario's publishers
	rng     uint64
	srcNext int
	dropped int64
	lastErr string
	nOpen   atomic.Int64 // connections opened by Connect, for progress

	cp   *connectPhase
	rp   *runPhase
	quit bool

	fctx frameCtx
}

// frameCtx receives the frames a connection's reader parses.
type frameCtx struct {
	l   *loop
	c   *conn
	now int64
}

func (f *frameCtx) message(op byte, head []byte, n int64) { f.l.onMessage(f.c, op, head, f.now) }
func (f *frameCtx) control(op byte, p []byte)             { f.l.onControl(f.c, op, p, f.now) }

func newLoop(g *generator, id int) (*loop, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("bench: epoll: %w", err)
	}
	l := &loop{g: g, id: id, ep: ep, wakefd: -1, tfd: -1, rng: uint64(time.Now().UnixNano()) | 1 + uint64(id)<<32}
	l.fctx.l = l
	l.dst = unix.SockaddrInet4{Port: g.dst.Port, Addr: g.dst.Addr}
	l.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err == nil {
		err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, l.wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.wakefd)})
	}
	if err == nil {
		l.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	}
	if err == nil {
		err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, l.tfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.tfd)})
	}
	if err != nil {
		l.release()
		return nil, fmt.Errorf("bench: event loop: %w", err)
	}
	l.rbuf = make([]byte, 64<<10)
	return l, nil
}

// do runs f on the loop's goroutine.
func (l *loop) do(f func()) {
	l.mu.Lock()
	l.cmds = append(l.cmds, f)
	l.mu.Unlock()
	var one = [8]byte{1}
	_, _ = unix.Write(l.wakefd, one[:])
}

func (l *loop) release() {
	for _, fd := range []int{l.tfd, l.wakefd, l.ep} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	l.tfd, l.wakefd, l.ep = -1, -1, -1
}

const epollET = 1 << 31

func (l *loop) run() {
	events := make([]unix.EpollEvent, 512)
	for !l.quit {
		n, err := unix.EpollWait(l.ep, events, l.waitMillis(time.Now().UnixNano()))
		if err != nil && err != unix.EINTR {
			panic("bench: epoll_wait: " + err.Error())
		}
		woke := time.Now().UnixNano()
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			ev := events[i].Events
			switch fd {
			case l.wakefd:
				l.drainCommands()
			case l.tfd:
				var b [8]byte
				_, _ = unix.Read(l.tfd, b[:])
				if l.rp != nil {
					l.pace(time.Now().UnixNano())
				}
			default:
				if fd < len(l.byFD) {
					if c := l.byFD[fd]; c != nil {
						l.onEvent(c, ev)
					}
				}
			}
			if l.quit {
				return
			}
		}
		now := time.Now().UnixNano()
		if rp := l.rp; rp != nil && woke >= rp.from && woke < rp.end {
			rp.busy += now - woke
		}
		l.housekeeping(now)
		if rp := l.rp; rp != nil && rp.spec.Gather > 0 && n < gatherBelow {
			// Few events at once (a server trickling its frames): let
			// more gather before the next epoll_wait, rather than
			// wake up for each (runSpec.Gather).
			ts := unix.NsecToTimespec(int64(rp.spec.Gather))
			_ = unix.Nanosleep(&ts, nil)
		}
	}
}

// gatherBelow is the number of events of one epoll_wait under which a loop
// waits runSpec.Gather before the next.
const gatherBelow = 64

func (l *loop) drainCommands() {
	var b [8]byte
	_, _ = unix.Read(l.wakefd, b[:])
	l.mu.Lock()
	l.cmds, l.run1 = l.run1[:0], l.cmds
	l.mu.Unlock()
	for i, f := range l.run1 {
		f()
		l.run1[i] = nil
	}
}

// waitMillis is the epoll_wait timeout: until the next thing the loop must
// do by itself.
func (l *loop) waitMillis(now int64) int {
	wait := int64(-1)
	if cp := l.cp; cp != nil {
		wait = 100e6
		if cp.started < cp.n {
			wait = 1e6
		}
	}
	if rp := l.rp; rp != nil {
		// Past the end (a gather nap or a long batch crossed it), the
		// loop must not wait: -1 would wait for an event that may not come.
		w := max(0, rp.end-now)
		if rp.spec.Scenario == Churn {
			w = min(w, 100e6)
			if rp.churnWant > 0 {
				w = min(w, 1e6)
			}
		}
		if rp.publisher && len(rp.inflight) > 0 {
			w = min(w, 100e6)
		}
		if wait < 0 || w < wait {
			wait = w
		}
	}
	if wait < 0 {
		return -1
	}
	return int(max(0, (wait+999_999)/1e6))
}

// housekeeping runs after each batch of events: ramp-up, timeouts, the end
// of a phase.
func (l *loop) housekeeping(now int64) {
	if cp := l.cp; cp != nil {
		l.rampUp(now)
		if now-cp.lastScan > 100e6 {
			cp.lastScan = now
			for c := range cp.pending {
				if now-c.started > cp.timeout {
					l.fail(c, errors.New("timed out opening"))
				}
			}
		}
		l.connectDone()
	}
	if rp := l.rp; rp != nil && rp.started {
		if now >= rp.end {
			l.finishRun(now)
			return
		}
		if rp.spec.Scenario == topicsSubscribe && rp.completed+rp.errors >= int64(rp.want) {
			l.finishRun(now) // every subscriber answered (or was lost)
			return
		}
		if rp.spec.Scenario == Churn {
			l.churnDial(now)
			if now-rp.lastScan > 100e6 {
				rp.lastScan = now
				for c := range rp.churn {
					if now-c.started > int64(5*time.Second) {
						l.fail(c, errors.New("churn cycle timed out"))
					}
				}
			}
		}
		if rp.publisher && !rp.bc.fixed {
			l.expireBroadcasts(now)
			l.publish(now)
		}
	}
}
