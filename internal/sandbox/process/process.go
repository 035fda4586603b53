// Package process is the sandbox driver for machines where Gust cannot use
// namespaces and cgroups (not root, or not Linux): each sandbox is a
// plain child process in its own process group, with a scrubbed environment,
// a private working directory and an open-file limit.
//
// What it does not confine: memory (Spec.MemoryMB is not enforced and OOM is
// never reported), the number of processes (RLIMIT_NPROC counts every process
// of the user, not of the sandbox, so Spec.Pids is ignored), the file system
// and the network. A process that leaves its process group (setsid, setpgid)
// escapes Destroy. It is meant for development and trusted code; the linux
// driver is the one that confines.
package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/gustfaas/gust/internal/sandbox"
)

// Config configures the driver.
type Config struct {
	// WorkRoot holds the private working directories of sandboxes started
	// without Spec.Dir; it is created if missing.
	WorkRoot string
	// DefaultFiles is the open-file limit (RLIMIT_NOFILE) when Spec.Files is 0.
	DefaultFiles int
}

// DefaultConfig returns OpenWhisk's container ulimit (nofile 1024) and a work
// root under the system temporary directory.
func DefaultConfig() Config {
	return Config{WorkRoot: filepath.Join(os.TempDir(), "gust-sandboxes"), DefaultFiles: 1024}
}

// Driver starts process sandboxes.
type Driver struct {
	cfg Config

	mu   sync.Mutex
	live map[*Sandbox]struct{}
}

var _ sandbox.Driver = (*Driver)(nil)

// New creates the work root and returns a driver.
func New(cfg Config) (*Driver, error) {
	if cfg.WorkRoot == "" {
		return nil, errors.New("process driver: WorkRoot is required")
	}
	if cfg.DefaultFiles <= 0 {
		cfg.DefaultFiles = DefaultConfig().DefaultFiles
	}
	if err := os.MkdirAll(cfg.WorkRoot, 0o700); err != nil {
		return nil, fmt.Errorf("process driver: %w", err)
	}
	return &Driver{cfg: cfg, live: map[*Sandbox]struct{}{}}, nil
}

// Name implements sandbox.Driver.
func (d *Driver) Name() string { return "process" }

// Capabilities implements sandbox.Driver: the process driver enforces none.
func (d *Driver) Capabilities() sandbox.Capabilities { return sandbox.Capabilities{} }

// Start implements sandbox.Driver.
func (d *Driver) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(spec.Argv) == 0 || !filepath.IsAbs(spec.Argv[0]) {
		return nil, fmt.Errorf("process driver: argv[0] must be an absolute path, got %q", spec.Argv)
	}
	s := &Sandbox{id: spec.ID, drv: d, exited: make(chan struct{}), dir: spec.Dir}
	var cleanup []func()
	fail := func(err error) (sandbox.Sandbox, error) {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
		return nil, fmt.Errorf("process driver: start %s: %w", spec.ID, err)
	}
	if s.dir == "" {
		dir, err := os.MkdirTemp(d.cfg.WorkRoot, safeName(spec.ID)+"-")
		if err != nil {
			return fail(err)
		}
		s.dir, s.ownDir = dir, true
		cleanup = append(cleanup, func() { os.RemoveAll(dir) })
	}

	var files [8]*os.File // stdin r/w, reply r/w, stdout r/w, stderr r/w
	for i := 0; i < len(files); i += 2 {
		r, w, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		files[i], files[i+1] = r, w
		cleanup = append(cleanup, func() { r.Close(); w.Close() })
	}
	stdinR, stdinW, replyR, replyW := files[0], files[1], files[2], files[3]
	outR, outW, errR, errW := files[4], files[5], files[6], files[7]

	cmd := &exec.Cmd{
		Path: spec.Argv[0],
		Args: spec.Argv,
		// Never nil: a nil Env would inherit the invoker's environment.
		Env:         append(make([]string, 0, len(spec.Env)), spec.Env...),
		Dir:         s.dir,
		Stdin:       stdinR,
		Stdout:      outW,
		Stderr:      errW,
		ExtraFiles:  []*os.File{replyW},
		SysProcAttr: sysProcAttr(),
	}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	s.cmd, s.pid = cmd, cmd.Process.Pid
	// The child has its copies now.
	stdinR.Close()
	replyW.Close()
	nofile := d.cfg.DefaultFiles
	if spec.Files > 0 {
		nofile = spec.Files
	}
	limitFiles(s.pid, nofile)

	cc := sandbox.ConnConfig{
		Stdin: stdinW, Reply: replyR, Stdout: outR, Stderr: errR,
		Exited:     s.exited,
		Kill:       s.kill,
		Concurrent: spec.Concurrent,
	}
	if spec.NoSentinels {
		cc.SentinelStdout, cc.SentinelStderr = outW, errW
	} else {
		outW.Close()
		errW.Close()
	}
	s.conn = sandbox.NewConn(cc)
	go s.wait()

	d.mu.Lock()
	d.live[s] = struct{}{}
	d.mu.Unlock()
	return s, nil
}

// Close destroys every sandbox still running.
func (d *Driver) Close() error {
	d.mu.Lock()
	live := make([]*Sandbox, 0, len(d.live))
	for s := range d.live {
		live = append(live, s)
	}
	d.mu.Unlock()
	var errs []error
	for _, s := range live {
		errs = append(errs, s.Destroy())
	}
	return errors.Join(errs...)
}

// Sandbox is one process sandbox.
type Sandbox struct {
	id     string
	drv    *Driver
	cmd    *exec.Cmd
	pid    int
	dir    string
	ownDir bool
	conn   *sandbox.Conn
	exited chan struct{}

	mu     sync.Mutex
	reaped bool // the leader was reaped: its pid, and so the group id, may be reused

	destroyOnce sync.Once
	destroyErr  error
}

var _ sandbox.Sandbox = (*Sandbox)(nil)

// ID implements sandbox.Sandbox.
func (s *Sandbox) ID() string { return s.id }

// Exited implements sandbox.Sandbox.
func (s *Sandbox) Exited() <-chan struct{} { return s.exited }

// Call implements sandbox.Sandbox.
func (s *Sandbox) Call(ctx context.Context, line []byte, logLimit int) (sandbox.Reply, error) {
	return s.conn.Call(ctx, line, logLimit)
}

// wait waits for the leader to exit without reaping it, kills the rest of
// its group while the group id is still certainly ours, then reaps it.
func (s *Sandbox) wait() {
	waited := waitExited(s.pid)
	if !waited {
		s.cmd.Wait()
	}
	s.mu.Lock()
	syscall.Kill(-s.pid, syscall.SIGKILL)
	s.reaped = true
	s.mu.Unlock()
	if waited {
		s.cmd.Wait()
	}
	close(s.exited)
}

// kill kills the whole process group, never after the leader was reaped.
func (s *Sandbox) kill() {
	s.mu.Lock()
	if !s.reaped {
		syscall.Kill(-s.pid, syscall.SIGKILL)
	}
	s.mu.Unlock()
}

// Destroy implements sandbox.Sandbox. Concurrent callers all wait for the
// first one to finish and get its result.
func (s *Sandbox) Destroy() error {
	s.destroyOnce.Do(func() {
		s.kill()
		<-s.exited
		s.conn.Close()
		if s.ownDir {
			s.destroyErr = os.RemoveAll(s.dir)
		}
		s.drv.mu.Lock()
		delete(s.drv.live, s)
		s.drv.mu.Unlock()
	})
	return s.destroyErr
}

// safeName keeps an ID readable in a directory name and nothing more.
func safeName(id string) string {
	id = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, id)
	if len(id) > 64 {
		id = id[:64]
	}
	if id == "" || id[0] == '.' {
		id = "sb" + id
	}
	return id
}
