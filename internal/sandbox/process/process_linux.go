package process

import (
	"syscall"

	"golang.org/x/sys/unix"
)

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		// Its own group, so Destroy reaches everything it forks.
		Setpgid: true,
		// The sandbox must not outlive the invoker. (The signal follows the
		// death of the thread that forked; Go keeps threads alive unless a
		// goroutine exits while locked to one, which this package never does.)
		Pdeathsig: syscall.SIGKILL,
	}
}

// limitFiles sets RLIMIT_NOFILE right after start rather than in the child:
// os/exec has no hook between fork and exec. The window is a few
// microseconds of the runtime's own start-up, before any user code runs.
func limitFiles(pid, n int) {
	unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(n), Max: uint64(n)}, nil)
}

// waitExited returns once pid has exited, leaving it a zombie: until it is
// reaped its pid, and so its process group id, cannot be reused.
func waitExited(pid int) bool {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return err == nil
		}
	}
}
