// Command h2-measure compares WebSockets over HTTP/2 (RFC 8441) with
// WebSockets over HTTP/1.1 TLS on one server under test, in one run: for
// each of the two, it starts the server command given after -- (afresh, so
// that the figures do not mix), opens -n idle WebSockets with ws4go's
// client (over HTTP/1.1: one TLS connection each; over HTTP/2: streams of
// as few connections as the server's SETTINGS_MAX_CONCURRENT_STREAMS
// allows), reads the server's RSS and heap per WebSocket (after its /gc),
// then echoes 64-byte messages on -echo-conns of them in a closed loop for
// -echo and reads the server's CPU per message. It prints a line each and
// the ratios HTTP/2 : HTTP/1.1. The server must offer h2 (ALPN) and
// extended CONNECT; the figures are the server's, read from /proc (Linux)
// with package bench's readers.
//
//	go build -o /tmp/ws4go-server ./bench/cmd/ws4go-server
//	T="-tls-cert cert.pem -tls-key key.pem -h2"
//	go run ./bench/cmd/h2-measure -n 2000 -- /tmp/ws4go-server -engine netpoll -addr 127.0.0.1:9400 -metrics 127.0.0.1:9401 $T
//
// The client verifies no certificate: it measures, it does not test.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ws4go/ws4go/bench"
	"github.com/ws4go/ws4go/client"
	"github.com/ws4go/ws4go/handler"
	_ "github.com/ws4go/ws4go/xconnect"
)

// result is one protocol's figures.
type result struct {
	name             string
	conns, tcp       int
	rss, heap        float64 // bytes per WebSocket
	goroutines       float64 // the server's
	clientGoroutines int
	msgsPerS, cpuMsg float64 // echo: messages/s, server CPU µs per message
}

// echoer hands each message it receives to its connection's channel.
type echoer struct {
	handler.Base
	got chan struct{}
}

func (e *echoer) ReceivedMessage(handler.Conn, handler.Message) { e.got <- struct{}{} }

func main() {
	addr := flag.String("addr", "127.0.0.1:9400", "the server's WebSocket `host:port`")
	maddr := flag.String("metrics", "127.0.0.1:9401", "the server's /metrics and /gc `host:port`")
	n := flag.Int("n", 2000, "idle WebSockets")
	ec := flag.Int("echo-conns", 100, "WebSockets echoing")
	ed := flag.Duration("echo", 5*time.Second, "echo duration")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: h2-measure [flags] -- server command")
		os.Exit(2)
	}
	var rs []result
	for _, h2 := range []bool{false, true} {
		r, err := measure(h2, *addr, *maddr, *n, *ec, *ed, flag.Args())
		if err != nil {
			fmt.Fprintln(os.Stderr, "h2-measure:", err)
			os.Exit(1)
		}
		fmt.Printf("%-8s websockets=%d tcp=%d rss/ws=%.1fKiB heap/ws=%.1fKiB goroutines=%.0f (client: %d) echo msg/s=%.0f srvCPU/msg=%.1fus\n",
			r.name, r.conns, r.tcp, r.rss/1024, r.heap/1024, r.goroutines, r.clientGoroutines, r.msgsPerS, r.cpuMsg)
		rs = append(rs, r)
	}
	h1, h2 := rs[0], rs[1]
	fmt.Printf("HTTP/2 : HTTP/1.1  rss/ws %.2f  heap/ws %.2f  srvCPU/msg %.2f  msg/s %.2f\n",
		h2.rss/h1.rss, h2.heap/h1.heap, h2.cpuMsg/h1.cpuMsg, h2.msgsPerS/h1.msgsPerS)
}

// measure runs one protocol against a fresh server process.
func measure(h2 bool, addr, maddr string, n, ec int, ed time.Duration, args []string) (result, error) {
	r := result{name: "HTTP/1.1"}
	if h2 {
		r.name = "HTTP/2"
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return r, err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	pid := cmd.Process.Pid
	murl := "http://" + maddr
	ctx := context.Background()
	for i := 0; ; i++ {
		if nc, err := net.Dial("tcp", maddr); err == nil {
			nc.Close()
			break
		}
		if i > 200 {
			return r, fmt.Errorf("the server did not start")
		}
		time.Sleep(50 * time.Millisecond) // polling a starting process, not synchronising goroutines
	}
	usage := func() (rss, heap, gor float64, cpu time.Duration, err error) {
		if err = bench.ServerGC(ctx, murl+"/gc"); err != nil {
			return
		}
		var rb int64
		rb, cpu, err = bench.ProcUsage(pid)
		heap, _ = bench.ServerMetric(ctx, murl+"/metrics", "go_memstats_heap_inuse_bytes")
		gor, _ = bench.ServerMetric(ctx, murl+"/metrics", "go_goroutines")
		return float64(rb), heap, gor, cpu, err
	}
	rss0, heap0, _, _, err := usage()
	if err != nil {
		return r, err
	}

	opts := &client.Options{
		TLSConfig:    &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a measurement, not a test
		Compression:  client.Compression{Disable: true},
		PingInterval: -1,
	}
	want := "HTTP/1.1"
	if h2 {
		opts.HTTP2, want = new(client.HTTP2Pool), "HTTP/2.0"
	}
	conns := make([]*client.Conn, n)
	echoers := make([]*echoer, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				e := &echoer{got: make(chan struct{}, 1)}
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				c, err := client.Dial(dctx, "wss://"+addr+"/ws", e, opts)
				cancel()
				if err != nil {
					failed.Store(err)
					return
				}
				if c.Proto() != want {
					failed.Store(fmt.Errorf("the WebSocket runs over %s, want %s", c.Proto(), want))
				}
				conns[i], echoers[i] = c, e
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return r, err
	}
	defer func() {
		for _, c := range conns {
			c.Terminate()
		}
	}()
	tcp := map[string]bool{}
	for _, c := range conns {
		tcp[c.LocalAddr().String()] = true
	}
	r.conns, r.tcp, r.clientGoroutines = n, len(tcp), runtime.NumGoroutine()
	time.Sleep(2 * time.Second) // let the server's handshake garbage settle before its GC
	rss1, heap1, gor, _, err := usage()
	if err != nil {
		return r, err
	}
	r.rss, r.heap, r.goroutines = (rss1-rss0)/float64(n), (heap1-heap0)/float64(n), gor

	msg := make([]byte, 64)
	var msgs atomic.Int64
	_, cpu0, _ := bench.ProcUsage(pid)
	t0 := time.Now()
	stop := t0.Add(ed)
	for i := 0; i < ec && i < n; i++ {
		c, e := conns[i], echoers[i]
		wg.Go(func() {
			for time.Now().Before(stop) {
				if c.SendBinary(msg) != nil {
					return
				}
				select {
				case <-e.got:
				case <-time.After(10 * time.Second):
					return
				}
				msgs.Add(1)
			}
		})
	}
	wg.Wait()
	el := time.Since(t0)
	_, cpu1, _ := bench.ProcUsage(pid)
	r.msgsPerS = float64(msgs.Load()) / el.Seconds()
	r.cpuMsg = float64((cpu1 - cpu0).Microseconds()) / float64(msgs.Load())
	return r, nil
}
