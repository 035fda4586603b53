package linux

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/testenv"
)

// cgroup2Mount finds a mounted cgroup2 hierarchy: the only one on a v2 host,
// the controller-less "unified" one on a hybrid host like this project's.
func cgroup2Mount() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if i := slices.Index(fields, "-"); i > 4 && i+1 < len(fields) && fields[i+1] == "cgroup2" {
			return fields[4]
		}
	}
	return ""
}

// The v2 paths the driver takes on v2 hosts — birth in the cgroup, the
// freezer, cgroup.kill — exercised on whatever cgroup2 hierarchy there is.
// (The memory and pids files need the controllers, which a hybrid host
// keeps in v1; the driver's own tests cover those there.)
func TestCgroupV2Core(t *testing.T) {
	testenv.MustBeRoot(t)
	mnt := cgroup2Mount()
	if mnt == "" {
		t.Skip("no cgroup2 hierarchy mounted")
	}
	dir := filepath.Join(mnt, fmt.Sprintf("gust-v2-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a cgroup2 cgroup: %v", err)
	}
	defer os.Remove(dir)
	for _, f := range []string{"cgroup.freeze", "cgroup.kill"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Skipf("kernel without %s", f)
		}
	}
	c := &cgroup{cg: &cgroups{v2: true}, dirs: map[string]string{"memory": dir, "pids": dir, "freezer": dir}}
	fd, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	cmd := exec.Command("/bin/sh", "-c", "sleep 100 & sleep 100")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(c.procs()) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if p := c.procs(); len(p) != 3 || !slices.Contains(p, cmd.Process.Pid) {
		t.Fatalf("procs = %v, want the shell (%d) and its two children", p, cmd.Process.Pid)
	}
	if err := c.freeze(); err != nil {
		t.Fatal(err)
	}
	if err := c.thaw(); err != nil {
		t.Fatal(err)
	}
	if err := c.freeze(); err != nil {
		t.Fatal(err)
	}
	c.kill() // frozen: cgroup.kill reaches frozen tasks too
	cmd.Wait()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the shell ended with %v, want SIGKILL", cmd.ProcessState)
	}
	if err := c.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("cgroup left after remove")
	}
}

func TestCPUShares(t *testing.T) {
	for mem, want := range map[int]int{128: 512, 256: 1024, 512: 2048, 0: 2, 1 << 20: 262144} {
		if got := cpuShares(mem); got != want {
			t.Errorf("cpuShares(%d) = %d, want %d", mem, got, want)
		}
	}
}
