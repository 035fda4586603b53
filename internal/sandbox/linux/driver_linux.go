package linux

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gustfaas/gust/internal/sandbox"
)

// Available reports whether the driver can work here, and if not why, in
// words the server can log when it falls back to the process driver.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("the linux sandbox driver needs root (running as uid " + strconv.Itoa(os.Geteuid()) + ")")
	}
	for _, ns := range []string{"pid", "mnt", "ipc", "uts", "net"} {
		if _, err := os.Stat("/proc/self/ns/" + ns); err != nil {
			return fmt.Errorf("the kernel has no %s namespaces: %w", ns, err)
		}
	}
	if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("the kernel has no seccomp: %w", err)
	}
	if _, err := cgroupLayout(); err != nil {
		return err
	}
	return nil
}

// Driver starts linux sandboxes.
type Driver struct {
	cfg     Config
	cg      *cgroups
	root    string   // the mount point on which each init assembles its root
	hidden  []string // canonical
	exposed []string // canonical
	userns  *os.File // maps host root to the sandbox user, for idmapped binds; nil without
	capLast int
	egress  *egress // nil when egress falls back to none
	noEgr   error   // why, for Egress
	pool    *pool
	baseOps []mountOp
	// unfreeze releases the cgroup kept frozen to make pauses fast.
	unfreeze func()
	spawner  *spawner

	planMu sync.Mutex
	plans  map[string]plan

	mu     sync.Mutex
	live   map[*Sandbox]struct{}
	closed bool
}

var _ sandbox.Driver = (*Driver)(nil)

// plan is a cached planReadOnly result.
type plan struct {
	ops  []mountOp
	err  error
	made time.Time
}

// planTTL bounds how long a read-only plan is trusted: host paths change
// only when packages are installed, and replanning costs a few stat calls.
const planTTL = time.Minute

// New checks the host, prepares the cgroup parent and the work root, and
// returns a driver.
func New(cfg Config) (*Driver, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	def := DefaultConfig()
	if cfg.WorkRoot == "" {
		return nil, errors.New("linux driver: WorkRoot is required")
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = def.CgroupParent
	}
	if cfg.UID <= 0 {
		cfg.UID = def.UID
	}
	if cfg.GID <= 0 {
		cfg.GID = def.GID
	}
	if cfg.TmpSizeMB <= 0 {
		cfg.TmpSizeMB = def.TmpSizeMB
	}
	if cfg.DefaultPids <= 0 {
		cfg.DefaultPids = def.DefaultPids
	}
	if cfg.DefaultFiles <= 0 {
		cfg.DefaultFiles = def.DefaultFiles
	}
	if cfg.Network == "" {
		cfg.Network = def.Network
	}
	if cfg.EgressCIDR == "" {
		cfg.EgressCIDR = def.EgressCIDR
	}
	if err := checkNetwork(cfg.Network); err != nil {
		return nil, fmt.Errorf("linux driver: %w", err)
	}
	switch {
	case cfg.Prestart == 0:
		cfg.Prestart = def.Prestart
	case cfg.Prestart < 0:
		cfg.Prestart = 0
	}
	d := &Driver{cfg: cfg, plans: map[string]plan{}, live: map[*Sandbox]struct{}{}}
	var err error
	if err = os.MkdirAll(cfg.WorkRoot, 0o700); err != nil {
		return nil, fmt.Errorf("linux driver: %w", err)
	}
	d.root = filepath.Join(cfg.WorkRoot, "root")
	if err := os.Mkdir(d.root, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("linux driver: %w", err)
	}
	canonical := func(paths []string) ([]string, error) {
		var out []string
		for _, p := range paths {
			c, err := filepath.Abs(p)
			if err != nil {
				return nil, fmt.Errorf("linux driver: %s: %w", p, err)
			}
			if e, err := filepath.EvalSymlinks(c); err == nil {
				c = e
			}
			out = append(out, c)
		}
		return out, nil
	}
	if d.hidden, err = canonical(append([]string{cfg.WorkRoot}, cfg.Hidden...)); err != nil {
		return nil, err
	}
	if d.exposed, err = canonical(cfg.Exposed); err != nil {
		return nil, err
	}
	for _, e := range d.exposed {
		if under(d.root, e) {
			return nil, fmt.Errorf("linux driver: exposed %s holds the work root", e)
		}
	}
	if d.cg, err = detectCgroups(cfg.CgroupParent); err != nil {
		return nil, fmt.Errorf("linux driver: %w", err)
	}
	d.cg.sweep()
	d.unfreeze = d.cg.keepFrozen()
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return nil, fmt.Errorf("linux driver: %w", err)
	}
	d.capLast, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	d.spawner = newSpawner()
	// Without a user namespace for idmapped binds, code that only root may
	// read stays unreadable to the sandbox; the rest works.
	d.userns, _ = d.idmapUserns(cfg.UID, cfg.GID)
	d.egress, d.noEgr = newEgress(cfg.CgroupParent, cfg.EgressCIDR)
	d.baseOps = baseOps(cfg.TmpSizeMB, cfg.UID, cfg.GID)
	d.pool = newPool(d, cfg.Prestart)
	return d, nil
}

// Name implements sandbox.Driver.
func (d *Driver) Name() string { return "linux" }

// Capabilities implements sandbox.Driver.
func (d *Driver) Capabilities() sandbox.Capabilities {
	return sandbox.Capabilities{Namespaces: true, Cgroups: true, Pause: true}
}

// Egress reports why sandboxes asking for the "egress" network get "none"
// instead, or nil when egress is enforced as documented.
func (d *Driver) Egress() error { return d.noEgr }

// Close destroys every sandbox still running and releases the driver's own
// resources; the cgroup parent stays for the next run.
func (d *Driver) Close() error {
	d.mu.Lock()
	d.closed = true
	live := make([]*Sandbox, 0, len(d.live))
	for s := range d.live {
		live = append(live, s)
	}
	d.mu.Unlock()
	var errs []error
	for _, s := range live {
		errs = append(errs, s.Destroy())
	}
	d.pool.close()
	d.spawner.close()
	d.unfreeze()
	if d.egress != nil {
		errs = append(errs, d.egress.close())
	}
	if d.userns != nil {
		d.userns.Close()
	}
	return errors.Join(errs...)
}

func checkNetwork(n string) error {
	switch n {
	case NetworkNone, NetworkEgress, NetworkHost:
		return nil
	}
	return fmt.Errorf("unknown network policy %q (want none, egress or host)", n)
}

// readOnly returns the cached plan for paths.
func (d *Driver) readOnly(paths []string) ([]mountOp, error) {
	key := strings.Join(paths, "\x00")
	d.planMu.Lock()
	p, ok := d.plans[key]
	d.planMu.Unlock()
	if ok && time.Since(p.made) < planTTL {
		return p.ops, p.err
	}
	ops, err := planReadOnly(paths, d.hidden, d.exposed)
	d.planMu.Lock()
	if len(d.plans) > 256 {
		clear(d.plans) // distinct path sets are few: one per runtime
	}
	d.plans[key] = plan{ops: ops, err: err, made: time.Now()}
	d.planMu.Unlock()
	return ops, err
}

// Start implements sandbox.Driver.
func (d *Driver) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fail := func(err error) (sandbox.Sandbox, error) {
		return nil, fmt.Errorf("linux driver: start %s: %w", spec.ID, err)
	}
	if len(spec.Argv) == 0 || !filepath.IsAbs(spec.Argv[0]) {
		return fail(fmt.Errorf("argv[0] must be an absolute path, got %q", spec.Argv))
	}
	network := spec.Network
	if network == "" {
		network = d.cfg.Network
	}
	if err := checkNetwork(network); err != nil {
		return fail(err)
	}
	if network == NetworkEgress && d.egress == nil {
		network = NetworkNone // as Egress reports
	}
	ro, err := d.readOnly(spec.ReadOnlyPaths)
	if err != nil {
		return fail(err)
	}
	code, cwd := "", privateDir
	if spec.Dir != "" {
		if code, err = d.codeDir(spec.Dir); err != nil {
			return fail(err)
		}
		cwd = code
	}
	mem, pids, files := spec.MemoryMB, spec.Pids, spec.Files
	if mem <= 0 {
		mem = 256 // OpenWhisk's default action memory
	}
	if pids <= 0 {
		pids = d.cfg.DefaultPids
	}
	if files <= 0 {
		files = d.cfg.DefaultFiles
	}
	host := hostname(spec.ID)
	cfg := initConfig{
		Argv:     spec.Argv,
		Env:      append(make([]string, 0, len(spec.Env)), spec.Env...),
		Ops:      specOps(ro, code, etcFiles(host, network)),
		Hostname: host,
		Dir:      cwd,
		UID:      d.cfg.UID,
		GID:      d.cfg.GID,
		Files:    files,
		Userns:   d.userns != nil,
		CapLast:  d.capLast,
		Seccomp:  true,
	}

	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return fail(errClosed)
	}
	name := cgroupName(spec.ID)
	s := &Sandbox{id: spec.ID, drv: d, exited: make(chan struct{})}
	st, fromPool, err := d.pool.take(network, name)
	s.refill = func() { d.pool.refill(network) }
	defer time.AfterFunc(refillAfter, s.refillPool)
	if err == nil {
		err = st.launch(ctx, s, fromPool, name, mem, pids, &cfg, d.egress, network)
		var ie initError
		if err != nil && fromPool && !errors.As(err, &ie) {
			// The pooled init died while it waited (someone killed it):
			// start one afresh rather than fail the caller.
			st.abandon()
			if st, err = d.startInit(network, name); err == nil {
				err = st.launch(ctx, s, false, name, mem, pids, &cfg, d.egress, network)
			}
		}
		if err != nil && st != nil {
			st.abandon()
		}
	}
	if err != nil {
		return fail(err)
	}
	s.cmd = st.cmd
	s.mu.Lock()
	s.pid = st.cmd.Process.Pid
	s.mu.Unlock()
	s.veth = st.veth
	cc := sandbox.ConnConfig{
		Stdin: st.stdinW, Reply: st.replyR, Stdout: st.outR, Stderr: st.errR,
		Exited:     s.exited,
		Kill:       s.kill,
		Concurrent: spec.Concurrent,
		OOMKilled:  s.oomKilled,
	}
	if spec.NoSentinels {
		cc.SentinelStdout, cc.SentinelStderr = st.outW, st.errW
	} else {
		st.outW.Close()
		st.errW.Close()
	}
	s.conn = sandbox.NewConn(cc)
	go s.wait()

	d.mu.Lock()
	if d.closed {
		// Close ran while this one started and did not see it.
		d.mu.Unlock()
		s.Destroy()
		return fail(errClosed)
	}
	d.live[s] = struct{}{}
	d.mu.Unlock()
	return s, nil
}

// codeDir checks Spec.Dir: it may live inside a hidden directory (the code
// cache is in the data directory) but must not contain one, nor be one of
// the paths the sandbox provides itself.
func (d *Driver) codeDir(dir string) (string, error) {
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("code directory %q is not absolute", dir)
	}
	c, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("code directory: %w", err)
	}
	for _, h := range d.hidden {
		if under(h, c) {
			return "", fmt.Errorf("code directory %s contains %s, which must stay hidden", dir, h)
		}
	}
	for _, e := range d.exposed {
		if under(e, c) {
			return "", fmt.Errorf("code directory %s contains the whole of %s", dir, e)
		}
	}
	if slices.Contains(reservedExact, c) || slices.ContainsFunc(reservedTrees, func(r string) bool { return under(c, r) }) {
		return "", fmt.Errorf("code directory %s is a path the sandbox provides itself", dir)
	}
	return c, nil
}

// cgroupName keeps a sandbox ID readable as a cgroup name and nothing more.
func cgroupName(id string) string {
	id = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, id)
	if len(id) > 128 {
		id = id[:128]
	}
	if id == "" || id[0] == '.' {
		id = "sb" + id
	}
	return id
}

// started is an init process that waits for its configuration, in a cgroup
// of its own, with the parent's ends of its pipes.
type started struct {
	cmd     *exec.Cmd
	cg      *cgroup
	cfgW    *os.File // the init reads its configuration from the other end
	statusR *os.File // EOF once the runtime was executed
	stdinW  *os.File
	replyR  *os.File
	outR    *os.File
	errR    *os.File
	outW    *os.File // kept for NoSentinels
	errW    *os.File
	veth    *veth
	stopOOM func()
}

// startInit starts an init in fresh namespaces for the given network, in a
// new cgroup named cgName. It builds the base of its root and then blocks
// in a read until launch.
func (d *Driver) startInit(network, cgName string) (*started, error) {
	cg, err := d.cg.create(cgName)
	if err != nil {
		return nil, err
	}
	var files [12]*os.File // r/w of stdin, reply, stdout, stderr, config, status
	closeAll := func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}
	for i := 0; i < len(files); i += 2 {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			cg.remove()
			return nil, err
		}
		files[i], files[i+1] = r, w
	}
	stdinR, stdinW, replyR, replyW := files[0], files[1], files[2], files[3]
	outR, outW, errR, errW := files[4], files[5], files[6], files[7]
	cfgR, cfgW, statusR, statusW := files[8], files[9], files[10], files[11]

	flags := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	if network != NetworkHost {
		flags |= unix.CLONE_NEWNET
	}
	command := func(cgroupFD int) *exec.Cmd {
		attr := &syscall.SysProcAttr{
			Cloneflags: flags,
			// The sandbox must not outlive Gust. The init sets it again
			// after changing its identity, which clears it.
			Pdeathsig: syscall.SIGKILL,
		}
		if cgroupFD >= 0 {
			attr.UseCgroupFD, attr.CgroupFD = true, cgroupFD
		}
		return &exec.Cmd{
			Path:        "/proc/self/exe",
			Args:        []string{"gust-sandbox-init"},
			Env:         []string{roleEnv + "=" + roleInit},
			Stdin:       stdinR,
			Stdout:      outW,
			Stderr:      errW,
			ExtraFiles:  []*os.File{replyW, cfgR, statusW, d.userns},
			SysProcAttr: attr,
		}
	}
	// Moving a process between cgroups waits for an RCU grace period
	// (milliseconds); v2 can start it in its cgroup instead.
	var cmd *exec.Cmd
	born := false
	if cg.cg.v2 {
		var dir *os.File
		if dir, err = os.Open(cg.dirs["pids"]); err == nil {
			cmd = command(int(dir.Fd()))
			err = d.spawner.start(cmd)
			dir.Close()
			born = err == nil
		}
	}
	if !born && !errors.Is(err, errClosed) {
		// Without CLONE_INTO_CGROUP (clone3, Linux 5.7) or on v1.
		cmd = command(-1)
		err = d.spawner.start(cmd)
	}
	if err != nil {
		closeAll()
		cg.remove()
		return nil, err
	}
	// The child has its copies now.
	stdinR.Close()
	replyW.Close()
	cfgR.Close()
	statusW.Close()
	st := &started{
		cmd: cmd, cg: cg,
		cfgW: cfgW, statusR: statusR,
		stdinW: stdinW, replyR: replyR, outR: outR, errR: errR, outW: outW, errW: errW,
	}
	// Before the init reads its base configuration, so that everything it
	// does and everything the runtime starts is accounted to the sandbox.
	if !born {
		if err := cg.addProc(cmd.Process.Pid); err != nil {
			st.abandon()
			return nil, err
		}
	}
	// Small enough for the pipe's buffer: the init takes it when it is ready.
	if err := json.NewEncoder(cfgW).Encode(d.base(network)); err != nil {
		st.abandon()
		return nil, err
	}
	return st, nil
}

// base is the first part of an init's configuration.
func (d *Driver) base(network string) baseConfig {
	return baseConfig{Root: d.root, Ops: d.baseOps, Loopback: network != NetworkHost}
}

// startTimeout bounds the init's work when the caller's context has no
// deadline: building a root takes milliseconds, not seconds.
const startTimeout = 30 * time.Second

// launch makes the started init the sandbox s: it names and limits its
// cgroup, connects its network, sends it the rest of its configuration and
// waits until it executed the runtime or failed.
func (st *started) launch(ctx context.Context, s *Sandbox, fromPool bool, name string, memoryMB, pids int,
	cfg *initConfig, eg *egress, network string) error {
	if fromPool {
		// Only for those who look: a v2 cgroup keeps its pool name.
		st.cg.rename(name)
	}
	if err := st.cg.setLimits(memoryMB, pids); err != nil {
		return err
	}
	s.cg = st.cg
	stop, err := st.cg.watchOOM(s.onOOM)
	if err != nil {
		return err
	}
	st.stopOOM = stop
	s.stopOOM = stop
	if network == NetworkEgress {
		v, err := eg.attach(st.cmd.Process.Pid)
		if err != nil {
			return err
		}
		st.veth = v
		cfg.Eth = &v.eth
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	// Large environments exceed a pipe's buffer: write while the init reads.
	werr := make(chan error, 1)
	go func() {
		_, err := st.cfgW.Write(b)
		st.cfgW.Close()
		werr <- err
	}()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(startTimeout)
	}
	st.statusR.SetReadDeadline(deadline)
	stopCancel := context.AfterFunc(ctx, func() { st.statusR.SetReadDeadline(time.Now()) })
	msg, err := io.ReadAll(st.statusR)
	stopCancel()
	st.statusR.Close()
	if err != nil {
		st.cmd.Process.Kill()
		<-werr
		return fmt.Errorf("waiting for the sandbox init: %w", err)
	}
	if err := <-werr; err != nil && len(msg) == 0 {
		return fmt.Errorf("configuring the sandbox init: %w", err)
	}
	if len(msg) > 0 {
		return initError(msg)
	}
	return nil
}

// initError is a failure the init reported: the sandbox itself cannot be
// built or its runtime cannot be executed (a missing program, say).
type initError string

func (e initError) Error() string { return string(e) }

// abandon kills an init that will not become a sandbox and releases what it
// holds.
func (st *started) abandon() {
	st.cmd.Process.Kill()
	st.cmd.Wait()
	for _, f := range []*os.File{st.cfgW, st.statusR, st.stdinW, st.replyR, st.outR, st.errR, st.outW, st.errW} {
		f.Close()
	}
	if st.stopOOM != nil {
		st.stopOOM()
	}
	if st.veth != nil {
		st.veth.remove()
	}
	st.cg.remove()
}

// idmapUserns makes a user namespace that maps the host's root to uid and
// gid, kept open for idmapped binds. A process must exist in a namespace for
// it to be set up; a short-lived child of ours in the hold role serves.
func (d *Driver) idmapUserns(uid, gid int) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	cmd := &exec.Cmd{
		Path:  "/proc/self/exe",
		Args:  []string{"gust-sandbox-userns"},
		Env:   []string{roleEnv + "=" + roleHold},
		Stdin: r,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:  unix.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}},
			Pdeathsig:   syscall.SIGKILL,
		},
	}
	err = d.spawner.start(cmd)
	r.Close()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid))
	w.Close()
	cmd.Wait()
	return f, err
}
