package loadgen_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/loadgen"
)

// get returns a Func that GETs url and fails on any status but 200.
func get(client *http.Client, url string) loadgen.Func {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
}

func TestClosedLoopCountsEveryRequest(t *testing.T) {
	var served atomic.Int64
	var inFlight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(time.Millisecond)
		inFlight.Add(-1)
		if served.Add(1)%10 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()

	res, err := loadgen.Run(t.Context(), loadgen.Config{Concurrency: 4, Requests: 200}, get(srv.Client(), srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 200 || served.Load() != 200 {
		t.Fatalf("measured %d requests, server saw %d; want 200 each", res.Requests, served.Load())
	}
	if res.Errors != 20 || res.FirstError == nil || res.FirstError.Error() != "status 500" {
		t.Fatalf("errors %d (first %v), want 20 failures with status 500", res.Errors, res.FirstError)
	}
	if got := res.Latency.Count(); got != 180 {
		t.Fatalf("latency samples %d, want the 180 successes", got)
	}
	if peak.Load() > 4 {
		t.Fatalf("%d requests in flight at once, want at most the 4 workers", peak.Load())
	}
	if s := res.Summary(); s.P50 < 1 || s.Max < s.P99 || s.P99 < s.P50 {
		t.Fatalf("percentiles out of order or below the server's 1 ms: %+v", s)
	}
	if want := float64(180) / res.Elapsed.Seconds(); math.Abs(res.Throughput-want) > 1e-6 {
		t.Fatalf("throughput %.1f, want successes over the elapsed time, %.1f", res.Throughput, want)
	}
}

func TestWarmupIsNotMeasured(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served.Add(1) }))
	defer srv.Close()
	res, err := loadgen.Run(t.Context(), loadgen.Config{Requests: 50, Warmup: 50 * time.Millisecond}, get(srv.Client(), srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 50 || served.Load() <= 50 {
		t.Fatalf("measured %d of the %d served; want 50 measured and the warm-up's on top", res.Requests, served.Load())
	}
}

func TestOpenLoopKeepsItsRate(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served.Add(1) }))
	defer srv.Close()
	res, err := loadgen.Run(t.Context(), loadgen.Config{Rate: 400, Duration: 500 * time.Millisecond, Concurrency: 8},
		get(srv.Client(), srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	// 400/s for half a second is 200 requests, the first at time 0; a
	// machine short of CPU may send a few less, never more.
	if res.Requests < 160 || res.Requests > 202 || int64(res.Requests) != served.Load() {
		t.Fatalf("sent %d (server saw %d), want about 200", res.Requests, served.Load())
	}
	if res.Throughput < 320 || res.Throughput > 440 {
		t.Fatalf("throughput %.0f/s, want about the 400/s asked for", res.Throughput)
	}
}

func TestOpenLoopRequestLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	res, err := loadgen.Run(t.Context(), loadgen.Config{Rate: 1000, Requests: 30}, get(srv.Client(), srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 30 {
		t.Fatalf("sent %d, want 30", res.Requests)
	}
}

// TestOpenLoopChargesStallsToEveryDelayedRequest is the point of an open
// loop: the server stalls once for 300 ms. A closed loop with one worker
// sends nothing during the stall, so one sample sees it; an open loop at
// 200/s has ~60 requests due during the stall, and each one's latency is
// counted from when it was due.
func TestOpenLoopChargesStallsToEveryDelayedRequest(t *testing.T) {
	stalling := func() *httptest.Server {
		var n atomic.Int64
		return httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			if n.Add(1) == 20 {
				time.Sleep(300 * time.Millisecond)
			}
		}))
	}
	slow := func(res *loadgen.Result) uint64 { return res.Latency.CountAbove(100 * time.Millisecond) }

	srv := stalling()
	closed, err := loadgen.Run(t.Context(), loadgen.Config{Concurrency: 1, Duration: time.Second}, get(srv.Client(), srv.URL))
	srv.Close()
	if err != nil {
		t.Fatal(err)
	}
	srv = stalling()
	open, err := loadgen.Run(t.Context(), loadgen.Config{Concurrency: 1, Rate: 200, Duration: time.Second}, get(srv.Client(), srv.URL))
	srv.Close()
	if err != nil {
		t.Fatal(err)
	}
	// A busy machine may slow another request or two past 100 ms.
	if n := slow(closed); n < 1 || n > 3 {
		t.Errorf("closed loop: %d samples ≥ 100 ms, want the 1 that met the stall", n)
	}
	if n := slow(open); n < 30 {
		t.Errorf("open loop: %d samples ≥ 100 ms, want the ~40 due while the server stalled", n)
	}
	if open.Late < 30 {
		t.Errorf("open loop: %d requests sent late, want the ~60 that waited for the stalled one", open.Late)
	}
	if open.Latency.Max() < 300*time.Millisecond {
		t.Errorf("open loop max %v, want at least the stall", open.Latency.Max())
	}
}

func TestRunRefusesBadConfigAndCancellation(t *testing.T) {
	noop := func(context.Context) error { return nil }
	for _, cfg := range []loadgen.Config{{}, {Duration: time.Second, Rate: -1}, {Requests: 1, Concurrency: -1}} {
		if _, err := loadgen.Run(t.Context(), cfg, noop); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := loadgen.Run(ctx, loadgen.Config{Duration: time.Minute}, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// TestHistogramMatchesSortedSamples compares the histogram's percentiles
// with exact ones over latency-like samples spanning µs to seconds.
func TestHistogramMatchesSortedSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h, a, b loadgen.Histogram
	samples := make([]time.Duration, 100000)
	for i := range samples {
		d := time.Duration(math.Exp(rng.NormFloat64()*2 + 13)) // median ~0.44 ms
		samples[i] = d
		h.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	slices.Sort(samples)
	exact := func(q float64) time.Duration {
		return samples[int(math.Ceil(q*float64(len(samples))))-1]
	}
	for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999, 1} {
		want := exact(q)
		for name, hist := range map[string]*loadgen.Histogram{"recorded": &h, "merged": &a} {
			got := hist.Quantile(q)
			if rel := math.Abs(float64(got-want)) / float64(want); rel > 1.0/128 {
				t.Errorf("%s q%.3f: %v, exact %v (off by %.2f%%)", name, q, got, want, rel*100)
			}
		}
	}
	if h.Min() != samples[0] || h.Max() != samples[len(samples)-1] || a.Count() != h.Count() || a.Mean() != h.Mean() {
		t.Errorf("min %v max %v count %d/%d mean %v/%v", h.Min(), h.Max(), a.Count(), h.Count(), a.Mean(), h.Mean())
	}

	var small loadgen.Histogram
	for _, d := range []time.Duration{3, 1, 2, 100} {
		small.Record(d)
	}
	if small.Quantile(0.5) != 2 || small.Quantile(0.75) != 3 || small.Quantile(1) != 100 {
		t.Errorf("small values are not exact: p50 %v p75 %v p100 %v", small.Quantile(.5), small.Quantile(.75), small.Quantile(1))
	}
	var empty loadgen.Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 || empty.Summary().Count != 0 {
		t.Error("an empty histogram reports samples")
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h loadgen.Histogram
	d := time.Duration(1)
	for b.Loop() {
		h.Record(d)
		d = (d*7 + 13) % (1 << 32)
	}
}
