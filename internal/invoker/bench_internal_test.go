package invoker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/sandbox/process"
	"github.com/gustfaas/gust/internal/store/sqlite"
	"github.com/gustfaas/gust/internal/whisk"
)

// Micro-benchmarks of the invoker's share of a warm invoke. The whole path
// over HTTP is `gust bench` and BenchmarkWarmInvoke in cmd/gust.

func benchMessage(a *whisk.Action) *whisk.ActivationMessage {
	return &whisk.ActivationMessage{
		ActivationID: whisk.NewActivationID(), TransactionID: "tid",
		Identity:  whisk.Identity{Subject: "guest", Namespace: "guest"},
		ActionFQN: a.FQN(), ActionRev: 1, Action: a, Args: json.RawMessage(`{"n":1}`),
		Received: time.Now(),
	}
}

// BenchmarkPoolHandover takes a warm sandbox from the pool and gives it
// back, as every warm activation does around its run: a real invoker over
// the process driver, with one native sandbox started before timing.
func BenchmarkPoolHandover(b *testing.B) {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "gust.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	drv, err := process.New(process.Config{WorkRoot: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer drv.Close()
	reg, err := runtimes.NewRegistry(runtimes.Config{CacheDir: filepath.Join(os.TempDir(), "gust-runtimes-test")})
	if err != nil {
		b.Fatal(err)
	}
	rec := NewRecorder(DefaultRecorderConfig(), st, nil)
	defer rec.Close()
	cfg := DefaultConfig()
	cfg.WorkDir = b.TempDir()
	inv, err := New(cfg, Deps{Driver: drv, Runtimes: reg, Recorder: rec})
	if err != nil {
		b.Fatal(err)
	}
	defer inv.Close(b.Context())

	code := "#!/bin/sh\nwhile read -r l; do echo '{}' >&3; done\n"
	a := &whisk.Action{
		Namespace: "guest", Name: "noop", Version: "0.0.1",
		Exec:   whisk.Exec{Kind: whisk.KindBlackbox, Image: "openwhisk/dockerskeleton", Code: &code},
		Limits: whisk.Limits{Timeout: 5000, Memory: 256, Logs: 1, Concurrency: 1},
	}
	msg := benchMessage(a)
	rt, ok := reg.Lookup(whisk.KindBlackbox)
	if !ok {
		b.Skip("no native runtime")
	}
	c, how, err := inv.acquire(msg, rt)
	if err != nil || how != "cold" {
		b.Fatalf("first acquire: %s %v", how, err)
	}
	inv.release(c)
	b.ReportAllocs()
	for b.Loop() {
		c, how, err := inv.acquire(msg, rt)
		if err != nil || how != "warm" {
			b.Fatalf("acquire: %s %v", how, err)
		}
		inv.release(c)
	}
}

// BenchmarkActivationRecord builds a warm activation's record as run does
// and encodes it as the store writes it.
func BenchmarkActivationRecord(b *testing.B) {
	inv := &Invoker{}
	code := "function main(p) { return p }"
	a := &whisk.Action{
		Namespace: "guest", Name: "hello", Version: "0.0.1",
		Exec:   whisk.Exec{Kind: "nodejs:20", Code: &code},
		Limits: whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1},
	}
	msg := benchMessage(a)
	resp := whisk.NewResponse(whisk.StatusSuccess, json.RawMessage(`{"greeting":"Hello, Ada!","n":1}`))
	start := time.Now()
	end := start.Add(3 * time.Millisecond)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		rec := inv.newRecord(msg)
		rec.act.Start = start.UnixMilli()
		rec.annotate("waitTime", 1)
		rec.act.Logs = formatLogs(nil, nil)
		rec.finish(end, resp)
		doc, err := json.Marshal(rec.act)
		if err != nil {
			b.Fatal(err)
		}
		size = len(doc)
	}
	b.SetBytes(int64(size))
}
