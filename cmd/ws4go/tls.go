package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// certReloader holds the certificate of -tls-cert and -tls-key and loads it
// again on SIGHUP, or when either file changes: connections made before keep
// theirs, new ones get the new one. A pair that fails to load (a renewal
// half written, a key that does not match) leaves the old one in use; it
// is logged, and tried again at the next check.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cur               atomic.Pointer[tls.Certificate]
	seen              string // the files' sizes and times at the last load or failure (watch's)
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.cur.Load(), nil }

// load reads the pair. The files' stamp is taken before they are read, so
// a change that lands during or after the read (the key written after the
// certificate) is seen by the next check.
func (r *certReloader) load() error {
	st := r.stamp()
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	r.seen = st
	if err != nil {
		return err
	}
	r.cur.Store(&cert)
	return nil
}

// stamp identifies the files' contents cheaply: size and time of each.
func (r *certReloader) stamp() string {
	var b strings.Builder
	for _, name := range []string{r.certFile, r.keyFile} {
		if fi, err := os.Stat(name); err == nil {
			fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

// watch reloads on SIGHUP, and every check if the files changed, until ctx
// ends.
func (r *certReloader) watch(ctx context.Context, check time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if check > 0 {
		t := time.NewTicker(check)
		defer t.Stop()
		tick = t.C
	}
	for {
		why := "SIGHUP"
		select {
		case <-ctx.Done():
			return
		case <-hup:
		case <-tick:
			if r.stamp() == r.seen {
				continue
			}
			why = "the files changed"
		}
		if err := r.load(); err != nil { // not again until they change again (or SIGHUP)
			r.log.Error("reloading the TLS certificate failed; keeping the old one", "why", why, "err", err)
			continue
		}
		r.log.Info("TLS certificate reloaded", "why", why, "cert", r.certFile)
	}
}
