package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// The child side of TestKilledAfterAcceptRunsOnce: a real server in its own
// process, so that the test can SIGKILL it.
func TestMain(m *testing.M) {
	if args := os.Getenv(childArgsEnv); args != "" {
		os.Exit(runChildCommand(args)) // cluster_test.go: a gust command in its own process
	}
	if dir := os.Getenv("GUST_E2E_CHILD_DATA"); dir != "" {
		runChildServer(dir)
		return
	}
	os.Exit(m.Run())
}

func runChildServer(dir string) {
	cfg := defaultServerConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.StemCells = map[string]int{}
	cfg.StemCellsMax = 0
	cfg.Controller.InvocationsPerMinute = 0
	cfg.Controller.ConcurrentInvocations = 0
	srv, err := startServer(context.Background(), cfg)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("READY", srv.Addr(), srv.guestKey)
	select {}
}

func startChild(t *testing.T, dir string) (*exec.Cmd, *testServer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GUST_E2E_CHILD_DATA="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child server: %v", err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "READY" {
		t.Fatalf("child server said %q", line)
	}
	key, err := whisk.ParseAuthKey(f[2])
	if err != nil {
		t.Fatal(err)
	}
	return cmd, &testServer{t: t, base: "http://" + f[1], key: key}
}

// P1 and P3 of RELIABILITY.md: work answered 202 survives a SIGKILL of the
// server and, after a restart, is run and recorded exactly once.
func TestKilledAfterAcceptRunsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	dir := t.TempDir()
	cmd, ts := startChild(t, dir)
	ts.putAction("slow", "nodejs:20", `function main(p) { return new Promise(r => setTimeout(() => r({i: p.i}), 200)) }`, nil)
	var ids []string
	for i := range 10 {
		r := ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/actions/slow", map[string]any{"i": i}), 202)
		ids = append(ids, r.object(t)["activationId"].(string))
	}
	// Killed right after the last 202: most of the work has not run yet.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	_, ts2 := startChild(t, dir)
	for _, id := range ids {
		ts2.waitActivation(id, 60*time.Second)
	}
	r := ts2.mustStatus(ts2.do("GET", "/api/v1/namespaces/_/activations?name=slow&limit=200", nil), 200)
	var list []whisk.Activation
	r.json(t, &list)
	seen := map[string]int{}
	for _, a := range list {
		seen[a.ActivationID]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("activation %s has %d records, want 1", id, seen[id])
		}
	}
	if len(list) != len(ids) {
		t.Errorf("%d records for %d accepted activations", len(list), len(ids))
	}
}
