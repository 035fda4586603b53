package invoker_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/invoker"
	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/sandbox/process"
	"github.com/gustfaas/gust/internal/store/sqlite"
	"github.com/gustfaas/gust/internal/whisk"
)

// counter is a native action that counts its invocations in the process, so
// a test can tell a warm sandbox (count goes up) from a new one (count 1).
// A "sleep" argument makes it take a while.
const counter = `#!/bin/sh
n=0
while read -r line; do
  n=$((n+1))
  case "$line" in *'"sleep":true'*) sleep 0.3;; esac
  echo "{\"count\":$n}" >&3
done
`

type env struct {
	t   *testing.T
	inv *invoker.Invoker
	rec *invoker.Recorder
}

func newEnv(t *testing.T, cfg invoker.Config) *env {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "gust.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	drv, err := process.New(process.Config{WorkRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })
	reg, err := runtimes.NewRegistry(runtimes.Config{CacheDir: filepath.Join(os.TempDir(), "gust-runtimes-test")})
	if err != nil {
		t.Fatal(err)
	}
	rec := invoker.NewRecorder(invoker.DefaultRecorderConfig(), st, nil)
	t.Cleanup(rec.Close)
	cfg.WorkDir = t.TempDir()
	inv, err := invoker.New(cfg, invoker.Deps{Driver: drv, Runtimes: reg, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inv.Close(t.Context()) })
	return &env{t: t, inv: inv, rec: rec}
}

func nativeAction(name string, memory int) *whisk.Action {
	code := counter
	return &whisk.Action{
		Namespace: "guest", Name: name, Version: "0.0.1",
		Exec:   whisk.Exec{Kind: "blackbox", Image: "openwhisk/dockerskeleton", Code: &code},
		Limits: whisk.Limits{Timeout: 5000, Memory: memory, Logs: 1, Concurrency: 1},
	}
}

func (e *env) run(a *whisk.Action, args string) *whisk.Activation {
	e.t.Helper()
	ch, err := e.inv.Start(message(a, args))
	if err != nil {
		e.t.Fatal(err)
	}
	select {
	case act := <-ch:
		return act
	case <-time.After(30 * time.Second):
		e.t.Fatal("activation did not finish")
		return nil
	}
}

func message(a *whisk.Action, args string) *whisk.ActivationMessage {
	return &whisk.ActivationMessage{
		ActivationID: whisk.NewActivationID(), TransactionID: "tid",
		Identity:  whisk.Identity{Subject: "guest", Namespace: "guest"},
		ActionFQN: a.FQN(), ActionRev: 1, Action: a, Args: json.RawMessage(args),
		Received: time.Now(),
	}
}

func count(t *testing.T, act *whisk.Activation) int {
	t.Helper()
	if !act.Response.Success {
		t.Fatalf("activation failed: %s (logs %q)", act.Response.Result, act.Logs)
	}
	var r struct{ Count int }
	if err := json.Unmarshal(act.Response.Result, &r); err != nil {
		t.Fatal(err)
	}
	return r.Count
}

func cold(act *whisk.Activation) bool { return act.Annotations.Get("initTime") != nil }

func TestWarmSandboxIsReused(t *testing.T) {
	e := newEnv(t, invoker.DefaultConfig())
	a := nativeAction("a", 256)
	first, second := e.run(a, `{}`), e.run(a, `{}`)
	if count(t, first) != 1 || !cold(first) {
		t.Fatalf("first: count %d cold %v", count(t, first), cold(first))
	}
	if count(t, second) != 2 || cold(second) {
		t.Fatalf("second: count %d cold %v, want a warm reuse", count(t, second), cold(second))
	}
	// Another revision of the action must not run in the old sandbox.
	b := *a
	b.Version = "0.0.2"
	if third := e.run(&b, `{}`); count(t, third) != 1 || !cold(third) {
		t.Fatalf("a new version ran warm in the old version's sandbox")
	}
}

func TestFullMemoryQueuesInsteadOfFailing(t *testing.T) {
	cfg := invoker.DefaultConfig()
	cfg.UserMemoryMB = 256
	e := newEnv(t, cfg)
	var wg sync.WaitGroup
	acts := make([]*whisk.Activation, 3)
	for i := range acts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Distinct actions: none can reuse another's sandbox.
			acts[i] = e.run(nativeAction(string(rune('a'+i)), 256), `{"sleep":true}`)
		}()
	}
	wg.Wait()
	for i, a := range acts {
		if count(t, a) != 1 {
			t.Fatalf("activation %d: count %d", i, count(t, a))
		}
		for j, b := range acts {
			if i != j && a.Start < b.End && b.Start < a.End {
				t.Fatalf("activations %d [%d,%d] and %d [%d,%d] overlapped in 256 MB meant for one",
					i, a.Start, a.End, j, b.Start, b.End)
			}
		}
	}
}

func TestIdleSandboxesExpire(t *testing.T) {
	cfg := invoker.DefaultConfig()
	cfg.KeepAlive = 100 * time.Millisecond
	e := newEnv(t, cfg)
	a := nativeAction("a", 256)
	e.run(a, `{}`)
	deadline := time.Now().Add(5 * time.Second)
	for e.inv.Stats().Warm > 0 {
		if time.Now().After(deadline) {
			t.Fatal("idle sandbox was never removed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if again := e.run(a, `{}`); count(t, again) != 1 || !cold(again) {
		t.Fatal("ran in a sandbox that should have expired")
	}
}

func TestLeastRecentlyUsedIsEvicted(t *testing.T) {
	cfg := invoker.DefaultConfig()
	cfg.UserMemoryMB = 512
	e := newEnv(t, cfg)
	a, b, c := nativeAction("a", 256), nativeAction("b", 256), nativeAction("c", 256)
	e.run(a, `{}`)
	e.run(b, `{}`)
	e.run(c, `{}`) // no room: a, used longest ago, makes way
	if got := e.run(b, `{}`); count(t, got) != 2 {
		t.Fatalf("b was evicted although a was used longer ago (count %d)", count(t, got))
	}
	if got := e.run(a, `{}`); count(t, got) != 1 {
		t.Fatalf("a kept its sandbox although memory was full (count %d)", count(t, got))
	}
}

func TestStemCellIsUsedAndReplenished(t *testing.T) {
	needPython(t)
	cfg := invoker.DefaultConfig()
	cfg.StemCells = map[string]int{"python:3.11": 1}
	e := newEnv(t, cfg)
	waitFor(t, func() bool { return e.inv.Stats().StemCells == 1 })
	code := "def main(p):\n    return {'ok': True}\n"
	a := &whisk.Action{Namespace: "guest", Name: "py", Version: "0.0.1",
		Exec:   whisk.Exec{Kind: "python:3.11", Code: &code},
		Limits: whisk.Limits{Timeout: 5000, Memory: 256, Logs: 1, Concurrency: 1}}
	act := e.run(a, `{}`)
	if !act.Response.Success || !cold(act) {
		t.Fatalf("%s", act.Response.Result)
	}
	waitFor(t, func() bool { return e.inv.Stats().StemCells == 1 })
}

// TestStemCellsFollowDemand runs three python actions at once with one stem
// cell configured: the two that started cold make the invoker keep three
// ready, and once the demand window has passed it goes back to one.
func TestStemCellsFollowDemand(t *testing.T) {
	needPython(t)
	cfg := invoker.DefaultConfig()
	cfg.StemCells = map[string]int{"python:3.11": 1}
	cfg.StemCellsMax = 3
	cfg.StemCellDemandWindow = 3 * time.Second
	cfg.KeepAlive = time.Second // the reaper, which trims stem cells, runs every 100 ms
	e := newEnv(t, cfg)
	waitFor(t, func() bool { return e.inv.Stats().StemCells == 1 })
	code := "import time\ndef main(p):\n    time.sleep(0.2)\n    return {'ok': True}\n"
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b", "c"} {
		a := &whisk.Action{Namespace: "guest", Name: name, Version: "0.0.1",
			Exec:   whisk.Exec{Kind: "python:3.11", Code: &code},
			Limits: whisk.Limits{Timeout: 5000, Memory: 256, Logs: 1, Concurrency: 1}}
		wg.Go(func() {
			if act := e.run(a, `{}`); !act.Response.Success {
				t.Errorf("%s: %s", name, act.Response.Result)
			}
		})
	}
	wg.Wait()
	waitFor(t, func() bool { return e.inv.Stats().StemCells == 3 })
	waitFor(t, func() bool { return e.inv.Stats().StemCells == 1 })
}

func needPython(t *testing.T) {
	t.Helper()
	reg, err := runtimes.NewRegistry(runtimes.Config{CacheDir: filepath.Join(os.TempDir(), "gust-runtimes-test")})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Lookup("python:3.11"); !ok {
		t.Skip("needs python:3.11 (python3 installed)")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
