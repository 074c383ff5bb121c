package bench

import "syscall"

// childAttr makes child processes (servers, workers) die with the
// benchmark, even if it is killed.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
