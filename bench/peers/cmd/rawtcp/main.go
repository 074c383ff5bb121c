// Command rawtcp is the floor of the benchmark: plain TCP over epoll, no
// WebSocket at all. With -mode echo it writes back whatever it reads; with
// -mode broadcast it writes whatever it reads from one connection to every
// connection (the sender too). Each of GOMAXPROCS event loops accepts on the
// shared listener (EPOLLEXCLUSIVE) and serves the connections it accepted
// with one read buffer per loop; a connection costs a descriptor and a small
// struct.
package main

import (
	"log"
	"net/netip"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ws4go/ws4go/bench/peers/internal/peer"
)

const epollET = 1 << 31

type conn struct {
	fd  int
	mu  sync.Mutex // guards out (broadcast writes come from any loop)
	out []byte
}

// write sends p, keeping what the socket does not take for EPOLLOUT.
func (c *conn) write(p []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.out) > 0 {
		c.out = append(c.out, p...)
		return true
	}
	for len(p) > 0 {
		n, err := unix.Write(c.fd, p)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			return false
		}
		p = p[n:]
	}
	if len(p) > 0 {
		c.out = append(c.out, p...)
	}
	return true
}

func (c *conn) flush() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.out) > 0 {
		n, err := unix.Write(c.fd, c.out)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return true
		}
		if err != nil {
			return false
		}
		c.out = c.out[n:]
	}
	c.out = nil
	return true
}

type server struct {
	ln        int
	broadcast bool
	mu        sync.RWMutex
	all       map[*conn]struct{} // broadcast mode
}

func (s *server) loop() {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		log.Fatal(err)
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, s.ln, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(s.ln)}); err != nil {
		log.Fatal(err)
	}
	conns := map[int32]*conn{}
	buf := make([]byte, 64<<10)
	events := make([]unix.EpollEvent, 256)
	closeConn := func(c *conn) {
		if s.broadcast {
			s.mu.Lock()
			delete(s.all, c)
			s.mu.Unlock()
		}
		delete(conns, int32(c.fd))
		c.mu.Lock()
		unix.Close(c.fd)
		c.fd = -1
		c.mu.Unlock()
	}
	for {
		n, err := unix.EpollWait(ep, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == s.ln {
				for {
					fd, _, err := unix.Accept4(s.ln, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
					if err != nil {
						break
					}
					_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
					c := &conn{fd: fd}
					conns[int32(fd)] = c
					if s.broadcast {
						s.mu.Lock()
						s.all[c] = struct{}{}
						s.mu.Unlock()
					}
					_ = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | epollET, Fd: int32(fd)})
				}
				continue
			}
			c := conns[ev.Fd]
			if c == nil {
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 && !c.flush() {
				closeConn(c)
				continue
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
				continue
			}
			for {
				n, err := unix.Read(c.fd, buf)
				if err == unix.EINTR {
					continue
				}
				if err == unix.EAGAIN {
					break
				}
				if err != nil || n == 0 {
					closeConn(c)
					break
				}
				if s.broadcast {
					s.mu.RLock()
					for d := range s.all {
						d.write(buf[:n])
					}
					s.mu.RUnlock()
				} else if !c.write(buf[:n]) {
					closeConn(c)
					break
				}
			}
		}
	}
}

func main() {
	f := peer.Parse()
	peer.ServeMetrics(f.Metrics)
	ap, err := netip.ParseAddrPort(f.Addr)
	if err != nil || !ap.Addr().Is4() {
		log.Fatalf("-addr %q: want IPv4 host:port", f.Addr)
	}
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		log.Fatal(err)
	}
	_ = unix.SetsockoptInt(ln, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		log.Fatal(err)
	}
	if err := unix.Listen(ln, 4096); err != nil {
		log.Fatal(err)
	}
	s := &server{ln: ln, broadcast: f.Mode == "broadcast", all: map[*conn]struct{}{}}
	for range runtime.GOMAXPROCS(0) {
		go s.loop()
	}
	peer.Wait()
}
