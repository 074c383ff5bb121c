// Command wss-measure measures a server under test of ws4go bench over
// wss://, until ws4go bench has wss scenarios of its own: it starts the
// server command given after --, opens -n idle TLS connections to its /ws
// (32 handshakes in flight), reads the server's RSS (/proc) and heap (its
// /metrics) before and after, each after the server's /gc, then echoes
// 64-byte messages on -echo-conns of them in a closed loop for -echo, and
// prints one line: RSS and heap per connection, goroutines, handshakes/s,
// server CPU per handshake, echo msg/s and server CPU per message. Linux
// only (it reads /proc). Build the servers and make a certificate first:
//
//	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
//		-out cert.pem -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1
//	go build -o /tmp/peers/ws4go-server ./bench/cmd/ws4go-server
//	(cd bench/peers && go build -o /tmp/peers/ ./cmd/...)
//	T="-tls-cert cert.pem -tls-key key.pem"
//	go run ./bench/cmd/wss-measure -n 9000 -name ws4go-netpoll -- /tmp/peers/ws4go-server -engine netpoll -addr 127.0.0.1:9400 -metrics 127.0.0.1:9401 $T
//	go run ./bench/cmd/wss-measure -n 9000 -name nbio -- /tmp/peers/nbio -addr 127.0.0.1:9400 -metrics 127.0.0.1:9401 $T
//	go run ./bench/cmd/wss-measure -n 9000 -name gorilla -- /tmp/peers/gorilla -addr 127.0.0.1:9400 -metrics 127.0.0.1:9401 $T
//
// The client verifies no certificate: it measures, it does not test.
package main

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func rss(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v << 10
		}
	}
	return 0
}

func cpu(pid int) time.Duration {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

func metric(maddr, name string) int64 {
	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), name+" ") {
			v, _ := strconv.ParseFloat(strings.Fields(sc.Text())[1], 64)
			return int64(v)
		}
	}
	return -1
}

func gc(maddr string) {
	if resp, err := http.Get("http://" + maddr + "/gc"); err == nil {
		resp.Body.Close()
	}
	time.Sleep(300 * time.Millisecond)
}

type conn struct {
	tc *tls.Conn
	br *bufio.Reader
}

func dial(addr string, cfg *tls.Config) (*conn, error) {
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(tc, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReaderSize(tc, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		tc.Close()
		return nil, err
	}
	if resp.StatusCode != 101 {
		tc.Close()
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return &conn{tc: tc, br: br}, nil
}

func (c *conn) echo(p []byte) error {
	var hdr [6]byte
	hdr[0] = 0x82
	hdr[1] = 0x80 | byte(len(p))
	rand.Read(hdr[2:6])
	m := make([]byte, 6+len(p))
	copy(m, hdr[:])
	for i := range p {
		m[6+i] = p[i] ^ hdr[2+i%4]
	}
	if _, err := c.tc.Write(m); err != nil {
		return err
	}
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return err
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var x [2]byte
		io.ReadFull(c.br, x[:])
		n = int(binary.BigEndian.Uint16(x[:]))
	}
	_, err := io.CopyN(io.Discard, c.br, int64(n))
	return err
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9400", "")
	maddr := flag.String("metrics", "127.0.0.1:9401", "")
	n := flag.Int("n", 3000, "idle connections")
	ec := flag.Int("echo-conns", 100, "")
	ed := flag.Duration("echo", 5*time.Second, "")
	name := flag.String("name", "", "")
	flag.Parse()
	args := flag.Args()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	for i := 0; ; i++ {
		if nc, err := net.Dial("tcp", *maddr); err == nil {
			nc.Close()
			break
		}
		if i > 100 {
			panic("server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	cfg := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}} //nolint:gosec // a measurement, not a test
	gc(*maddr)
	r0, h0 := rss(pid), metric(*maddr, "go_memstats_heap_inuse_bytes")
	conns := make([]*conn, *n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var fails atomic.Int64
	start := time.Now()
	c0 := cpu(pid)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *n {
					return
				}
				c, err := dial(*addr, cfg)
				if err != nil {
					fails.Add(1)
					continue
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	hsDur := time.Since(start)
	hsCPU := cpu(pid) - c0
	time.Sleep(2 * time.Second)
	gc(*maddr)
	r1, h1 := rss(pid), metric(*maddr, "go_memstats_heap_inuse_bytes")
	g := metric(*maddr, "go_goroutines")
	ok := int64(*n) - fails.Load()
	// Echo: the first echo-conns connections, closed loop, 64 bytes.
	msg := make([]byte, 64)
	var msgs atomic.Int64
	stop := time.Now().Add(*ed)
	c0 = cpu(pid)
	t0 := time.Now()
	for i := 0; i < *ec && i < len(conns); i++ {
		c := conns[i]
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if c.echo(msg) != nil {
					return
				}
				msgs.Add(1)
			}
		}()
	}
	wg.Wait()
	if *ec == 0 {
		time.Sleep(*ed)
	}
	el := time.Since(t0)
	ecpu := cpu(pid) - c0
	fmt.Printf("%-16s conns=%d fails=%d rss/conn=%.1fKiB heap/conn=%.1fKiB goroutines=%d handshakes/s=%.0f srvCPU/handshake=%.0fus echo msg/s=%.0f srvCPU/msg=%.1fus\n",
		*name, ok, fails.Load(), float64(r1-r0)/float64(ok)/1024, float64(h1-h0)/float64(ok)/1024, g,
		float64(ok)/hsDur.Seconds(), float64(hsCPU.Microseconds())/float64(ok),
		float64(msgs.Load())/el.Seconds(), float64(ecpu.Microseconds())/float64(msgs.Load()))
}
