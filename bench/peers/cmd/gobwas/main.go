// Command gobwas is the benchmark's server on github.com/gobwas/ws and
// github.com/mailru/easygo in the design of "A Million WebSockets and Go"
// (Sergey Kamardin, Mail.Ru, 2017): no goroutine and no buffer per idle
// connection; an epoll instance (easygo's netpoll.Epoll) reports readable
// connections and a fixed pool of goroutines reads one message from each
// (wsutil.ReadClientData) and answers. The handshake is ws.Upgrade on the
// raw net.Conn, also in the pool. Broadcast compiles the frame once and one
// pool task writes it to every connection.
//
// easygo's netpoll.Handle* take the descriptor through File(), which dup()s
// it (two descriptors per connection, and File.Fd() switches the socket to
// blocking mode); this server registers the connection's own descriptor
// with Epoll.Add instead.
package main

import (
	"log"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/mailru/easygo/netpoll"

	"github.com/ws4go/ws4go/bench/peers/internal/peer"
)

// pool runs tasks on a fixed number of goroutines (the article's gopool).
type pool struct{ work chan func() }

func newPool(size, queue int) *pool {
	p := &pool{work: make(chan func(), queue)}
	for range size {
		go func() {
			for f := range p.work {
				f()
			}
		}()
	}
	return p
}

func (p *pool) schedule(f func()) { p.work <- f }

// conn is a WebSocket connection whose writes are serialized.
type conn struct {
	net.Conn
	fd   int
	mu   sync.Mutex
	once sync.Once
}

func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(p)
}

type server struct {
	ep   *netpoll.Epoll
	pool *pool

	mu    sync.RWMutex
	conns map[*conn]struct{} // broadcast connections
}

const events = netpoll.EPOLLIN | netpoll.EPOLLRDHUP | netpoll.EPOLLONESHOT

func (s *server) handshake(nc net.Conn) {
	var path string
	u := ws.Upgrader{OnRequest: func(uri []byte) error {
		path = string(uri)
		return nil
	}}
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := u.Upgrade(nc); err != nil {
		nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	broadcast := strings.HasPrefix(path, "/broadcast")
	c := &conn{Conn: nc}
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		nc.Close()
		return
	}
	_ = rc.Control(func(fd uintptr) { c.fd = int(fd) })
	if broadcast {
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
	}
	err = s.ep.Add(c.fd, events, func(ev netpoll.EpollEvent) {
		s.pool.schedule(func() {
			p, op, err := wsutil.ReadClientData(c)
			if err != nil {
				s.close(c)
				return
			}
			if broadcast {
				s.broadcast(op, p)
			} else if err := wsutil.WriteServerMessage(c, op, p); err != nil {
				s.close(c)
				return
			}
			if err := s.ep.Mod(c.fd, events); err != nil {
				s.close(c)
			}
		})
	})
	if err != nil {
		s.close(c)
	}
}

// close unregisters c and closes it, once: the descriptor number may be
// reused as soon as it is closed.
func (s *server) close(c *conn) {
	c.once.Do(func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = s.ep.Del(c.fd)
		c.Close()
	})
}

func (s *server) broadcast(op ws.OpCode, p []byte) {
	frame := ws.MustCompileFrame(ws.NewFrame(op, true, p))
	s.mu.RLock()
	defer s.mu.RUnlock()
	for c := range s.conns {
		_, _ = c.Write(frame)
	}
}

func main() {
	f := peer.Parse()
	peer.ServeMetrics(f.Metrics)
	ep, err := netpoll.EpollCreate(nil)
	if err != nil {
		log.Fatal(err)
	}
	s := &server{ep: ep, pool: newPool(128, 1), conns: map[*conn]struct{}{}}
	l, err := net.Listen("tcp", f.Addr)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				log.Fatal(err)
			}
			s.pool.schedule(func() { s.handshake(nc) })
		}
	}()
	peer.Wait()
}
