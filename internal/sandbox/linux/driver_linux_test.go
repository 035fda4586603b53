package linux_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/sandbox"
	"github.com/gustfaas/gust/internal/sandbox/linux"
	"github.com/gustfaas/gust/internal/sandbox/sandboxtest"
	"github.com/gustfaas/gust/internal/testenv"
)

// newDriver returns a driver with a cgroup parent of its own, closed and
// removed when the test ends, or skips where the driver cannot work.
func newDriver(t testing.TB, cfg linux.Config) *linux.Driver {
	t.Helper()
	testenv.MustBeRoot(t)
	if err := linux.Available(); err != nil {
		t.Skipf("linux driver unavailable: %v", err)
	}
	if cfg.WorkRoot == "" {
		cfg.WorkRoot = t.TempDir()
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = fmt.Sprintf("gust-test-%d-%d", os.Getpid(), drivers.Add(1))
	}
	d, err := linux.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := closeDriver(d, cfg.CgroupParent); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

var drivers atomic.Int32

// closeDriver closes d and removes its cgroup parent.
func closeDriver(d *linux.Driver, parent string) error {
	err := d.Close()
	for _, c := range []string{"memory", "pids", "freezer", "cpu", ""} {
		os.Remove(filepath.Join("/sys/fs/cgroup", c, parent))
	}
	return err
}

func TestConformance(t *testing.T) {
	sandboxtest.Run(t, hostPIDs{sharedFixture(t).d})
}

// Without prestarted inits every Start makes its namespaces itself.
func TestConformanceNoPrestart(t *testing.T) {
	if testing.Short() {
		t.Skip("one conformance run is enough in short mode")
	}
	sandboxtest.Run(t, hostPIDs{newDriver(t, linux.Config{Prestart: -1})})
}

// shellLoop evaluates each request line as a shell command and replies with
// its output (lines joined by "|") and its status as the last field.
const shellLoop = `S=XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX
while IFS= read -r line; do
  out=$(eval "$line" 2>&1; echo "rc=$?")
  printf '%s' "$out" | tr '\n' '|' >&3; echo >&3
  echo "$S"; echo "$S" >&2
done
`

type fixture struct {
	d       *linux.Driver
	parent  string // cgroup parent
	work    string // the driver's WorkRoot
	scripts string // where shellLoop lives
	// data plays Gust's data directory: hidden, with its code cache
	// (data/code) exposed, as the server configures the driver.
	data string
	n    atomic.Int32
}

// newFixture is a driver of the test's own, for configurations the shared
// one does not have.
func newFixture(t *testing.T, cfg linux.Config) *fixture {
	t.Helper()
	testenv.MustBeRoot(t)
	if err := linux.Available(); err != nil {
		t.Skipf("linux driver unavailable: %v", err)
	}
	f, err := makeFixture(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.close)
	return f
}

func makeFixture(cfg linux.Config) (*fixture, error) {
	f := &fixture{parent: fmt.Sprintf("gust-test-%d-%d", os.Getpid(), drivers.Add(1))}
	var err error
	if f.work, err = os.MkdirTemp("", "gust-linux-work-"); err != nil {
		return nil, err
	}
	if f.scripts, err = os.MkdirTemp("", "gust-linux-scripts-"); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(f.scripts, "loop.sh"), []byte(shellLoop), 0o755); err != nil {
		return nil, err
	}
	if f.data, err = os.MkdirTemp("", "gust-linux-data-"); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(f.data, "code"), 0o700); err != nil {
		return nil, err
	}
	cfg.WorkRoot, cfg.CgroupParent = f.work, f.parent
	cfg.Hidden = append(cfg.Hidden, f.data)
	cfg.Exposed = append(cfg.Exposed, filepath.Join(f.data, "code"))
	if f.d, err = linux.New(cfg); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *fixture) close() {
	closeDriver(f.d, f.parent)
	os.RemoveAll(f.work)
	os.RemoveAll(f.scripts)
	os.RemoveAll(f.data)
}

func (f *fixture) spec(t *testing.T) sandbox.Spec {
	return sandbox.Spec{
		ID:            fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), f.n.Add(1)),
		Argv:          []string{"/bin/sh", filepath.Join(f.scripts, "loop.sh")},
		Env:           []string{"PATH=/usr/bin:/bin"},
		MemoryMB:      64,
		ReadOnlyPaths: []string{"/bin", "/usr", "/lib", "/lib64", f.scripts},
		Network:       linux.NetworkNone,
	}
}

func (f *fixture) start(t *testing.T, spec sandbox.Spec) *linux.Sandbox {
	t.Helper()
	sb, err := f.d.Start(context.Background(), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { sb.Destroy() })
	return sb.(*linux.Sandbox)
}

// sh runs cmd in the sandbox and returns its output lines and status.
func sh(t *testing.T, sb sandbox.Sandbox, cmd string) ([]string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := sb.Call(ctx, []byte(cmd), 1<<20)
	if err != nil {
		t.Fatalf("Call(%s): %v", cmd, err)
	}
	if r.Line == nil {
		t.Fatalf("%s: no reply: %+v", cmd, r)
	}
	lines := strings.Split(strings.TrimSuffix(string(r.Line), "|"), "|")
	last := lines[len(lines)-1]
	rc, err := strconv.Atoi(strings.TrimPrefix(last, "rc="))
	if err != nil {
		t.Fatalf("%s: reply %q", cmd, r.Line)
	}
	return lines[:len(lines)-1], rc
}

// must runs cmd and fails unless it succeeds.
func must(t *testing.T, sb sandbox.Sandbox, cmd string) []string {
	t.Helper()
	out, rc := sh(t, sb, cmd)
	if rc != 0 {
		t.Fatalf("%s: status %d: %q", cmd, rc, out)
	}
	return out
}

// fails runs cmd and fails unless it fails, returning its output.
func fails(t *testing.T, sb sandbox.Sandbox, cmd string) string {
	t.Helper()
	out, rc := sh(t, sb, cmd)
	if rc == 0 {
		t.Errorf("%s succeeded inside the sandbox: %q", cmd, out)
	}
	return strings.Join(out, "\n")
}

func TestIsolation(t *testing.T) {
	f := sharedFixture(t)
	sb := f.start(t, f.spec(t))

	t.Run("PID", func(t *testing.T) {
		if out := must(t, sb, `echo $$`); out[0] != "1" {
			t.Errorf("the runtime is pid %s, want 1", out[0])
		}
		// Only the sandbox's own processes: the loop (1), the subshell
		// running this command, ls and grep.
		out := must(t, sb, `ls /proc | grep '^[0-9]*$'`)
		if len(out) > 4 {
			t.Errorf("the sandbox sees processes %q", out)
		}
	})
	t.Run("Hostname", func(t *testing.T) {
		host, _ := os.Hostname()
		if out := must(t, sb, `hostname`); out[0] == host || out[0] == "" {
			t.Errorf("hostname %q is the host's", out[0])
		}
	})
	t.Run("Identity", func(t *testing.T) {
		if out := must(t, sb, `id -u; id -g; id -G`); out[0] != "65534" || out[1] != "65534" || out[2] != "65534" {
			t.Errorf("uid, gid, groups = %q, want nobody's and no others", out)
		}
		status := strings.Join(must(t, sb, `grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status`), "\n")
		for _, want := range []string{"CapInh:\t0000000000000000", "CapPrm:\t0000000000000000",
			"CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000",
			"NoNewPrivs:\t1", "Seccomp:\t2"} {
			if !strings.Contains(status, want) {
				t.Errorf("/proc/self/status lacks %q:\n%s", want, status)
			}
		}
	})
	t.Run("ReadOnly", func(t *testing.T) {
		for _, p := range []string{"/x", "/usr/x", "/etc/x", "/dev/x", f.scripts + "/x"} {
			fails(t, sb, "touch "+p)
		}
		fails(t, sb, "echo x >> /etc/passwd")
	})
	t.Run("Hidden", func(t *testing.T) {
		for _, p := range []string{"/root", "/home", "/sys", f.work, "/var", "/run"} {
			fails(t, sb, "ls "+p)
		}
		mounts := strings.Join(must(t, sb, `cat /proc/self/mountinfo`), "\n")
		if strings.Contains(mounts, f.work) {
			t.Errorf("mountinfo shows the work root:\n%s", mounts)
		}
	})
	t.Run("Tmp", func(t *testing.T) {
		must(t, sb, `head -c 1000000 /dev/zero > /tmp/a && test -s /tmp/a`)
		if out := fails(t, sb, `head -c 9000000 /dev/zero > /tmp/b`); !strings.Contains(out, "No space left") {
			t.Errorf("writing past the /tmp size: %q", out)
		}
		must(t, sb, `rm /tmp/a /tmp/b; echo x > /dev/shm/x && echo x > /dev/null`)
	})
	t.Run("Dev", func(t *testing.T) {
		out := strings.Join(must(t, sb, `ls /dev`), " ")
		if out != "fd full null random shm stderr stdin stdout urandom zero" {
			t.Errorf("/dev holds %q", out)
		}
		must(t, sb, `head -c 16 /dev/urandom | od -An -tx1 | grep -q .`)
	})
	t.Run("Seccomp", func(t *testing.T) {
		// Both are allowed to unprivileged processes without the filter.
		if _, err := os.Stat("/usr/bin/unshare"); err == nil {
			if out := fails(t, sb, "unshare -U true"); !strings.Contains(out, "not permitted") {
				t.Errorf("unshare -U: %q, want a refusal", out)
			}
		}
		if _, err := os.Stat("/usr/bin/python3"); err == nil {
			out := must(t, sb, `python3 -c 'import ctypes; l = ctypes.CDLL(None, use_errno=True); print(l.ptrace(0, 0, 0, 0), ctypes.get_errno())'`)
			if out[0] != "-1 1" {
				t.Errorf("ptrace(PTRACE_TRACEME) = %q, want -1 EPERM", out)
			}
		}
	})
	t.Run("IPC", func(t *testing.T) {
		// A System V IPC namespace of its own: the host's segments are not listed.
		if _, err := os.Stat("/usr/bin/ipcs"); err != nil {
			t.Skip("needs ipcs")
		}
		if out := must(t, sb, `ipcs -m | grep -c '^0x' || true`); out[0] != "0" {
			t.Errorf("the sandbox sees shared memory segments: %q", out)
		}
	})
}

// The code directory is private to root (0700, 0600) like the invoker's code
// cache; the sandbox reads it as its own, at its own path, read-only, and
// works in it.
func TestCodeDir(t *testing.T) {
	f := sharedFixture(t)
	code := t.TempDir()
	main := filepath.Join(code, "main.sh")
	if err := os.WriteFile(main, []byte("#!/bin/sh\nexec /bin/sh "+filepath.Join(f.scripts, "loop.sh")+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(code, "data"), []byte("secret sauce\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := f.spec(t)
	spec.Dir = code
	// A #! script as argv[0], by its host path.
	spec.Argv = []string{main}
	sb := f.start(t, spec)
	if out := must(t, sb, `pwd; cat data; id -u`); out[0] != code || out[1] != "secret sauce" {
		t.Errorf("pwd; cat data = %q, want %s and the file", out, code)
	}
	fails(t, sb, `touch new`)
	fails(t, sb, `echo more >> data`)
	if _, err := os.Stat(filepath.Join(code, "new")); err == nil {
		t.Error("the sandbox wrote into the code directory")
	}
}

// The invoker's layout: prepared code in the data directory's code cache, a
// runtime that lists the prepared directory, runs an executable in it by its
// host path and works in a subdirectory (the go runtime does). The sandbox
// gets that one action's code and nothing else of the data directory.
func TestCodeCache(t *testing.T) {
	f := sharedFixture(t)
	cache := filepath.Join(f.data, "code")
	prepared := filepath.Join(cache, fmt.Sprintf("abc%d", f.n.Load()))
	other := filepath.Join(cache, "other-action")
	for _, dir := range []string{filepath.Join(prepared, "src"), other} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(prepared); os.RemoveAll(other) })
	exec := filepath.Join(prepared, "exec")
	if err := os.WriteFile(exec, []byte("#!/bin/sh\nexec /bin/sh "+filepath.Join(f.scripts, "loop.sh")+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(prepared, "src", "main.go"), []byte("package main\n"), 0o600)
	os.WriteFile(filepath.Join(other, "secret"), []byte("not yours\n"), 0o600)
	os.WriteFile(filepath.Join(f.data, "gust.db"), []byte("keys\n"), 0o600)

	spec := f.spec(t)
	spec.Argv = []string{exec}
	spec.Dir = filepath.Join(prepared, "src")
	spec.ReadOnlyPaths = append(spec.ReadOnlyPaths, prepared)
	sb := f.start(t, spec)
	if out := must(t, sb, `pwd; cat main.go; ls `+cache+`; ls `+f.data); out[0] != spec.Dir ||
		out[1] != "package main" || out[2] != filepath.Base(prepared) || out[3] != "code" {
		t.Errorf("the sandbox sees %q, want its own code only", out)
	}
	fails(t, sb, `cat `+filepath.Join(other, "secret"))
	fails(t, sb, `cat `+filepath.Join(f.data, "gust.db"))
	fails(t, sb, `touch `+filepath.Join(prepared, "new"))

	// A runtime may not hand a sandbox the cache or the data directory.
	for _, p := range []string{cache, f.data, filepath.Join(f.data, "gust.db"), filepath.Dir(f.data)} {
		spec := f.spec(t)
		spec.ReadOnlyPaths = append(spec.ReadOnlyPaths, p)
		if sb, err := f.d.Start(context.Background(), spec); err == nil {
			sb.Destroy()
			t.Errorf("Start with read-only path %s succeeded", p)
		}
	}
	spec = f.spec(t)
	spec.Dir = cache
	if sb, err := f.d.Start(context.Background(), spec); err == nil {
		sb.Destroy()
		t.Error("Start with the whole code cache as code directory succeeded")
	}
}

// Without Spec.Dir the working directory is private and writable.
func TestPrivateDir(t *testing.T) {
	f := sharedFixture(t)
	sb := f.start(t, f.spec(t))
	if out := must(t, sb, `pwd; echo hi > f; cat f`); out[0] != "/code" || out[1] != "hi" {
		t.Errorf("pwd; echo; cat = %q", out)
	}
}

func TestOpenFileLimit(t *testing.T) {
	f := sharedFixture(t)
	for _, n := range []int{0, 64, 4096} {
		spec := f.spec(t)
		spec.Files = n
		sb := f.start(t, spec)
		want := strconv.Itoa(n)
		if n == 0 {
			want = "1024" // the default
		}
		if out := must(t, sb, `ulimit -n; ulimit -Hn`); out[0] != want || out[1] != want {
			t.Errorf("Files %d: soft and hard limits %q, want %s", n, out, want)
		}
		sb.Destroy()
	}
}

func TestRefusedPaths(t *testing.T) {
	f := sharedFixture(t)
	for _, paths := range [][]string{{"/"}, {filepath.Dir(f.work)}, {f.work + "/root"}, {"/root/.profile"}, {"relative"}, {"/tmp"}} {
		spec := f.spec(t)
		spec.ReadOnlyPaths = append(spec.ReadOnlyPaths, paths...)
		if sb, err := f.d.Start(context.Background(), spec); err == nil {
			sb.Destroy()
			t.Errorf("Start with read-only paths %q succeeded", paths)
		}
	}
	spec := f.spec(t)
	spec.Dir = "/"
	if sb, err := f.d.Start(context.Background(), spec); err == nil {
		sb.Destroy()
		t.Error("Start with / as the code directory succeeded")
	}
}

func TestReadOnlyPlan(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "real/sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "real/sub/file"), nil, 0o644)
	os.Symlink("real", filepath.Join(dir, "link"))
	os.Symlink("file", filepath.Join(dir, "real/sub/alias"))
	os.Symlink(filepath.Join(dir, "loop"), filepath.Join(dir, "loop"))
	os.Chmod(filepath.Join(dir, "real/sub"), 0o750)

	got, err := linux.ReadOnlyPlan([]string{
		dir + "/link/sub/alias", // through a directory link, to a file link
		dir + "/real/sub",       // covers the file above
		dir + "/missing",        // skipped
		"/dev/null",             // provided by the sandbox
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		dir + "/link -> real",
		dir + "/real/sub (idmap)", // not readable by others
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := linux.ReadOnlyPlan([]string{dir + "/loop"}, nil, nil); err == nil {
		t.Error("a symlink loop was planned")
	}
	hidden, exposed := []string{dir + "/real"}, []string{dir + "/real/sub"}
	for _, p := range []string{dir, dir + "/real", dir + "/real/sub", dir + "/link/sub"} {
		if _, err := linux.ReadOnlyPlan([]string{p}, hidden, exposed); err == nil {
			t.Errorf("%s was planned: it holds or is a hidden or exposed directory", p)
		}
	}
	if _, err := linux.ReadOnlyPlan([]string{dir + "/link/sub/file"}, hidden, exposed); err != nil {
		t.Errorf("a file inside an exposed directory: %v", err)
	}
}

func TestOOM(t *testing.T) {
	f := sharedFixture(t)
	spec := f.spec(t)
	spec.MemoryMB = 32
	sb := f.start(t, spec)
	must(t, sb, `true`) // a call that fits
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The subshell holding the string is what the kernel kills; the whole
	// sandbox ends with it.
	r, err := sb.Call(ctx, []byte(`x=$(head -c 200000000 /dev/zero | tr '\0' a); echo ${#x}`), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OOM || !r.Exited || r.TimedOut {
		t.Fatalf("memory hog: %+v", r)
	}
	// A crash that is not about memory is not reported as OOM.
	spec = f.spec(t)
	spec.Argv = []string{"/bin/sh", "-c", "read -r l; exit 9"}
	sb2 := f.start(t, spec)
	r, err = sb2.Call(ctx, []byte(`{}`), 1<<20)
	if err != nil || !r.Exited || r.OOM {
		t.Fatalf("self-kill: %+v %v", r, err)
	}
}

func TestForkBomb(t *testing.T) {
	f := sharedFixture(t)
	spec := f.spec(t)
	spec.Pids = 16
	sb := f.start(t, spec)
	pidsDir := sb.CgroupDirs()["pids"]
	// The bomb waits until the loop has answered: the loop forks to answer
	// (command substitution, tr), and once the bomb holds every pid it
	// cannot, which is the point but not what this call is testing.
	must(t, sb, `(sleep 0.5; b() { b | b & }; b) >/dev/null 2>&1 & echo started`)
	time.Sleep(1500 * time.Millisecond)
	if n := readInt(t, filepath.Join(pidsDir, "pids.current")); n > 16 {
		t.Errorf("pids.current = %d with a limit of 16", n)
	}
	if b, err := os.ReadFile(filepath.Join(pidsDir, "pids.events")); err == nil && string(b) == "max 0\n" {
		t.Errorf("no fork was refused: pids.events %q", b)
	}
	start := time.Now()
	if err := sb.Destroy(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Destroy took %v", d)
	}
	if _, err := os.Stat(pidsDir); err == nil {
		t.Error("cgroup left after Destroy")
	}
}

func readInt(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A daemon that left the runtime's process group and session is gone after
// Destroy, and so is the cgroup.
func TestDestroy(t *testing.T) {
	f := sharedFixture(t)
	sb := f.start(t, f.spec(t))
	must(t, sb, `setsid sh -c 'sleep 1000 & sleep 1000' >/dev/null 2>&1 &`)
	pidns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", sb.HostPID()))
	if err != nil {
		t.Fatal(err)
	}
	// The loop, the daemon's shell and its two sleeps.
	for deadline := time.Now().Add(10 * time.Second); len(inNamespace(pidns)) < 4; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d processes in the sandbox before Destroy, want 4", len(inNamespace(pidns)))
		}
	}
	dirs := sb.CgroupDirs()
	if err := sb.Destroy(); err != nil {
		t.Fatal(err)
	}
	if left := inNamespace(pidns); len(left) > 0 {
		t.Errorf("processes %v survived Destroy", left)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left after Destroy", d)
		}
	}
	if err := sb.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

// inNamespace lists the host pids of the processes in the PID namespace ns.
func inNamespace(ns string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err == nil && l == ns {
			out = append(out, pid)
		}
	}
	return out
}

func TestPauseResume(t *testing.T) {
	f := sharedFixture(t)
	sb := f.start(t, f.spec(t))
	must(t, sb, `true`)
	freezer := sb.CgroupDirs()["freezer"]
	if err := sb.Pause(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(freezer, "freezer.state")); err == nil && strings.TrimSpace(string(b)) != "FROZEN" {
		t.Errorf("freezer.state = %q after Pause", b)
	}
	// Frozen, it does not answer.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	done := make(chan sandbox.Reply, 1)
	go func() {
		r, _ := sb.Call(context.Background(), []byte(`echo thawed`), 1<<20)
		done <- r
	}()
	select {
	case r := <-done:
		t.Fatalf("a paused sandbox answered: %+v", r)
	case <-ctx.Done():
	}
	cancel()
	if err := sb.Resume(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if !strings.HasPrefix(string(r.Line), "thawed|") {
			t.Errorf("after Resume: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer after Resume")
	}
	// Destroying a paused sandbox works too.
	if err := sb.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := sb.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(freezer); err == nil {
		t.Error("cgroup left after destroying a paused sandbox")
	}
}

func TestStartFailureLeavesNothing(t *testing.T) {
	for _, f := range []*fixture{sharedFixture(t), newFixture(t, linux.Config{Prestart: -1})} {
		spec := f.spec(t)
		spec.Argv = []string{"/nonexistent/program"}
		_, err := f.d.Start(context.Background(), spec)
		if err == nil || !strings.Contains(err.Error(), "no such file") {
			t.Fatalf("Start of a missing program: %v", err)
		}
		entries, _ := os.ReadDir(f.work)
		if len(entries) != 1 || entries[0].Name() != "root" {
			t.Errorf("work root holds %v after a failed Start", entries)
		}
		parent := filepath.Join("/sys/fs/cgroup/memory", f.parent)
		if cgs, _ := os.ReadDir(parent); countDirs(cgs) != 0 {
			t.Errorf("cgroups left after a failed Start: %v", cgs)
		}
	}
}

// countDirs counts sandbox cgroups: not the prestarted inits' nor the one
// kept frozen.
func countDirs(entries []os.DirEntry) int {
	n := 0
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), "pool-") && !strings.HasPrefix(e.Name(), ".frozen-") {
			n++
		}
	}
	return n
}

// listen accepts connections on a host loopback port and counts them.
func listen(t *testing.T) (port int, accepted *atomic.Int32) {
	return listenOn(t, "127.0.0.1:0")
}

// listen0 is listen on every address of the host.
func listen0(t *testing.T) (port int, accepted *atomic.Int32) {
	return listenOn(t, "0.0.0.0:0")
}

func listenOn(t *testing.T, addr string) (port int, accepted *atomic.Int32) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, accepted
}

const connect = `python3 -c 'import socket,sys; socket.create_connection(("%s", %d), 2); print("connected")'`

func TestNetworkNone(t *testing.T) {
	testenv.MustHaveExecutable(t, "/usr/bin/python3")
	f := sharedFixture(t)
	port, accepted := listen(t)
	sb := f.start(t, f.spec(t))
	for _, p := range []int{port, 5432} {
		if out := fails(t, sb, fmt.Sprintf(connect, "127.0.0.1", p)); !strings.Contains(out, "refused") {
			t.Errorf("connecting to 127.0.0.1:%d: %q", p, out)
		}
	}
	if out := fails(t, sb, fmt.Sprintf(connect, "192.0.2.1", 80)); !strings.Contains(out, "unreachable") {
		t.Errorf("connecting out: %q", out)
	}
	if accepted.Load() != 0 {
		t.Error("the host's listener accepted a connection from a sandbox without network")
	}
	// Its own loopback works.
	must(t, sb, `python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); socket.create_connection(s.getsockname(), 2)'`)
}

func TestNetworkHost(t *testing.T) {
	testenv.MustHaveExecutable(t, "/usr/bin/python3")
	f := sharedFixture(t)
	port, accepted := listen(t)
	spec := f.spec(t)
	spec.Network = linux.NetworkHost
	sb := f.start(t, spec)
	must(t, sb, fmt.Sprintf(connect, "127.0.0.1", port))
	if accepted.Load() != 1 {
		t.Errorf("the host's listener accepted %d connections, want 1", accepted.Load())
	}
}

// The runtimes Gust confines start and work under the filter and the
// privilege drop, reading only what they list.
func TestRuntimes(t *testing.T) {
	f := sharedFixture(t)
	base := []string{"/usr", "/lib", "/lib64", "/bin", "/etc/ssl/certs", "/etc/localtime", "/usr/share/zoneinfo"}
	cases := []struct {
		name string
		argv []string
	}{
		{"node", []string{"/usr/bin/node", "-e", `
const fs = require("fs");
const out = fs.createWriteStream(null, {fd: 3});
const rl = require("readline").createInterface({input: process.stdin});
rl.on("line", l => { out.write(JSON.stringify({pid: process.pid, threads: fs.readdirSync("/proc/self/task").length}) + "\n");
  console.log("XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"); console.error("XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"); });`}},
		{"python", []string{"/usr/bin/python3", "-c", `
import os, sys, json, ssl, threading
out = os.fdopen(3, "w")
for line in sys.stdin:
    ssl.create_default_context()
    threading.Thread(target=lambda: None).start()
    out.write(json.dumps({"pid": os.getpid()}, separators=(",", ":")) + "\n"); out.flush()
    print("XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX", flush=True)
    print("XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX", file=sys.stderr, flush=True)`}},
		{"go", []string{mustExecutable(t)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := os.Stat(c.argv[0]); err != nil {
				t.Skipf("needs %s", c.argv[0])
			}
			spec := f.spec(t)
			spec.Argv = c.argv
			spec.Env = []string{"PATH=/usr/bin:/bin", "HOME=/tmp", goLoopEnv + "=1"}
			spec.ReadOnlyPaths = append(base, c.argv[0])
			spec.MemoryMB = 256
			sb := f.start(t, spec)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r, err := sb.Call(ctx, []byte(`{"value":{}}`), 1<<20)
			if err != nil || !strings.HasPrefix(string(r.Line), `{"pid":1`) || r.Exited {
				t.Fatalf("reply %s %v; logs %v", r.Line, err, r.Logs)
			}
			t.Logf("%s", r.Line)
		})
	}
}

func mustExecutable(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}
