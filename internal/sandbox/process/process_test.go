package process_test

import (
	"context"
	"os"
	"testing"

	"github.com/gustfaas/gust/internal/sandbox"
	"github.com/gustfaas/gust/internal/sandbox/process"
	"github.com/gustfaas/gust/internal/sandbox/sandboxtest"
)

func newDriver(t *testing.T) (*process.Driver, string) {
	t.Helper()
	root := t.TempDir()
	d, err := process.New(process.Config{WorkRoot: root, DefaultFiles: 256})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, root
}

func TestConformance(t *testing.T) {
	d, root := newDriver(t)
	sandboxtest.Run(t, d)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(root); len(left) != 0 {
		t.Errorf("work root not empty after every sandbox was destroyed: %v", left)
	}
}

func TestPrivateDirAndLimits(t *testing.T) {
	d, root := newDriver(t)
	sb, err := d.Start(context.Background(), sandbox.Spec{
		ID:   "limits/../x",
		Argv: []string{"/bin/sh", "-c", `read -r l; pwd; ulimit -n; echo '{}' >&3; echo XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX; echo XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX >&2; sleep 1000`},
		Env:  []string{"PATH=/usr/bin:/bin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := sb.Call(context.Background(), []byte("{}"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Logs) != 2 {
		t.Fatalf("logs = %+v", r.Logs)
	}
	dir, nofile := r.Logs[0].Text, r.Logs[1].Text
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || len(dir) <= len(root) || dir[:len(root)] != root {
		t.Errorf("working directory %q is not a private directory under %q", dir, root)
	}
	if nofile != "256" {
		t.Errorf("open file limit = %s, want 256", nofile)
	}
	// Close destroys what is still running and removes its directory.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("private directory left behind: %v", err)
	}
	<-sb.Exited()
}

func TestStartFailureLeavesNothing(t *testing.T) {
	d, root := newDriver(t)
	_, err := d.Start(context.Background(), sandbox.Spec{ID: "x", Argv: []string{"/nonexistent/program"}})
	if err == nil {
		t.Fatal("Start succeeded")
	}
	if left, _ := os.ReadDir(root); len(left) != 0 {
		t.Errorf("failed Start left %v", left)
	}
}
