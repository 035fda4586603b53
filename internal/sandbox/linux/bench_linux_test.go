package linux_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/sandbox"
	"github.com/gustfaas/gust/internal/sandbox/linux"
	"github.com/gustfaas/gust/internal/sandbox/process"
)

// trivialLoop is the cheapest runtime that speaks the action loop: what a
// sandbox adds to a runtime's own start shows against it.
const trivialLoop = `S=XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX
while read -r l; do echo '{}' >&3; echo $S; echo $S >&2; done
`

func benchSpec(b *testing.B) sandbox.Spec {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "loop.sh"), []byte(trivialLoop), 0o755); err != nil {
		b.Fatal(err)
	}
	return sandbox.Spec{
		Argv:          []string{"/bin/sh", filepath.Join(dir, "loop.sh")},
		Env:           []string{"PATH=/usr/bin:/bin"},
		MemoryMB:      128,
		ReadOnlyPaths: []string{"/bin", "/usr", "/lib", "/lib64", dir},
		Network:       linux.NetworkNone,
	}
}

// benchStart measures, per sandbox, Start (until the runtime was executed)
// and ready (Start plus the first reply), then Destroy, reporting p50 and p99.
func benchStart(b *testing.B, d sandbox.Driver, spec sandbox.Spec, pause time.Duration) {
	ctx := context.Background()
	var start, ready, destroy []time.Duration
	for i := 0; b.Loop(); i++ {
		spec.ID = fmt.Sprintf("bench-%d", i)
		t0 := time.Now()
		sb, err := d.Start(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		r, err := sb.Call(ctx, []byte(`{}`), 1<<20)
		if err != nil || string(r.Line) != "{}" {
			b.Fatalf("reply %+v %v", r, err)
		}
		t2 := time.Now()
		if err := sb.Destroy(); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		start, ready, destroy = append(start, t1.Sub(t0)), append(ready, t2.Sub(t0)), append(destroy, t3.Sub(t2))
		if pause > 0 {
			// Sandboxes are not started back to back in a real invoker:
			// leave the prestart pool time to refill, untimed.
			b.StopTimer()
			time.Sleep(pause)
			b.StartTimer()
		}
	}
	report(b, "start", start)
	report(b, "ready", ready)
	report(b, "destroy", destroy)
}

func report(b *testing.B, name string, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	ms := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))]) / 1e6 }
	b.ReportMetric(ms(0.5), name+"-p50-ms")
	b.ReportMetric(ms(0.99), name+"-p99-ms")
}

// BenchmarkStartLinux measures sandbox creation with the linux driver:
// prestarted (namespaces made ahead, the pool refilling between starts),
// cold (every namespace made on the spot), and cold with the host network
// (no network namespace).
func BenchmarkStartLinux(b *testing.B) {
	spec := benchSpec(b)
	b.Run("prestarted", func(b *testing.B) {
		d := newDriver(b, linux.Config{})
		benchStart(b, d, spec, 100*time.Millisecond)
	})
	b.Run("cold", func(b *testing.B) {
		d := newDriver(b, linux.Config{Prestart: -1})
		benchStart(b, d, spec, 0)
	})
	b.Run("cold-hostnet", func(b *testing.B) {
		d := newDriver(b, linux.Config{Prestart: -1})
		s := spec
		s.Network = linux.NetworkHost
		benchStart(b, d, s, 0)
	})
}

// BenchmarkStartProcess is the baseline: the same runtime with the process
// driver, which confines nothing.
func BenchmarkStartProcess(b *testing.B) {
	d, err := process.New(process.Config{WorkRoot: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	benchStart(b, d, benchSpec(b), 0)
}

// BenchmarkFreezeThaw measures Pause and Resume of an idle sandbox.
func BenchmarkFreezeThaw(b *testing.B) {
	d := newDriver(b, linux.Config{Prestart: -1})
	spec := benchSpec(b)
	spec.ID = "freeze"
	sb, err := d.Start(context.Background(), spec)
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Destroy()
	p := sb.(sandbox.Pauser)
	var freeze, thaw []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := p.Pause(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := p.Resume(); err != nil {
			b.Fatal(err)
		}
		freeze, thaw = append(freeze, t1.Sub(t0)), append(thaw, time.Since(t1))
	}
	us := func(d []time.Duration, q float64) float64 {
		slices.Sort(d)
		return float64(d[int(q*float64(len(d)-1))]) / 1e3
	}
	b.ReportMetric(us(freeze, 0.5), "freeze-p50-µs")
	b.ReportMetric(us(freeze, 0.99), "freeze-p99-µs")
	b.ReportMetric(us(thaw, 0.5), "thaw-p50-µs")
	b.ReportMetric(us(thaw, 0.99), "thaw-p99-µs")
}
