package realclients

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ChromiumTimeout bounds a RunChromium call whose context has no earlier
// deadline.
const ChromiumTimeout = 60 * time.Second

// ChromiumFlags are the command-line flags RunChromium starts Chromium with,
// besides --user-data-dir (in a fresh temporary directory) and
// --remote-debugging-pipe. The background-networking flags keep it from
// flooding a closed network.
var ChromiumFlags = []string{
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
}

func chromiumBin() string { return envOr("WS4GO_CHROMIUM", "/usr/bin/chromium") }

func chromiumCheck() error {
	return chromiumAvail.check(func() error {
		return probe(chromiumInstallHint, nil, chromiumBin(), "--version")
	})
}

// ChromiumAvailable reports whether Chromium (WS4GO_CHROMIUM, default
// /usr/bin/chromium) can be run. The probe runs once per process.
func ChromiumAvailable() bool { return chromiumCheck() == nil }

// chromiumStarted, when set (by tests), is called with the browser's process
// id and user-data-dir once it has started.
var chromiumStarted func(pid int, userDataDir string)

// RunChromium loads pageURL in a fresh headless Chromium, waits until the page
// has added an element with id "done" to its DOM, and returns the DOM then
// (document.documentElement.outerHTML). With ChromiumTestPage, pass the result
// to ParseChromiumResult.
//
// Chromium is driven over the DevTools protocol on a pipe
// (--remote-debugging-pipe), so the page runs in real time: --dump-dom with
// --virtual-time-budget would fast-forward the page's timers while its
// WebSocket traffic is still in flight. Every Chromium process is killed (the
// whole process group) and the temporary user-data-dir removed before
// RunChromium returns. The call fails when ctx ends or ChromiumTimeout
// passes before #done appears; the error then includes the DOM as it was.
func RunChromium(ctx context.Context, pageURL string) (string, error) {
	if err := chromiumCheck(); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, ChromiumTimeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "realclients-chromium-")
	if err != nil {
		return "", err
	}
	// Deferred first, so it runs last, once every process is gone.
	defer os.RemoveAll(dir)

	// Chromium reads commands from fd 3 and writes replies to fd 4.
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		return "", err
	}
	defer cmdW.Close()
	replyR, replyW, err := os.Pipe()
	if err != nil {
		cmdR.Close()
		return "", err
	}
	defer replyR.Close()

	// HOME and the XDG directories point into dir too, so that nothing is
	// written outside it (crash reports, dconf, caches).
	home := filepath.Join(dir, "home")
	profile := filepath.Join(dir, "profile")
	args := append(append([]string(nil), ChromiumFlags...),
		"--user-data-dir="+profile, "--remote-debugging-pipe", "about:blank")
	stderr := &tailBuffer{max: 16 << 10}
	cmd := exec.Command(chromiumBin(), args...)
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local", "share"),
	)
	cmd.ExtraFiles = []*os.File{cmdR, replyW}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second // in case something escaped the group holding stderr
	err = cmd.Start()
	cmdR.Close()
	replyW.Close()
	if err != nil {
		return "", fmt.Errorf("realclients: starting chromium: %w", err)
	}
	if chromiumStarted != nil {
		chromiumStarted(cmd.Process.Pid, dir)
	}
	defer func() {
		// The browser is not reaped before Wait, so its process group
		// cannot have been reused meanwhile.
		killAll(cmd.Process.Pid, dir, 10*time.Second)
		_ = cmd.Wait()
	}()

	c := newCDPConn(cmdW, replyR)
	dom, err := c.loadAndWait(ctx, pageURL)
	if err != nil {
		return "", fmt.Errorf("realclients: chromium on %s: %w; chromium stderr: %s", pageURL, err, tail(stderr.Bytes()))
	}
	return dom, nil
}

// killAll kills every process of process group pgid and every process whose
// command line mentions dir, and waits until none of them is still running
// (zombies aside), for at most timeout. The second kind catches Chromium's
// chrome_crashpad_handler, which leaves the process group (setsid) but is
// started with --database under dir/home. (--disable-crashpad-for-testing
// would avoid it, but together with --remote-debugging-pipe it makes the
// network service crash with "FD ownership violation".)
//
// kill(2) only queues the signal, and killed children are reaped by init,
// not by us: hence the wait, so that no process outlives RunChromium.
func killAll(pgid int, dir string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		live := liveProcesses(pgid, dir)
		for _, pid := range live {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if len(live) == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// liveProcesses lists, from /proc, the processes other than this one that are
// not zombies and either belong to process group pgid or have dir in their
// command line.
func liveProcesses(pgid int, dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces and ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
			pids = append(pids, pid)
			continue
		}
		if cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && bytes.Contains(cmdline, []byte(dir)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitDoneJS evaluates to a promise of the DOM once #done exists.
const waitDoneJS = `new Promise(function (resolve) {
  function ready() { return document.getElementById("done") !== null; }
  function dom() { return document.documentElement.outerHTML; }
  if (ready()) { resolve(dom()); return; }
  new MutationObserver(function (_, obs) {
    if (ready()) { obs.disconnect(); resolve(dom()); }
  }).observe(document, { childList: true, subtree: true });
})`

func (c *cdpConn) loadAndWait(ctx context.Context, pageURL string) (string, error) {
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := c.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return "", err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := c.call(ctx, "", "Target.attachToTarget",
		map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		return "", err
	}
	session := attached.SessionID

	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := c.call(ctx, session, "Page.navigate", map[string]any{"url": pageURL}, &nav); err != nil {
		return "", err
	}
	if nav.ErrorText != "" {
		return "", fmt.Errorf("navigation failed: %s", nav.ErrorText)
	}

	var lastErr error
	for {
		var eval struct {
			Result struct {
				Type  string `json:"type"`
				Value any    `json:"value"`
			} `json:"result"`
			ExceptionDetails json.RawMessage `json:"exceptionDetails"`
		}
		err := c.call(ctx, session, "Runtime.evaluate", map[string]any{
			"expression":    waitDoneJS,
			"awaitPromise":  true,
			"returnByValue": true,
		}, &eval)
		if ctx.Err() != nil {
			return "", fmt.Errorf("no #done in the page: %w (last devtools error: %v); DOM: %s",
				ctx.Err(), lastErr, c.snapshot(ctx, session))
		}
		var cdpErr *cdpError
		if errors.As(err, &cdpErr) {
			// The evaluation ran in a document that went away (about:blank
			// being replaced by the page): evaluate again in the new one.
			lastErr = err
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			return "", err
		}
		if len(eval.ExceptionDetails) > 0 {
			return "", fmt.Errorf("waiting for #done: %s", eval.ExceptionDetails)
		}
		if s, ok := eval.Result.Value.(string); ok {
			return s, nil
		}
		return "", fmt.Errorf("waiting for #done: unexpected result type %q", eval.Result.Type)
	}
}

// snapshot returns the current DOM (for error messages), waiting briefly.
func (c *cdpConn) snapshot(ctx context.Context, session string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	var eval struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
	}
	err := c.call(ctx, session, "Runtime.evaluate", map[string]any{
		"expression":    "document.documentElement.outerHTML",
		"returnByValue": true,
	}, &eval)
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	s, _ := eval.Result.Value.(string)
	return tail([]byte(s))
}

// cdpConn is a minimal Chrome DevTools Protocol client over the
// --remote-debugging-pipe pipes: NUL-terminated JSON messages.
type cdpConn struct {
	w   *os.File
	wmu sync.Mutex

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan cdpMessage
	readErr error
	done    chan struct{} // closed when the reader stops
}

type cdpMessage struct {
	ID     int64           `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *cdpError       `json:"error"`
}

// cdpError is an error reply to a DevTools protocol command.
type cdpError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *cdpError) Error() string { return fmt.Sprintf("devtools error %d: %s", e.Code, e.Message) }

func newCDPConn(w, r *os.File) *cdpConn {
	c := &cdpConn{w: w, pending: make(map[int64]chan cdpMessage), done: make(chan struct{})}
	go c.readLoop(r)
	return c
}

func (c *cdpConn) readLoop(r io.Reader) {
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			close(c.done)
			return
		}
		var msg cdpMessage
		if json.Unmarshal(raw[:len(raw)-1], &msg) != nil || msg.ID == 0 {
			continue // an event
		}
		c.mu.Lock()
		ch := c.pending[msg.ID]
		delete(c.pending, msg.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- msg // buffered
		}
	}
}

func (c *cdpConn) call(ctx context.Context, session, method string, params, result any) error {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan cdpMessage, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	msg, err := json.Marshal(struct {
		ID        int64  `json:"id"`
		Method    string `json:"method"`
		Params    any    `json:"params,omitempty"`
		SessionID string `json:"sessionId,omitempty"`
	}{id, method, params, session})
	if err != nil {
		return err
	}
	c.wmu.Lock()
	stop := context.AfterFunc(ctx, func() { _ = c.w.SetWriteDeadline(time.Now()) })
	_, err = c.w.Write(append(msg, 0))
	stop()
	c.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: writing to chromium: %w", method, err)
	}

	select {
	case reply := <-ch:
		if reply.Error != nil {
			return fmt.Errorf("%s: %w", method, reply.Error)
		}
		if result != nil {
			if err := json.Unmarshal(reply.Result, result); err != nil {
				return fmt.Errorf("%s: decoding reply: %w", method, err)
			}
		}
		return nil
	case <-c.done:
		c.mu.Lock()
		err := c.readErr
		c.mu.Unlock()
		return fmt.Errorf("%s: chromium went away: %v", method, err)
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// ParseChromiumResult extracts the report ChromiumTestPage wrote into its
// <pre id="result"> element from the DOM RunChromium returned.
func ParseChromiumResult(dom string) (Report, error) {
	const open = `<pre id="result">`
	i := strings.Index(dom, open)
	if i < 0 {
		return Report{}, fmt.Errorf("realclients: no %s in the DOM: %s", open, tail([]byte(dom)))
	}
	rest := dom[i+len(open):]
	j := strings.Index(rest, "</pre>")
	if j < 0 {
		return Report{}, fmt.Errorf("realclients: unterminated %s in the DOM: %s", open, tail([]byte(dom)))
	}
	var r Report
	if err := json.Unmarshal([]byte(html.UnescapeString(rest[:j])), &r); err != nil {
		return Report{}, fmt.Errorf("realclients: bad report in %s: %v: %s", open, err, tail([]byte(rest[:j])))
	}
	return r, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

// Bytes returns a copy of the bytes kept.
func (b *tailBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf)
}
