//go:build unix && !linux

package process

import "syscall"

// Outside Linux there is no parent-death signal, no prlimit on another
// process, and no way to wait without reaping: the group is killed after the
// leader is reaped, with a small risk of its id having been reused.

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func limitFiles(pid, n int) {}

func waitExited(pid int) bool { return false }
