package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseProcStatus(t *testing.T) {
	status := "Name:\tws4go-server\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t 1300000 kB\nVmHWM:\t  200000 kB\nVmRSS:\t  170000 kB\nThreads:\t8\n"
	var s procStats
	if err := parseProcStatus([]byte(status), &s); err != nil {
		t.Fatal(err)
	}
	if s.RSS != 170000<<10 || s.HWM != 200000<<10 || s.Threads != 8 {
		t.Fatalf("got %+v", s)
	}
	if err := parseProcStatus([]byte("Name:\tzombie\nThreads:\t1\n"), &s); err == nil {
		t.Fatal("no VmRSS: no error")
	}
}

func TestParseProcStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "4242 (weird ) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 130 0 0 20 0 8 0 12345 1000000 4000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
	cpu, err := parseProcStatCPU([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if cpu != 3800*time.Millisecond {
		t.Fatalf("cpu %v, want 3.8s", cpu)
	}
	if _, err := parseProcStatCPU([]byte("12 (x) S 1 2")); err == nil {
		t.Fatal("short stat: no error")
	}
}

func TestReadProcStatsSelf(t *testing.T) {
	s, err := readProcStats(0)
	if err != nil {
		t.Skip("no /proc:", err)
	}
	if s.RSS <= 0 || s.Threads <= 0 || s.HWM < s.RSS {
		t.Fatalf("implausible: %+v", s)
	}
}

func TestParseMetric(t *testing.T) {
	page := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines_total_fake 99
go_goroutines{instance="a"} 15008
go_threads 8
`
	if v, ok := parseMetric(strings.NewReader(page), "go_goroutines"); !ok || v != 15008 {
		t.Fatalf("go_goroutines = %v %v", v, ok)
	}
	if v, ok := parseMetric(strings.NewReader(page), "go_threads"); !ok || v != 8 {
		t.Fatalf("go_threads = %v %v", v, ok)
	}
	if _, ok := parseMetric(strings.NewReader(page), "absent"); ok {
		t.Fatal("absent metric found")
	}
}

func TestParseProcStatBusy(t *testing.T) {
	stat := "cpu  100 5 50 1000 20 3 7 0 30 0\ncpu0 50 2 25 500 10 1 3 0 15 0\n"
	busy, err := parseProcStatBusy([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if busy != 1650*time.Millisecond { // 100+5+50+3+7+0 ticks
		t.Fatalf("busy %v", busy)
	}
	if _, err := machineBusy(); err != nil {
		t.Skip("no /proc/stat:", err)
	}
}

func TestGCAndMetricsHandlers(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metricsHandler())
	mux.Handle("/gc", gcHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()
	if err := postGC(ctx, srv.URL+"/gc"); err != nil {
		t.Fatal(err)
	}
	if err := postGC(ctx, srv.URL+"/nothing"); err == nil {
		t.Fatal("no /gc: no error")
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes"} {
		if v, ok := scrapeMetric(ctx, srv.URL+"/metrics", name); !ok || v <= 0 {
			t.Errorf("%s = %v, %v", name, v, ok)
		}
	}
}
