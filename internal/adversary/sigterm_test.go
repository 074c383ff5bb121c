//go:build linux

package adversary

import (
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestAdvSIGTERMUnderLoad sends SIGTERM to a server with 2,000
// connections, 100 of them echoing back to back: every client sees a close
// frame with 1001; all but 200 answer it, and the process exits 0 within
// -shutdown-timeout (plus slack), having dropped the 200 that never
// answered.
func TestAdvSIGTERMUnderLoad(t *testing.T) {
	const (
		n          = 2000
		echoers    = 100
		silent     = 200
		shutdownTO = 3 * time.Second
		slack      = 2 * time.Second
	)
	advEachEngine(t, func(t *testing.T, engine string) {
		// A close timeout longer than the shutdown timeout: the process
		// must go by the latter, as serve -h says.
		p := advStart(t, engine, "-shutdown-timeout", shutdownTO.String(), "-close-timeout", "10s")
		conns := advDialMany(t, p.addr, n, advDialOpts{})
		if f, ok := p.waitFigures(t, 10*time.Second, func(f advFigures) bool { return f.Open == n }); !ok {
			t.Fatalf("open=%v, want %d", f.Open, n)
		}
		codes := make([]int, n)
		errs := make([]error, n)
		var echoes atomic.Int64
		var wg sync.WaitGroup
		running := make(chan struct{}, echoers)
		for i := range echoers {
			c := conns[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg := []byte("under load")
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				for k := 0; ; k++ {
					if _, err := c.Write(advFrame(advOpText, true, msg)); err != nil {
						errs[i] = err
						return
					}
					f, err := c.readFrame()
					if err != nil {
						errs[i] = err
						return
					}
					if f.op == advOpClose {
						codes[i] = f.closeCode()
						_, errs[i] = c.Write(advCloseFrame(1001))
						return
					}
					if k == 0 {
						running <- struct{}{}
					}
					echoes.Add(1)
				}
			}()
		}
		for range echoers {
			<-running
		}
		// Some load before the signal: a few thousand echoes.
		tk := time.NewTicker(10 * time.Millisecond)
		for deadline := time.Now().Add(5 * time.Second); echoes.Load() < 5000 && time.Now().Before(deadline); {
			<-tk.C
		}
		tk.Stop()
		before := echoes.Load()
		start := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// The idle ones, by a few readers: their close frames wait in
		// their sockets.
		next := make(chan int)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					c := conns[i]
					codes[i], _, _, errs[i] = c.readClose(10 * time.Second)
					if errs[i] == nil && i >= n-silent {
						continue // never answers
					}
					if errs[i] == nil {
						_, errs[i] = c.Write(advCloseFrame(1001))
					}
				}
			}()
		}
		for i := echoers; i < n; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
		seen := time.Since(start)
		code := p.exitCode(shutdownTO + slack)
		exited := time.Since(start)
		bad := 0
		for i := range n {
			if errs[i] != nil || codes[i] != 1001 {
				if bad < 5 {
					t.Errorf("client %d: close %d, %v; want 1001", i, codes[i], errs[i])
				}
				bad++
			}
		}
		if code != 0 {
			t.Errorf("exit code %d (-1: still running after %v)", code, shutdownTO+slack)
		}
		t.Logf("adversary: sigterm %s: conns=%d echoers=%d echoes_before=%d echoes=%d silent=%d shutdown_timeout=%v all_1001_in=%v exited_in=%v exit=%d bad=%d",
			engine, n, echoers, before, echoes.Load(), silent, shutdownTO, seen.Round(time.Millisecond), exited.Round(time.Millisecond), code, bad)
	})
}
