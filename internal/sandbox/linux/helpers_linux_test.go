package linux_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gustfaas/gust/internal/sandbox"
	"github.com/gustfaas/gust/internal/sandbox/linux"
	"github.com/gustfaas/gust/internal/testenv"
)

// goLoopEnv makes the test binary an action-loop runtime: a Go program to
// confine, next to node and python.
const goLoopEnv = "GUST_TEST_GO_LOOP"

func TestMain(m *testing.M) {
	if os.Getenv(goLoopEnv) != "" {
		goLoop()
		return
	}
	code := m.Run()
	if shared.f != nil {
		shared.f.close()
	}
	os.Exit(code)
}

// shared is the driver most tests use: starting a driver costs a few
// processes, and race-instrumented ones are slow to start.
var shared struct {
	once sync.Once
	f    *fixture
	err  error
}

// sharedFixture returns the shared driver: 8 MB /tmp, /root hidden, and an
// egress range of its own.
func sharedFixture(t *testing.T) *fixture {
	t.Helper()
	testenv.MustBeRoot(t)
	if err := linux.Available(); err != nil {
		t.Skipf("linux driver unavailable: %v", err)
	}
	shared.once.Do(func() {
		shared.f, shared.err = makeFixture(linux.Config{
			TmpSizeMB:  8,
			Hidden:     []string{"/root"},
			EgressCIDR: fmt.Sprintf("10.213.%d.0/24", os.Getpid()%250),
		})
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.f
}

func goLoop() {
	reply := os.NewFile(3, "reply")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		// Some goroutines in system calls, so that the runtime makes threads.
		done := make(chan int)
		for range 4 {
			go func() { f, _ := os.ReadDir("/proc/self/task"); done <- len(f) }()
		}
		threads := 0
		for range 4 {
			threads = max(threads, <-done)
		}
		fmt.Fprintf(reply, "{\"pid\":%d,\"threads\":%d,\"procs\":%d}\n", os.Getpid(), threads, runtime.GOMAXPROCS(0))
		fmt.Println(sandbox.Sentinel)
		fmt.Fprintln(os.Stderr, sandbox.Sentinel)
	}
	os.Exit(0)
}

// hostPIDs adapts the driver to sandboxtest, whose daemon check reads the
// pids a sandboxed shell reports in the host's /proc. Inside a PID namespace
// those pids are the namespace's own; the adapter translates them to the
// host's, so the check still proves that the very processes the function
// started die with Destroy.
//
// It also lets the prestart pool refill before Start returns: the suite
// counts descriptors and goroutines, and an init being started in the
// background would make its count depend on timing.
type hostPIDs struct{ *linux.Driver }

func (d hostPIDs) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	sb, err := d.Driver.Start(ctx, spec)
	d.WaitPrestarted()
	if err != nil {
		return nil, err
	}
	return pidSandbox{sb.(*linux.Sandbox)}, nil
}

type pidSandbox struct{ *linux.Sandbox }

func (s pidSandbox) Call(ctx context.Context, line []byte, limit int) (sandbox.Reply, error) {
	r, err := s.Sandbox.Call(ctx, line, limit)
	var child, grandchild int
	if _, e := fmt.Sscanf(string(r.Line), `{"child":%d,"grandchild":%d}`, &child, &grandchild); e == nil {
		r.Line = fmt.Appendf(nil, `{"child":%d,"grandchild":%d}`, s.hostPID(child), s.hostPID(grandchild))
	}
	return r, err
}

// hostPID finds the host pid of the process that is nspid in the sandbox.
func (s pidSandbox) hostPID(nspid int) int {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", s.HostPID()))
	if err != nil {
		return -1
	}
	for _, pid := range inNamespace(ns) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "NSpid:" && f[len(f)-1] == strconv.Itoa(nspid) {
				return pid
			}
		}
	}
	return -1
}
