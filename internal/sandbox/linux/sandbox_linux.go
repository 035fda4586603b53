package linux

import (
	"context"
	"errors"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gustfaas/gust/internal/sandbox"
)

// Sandbox is one linux sandbox: a runtime that is PID 1 of its namespaces,
// in a cgroup of its own.
type Sandbox struct {
	id     string
	drv    *Driver
	cg     *cgroup
	cmd    *exec.Cmd
	veth   *veth
	conn   *sandbox.Conn
	exited chan struct{}
	// refill starts the pool's next init once this sandbox has answered its
	// first call (or refillAfter has passed): creating namespaces meanwhile
	// took the kernel's locks and CPU from that first call, which took ~12
	// ms instead of ~1 on the VM of BenchmarkStartLinux.
	refill     func()
	refillOnce sync.Once
	// stopOOM ends the OOM watch, which kills the sandbox when the kernel
	// kills any of its processes for memory.
	stopOOM func()

	mu     sync.Mutex
	pid    int  // PID 1 on the host, once it is the sandbox's
	reaped bool // PID 1 was reaped: its pid may belong to someone else now
	killed bool // we killed it: a SIGKILL exit is not an OOM kill
	ooms   int  // OOM kills already reported
	oom    bool // the OOM watcher ended the sandbox

	destroyOnce sync.Once
	destroyErr  error
}

var (
	_ sandbox.Sandbox = (*Sandbox)(nil)
	_ sandbox.Pauser  = (*Sandbox)(nil)
)

// ID implements sandbox.Sandbox.
func (s *Sandbox) ID() string { return s.id }

// Exited implements sandbox.Sandbox.
func (s *Sandbox) Exited() <-chan struct{} { return s.exited }

// Call implements sandbox.Sandbox.
func (s *Sandbox) Call(ctx context.Context, line []byte, logLimit int) (sandbox.Reply, error) {
	r, err := s.conn.Call(ctx, line, logLimit)
	s.refillPool()
	return r, err
}

// refillAfter bounds how long a sandbox that is not called holds up the
// pool's refill.
const refillAfter = 100 * time.Millisecond

func (s *Sandbox) refillPool() {
	if s.refill != nil {
		s.refillOnce.Do(s.refill)
	}
}

// Pause implements sandbox.Pauser: every process of the sandbox stops until
// Resume, holding its memory but no CPU.
func (s *Sandbox) Pause() error { return s.cg.freeze() }

// Resume implements sandbox.Pauser.
func (s *Sandbox) Resume() error { return s.cg.thaw() }

// wait reaps PID 1. Its death has already taken the rest of the namespace.
func (s *Sandbox) wait() {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, s.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break
		}
	}
	s.mu.Lock()
	s.reaped = true
	s.mu.Unlock()
	s.cmd.Wait()
	close(s.exited)
}

// kill kills the sandbox: PID 1 (never after it was reaped, when its pid
// may be reused) and, through the cgroup, anything else, thawing it if it
// was paused.
func (s *Sandbox) kill() {
	s.mu.Lock()
	s.killed = true
	if s.pid > 0 && !s.reaped {
		unix.Kill(s.pid, unix.SIGKILL)
	}
	s.mu.Unlock()
	s.cg.kill()
}

// onOOM ends a sandbox that ran out of memory (v1, see watchOOM).
func (s *Sandbox) onOOM() {
	s.mu.Lock()
	s.oom = true
	s.mu.Unlock()
	s.kill()
}

// oomKilled tells Conn whether the sandbox died of its memory limit: the
// kernel's OOM notification (v1) or its count of OOM kills (v2).
func (s *Sandbox) oomKilled() bool {
	n := s.cg.oomKills()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oom {
		s.oom = false
		return true
	}
	if n >= 0 {
		seen := n > s.ooms
		s.ooms = n
		return seen
	}
	// Kernels before 4.13 do not count OOM kills: the limit was hit and
	// something other than us sent the SIGKILL that ended PID 1.
	if s.killed || s.cmd.ProcessState == nil || s.cg.memoryFailures() == 0 {
		return false
	}
	ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// Destroy implements sandbox.Sandbox. Concurrent callers all wait for the
// first one and get its result.
func (s *Sandbox) Destroy() error {
	s.destroyOnce.Do(func() {
		s.kill()
		<-s.exited
		s.stopOOM()
		s.conn.Close()
		var errs []error
		if s.veth != nil {
			errs = append(errs, s.veth.remove())
		}
		errs = append(errs, s.cg.remove())
		s.destroyErr = errors.Join(errs...)
		s.drv.mu.Lock()
		delete(s.drv.live, s)
		s.drv.mu.Unlock()
	})
	return s.destroyErr
}
