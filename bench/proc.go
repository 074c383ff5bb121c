package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// procStats are a process's resource figures, read from /proc/PID/status
// and /proc/PID/stat.
type procStats struct {
	RSS     int64         // resident set size, bytes (VmRSS)
	HWM     int64         // peak resident set size, bytes (VmHWM)
	Threads int           // OS threads
	CPU     time.Duration // user + system CPU time used so far
}

// clockTick is USER_HZ, the unit of the CPU times in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports.
const clockTick = 100

// readProcStats reads the figures of process pid (0: this process).
func readProcStats(pid int) (procStats, error) {
	dir := "/proc/self"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	var s procStats
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return s, err
	}
	if err := parseProcStatus(status, &s); err != nil {
		return s, err
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, err
	}
	s.CPU, err = parseProcStatCPU(stat)
	return s, err
}

// parseProcStatus reads VmRSS, VmHWM and Threads from /proc/PID/status.
func parseProcStatus(b []byte, s *procStats) error {
	found := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		switch key {
		case "VmRSS", "VmHWM":
			n, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return fmt.Errorf("/proc status %s: %v", key, err)
			}
			if len(fields) > 1 && fields[1] == "kB" {
				n <<= 10
			}
			if key == "VmRSS" {
				s.RSS = n
				found++
			} else {
				s.HWM = n
			}
		case "Threads":
			n, err := strconv.Atoi(fields[0])
			if err != nil {
				return fmt.Errorf("/proc status Threads: %v", err)
			}
			s.Threads = n
		}
	}
	if found == 0 {
		return errors.New("/proc status: no VmRSS (process gone?)")
	}
	return nil
}

// parseProcStatCPU returns utime + stime from /proc/PID/stat. The command
// name (field 2) is in parentheses and may hold spaces, so fields are
// counted from the last ')'.
func parseProcStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no ')'")
	}
	f := strings.Fields(string(b[i+1:]))
	// After ")": state(3) ppid(4) ... utime(14) stime(15): indexes 11, 12.
	if len(f) < 13 {
		return 0, errors.New("/proc stat: too few fields")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: %v", err)
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// parseMetric returns the value of the first sample of metric name in a
// Prometheus text exposition, and whether there was one.
func parseMetric(r io.Reader, name string) (float64, bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // a longer name
		}
		if rest[0] == '{' {
			j := strings.IndexByte(rest, '}')
			if j < 0 {
				continue
			}
			rest = rest[j+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		return v, true
	}
	return 0, false
}

// metricsClient holds no idle connection open to the server it measures.
var metricsClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// scrapeMetric fetches url (a Prometheus /metrics page) and returns metric
// name's value.
func scrapeMetric(ctx context.Context, url, name string) (float64, bool) {
	if url == "" {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, false
	}
	resp, err := metricsClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	return parseMetric(resp.Body, name)
}

// postGC posts to url (a server's /gc) and waits for its answer: the
// server has collected its garbage once it answers.
func postGC(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	resp, err := metricsClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// machineBusy returns the CPU time all cores of the machine have spent
// busy (everything but idle and iowait), from /proc/stat.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStatBusy(b)
}

func parseProcStatBusy(b []byte) (time.Duration, error) {
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %v", err)
		}
		// user nice system idle iowait irq softirq steal guest guest_nice;
		// guest time is already counted in user.
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTick, nil
}
