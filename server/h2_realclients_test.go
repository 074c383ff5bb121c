package server_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/realclients"
	"github.com/ws4go/ws4go/internal/testutil"
	"github.com/ws4go/ws4go/server"
)

// seen is what the server saw of its connections and page loads: the
// HTTP version and the client's address of each.
type seen struct {
	mu    sync.Mutex
	conns []string // "2 127.0.0.1:40000"
	pages []string
}

func (s *seen) add(list *[]string, major int, addr string) {
	s.mu.Lock()
	*list = append(*list, fmt.Sprint(major, " ", addr))
	s.mu.Unlock()
}

func (s *seen) take() (conns, pages []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns, pages = s.conns, s.pages
	s.conns, s.pages = nil, nil
	return conns, pages
}

// recordingCloser is closeOnRequest recording its connection's HTTP
// version and client address.
type recordingCloser struct {
	closeOnRequest
	seen *seen
}

func (h *recordingCloser) Opened(c handler.Conn) {
	h.seen.add(&h.seen.conns, c.Request().ProtoMajor, c.RemoteAddr().String())
}

// multiSocketPage opens three WebSockets at once, echoes a message on each
// and closes each with 4001; it lists the echoes in #result.
const multiSocketPage = `<!DOCTYPE html>
<html><body><pre id="result"></pre><script>
"use strict";
var got = [], n = 3, left = n;
function done() {
  document.getElementById("result").textContent = got.sort().join(",");
  var d = document.createElement("div"); d.id = "done"; document.body.appendChild(d);
}
setTimeout(done, 20000);
for (let i = 0; i < n; i++) {
  let ws = new WebSocket("wss://" + location.host + "/ws");
  ws.onopen = function () { ws.send("socket " + i); };
  ws.onmessage = function (e) { got.push(e.data); ws.close(4001, "bye now"); };
  ws.onclose = function (e) { got.push("closed " + e.code + " " + e.wasClean); if (--left === 0) done(); };
}
</script></body></html>`

// TestRealClientsH2: on a TLS listener offering h2, headless Chromium
// loads an https page and opens its WebSockets over HTTP/2 (RFC 8441): the
// server sees HTTP/2 requests; ChromiumTestPage's echoes (text, binary,
// 1 MiB) and closing handshake with a code pass; three sockets of one page
// share the page's TCP connection. Node's ws and Python's websockets are
// still served over HTTP/1.1 on the same port. Both engines.
func TestRealClientsH2(t *testing.T) {
	testutil.Slow(t)
	cert := trustTestCert(t)
	forEngine(t, func(t *testing.T, e server.Engine) {
		sn := &seen{}
		closed := make(chan [2]string, 8)
		page := http.NewServeMux()
		serve := func(html string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				sn.add(&sn.pages, r.ProtoMajor, r.RemoteAddr)
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = io.WriteString(w, html)
			}
		}
		page.HandleFunc("/", serve(realclients.ChromiumTestPage))
		page.HandleFunc("/multi", serve(multiSocketPage))
		page.HandleFunc("/favicon.ico", http.NotFound)
		addr := start(t, e, &server.Server{
			Routes: map[string]handler.Factory{"/ws": func() handler.Handler {
				return &recordingCloser{closeOnRequest: closeOnRequest{closed: closed}, seen: sn}
			}},
			HTTP:      page,
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()

		t.Run("chromium", func(t *testing.T) {
			chromiumReport(t, ctx, "https://"+addr+"/", "chromium")
			expectClosed(t, closed, realclients.EchoCloseCode, realclients.EchoCloseReason)
			conns, pages := sn.take()
			if len(conns) != 1 || !strings.HasPrefix(conns[0], "2 ") || len(pages) == 0 || !strings.HasPrefix(pages[0], "2 ") {
				t.Fatalf("WebSockets %q, pages %q: want both over HTTP/2", conns, pages)
			}
		})
		t.Run("chromium-shared", func(t *testing.T) {
			dom, err := realclients.RunChromium(ctx, "https://"+addr+"/multi")
			if err != nil {
				t.Fatalf("chromium: %v", err)
			}
			want := "closed 4001 true,closed 4001 true,closed 4001 true,socket 0,socket 1,socket 2"
			if !strings.Contains(dom, want) {
				t.Fatalf("page says %q, want %q", dom, want)
			}
			for range 3 {
				expectClosed(t, closed, realclients.EchoCloseCode, realclients.EchoCloseReason)
			}
			conns, pages := sn.take()
			if len(conns) != 3 || len(pages) == 0 {
				t.Fatalf("WebSockets %q, pages %q", conns, pages)
			}
			for _, c := range conns {
				if c != pages[0] { // "2 ip:port" of the page's own connection
					t.Errorf("WebSocket over %q, page over %q: want one HTTP/2 connection", c, pages[0])
				}
			}
		})
		for name, run := range map[string]func(context.Context, string, realclients.Options) (realclients.Report, error){
			"node":   realclients.RunNode,
			"python": realclients.RunPython,
		} {
			t.Run(name, func(t *testing.T) {
				r, err := run(ctx, "wss://"+addr+"/ws", realclients.Options{})
				checkReport(t, name, r, err)
				expectClosed(t, closed, realclients.EchoCloseCode, realclients.EchoCloseReason)
				if conns, _ := sn.take(); len(conns) != 1 || !strings.HasPrefix(conns[0], "1 ") {
					t.Errorf("%s's WebSockets %q: want one over HTTP/1.1", name, conns)
				}
			})
		}
	})
}
