package server

import (
	"runtime"
	"sync"

	"github.com/ws4go/ws4go/internal/wsconn"
)

// flushers write, for the goroutine engine, the queues of the connections
// a publish handed over (blocking.Config.Soon), as the netpoll
// engine's workers do for it: up to GOMAXPROCS goroutines, started when
// connections wait and gone when none is left, take them from one list and
// flush each without blocking. A socket that is full passes the right to
// write on to its connection's own flusher (WaitWritable), as any write
// does. One goroutine per publish and core, not one per subscriber; what
// is published to a connection before its turn comes leaves in one writev.
type flushers struct {
	mu      sync.Mutex
	waiting []*wsconn.Conn
	running int
}

// add has c, whose right to write the caller passes on, flushed soon.
func (f *flushers) add(s *Server, c *wsconn.Conn) {
	f.mu.Lock()
	f.waiting = append(f.waiting, c)
	start := f.running < runtime.GOMAXPROCS(0)
	if start {
		f.running++
		s.wg.Add(1)
	}
	f.mu.Unlock()
	if start {
		go f.run(s)
	}
}

func (f *flushers) run(s *Server) {
	defer s.wg.Done()
	for {
		f.mu.Lock()
		if len(f.waiting) == 0 {
			f.waiting = nil
			f.running--
			f.mu.Unlock()
			return
		}
		c := f.waiting[0]
		f.waiting[0] = nil
		f.waiting = f.waiting[1:]
		f.mu.Unlock()
		c.Flush()
	}
}
