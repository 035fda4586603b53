package linux

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroups knows where the hierarchies are and how to make a sandbox's
// cgroup in them. Both versions are driven through their files directly:
// the handful of files a sandbox needs do not justify a library.
type cgroups struct {
	v2 bool
	// parent maps a controller ("memory", "cpu", "pids", "freezer") to the
	// directory of CgroupParent in that controller's hierarchy. With v2
	// every controller maps to the same directory.
	parent map[string]string
	memsw  bool // v1 swap accounting is on: memory.memsw.* exist
	swap   bool // v2 memory.swap.max exists
}

// v1Controllers are the hierarchies a v1 sandbox joins; cpu is optional.
var v1Controllers = []string{"memory", "pids", "freezer", "cpu"}

const cgroupRoot = "/sys/fs/cgroup"

// layout is where the cgroup hierarchies are.
type layout struct {
	v2 bool
	v1 map[string]string // v1 controller → mount point
}

// cgroupLayout finds the cgroup version in use without changing anything.
// A host whose /sys/fs/cgroup is cgroup2 is v2; anything else (v1, or hybrid
// with an empty unified hierarchy, as on this project's machines) is driven
// as v1, which needs the memory, pids and freezer controllers mounted.
func cgroupLayout() (layout, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		return layout{}, fmt.Errorf("cgroups: %w", err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return layout{v2: true}, nil
	}
	mounts, err := v1Mounts()
	if err != nil {
		return layout{}, err
	}
	for _, c := range v1Controllers {
		if _, ok := mounts[c]; !ok && c != "cpu" {
			// cpu shares are a nicety; memory, pids and freezer are not.
			return layout{}, fmt.Errorf("cgroups: the v1 %s controller is not mounted", c)
		}
	}
	return layout{v1: mounts}, nil
}

// detectCgroups makes parent in every hierarchy the driver needs.
func detectCgroups(parent string) (*cgroups, error) {
	parent = filepath.Clean("/" + parent)
	l, err := cgroupLayout()
	if err != nil {
		return nil, err
	}
	if l.v2 {
		return detectV2(cgroupRoot, parent)
	}
	cg := &cgroups{parent: map[string]string{}}
	for _, c := range v1Controllers {
		mnt, ok := l.v1[c]
		if !ok {
			continue
		}
		dir := filepath.Join(mnt, parent)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("cgroups: %w", err)
		}
		cg.parent[c] = dir
	}
	_, err = os.Stat(filepath.Join(cg.parent["memory"], "memory.memsw.limit_in_bytes"))
	cg.memsw = err == nil
	return cg, nil
}

// detectV2 makes parent under the unified hierarchy mounted at root and
// delegates the memory, pids and cpu controllers down to it.
func detectV2(root, parent string) (*cgroups, error) {
	avail, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	have := strings.Fields(string(avail))
	want := []string{"memory", "pids"}
	for _, c := range want {
		if !slices.Contains(have, c) {
			return nil, fmt.Errorf("cgroups: the v2 %s controller is not available", c)
		}
	}
	if slices.Contains(have, "cpu") {
		want = append(want, "cpu")
	}
	enable := "+" + strings.Join(want, " +")
	// Each level from the root down to parent must hand the controllers to
	// its children; the sandboxes' cgroups are children of parent.
	dir := root
	for _, part := range strings.Split(strings.Trim(parent, "/"), "/") {
		if err := writeFile(filepath.Join(dir, "cgroup.subtree_control"), enable); err != nil {
			return nil, fmt.Errorf("cgroups: delegating controllers: %w", err)
		}
		if part == "" {
			break
		}
		dir = filepath.Join(dir, part)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("cgroups: %w", err)
		}
	}
	if dir != root {
		if err := writeFile(filepath.Join(dir, "cgroup.subtree_control"), enable); err != nil {
			return nil, fmt.Errorf("cgroups: delegating controllers: %w", err)
		}
	}
	cg := &cgroups{v2: true, parent: map[string]string{}}
	for _, c := range []string{"memory", "pids", "freezer", "cpu"} {
		cg.parent[c] = dir
	}
	if !slices.Contains(want, "cpu") {
		delete(cg.parent, "cpu")
	}
	// The root cgroup has no memory.swap.max; a child of parent does when
	// swap accounting is compiled in. Probe with a throwaway child.
	probe := filepath.Join(dir, fmt.Sprintf(".probe-%d", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err == nil {
		_, err := os.Stat(filepath.Join(probe, "memory.swap.max"))
		cg.swap = err == nil
		os.Remove(probe)
	}
	return cg, nil
}

// v1Mounts maps each v1 controller to its mount point, from mountinfo.
func v1Mounts() (map[string]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+3 >= len(fields) || fields[sep+1] != "cgroup" {
			continue
		}
		for _, opt := range strings.Split(fields[sep+3], ",") {
			if slices.Contains(v1Controllers, opt) {
				if _, seen := out[opt]; !seen {
					out[opt] = unescapeMountPath(fields[4])
				}
			}
		}
	}
	return out, sc.Err()
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// sweep removes empty cgroups left under parent by an earlier run that died
// without destroying its sandboxes (their processes died with it). Cgroups
// that still hold processes belong to a live run and are left alone, and so
// are the frozen cgroups of live drivers.
func (cg *cgroups) sweep() {
	seen := map[string]bool{}
	for _, dir := range cg.parent {
		if seen[dir] {
			continue
		}
		seen[dir] = true
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			if pid, ok := strings.CutPrefix(e.Name(), keeperPrefix); ok {
				if n, err := strconv.Atoi(pid); err == nil && unix.Kill(n, 0) == nil {
					continue
				}
				writeFile(filepath.Join(dir, e.Name(), "freezer.state"), "THAWED")
			}
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// keeperPrefix names the empty cgroup a v1 driver keeps frozen.
const keeperPrefix = ".frozen-"

// keepFrozen freezes an empty cgroup of the driver's for as long as it
// runs. The v1 freezer turns a kernel static key on when the first cgroup
// starts freezing and off when the last one thaws; flipping it patches
// kernel text on every CPU, which makes a lone Pause or Resume take
// milliseconds instead of microseconds. With one cgroup always frozen the
// key stays on. v2's freezer has no such key.
func (cg *cgroups) keepFrozen() (release func()) {
	if cg.v2 {
		return func() {}
	}
	dir := filepath.Join(cg.parent["freezer"], fmt.Sprintf("%s%d", keeperPrefix, os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return func() {}
	}
	if writeFile(filepath.Join(dir, "freezer.state"), "FROZEN") != nil {
		os.Remove(dir)
		return func() {}
	}
	return func() {
		writeFile(filepath.Join(dir, "freezer.state"), "THAWED")
		os.Remove(dir)
	}
}

// cpuShares follows OpenWhisk: CPU is shared in proportion to memory, so a
// 256 MB sandbox gets the default weight of 1024.
func cpuShares(memoryMB int) int {
	return min(max(memoryMB*1024/256, 2), 262144)
}

// cgroup is one sandbox's cgroup.
type cgroup struct {
	cg   *cgroups
	dirs map[string]string // controller → directory, as in cgroups.parent
}

// create makes the cgroup name, with the settings that do not depend on the
// sandbox; setLimits sets the others. A leftover cgroup of the same name
// (from a run that crashed) is removed first if it is empty.
func (cg *cgroups) create(name string) (*cgroup, error) {
	c := &cgroup{cg: cg, dirs: make(map[string]string, len(cg.parent))}
	for ctrl, parent := range cg.parent {
		c.dirs[ctrl] = filepath.Join(parent, name)
	}
	var made []string
	fail := func(err error) (*cgroup, error) {
		for _, d := range made {
			os.Remove(d)
		}
		return nil, fmt.Errorf("cgroup %s: %w", name, err)
	}
	for _, dir := range c.distinct() {
		err := os.Mkdir(dir, 0o755)
		if errors.Is(err, os.ErrExist) {
			os.Remove(dir)
			err = os.Mkdir(dir, 0o755)
		}
		if err != nil {
			return fail(err)
		}
		made = append(made, dir)
	}
	d := c.dirs["memory"]
	var writes [][2]string
	if cg.v2 {
		// One process over the limit kills the whole sandbox, as
		// Docker's OOM kill of a container does for OpenWhisk.
		writes = append(writes, [2]string{filepath.Join(d, "memory.oom.group"), "1"})
		if cg.swap {
			writes = append(writes, [2]string{filepath.Join(d, "memory.swap.max"), "0"})
		}
	} else {
		// The sandbox's processes wait at the limit instead of one of
		// them being killed; watchOOM then ends the sandbox.
		writes = append(writes,
			[2]string{filepath.Join(d, "memory.oom_control"), "1"},
			[2]string{filepath.Join(d, "memory.swappiness"), "0"})
	}
	for _, w := range writes {
		if err := writeFile(w[0], w[1]); err != nil {
			if strings.HasSuffix(w[0], "swappiness") && errors.Is(err, syscall.EINVAL) {
				continue // some kernels refuse swappiness in non-root cgroups
			}
			return fail(err)
		}
	}
	return c, nil
}

// setLimits sets the memory limit (without swap), CPU shares in proportion
// to it, and the process limit. It may be called again with other values.
func (c *cgroup) setLimits(memoryMB, pids int) error {
	mem := strconv.FormatInt(int64(memoryMB)<<20, 10)
	var writes [][2]string
	if c.cg.v2 {
		d := c.dirs["memory"]
		writes = append(writes,
			[2]string{filepath.Join(d, "memory.max"), mem},
			[2]string{filepath.Join(d, "pids.max"), strconv.Itoa(pids)})
		if cpu, ok := c.dirs["cpu"]; ok {
			// runc's conversion of shares [2, 262144] to weight [1, 10000].
			w := 1 + (cpuShares(memoryMB)-2)*9999/262142
			writes = append(writes, [2]string{filepath.Join(cpu, "cpu.weight"), strconv.Itoa(w)})
		}
	} else {
		d := c.dirs["memory"]
		limit := [2]string{filepath.Join(d, "memory.limit_in_bytes"), mem}
		writes = append(writes, limit)
		if c.cg.memsw {
			// memsw counts memory plus swap: equal to the memory limit
			// means no swap at all. It may never be below the memory
			// limit, so which goes first depends on the direction.
			memsw := [2]string{filepath.Join(d, "memory.memsw.limit_in_bytes"), mem}
			if err := writeFile(limit[0], limit[1]); err != nil {
				writes = [][2]string{memsw, limit}
			} else {
				writes = [][2]string{memsw}
			}
		}
		writes = append(writes, [2]string{filepath.Join(c.dirs["pids"], "pids.max"), strconv.Itoa(pids)})
		if cpu, ok := c.dirs["cpu"]; ok {
			writes = append(writes, [2]string{filepath.Join(cpu, "cpu.shares"), strconv.Itoa(cpuShares(memoryMB))})
		}
	}
	for _, w := range writes {
		if err := writeFile(w[0], w[1]); err != nil {
			return err
		}
	}
	return nil
}

// rename gives the cgroup another name under the same parent. Only v1
// allows it; a v2 cgroup keeps its name.
func (c *cgroup) rename(name string) error {
	if c.cg.v2 {
		return errors.ErrUnsupported
	}
	renamed := make(map[string]string, len(c.dirs))
	for _, dir := range c.distinct() {
		to := filepath.Join(filepath.Dir(dir), name)
		err := os.Rename(dir, to)
		if err != nil {
			os.Remove(to) // an empty leftover of a run that crashed
			err = os.Rename(dir, to)
		}
		if err != nil {
			for from, to := range renamed {
				os.Rename(to, from)
			}
			return err
		}
		renamed[dir] = to
	}
	for ctrl, dir := range c.dirs {
		c.dirs[ctrl] = renamed[dir]
	}
	return nil
}

// distinct returns the cgroup's directories without repetition.
func (c *cgroup) distinct() []string {
	var out []string
	for _, d := range c.dirs {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// addProc moves pid into every hierarchy of the cgroup.
func (c *cgroup) addProc(pid int) error {
	p := strconv.Itoa(pid)
	for _, d := range c.distinct() {
		if err := writeFile(filepath.Join(d, "cgroup.procs"), p); err != nil {
			return err
		}
	}
	return nil
}

// oomKills returns how many processes of the cgroup the kernel's OOM killer
// killed, or -1 when the kernel does not count them (v1 before 4.13).
func (c *cgroup) oomKills() int {
	file := "memory.oom_control"
	if c.cg.v2 {
		file = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(c.dirs["memory"], file))
	if err != nil {
		return -1
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("oom_kill ")); ok {
			n, err := strconv.Atoi(string(v))
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// watchOOM calls onOOM when a process of the cgroup runs out of memory.
//
// v2 needs no watcher: memory.oom.group makes the kernel's OOM kill end the
// whole sandbox at once. v1 has no such switch, and its OOM killer kills
// only the largest process — often a child whose death the runtime reports
// as a result of its own. So on v1 the kernel's killer is turned off for the
// sandbox (memory.oom_control = 1): a process that hits the limit waits, and
// the cgroup's OOM notification — an eventfd registered through
// cgroup.event_control — tells this watcher, which ends the sandbox. Nothing
// in the sandbox can answer in between. The eventfd also fires when the
// cgroup is removed, which ends the watch; stop ends it early.
func (c *cgroup) watchOOM(onOOM func()) (stop func(), err error) {
	if c.cg.v2 {
		return func() {}, nil
	}
	dir := c.dirs["memory"]
	ctl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		ctl.Close()
		return nil, err
	}
	// Nonblocking, so that reads wait in Go's poller rather than holding a thread.
	ev := os.NewFile(uintptr(efd), "oom-eventfd")
	if err := writeFile(filepath.Join(dir, "cgroup.event_control"), fmt.Sprintf("%d %d", efd, ctl.Fd())); err != nil {
		ev.Close()
		ctl.Close()
		return nil, err
	}
	go func() {
		defer ctl.Close()
		var buf [8]byte
		for {
			if _, err := ev.Read(buf[:]); err != nil {
				return // stopped
			}
			if c.underOOM() {
				onOOM()
				return
			}
			if _, err := os.Stat(dir); err != nil {
				return // the cgroup is gone
			}
		}
	}()
	return func() { ev.Close() }, nil
}

// underOOM reports whether the v1 cgroup is out of memory now, or its
// processes were killed for it (on kernels that ignore oom_kill_disable).
func (c *cgroup) underOOM() bool {
	b, err := os.ReadFile(filepath.Join(c.dirs["memory"], "memory.oom_control"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "under_oom 1" || strings.HasPrefix(line, "oom_kill ") && line != "oom_kill 0" {
			return true
		}
	}
	return false
}

// memoryFailures returns memory.failcnt (v1): how often the limit was hit.
func (c *cgroup) memoryFailures() int {
	b, err := os.ReadFile(filepath.Join(c.dirs["memory"], "memory.failcnt"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// freeze stops every process of the cgroup and returns once they all are.
func (c *cgroup) freeze() error {
	d := c.dirs["freezer"]
	if c.cg.v2 {
		if err := writeFile(filepath.Join(d, "cgroup.freeze"), "1"); err != nil {
			return err
		}
		return waitState(filepath.Join(d, "cgroup.events"), "frozen 1")
	}
	if err := writeFile(filepath.Join(d, "freezer.state"), "FROZEN"); err != nil {
		return err
	}
	return waitState(filepath.Join(d, "freezer.state"), "FROZEN")
}

// thaw lets the cgroup's processes run again.
func (c *cgroup) thaw() error {
	d := c.dirs["freezer"]
	if c.cg.v2 {
		return writeFile(filepath.Join(d, "cgroup.freeze"), "0")
	}
	return writeFile(filepath.Join(d, "freezer.state"), "THAWED")
}

// freezeTimeout bounds how long freeze waits for the kernel to stop every
// task: a task in an uninterruptible sleep delays it.
const freezeTimeout = 2 * time.Second

// waitState polls file until one of its lines is want. Freezing tasks that
// sleep is immediate, so the first read nearly always answers; running tasks
// need a signal round trip of some microseconds.
func waitState(file, want string) error {
	deadline := time.Now().Add(freezeTimeout)
	pause := 20 * time.Microsecond
	for {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line == want {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not %q after %v", file, want, freezeTimeout)
		}
		time.Sleep(pause)
		pause = min(pause*2, 10*time.Millisecond)
	}
}

// procs lists the processes in the cgroup.
func (c *cgroup) procs() []int {
	b, err := os.ReadFile(filepath.Join(c.dirs["pids"], "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// kill kills every process in the cgroup. PID 1 of the sandbox's namespace
// dying takes the rest with it; this covers the window before PID 1 exists
// and any process that is not in the namespace.
func (c *cgroup) kill() {
	if c.cg.v2 {
		if writeFile(filepath.Join(c.dirs["pids"], "cgroup.kill"), "1") == nil {
			return
		}
	}
	for _, pid := range c.procs() {
		unix.Kill(pid, unix.SIGKILL)
	}
	if !c.cg.v2 {
		// v1 frozen tasks do not act on SIGKILL until thawed.
		c.thaw()
	}
}

// remove deletes the cgroup once its last process is gone. Killed processes
// leave the cgroup when their parent reaps them, a moment after the kill.
func (c *cgroup) remove() error {
	var errs []error
	for _, d := range c.distinct() {
		var err error
		for wait := 100 * time.Microsecond; ; wait *= 2 {
			err = os.Remove(d)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				err = nil
				break
			}
			if !errors.Is(err, syscall.EBUSY) || wait > time.Second {
				break
			}
			c.kill()
			time.Sleep(wait)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// writeFile writes a cgroup or proc file in one write, as the kernel wants.
func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
