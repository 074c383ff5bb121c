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
