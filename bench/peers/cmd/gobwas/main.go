// Command gobwas is the benchmark's server on github.com/gobwas/ws and
// github.com/mailru/easygo in the design of "A Million WebSockets and Go"
// (Sergey Kamardin, Mail.Ru, 2017) and its code, github.com/gobwas/ws-examples
// (src/chat):
//
//   - no goroutine and no buffer per idle connection: an epoll instance
//     (easygo's netpoll.Epoll) reports readable connections, and a goroutine
//     pool (the examples' gopool: 128 goroutines started on demand, a queue
//     of 1) reads what came;
//   - the handshake is ws.Upgrade on the raw net.Conn, on the pool too;
//   - a bufio.Reader is taken from a sync.Pool only while a connection is
//     being read (the article's buffer reuse), and the messages are read
//     with wsutil.NextReader semantics: control frames are answered by
//     wsutil.ControlFrameHandler, data frames read whole;
//   - every frame leaves in one write: the echo goes through a pooled
//     wsutil.Writer (wsutil.GetWriter) whose Flush writes header and payload
//     together, as the examples' User.write does;
//   - broadcast compiles the frame once and hands it to a writer goroutine,
//     which schedules one write per connection on the pool (Chat.writer).
//
// Where it departs from the examples, it is to stay correct under the
// benchmark's load: connections are registered with EPOLLONESHOT and rearmed
// after every read, and a read goes on while the bufio.Reader still holds
// bytes (the examples read one message per edge-triggered event, which loses
// the second of two messages that arrive together); and easygo's
// netpoll.Handle* take the descriptor through File(), which dup()s it (two
// descriptors per connection, and File.Fd() switches the socket to blocking
// mode), so this server registers the connection's own descriptor with
// Epoll.Add instead.
package main

import (
	"bufio"
	"io"
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

// pool is the examples' gopool: at most size goroutines, started as the
// work comes, fed through a queue of queue tasks.
type pool struct {
	sem  chan struct{}
	work chan func()
}

func newPool(size, queue, spawn int) *pool {
	p := &pool{sem: make(chan struct{}, size), work: make(chan func(), queue)}
	for range spawn {
		p.sem <- struct{}{}
		go p.worker(func() {})
	}
	return p
}

// schedule runs task on an idle goroutine of the pool, a new one if there
// is room, or waits for one.
func (p *pool) schedule(task func()) {
	select {
	case p.work <- task:
	case p.sem <- struct{}{}:
		go p.worker(task)
	}
}

func (p *pool) worker(task func()) {
	defer func() { <-p.sem }()
	task()
	for task := range p.work {
		task()
	}
}

// readers lend a read buffer to a connection while it is being read.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// conn is a WebSocket connection whose writes are serialized (echo replies,
// control replies and broadcast tasks may write at once).
type conn struct {
	net.Conn
	fd        int
	broadcast bool

	wmu sync.Mutex

	mu     sync.Mutex // guards closed against rearming a reused descriptor
	closed bool
}

func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.Conn.Write(p)
}

// send writes one message as one frame in one write.
func (c *conn) send(op ws.OpCode, p []byte) error {
	w := wsutil.GetWriter(c, ws.StateServerSide, op, len(p)+ws.MaxHeaderSize)
	defer wsutil.PutWriter(w)
	if _, err := w.Write(p); err != nil {
		return err
	}
	return w.Flush()
}

type server struct {
	ep   *netpoll.Epoll
	pool *pool
	out  chan []byte // compiled broadcast frames, to the writer goroutine

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
	c := &conn{Conn: nc, broadcast: strings.HasPrefix(path, "/broadcast")}
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		nc.Close()
		return
	}
	_ = rc.Control(func(fd uintptr) { c.fd = int(fd) })
	if c.broadcast {
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
	}
	err = s.ep.Add(c.fd, events, func(ev netpoll.EpollEvent) {
		// Reading here would block the poller's loop: the pool reads.
		s.pool.schedule(func() {
			if err := s.receive(c); err != nil {
				s.close(c)
				return
			}
			s.rearm(c)
		})
	})
	if err != nil {
		s.close(c)
	}
}

// receive reads and answers every message c has sent so far, with a read
// buffer borrowed for the time being.
func (s *server) receive(c *conn) error {
	br := readers.Get().(*bufio.Reader)
	br.Reset(c.Conn)
	defer func() {
		br.Reset(nil)
		readers.Put(br)
	}()
	control := wsutil.ControlFrameHandler(c, ws.StateServerSide)
	rd := wsutil.DefaultReader(br, ws.StateServerSide)
	rd.OnIntermediate = control
	for {
		hdr, err := rd.NextFrame()
		if err != nil {
			return err
		}
		if hdr.OpCode.IsControl() {
			// Pings are answered, a close frame answered and reported
			// as an error (the connection is done).
			if err := control(hdr, rd); err != nil {
				return err
			}
		} else {
			p, err := readPayload(rd, hdr)
			if err != nil {
				return err
			}
			if c.broadcast {
				s.publish(hdr.OpCode, p)
			} else if err := c.send(hdr.OpCode, p); err != nil {
				return err
			}
		}
		// The buffer must be empty before it goes back to the pool;
		// what the kernel still holds makes epoll report c again.
		if br.Buffered() == 0 {
			return nil
		}
	}
}

// readPayload reads the rest of the message that hdr starts (its other
// fragments too).
func readPayload(rd *wsutil.Reader, hdr ws.Header) ([]byte, error) {
	if hdr.Fin && hdr.Length <= peer.MaxMessage {
		p := make([]byte, hdr.Length)
		_, err := io.ReadFull(rd, p)
		return p, err
	}
	return io.ReadAll(io.LimitReader(rd, peer.MaxMessage))
}

// rearm asks epoll for c's next readable event, unless c was closed (its
// descriptor may belong to another connection by now).
func (s *server) rearm(c *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if err := s.ep.Mod(c.fd, events); err != nil {
		go s.close(c)
	}
}

// close unregisters c and closes it, once.
func (s *server) close(c *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	if c.broadcast {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}
	_ = s.ep.Del(c.fd)
	c.Close()
}

// publish compiles the frame once and queues it for the writer (the
// examples' Chat.Broadcast).
func (s *server) publish(op ws.OpCode, p []byte) {
	s.out <- ws.MustCompileFrame(ws.NewFrame(op, true, p))
}

// writer schedules one write of every broadcast frame per connection on
// the pool (the examples' Chat.writer).
func (s *server) writer() {
	var list []*conn
	for frame := range s.out {
		s.mu.RLock()
		list = list[:0]
		for c := range s.conns {
			list = append(list, c)
		}
		s.mu.RUnlock()
		for _, c := range list {
			s.pool.schedule(func() {
				if _, err := c.Write(frame); err != nil {
					s.close(c)
				}
			})
		}
	}
}

// newServer starts the epoll instance, the pool and the broadcast writer.
func newServer() (*server, error) {
	ep, err := netpoll.EpollCreate(nil)
	if err != nil {
		return nil, err
	}
	s := &server{ep: ep, pool: newPool(128, 1, 1), out: make(chan []byte, 1), conns: map[*conn]struct{}{}}
	go s.writer()
	return s, nil
}

// serve accepts connections from l until it fails, and hands each to the
// pool for its handshake.
func (s *server) serve(l net.Listener) error {
	for {
		nc, err := l.Accept()
		if err != nil {
			return err
		}
		s.pool.schedule(func() { s.handshake(nc) })
	}
}

func main() {
	f := peer.Parse()
	peer.ServeMetrics(f.Metrics)
	s, err := newServer()
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", f.Addr)
	if err != nil {
		log.Fatal(err)
	}
	go func() { log.Fatal(s.serve(l)) }()
	peer.Wait()
}
