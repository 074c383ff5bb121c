package bench

import (
	"strings"
	"testing"
)

func TestPerProcess(t *testing.T) {
	for limit, want := range map[uint64]int{20000: 18000, 1024: 922, 100: 50, 1 << 40: maxPerProcess} {
		if got := perProcess(limit); got != want {
			t.Errorf("perProcess(%d) = %d, want %d", limit, got, want)
		}
	}
}

func TestCheckLimits(t *testing.T) {
	soft, hard, ok := fdLimits()
	if !ok {
		t.Skip("no RLIMIT_NOFILE here")
	}
	per := perProcess(soft)
	cfg := Config{Scenarios: []Scenario{Idle}, IdleConns: 2*per + 1, Procs: 2}
	_, err := CheckLimits(cfg)
	if err == nil || !strings.Contains(err.Error(), "give -procs 3 or more") {
		t.Fatalf("%d connections over 2 processes of %d: %v", cfg.IdleConns, per, err)
	}
	cfg.Procs = 3
	if _, err := CheckLimits(cfg); err != nil {
		t.Fatalf("3 processes: %v", err)
	}
	cfg.Procs = 0
	if _, err := CheckLimits(cfg); err != nil {
		t.Fatalf("processes picked: %v", err)
	}
	if hard > 1<<30 {
		return
	}
	cfg.IdleConns = int(hard)
	notes, err := CheckLimits(cfg)
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], "lower -idle-conns") {
		t.Fatalf("server past the limit: %q %v", notes, err)
	}
	cfg.IdleConns = 100
	if notes, err := CheckLimits(cfg); err != nil || len(notes) != 0 {
		t.Fatalf("100 connections: %q %v", notes, err)
	}
}
