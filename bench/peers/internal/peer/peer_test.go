package peer

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMux(t *testing.T) {
	srv := httptest.NewServer(Mux())
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/gc", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("/gc: %s", resp.Status)
	}
	resp, err = http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"\ngo_goroutines ", "\ngo_memstats_heap_inuse_bytes "} {
		if !strings.Contains("\n"+string(b), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, b)
		}
	}
}

func TestTopicsRequests(t *testing.T) {
	topics, ok := ParseSubscribe([]byte("sub t1 t22  t333"))
	if !ok || strings.Join(topics, ",") != "t1,t22,t333" {
		t.Errorf("ParseSubscribe: %q %v", topics, ok)
	}
	for _, bad := range []string{"sub", "sub ", "subt1", "pub t1", ""} {
		if topics, ok := ParseSubscribe([]byte(bad)); ok {
			t.Errorf("ParseSubscribe(%q) = %q, true", bad, topics)
		}
	}
	topic, payload, ok := SplitPublish([]byte("t7 \x00 payload with spaces"))
	if !ok || string(topic) != "t7" || string(payload) != "\x00 payload with spaces" {
		t.Errorf("SplitPublish: %q %q %v", topic, payload, ok)
	}
	for _, bad := range []string{"t7", " payload", ""} {
		if _, _, ok := SplitPublish([]byte(bad)); ok {
			t.Errorf("SplitPublish(%q) ok", bad)
		}
	}
}
