package bench

import (
	"fmt"
	"strings"
)

// Descriptor limits. Every process of the benchmark is limited in the
// files it may open (RLIMIT_NOFILE; 20,000 on the machines this project
// runs on, and it cannot be raised there). Go programs raise their soft
// limit to the hard limit when they start, so the hard limit is what the
// client processes and the servers under test (all Go programs) get.

// maxPerProcess bounds the connections of one client process whatever its
// limit: past it, more processes (each with its own event loops and source
// addresses) share the load.
const maxPerProcess = 100_000

// PerProcess is the most connections the benchmark puts in one client
// process: nine tenths of the files this process may open, leaving room for
// its other descriptors (18,000 under a limit of 20,000).
func PerProcess() int {
	soft, _, ok := fdLimits()
	if !ok {
		return 18000
	}
	return perProcess(soft)
}

func perProcess(limit uint64) int {
	if limit < 128 {
		return int(limit / 2)
	}
	return int(min(limit-max(limit/10, 64), maxPerProcess))
}

// serverHeadroom is what a server process needs besides its connections:
// listeners, epoll, the metrics endpoint, the runtime's own descriptors.
const serverHeadroom = 64

// CheckLimits checks that the client processes of a run with cfg can hold
// the connections of every scenario under this machine's limit on open
// files (an error if -procs makes a process hold too many), and returns
// warnings where a server process would run out of descriptors. Run calls
// it first; a command may call it before building the servers.
func CheckLimits(cfg Config) ([]string, error) {
	cfg.defaults()
	return checkLimits(&cfg)
}

func checkLimits(cfg *Config) ([]string, error) {
	soft, hard, ok := fdLimits()
	if !ok {
		return nil, nil
	}
	per := perProcess(soft)
	var notes []string
	for _, sc := range cfg.Scenarios {
		conns := cfg.conns(sc)
		if cfg.Procs > 0 {
			each := (conns + cfg.Procs - 1) / cfg.Procs
			if each > per {
				return nil, fmt.Errorf("bench: %s: %d connections in %d client process(es) (-procs %d) is %d per process, but a process here may open %d files (RLIMIT_NOFILE), which leaves room for %d connections: give -procs %d or more, or -procs 0 to let the benchmark pick",
					sc, conns, cfg.Procs, cfg.Procs, each, soft, per, (conns+per-1)/per)
			}
		}
		if flag := connsFlag(sc); flag != "" && uint64(cfg.tcpConns(sc))+serverHeadroom > hard {
			notes = append(notes, fmt.Sprintf("%s: every server holds %d connections in one process, but a process here may open at most %d files (RLIMIT_NOFILE hard limit, which Go servers raise their soft limit to): connections past about %d will fail; lower -%s or raise the limit (ulimit -Hn, as root)",
				sc, conns, hard, hard-serverHeadroom, flag))
		}
	}
	return notes, nil
}

// connsFlag is the flag of ws4go bench that sets the connections of a
// scenario that holds many ("" for the others).
func connsFlag(sc Scenario) string {
	switch sc.plain() {
	case Idle, Broadcast:
		return strings.ToLower(string(sc.plain())) + "-conns"
	case BroadcastRate, Generator:
		return "rate-conns"
	case Topics:
		return "topics-conns"
	}
	return ""
}
