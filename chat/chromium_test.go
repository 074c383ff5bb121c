package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ws4go/ws4go/chat"
	"github.com/ws4go/ws4go/internal/realclients"
	"github.com/ws4go/ws4go/internal/testutil"
)

// tabPage drives the real demo page (served at /) in an iframe, as a person
// would: it waits until the other tab shows up in the room (its join notice,
// or one of its messages), types K messages into the page's form and submits
// each, and once the page's log shows 2K messages it writes them, in order,
// as JSON into #result and adds #done for RunChromium.
const tabPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>chat tab</title></head>
<body>
<iframe id="f" width="700" height="500"></iframe>
<pre id="result"></pre>
<script>
"use strict";
const p = new URLSearchParams(location.search);
const me = p.get("name"), other = p.get("other"), K = Number(p.get("k")), room = p.get("room");
const f = document.getElementById("f");
let started = false, finished = false;
function finish(res) {
  if (finished) return;
  finished = true;
  document.getElementById("result").textContent = JSON.stringify(res);
  const d = document.createElement("div");
  d.id = "done";
  document.body.appendChild(d);
}
f.onload = () => {
  const doc = f.contentDocument;
  const log = doc.getElementById("log");
  const timer = setTimeout(() => finish({ error: "timeout", log: log.innerText, status: doc.getElementById("status").textContent }), 30000);
  function check() {
    const lines = Array.from(log.children);
    const sawOther = lines.some((l) => l.textContent === "* " + other + " joined" || l.dataset.name === other);
    if (!started && sawOther) {
      started = true;
      const input = doc.getElementById("msg");
      const form = doc.getElementById("form");
      for (let i = 1; i <= K; i++) {
        input.value = me + " says " + i;
        form.requestSubmit();
      }
    }
    const msgs = lines.filter((l) => l.classList.contains("msg"));
    if (msgs.length >= 2 * K) {
      clearTimeout(timer);
      finish({ messages: msgs.map((l) => l.textContent), mine: msgs.filter((l) => l.classList.contains("mine")).length,
               status: doc.getElementById("status").textContent });
    }
  }
  new MutationObserver(check).observe(log, { childList: true });
  check();
};
f.src = "/?room=" + encodeURIComponent(room) + "&name=" + encodeURIComponent(me);
</script>
</body></html>`

type tabResult struct {
	Messages []string `json:"messages"`
	Mine     int      `json:"mine"`
	Status   string   `json:"status"`
	Error    string   `json:"error"`
	Log      string   `json:"log"`
}

func parseTab(dom string) (tabResult, error) {
	const open = `<pre id="result">`
	i := strings.Index(dom, open)
	if i < 0 {
		return tabResult{}, fmt.Errorf("no result in the DOM")
	}
	rest := dom[i+len(open):]
	j := strings.Index(rest, "</pre>")
	var r tabResult
	if j < 0 {
		return r, fmt.Errorf("unterminated result")
	}
	err := json.Unmarshal([]byte(html.UnescapeString(rest[:j])), &r)
	return r, err
}

// TestChromiumTabsChat: two headless Chromium browsers chat through the
// demo page: each sees all the messages of both, in the same order.
func TestChromiumTabsChat(t *testing.T) {
	testutil.Slow(t)
	ch := chat.New(chat.Options{Logger: quietLogger()})
	addr := serveChat(t, ch, nil, nil, map[string]http.Handler{
		"GET /tab": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(tabPage))
		}),
	})
	const k = 5
	names := [2]string{"Ann", "Bob"}
	type outcome struct {
		dom string
		err error
	}
	results := make(chan outcome, 2)
	// Separate browser processes, started at once: each tab waits for
	// the other inside the page.
	for i, name := range names {
		url := fmt.Sprintf("http://%s/tab?room=tabs&name=%s&other=%s&k=%d", addr, name, names[1-i], k)
		go func() {
			dom, err := realclients.RunChromium(context.Background(), url)
			results <- outcome{dom, err}
		}()
	}
	var tabs []tabResult
	for range names {
		o := <-results
		if o.err != nil {
			t.Fatal(o.err)
		}
		r, err := parseTab(o.dom)
		if err != nil {
			t.Fatal(err)
		}
		if r.Error != "" {
			t.Fatalf("tab: %s; status %q; log:\n%s", r.Error, r.Status, r.Log)
		}
		tabs = append(tabs, r)
	}
	for _, r := range tabs {
		if len(r.Messages) != 2*k || r.Mine != k {
			t.Fatalf("a tab saw %d messages (%d its own), want %d (%d): %q", len(r.Messages), r.Mine, 2*k, k, r.Messages)
		}
		for _, name := range names {
			var own []string
			for _, m := range r.Messages {
				if strings.HasPrefix(m, name+": ") {
					own = append(own, m)
				}
			}
			for i, m := range own {
				if want := fmt.Sprintf("%s: %s says %d", name, name, i+1); m != want {
					t.Fatalf("%s's message %d shows as %q, want %q", name, i+1, m, want)
				}
			}
			if len(own) != k {
				t.Fatalf("%d of %s's messages shown, want %d", len(own), name, k)
			}
		}
		if !strings.Contains(r.Status, "in room tabs as") {
			t.Fatalf("status %q", r.Status)
		}
	}
	if !slices.Equal(tabs[0].Messages, tabs[1].Messages) {
		t.Fatalf("the tabs show different orders:\n%q\n%q", tabs[0].Messages, tabs[1].Messages)
	}
}
