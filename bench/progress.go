package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progress shows how far a long run is: a bar redrawn in place on a
// terminal, plain lines every few seconds otherwise (CI logs, files).
type progress struct {
	w   io.Writer
	tty bool
	mu  sync.Mutex
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// phase shows label until the returned stop is called: against the
// expected duration if dur > 0, else against count's (done, total) if
// count is set, else as time elapsed.
func (p *progress) phase(label string, dur time.Duration, count func() (done, total int64)) (stop func()) {
	if p.w == io.Discard {
		return func() {}
	}
	start := time.Now()
	quit := make(chan struct{})
	var wg sync.WaitGroup
	every := 5 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	} else {
		p.printf("%s\n", label)
	}
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				p.show(label, start, dur, count)
			}
		}
	})
	return func() {
		close(quit)
		wg.Wait()
		el := time.Since(start).Round(100 * time.Millisecond)
		if p.tty {
			p.printf("\r\033[K%s: done in %v\n", label, el)
		} else {
			p.printf("%s: done in %v\n", label, el)
		}
	}
}

func (p *progress) show(label string, start time.Time, dur time.Duration, count func() (int64, int64)) {
	el := time.Since(start)
	frac := -1.0
	var what string
	switch {
	case dur > 0:
		frac = min(1, el.Seconds()/dur.Seconds())
		what = fmt.Sprintf("%.0fs/%.0fs", el.Seconds(), dur.Seconds())
	case count != nil:
		done, total := count()
		if total > 0 {
			frac = min(1, float64(done)/float64(total))
		}
		what = fmt.Sprintf("%d/%d, %.0fs", done, total, el.Seconds())
	default:
		what = fmt.Sprintf("%.0fs", el.Seconds())
	}
	if !p.tty {
		p.printf("%s: %s\n", label, what)
		return
	}
	bar := ""
	if frac >= 0 {
		const width = 30
		n := int(frac * width)
		bar = fmt.Sprintf(" [%s%s] %3.0f%%", strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*frac)
	}
	p.printf("\r\033[K%s%s %s", label, bar, what)
}

func (p *progress) printf(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, a...)
}
