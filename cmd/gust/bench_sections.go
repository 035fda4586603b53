package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gustfaas/gust/internal/loadgen"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// loadPoint is one load measurement.
type loadPoint struct {
	Concurrency int             `json:"concurrency"`
	Rate        float64         `json:"rate_per_s,omitempty"` // open loop
	Requests    int             `json:"requests"`
	Errors      int             `json:"errors"`
	FirstError  string          `json:"first_error,omitempty"`
	Late        int             `json:"late,omitempty"` // open loop: sent late, every worker busy
	Throughput  float64         `json:"throughput_per_s"`
	Latency     loadgen.Summary `json:"latency"`
}

// loadSet is what the floor and each warm runtime are measured at.
type loadSet struct {
	C1    loadPoint  `json:"c1"`        // latency, one request at a time
	Cores loadPoint  `json:"c2x_cores"` // throughput at twice the cores
	C32   loadPoint  `json:"c32"`       // throughput at 32
	Open  *loadPoint `json:"open_loop,omitempty"`
}

// measureSet runs the closed loops at 1, 2×cores and 32, then (when open)
// an open loop at half the best throughput: the tail a client sees at a
// load the server can sustain.
func (b *bench) measureSet(ctx context.Context, fn loadgen.Func, open bool) (loadSet, error) {
	var s loadSet
	var err error
	if s.C1, err = b.measure(ctx, fn, 1, 0); err != nil {
		return s, err
	}
	if s.Cores, err = b.measure(ctx, fn, 2*b.cores, 0); err != nil {
		return s, err
	}
	if s.C32, err = b.measure(ctx, fn, 32, 0); err != nil {
		return s, err
	}
	if open {
		rate := max(s.C1.Throughput, s.Cores.Throughput, s.C32.Throughput) / 2
		p, err := b.measure(ctx, fn, 256, rate)
		if err != nil {
			return s, err
		}
		s.Open = &p
	}
	return s, nil
}

// runFloor measures a bare Go HTTP server that echoes the body, on
// loopback, with the same client and load generator.
func (b *bench) runFloor(ctx context.Context) error {
	set, err := b.measureHandler(ctx, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := make([]byte, 0, 64)
		buf := make([]byte, 512)
		for {
			n, err := r.Body.Read(buf)
			body = append(body, buf[:n]...)
			if err != nil {
				break
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	if err != nil {
		return err
	}
	b.report.Floor = &set
	b.progress("   c=1 %s", fmtPoint(set.C1))

	pipe, err := b.pipeFloor(ctx)
	if err != nil {
		b.progress("   pipe floor skipped: %v", err)
		return nil
	}
	b.report.PipeFloor = &pipe
	b.progress("   pipe floor: c=1 %s", fmtPoint(pipe.C1))
	return nil
}

// pipeFloorProcesses is how many no-op processes the pipe floor keeps: as
// many warm sandboxes as the bench's server runs of one action (2048 MB of
// sandbox memory, 256 MB each).
const pipeFloorProcesses = 8

// pipeFloor measures the least a process-isolated invoke can cost here: a
// bare Go HTTP server that hands the body, as one line, to an idle process
// running the native no-op and answers with its reply line. No auth, no
// records, no limits, no logs: what is left of a warm invoke once the
// platform is taken away.
func (b *bench) pipeFloor(ctx context.Context) (loadSet, error) {
	code, _, err := nativeNoop(ctx, b.opts.cacheDir)
	if err != nil {
		return loadSet{}, err
	}
	bin, err := base64.StdEncoding.DecodeString(code)
	if err != nil {
		return loadSet{}, err
	}
	dir, err := os.MkdirTemp("", "gust-bench-pipe-")
	if err != nil {
		return loadSet{}, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "noop")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		return loadSet{}, err
	}
	type proc struct {
		in    *os.File
		reply *bufio.Reader
	}
	idle := make(chan *proc, pipeFloorProcesses)
	for range pipeFloorProcesses {
		inR, inW, err := os.Pipe()
		if err != nil {
			return loadSet{}, err
		}
		replyR, replyW, err := os.Pipe()
		if err != nil {
			return loadSet{}, err
		}
		cmd := exec.Command(path)
		cmd.Stdin, cmd.ExtraFiles = inR, []*os.File{replyW}
		if err := cmd.Start(); err != nil {
			return loadSet{}, err
		}
		inR.Close()
		replyW.Close()
		defer func() {
			inW.Close() // the no-op exits at the end of its input
			cmd.Wait()
			replyR.Close()
		}()
		idle <- &proc{in: inW, reply: bufio.NewReader(replyR)}
	}
	return b.measureHandler(ctx, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		line, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p := <-idle
		defer func() { idle <- p }()
		if _, err := p.in.Write(append(line, '\n')); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		reply, err := p.reply.ReadSlice('\n')
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(reply)
	}))
}

// measureHandler serves h on loopback and measures it as a warm invoke is
// measured: POSTs of the invoke body with the same client and load
// generator.
func (b *bench) measureHandler(ctx context.Context, h http.Handler) (loadSet, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return loadSet{}, err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	hc := newBenchClient()
	defer hc.CloseIdleConnections()
	return b.measureSet(ctx, httpLoad(hc, http.MethodPost, "http://"+ln.Addr().String()+"/", "", invokeBody, http.StatusOK), true)
}

// warmResult is one runtime on one driver.
type warmResult struct {
	Driver  string  `json:"driver"`
	Runtime string  `json:"runtime"`
	Kind    string  `json:"kind"`
	Load    loadSet `json:"load"`
	// Ratios to the floor of the same run: latency p50 and p99 at
	// concurrency 1 (how many times the floor's), throughput at 2×cores and
	// 32 (the fraction of the floor's).
	P50VsFloor        float64 `json:"p50_vs_floor,omitempty"`
	P99VsFloor        float64 `json:"p99_vs_floor,omitempty"`
	ThroughputVsFloor float64 `json:"throughput_2x_cores_vs_floor,omitempty"`
	Throughput32Floor float64 `json:"throughput_c32_vs_floor,omitempty"`
}

func (b *bench) drivers() []string {
	if b.opts.remote != nil {
		return []string{"remote"}
	}
	return b.opts.drivers
}

// runWarm measures warm invokes of each runtime's no-op on each driver.
func (b *bench) runWarm(ctx context.Context) error {
	for _, driver := range b.drivers() {
		t, ok, err := b.target(ctx, "warm", driver, nil)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		err = b.warmOn(ctx, t)
		t.close(ctx)
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) warmOn(ctx context.Context, t *benchTarget) error {
	for _, rt := range b.rts {
		set, err := b.warmOf(ctx, t, rt)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			b.fail("warm", t.driver, rt.Name, err)
			continue
		}
		r := warmResult{Driver: t.driver, Runtime: rt.Name, Kind: rt.Kind, Load: set}
		if f := b.report.Floor; f != nil {
			r.P50VsFloor = ratio(set.C1.Latency.P50, f.C1.Latency.P50)
			r.P99VsFloor = ratio(set.C1.Latency.P99, f.C1.Latency.P99)
			r.ThroughputVsFloor = ratio(set.Cores.Throughput, f.Cores.Throughput)
			r.Throughput32Floor = ratio(set.C32.Throughput, f.C32.Throughput)
		}
		b.report.Warm = append(b.report.Warm, r)
		b.progress("   %s/%s: c=1 %s; c=%d %.0f/s; c=32 %.0f/s", t.driver, rt.Name, fmtPoint(set.C1),
			2*b.cores, set.Cores.Throughput, set.C32.Throughput)
	}
	return nil
}

func (b *bench) warmOf(ctx context.Context, t *benchTarget, rt benchRuntime) (loadSet, error) {
	name := fmt.Sprintf("bench-%s-warm-%s", b.runID, rt.Name)
	if err := t.putAction(ctx, name, rt, nil); err != nil {
		return loadSet{}, err
	}
	fn := t.invoker(name, true)
	// The first invoke is a cold start (and for go a compile), which is
	// the cold section's business.
	if err := fn(ctx); err != nil {
		return loadSet{}, err
	}
	return b.measureSet(ctx, fn, true)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// coldResult is one runtime's cold starts on one driver, from a stem cell
// or without one.
type coldResult struct {
	Driver   string          `json:"driver"`
	Runtime  string          `json:"runtime"`
	Kind     string          `json:"kind"`
	StemCell bool            `json:"stem_cell"`
	Latency  loadgen.Summary `json:"latency"` // the client's: the whole blocking invoke
	// Medians of the activation records' annotations, in whole
	// milliseconds as OpenWhisk meters them: waitTime (received until the
	// sandbox was in hand), initTime (runtime start and code init; for
	// runtimes that take their code at start, the sandbox's start until it
	// was ready), and the run's duration.
	WaitMS     float64 `json:"wait_ms"`
	InitMS     float64 `json:"init_ms"`
	DurationMS float64 `json:"duration_ms"`
	// CreateMS is the mean time the driver took to create a sandbox, from
	// gust_invoker_sandbox_create_seconds (no stem cell runs only).
	CreateMS float64 `json:"create_ms,omitempty"`
	// PlatformMS is the median of each sample's latency minus its
	// initTime: what a cold start costs beyond the runtime's own start and
	// the code's init (with a stem cell: beyond the code's loading).
	PlatformMS float64 `json:"platform_ms"`
	Starts     string  `json:"starts"` // how the sandboxes were obtained, e.g. "cold"
}

// runCold measures cold starts: every sample is a new action, so no warm
// sandbox can serve it. With stem cells, each sample waits until the stem
// cell used by the previous one was replaced.
func (b *bench) runCold(ctx context.Context) error {
	for _, driver := range b.drivers() {
		for _, stem := range []bool{false, true} {
			var stemRTs []benchRuntime
			stems := map[string]int{}
			for _, rt := range b.rts {
				if rt.Name == "nodejs" || rt.Name == "python" {
					stemRTs = append(stemRTs, rt)
					stems[rt.Kind] = 1
				}
			}
			rts := b.rts
			if stem {
				if len(stemRTs) == 0 {
					continue
				}
				rts = stemRTs
			}
			stemCount := len(stems)
			if stem && b.opts.remote != nil {
				// A remote server has the stem cells it was started with.
				m, err := b.remoteStemCells(ctx)
				if err != nil || m == 0 {
					b.skip("cold starts from stem cells: the remote server reports none (gust serve --stem-cells)")
					continue
				}
				stemCount = int(m)
			}
			t, ok, err := b.target(ctx, "cold", driver, func(c *serverConfig) {
				c.UserMemoryMB = 1 << 20 // no evictions between samples: every sandbox stays
				if stem {
					c.StemCells = stems
				}
			})
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			for _, rt := range rts {
				r, err := b.coldOf(ctx, t, rt, stem, stemCount)
				if err != nil {
					if ctx.Err() != nil {
						t.close(ctx)
						return ctx.Err()
					}
					b.fail(fmt.Sprintf("cold (stem cell %v)", stem), t.driver, rt.Name, err)
					continue
				}
				b.report.Cold = append(b.report.Cold, r)
				b.progress("   %s/%s stem=%v: p50 %s, init %.0f ms, create %.2f ms", t.driver, rt.Name, stem,
					fmtMS(r.Latency.P50), r.InitMS, r.CreateMS)
			}
			t.close(ctx)
		}
	}
	return nil
}

func (b *bench) remoteStemCells(ctx context.Context) (float64, error) {
	t, err := b.remoteTarget()
	if err != nil {
		return 0, err
	}
	m, err := t.metrics(ctx)
	if err != nil {
		return 0, err
	}
	return m["gust_invoker_stem_cells"], nil
}

func (b *bench) coldOf(ctx context.Context, t *benchTarget, rt benchRuntime, stem bool, stemCount int) (coldResult, error) {
	r := coldResult{Driver: t.driver, Runtime: rt.Name, Kind: rt.Kind, StemCell: stem}
	// A first action readies what is cached per code (a Go compile, the
	// native executable written out) and warms the file cache; it is not a
	// sample.
	prime := fmt.Sprintf("bench-%s-cold-%s-%v-prime", b.runID, rt.Name, stem)
	if err := t.putAction(ctx, prime, rt, nil); err != nil {
		return r, err
	}
	if _, _, err := t.invokeRecord(ctx, prime); err != nil {
		return r, err
	}
	var lat loadgen.Histogram
	var waits, inits, durs, platform []float64
	starts := map[string]int{}
	before, err := t.metrics(ctx)
	if err != nil {
		return r, err
	}
	for i := range b.opts.coldSamples {
		name := fmt.Sprintf("bench-%s-cold-%s-%v-%d", b.runID, rt.Name, stem, i)
		if err := t.putAction(ctx, name, rt, nil); err != nil {
			return r, err
		}
		if stem {
			if err := t.waitStemCells(ctx, stemCount); err != nil {
				return r, err
			}
		}
		took, act, err := t.invokeRecord(ctx, name)
		if err != nil {
			return r, err
		}
		lat.Record(took)
		waits = append(waits, annotationMS(act, "waitTime"))
		inits = append(inits, annotationMS(act, "initTime"))
		platform = append(platform, float64(took)/1e6-annotationMS(act, "initTime"))
		durs = append(durs, float64(act.Duration))
		how := "warm"
		if act.Annotations.Get("initTime") != nil {
			how = "cold"
		}
		starts[how]++
	}
	after, err := t.metrics(ctx)
	if err != nil {
		return r, err
	}
	r.Latency = lat.Summary()
	r.WaitMS, r.InitMS, r.DurationMS, r.PlatformMS = median(waits), median(inits), median(durs), median(platform)
	if !stem {
		series := fmt.Sprintf(`gust_invoker_sandbox_create_seconds_%%s{kind=%q}`, rt.Kind)
		n := after[fmt.Sprintf(series, "count")] - before[fmt.Sprintf(series, "count")]
		if n > 0 {
			r.CreateMS = (after[fmt.Sprintf(series, "sum")] - before[fmt.Sprintf(series, "sum")]) / n * 1000
		}
	}
	r.Starts = fmt.Sprintf("%d with init, %d without", starts["cold"], starts["warm"])
	if starts["warm"] > 0 {
		return r, fmt.Errorf("%d of %d samples found a warm sandbox", starts["warm"], b.opts.coldSamples)
	}
	return r, nil
}

func annotationMS(act *whisk.Activation, key string) float64 {
	raw := act.Annotations.Get(key)
	if raw == nil {
		return 0
	}
	var v float64
	_ = json.Unmarshal(raw, &v)
	return v
}

// median is the nearest-rank median, as the latency histograms' p50.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	return s[(len(s)+1)/2-1]
}

// burstResult is N requests sent at once to an action with no warm sandbox.
type burstResult struct {
	Driver   string          `json:"driver"`
	Runtime  string          `json:"runtime"`
	Kind     string          `json:"kind"`
	Requests int             `json:"requests"`
	Errors   int             `json:"errors"`
	AllMS    float64         `json:"all_answered_ms"` // until the last answer
	Latency  loadgen.Summary `json:"latency"`
	// Sandboxes obtained during the burst, by how (gust_invoker_starts_total):
	// the rest of the requests waited for one of them to be free.
	Cold int `json:"cold_starts"`
	Stem int `json:"stem_starts"`
	Warm int `json:"warm_starts"`
}

// runBurst sends --burst concurrent blocking invokes to a new action, on a
// server with gust serve's default stem cells and memory.
func (b *bench) runBurst(ctx context.Context) error {
	for _, driver := range b.drivers() {
		for _, rt := range b.rts {
			t, ok, err := b.target(ctx, "burst", driver, func(c *serverConfig) {
				c.StemCells = defaultServerConfig().StemCells
				c.StemCellsMax = defaultServerConfig().StemCellsMax
			})
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			r, err := b.burstOf(ctx, t, rt)
			t.close(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				b.fail("burst", t.driver, rt.Name, err)
				continue
			}
			b.report.Burst = append(b.report.Burst, r)
			b.progress("   %s/%s: %d requests answered in %s (%d cold, %d stem-cell starts)", r.Driver, rt.Name,
				r.Requests, fmtMS(r.AllMS), r.Cold, r.Stem)
		}
	}
	return nil
}

func (b *bench) burstOf(ctx context.Context, t *benchTarget, rt benchRuntime) (burstResult, error) {
	r := burstResult{Driver: t.driver, Runtime: rt.Name, Kind: rt.Kind, Requests: b.opts.burst}
	name := fmt.Sprintf("bench-%s-burst-%s", b.runID, rt.Name)
	if rt.Name == "go" {
		// Compile first: the burst measures starts, not a compile.
		prime := name + "-prime"
		if err := t.putAction(ctx, prime, rt, nil); err != nil {
			return r, err
		}
		if _, _, err := t.invokeRecord(ctx, prime); err != nil {
			return r, err
		}
	}
	if err := t.putAction(ctx, name, rt, nil); err != nil {
		return r, err
	}
	if t.srv != nil {
		// As after an idle while: the server's stem cells are all ready.
		total := 0
		for kind, n := range t.srv.cfg.StemCells {
			if b.kinds[kind] {
				total += n
			}
		}
		if err := t.waitStemCells(ctx, total); err != nil {
			return r, err
		}
	}
	// Open every connection first: the burst measures the platform, not
	// TCP handshakes on loopback.
	var warm sync.WaitGroup
	for range b.opts.burst {
		warm.Add(1)
		go func() {
			defer warm.Done()
			_, _, _ = t.do(ctx, http.MethodGet, "/api/v1/namespaces", nil)
		}()
	}
	warm.Wait()
	before, err := t.metrics(ctx)
	if err != nil {
		return r, err
	}
	fn := t.invoker(name, true)
	var (
		mu    sync.Mutex
		lat   loadgen.Histogram
		first error
		wg    sync.WaitGroup
		gate  = make(chan struct{})
	)
	for range b.opts.burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			start := time.Now()
			err := fn(ctx)
			took := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.Errors++
				if first == nil {
					first = err
				}
				return
			}
			lat.Record(took)
		}()
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	r.AllMS = float64(time.Since(start)) / 1e6
	r.Latency = lat.Summary()
	after, err := t.metrics(ctx)
	if err != nil {
		return r, err
	}
	delta := func(how string) int {
		s := fmt.Sprintf(`gust_invoker_starts_total{start=%q}`, how)
		return int(after[s] - before[s])
	}
	r.Cold, r.Stem, r.Warm = delta("cold"), delta("stem"), delta("warm")
	if first != nil {
		b.progress("   %d of %d requests failed; the first: %v", r.Errors, r.Requests, first)
	}
	return r, nil
}

// densityResult is the memory of idle warm sandboxes of one runtime.
type densityResult struct {
	Driver    string `json:"driver"`
	Runtime   string `json:"runtime"`
	Kind      string `json:"kind"`
	Sandboxes int    `json:"sandboxes"`
	// Per idle warm sandbox: its processes' proportional set size (shared
	// pages such as the interpreter's split among the sandboxes sharing
	// them) and resident size.
	PSSKB     float64 `json:"pss_kb"`
	RSSKB     float64 `json:"rss_kb"`
	Processes float64 `json:"processes"`
	// Gust's own bookkeeping per sandbox: its Go heap and goroutine stacks
	// after a GC, and the OS threads it holds.
	GustHeapKB float64 `json:"gust_heap_kb"`
	GustRSSKB  float64 `json:"gust_rss_kb"`
	Threads    float64 `json:"threads"`
	FitIn1GiB  int     `json:"fit_in_1gib"`
}

// runDensity starts --density idle warm sandboxes per runtime (one action
// each) and weighs them: the sandboxes' processes through /proc, Gust's
// bookkeeping through the Go runtime's statistics before and after.
func (b *bench) runDensity(ctx context.Context) error {
	if b.opts.remote != nil {
		b.skip("density: needs the server in this process")
		return nil
	}
	if _, err := descendants(1); err != nil {
		b.skip("density: cannot read /proc (%v)", err)
		return nil
	}
	for _, driver := range b.drivers() {
		// One server for every runtime: each is weighed by what its own
		// sandboxes add, and nothing is evicted.
		t, ok, err := b.target(ctx, "density", driver, func(c *serverConfig) {
			c.UserMemoryMB = 1 << 20
			c.KeepAlive = time.Hour
		})
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		for _, rt := range b.rts {
			r, err := b.densityOf(ctx, t, rt)
			if err != nil {
				if ctx.Err() != nil {
					t.close(ctx)
					return ctx.Err()
				}
				b.fail("density", t.driver, rt.Name, err)
				continue
			}
			b.report.Density = append(b.report.Density, r)
			b.progress("   %s/%s: %.0f KB PSS per sandbox, Gust %.1f KB heap, %.1f threads; %d fit in 1 GiB",
				r.Driver, rt.Name, r.PSSKB, r.GustHeapKB, r.Threads, r.FitIn1GiB)
		}
		t.close(ctx)
	}
	return nil
}

type gustMem struct {
	heapKB, rssKB float64
	threads       int
	exes          map[int]string // descendant pid → its executable
}

func measureGust() (gustMem, error) {
	// Twice: finalizers freed by the first GC are collected by the second.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, threads, err := selfStatus()
	if err != nil {
		return gustMem{}, err
	}
	pids, err := descendants(os.Getpid())
	if err != nil {
		return gustMem{}, err
	}
	exes := make(map[int]string, len(pids))
	for _, pid := range pids {
		exes[pid], _ = os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	}
	return gustMem{
		heapKB: float64(ms.HeapAlloc+ms.StackInuse) / 1024, rssKB: float64(rss),
		threads: threads, exes: exes,
	}, nil
}

func (b *bench) densityOf(ctx context.Context, t *benchTarget, rt benchRuntime) (densityResult, error) {
	n := b.opts.density
	r := densityResult{Driver: t.driver, Runtime: rt.Name, Kind: rt.Kind, Sandboxes: n}
	// One action, so that what is kept per action (its cached entity, its
	// code) is not counted per sandbox. A first round of two readies what
	// is cached per code and what the server sets up the first time it
	// runs work side by side, and leaves two idle sandboxes in the baseline.
	name := fmt.Sprintf("bench-%s-density-%s", b.runID, rt.Name)
	if err := t.putAction(ctx, name, rt, nil); err != nil {
		return r, err
	}
	if err := holdSandboxes(ctx, t, name, 2); err != nil {
		return r, err
	}
	idle := t.srv.invoker.Stats().Warm
	if err := waitIdle(ctx, t, idle); err != nil {
		return r, err
	}
	before, err := measureGust()
	if err != nil {
		return r, err
	}
	if err := holdSandboxes(ctx, t, name, n+2); err != nil {
		return r, err
	}
	if err := waitIdle(ctx, t, idle+1); err != nil {
		return r, err
	}
	// Usually n, fewer when a request came late enough to find a sandbox
	// free again: the figures are per sandbox actually added.
	n = t.srv.invoker.Stats().Warm - idle
	r.Sandboxes = n
	if n <= 0 {
		return r, fmt.Errorf("%d concurrent invokes started no sandbox", b.opts.density+2)
	}
	// Records are written in batches; let them go so that the recorder's
	// queue is not counted as sandbox bookkeeping.
	time.Sleep(100 * time.Millisecond)
	after, err := measureGust()
	if err != nil {
		return r, err
	}
	// The sandboxes' runtimes are the processes that run something else
	// than this binary and did not before. The linux driver keeps sandbox
	// inits started ahead (this binary, waiting); a sandbox is one of them
	// that executed its runtime in its own place, keeping its pid. Those
	// still waiting are the driver's, not a sandbox's.
	self, _ := os.Executable()
	var added []int
	for pid, exe := range after.exes {
		if exe == self {
			continue
		}
		if was, ok := before.exes[pid]; ok && was != self {
			continue
		}
		added = append(added, pid)
	}
	mem, err := memoryOf(added)
	if err != nil {
		return r, err
	}
	r.PSSKB = float64(mem.PSSKB) / float64(n)
	r.RSSKB = float64(mem.RSSKB) / float64(n)
	r.Processes = float64(mem.Processes) / float64(n)
	r.GustHeapKB = (after.heapKB - before.heapKB) / float64(n)
	r.GustRSSKB = (after.rssKB - before.rssKB) / float64(n)
	r.Threads = float64(after.threads-before.threads) / float64(n)
	if per := r.PSSKB + max(r.GustHeapKB, 0); per > 0 {
		r.FitIn1GiB = int(float64(1<<20) / per)
	}
	return r, nil
}

// holdSandboxes sends n concurrent invokes of name that each hold their
// sandbox for a while: those that find no idle sandbox start their own, so
// afterwards the action has at least n sandboxes.
func holdSandboxes(ctx context.Context, t *benchTarget, name string, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body, err := t.do(ctx, http.MethodPost, "/api/v1/namespaces/_/actions/"+url.PathEscape(name)+
				"?blocking=true&result=true", []byte(`{"sleep":true}`))
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("invoking %s: status %d: %s", name, status, body)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// waitIdle waits until nothing runs and at least n sandboxes are idle.
func waitIdle(ctx context.Context, t *benchTarget, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := t.srv.invoker.Stats()
		if s.Warm >= n && s.Busy == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d idle warm sandboxes (%d busy) after 30 s, want %d", s.Warm, s.Busy, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// nonBlockingResult is non-blocking invokes accepted under load.
type nonBlockingResult struct {
	Driver  string    `json:"driver"`
	Runtime string    `json:"runtime"`
	Kind    string    `json:"kind"`
	Accept  loadPoint `json:"accept"` // answered 202: durable in the queue
	// Readable is the time from a probe's 202 until its record could be
	// read (GET /activations/{id}), for probes sent during the load.
	Readable loadgen.Summary `json:"readable"`
	// DrainMS is from the end of the load until every accepted invocation's
	// record was stored.
	DrainMS float64 `json:"drain_ms"`
}

// runNonBlocking accepts non-blocking invokes of a no-op from 32 clients,
// with a probe every 50 ms timing how soon its record is readable, then
// waits until every record is stored. An interpreted runtime's no-op is
// used when there is one: the queue holds each invocation's action, code
// included, and a compiled native action's megabyte would be measured
// instead of the queue.
func (b *bench) runNonBlocking(ctx context.Context) error {
	t, ok, err := b.firstTarget(ctx, "nonblocking", nil)
	if err != nil || !ok {
		return err
	}
	defer t.close(ctx)
	rt := b.rts[0]
	for _, pick := range []string{"python", "nodejs", "go"} {
		if i := slices.IndexFunc(b.rts, func(r benchRuntime) bool { return r.Name == pick }); i >= 0 {
			rt = b.rts[i]
			break
		}
	}
	name := fmt.Sprintf("bench-%s-nb-%s", b.runID, rt.Name)
	if err := t.putAction(ctx, name, rt, nil); err != nil {
		return err
	}
	if err := t.invoker(name, true)(ctx); err != nil {
		return err
	}
	r := nonBlockingResult{Driver: t.driver, Runtime: rt.Name, Kind: rt.Kind}
	// Every invocation accepted, the load generator's warm-up's and the
	// probes' included, and the blocking one above: the records to wait for.
	var accepted atomic.Int64
	accepted.Add(1)
	nonBlocking := t.invoker(name, false)
	counted := func(ctx context.Context) error {
		err := nonBlocking(ctx)
		if err == nil {
			accepted.Add(1)
		}
		return err
	}

	// Probes run side by side, so that a slow one does not delay the next,
	// and each is waited for: the slow ones are the tail.
	var (
		probeMu  sync.Mutex
		readable loadgen.Histogram
		probeErr error
		probes   sync.WaitGroup
	)
	stopProbes := make(chan struct{})
	probing := make(chan struct{})
	go func() {
		defer close(probing)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopProbes:
				return
			case <-tick.C:
			}
			probes.Add(1)
			go func() {
				defer probes.Done()
				d, err := t.probeReadable(ctx, name, &accepted)
				probeMu.Lock()
				defer probeMu.Unlock()
				if err != nil {
					probeErr = err
					return
				}
				readable.Record(d)
			}()
		}
	}()
	accept, err := b.measure(ctx, counted, 32, 0)
	loadEnd := time.Now()
	close(stopProbes)
	<-probing
	probes.Wait()
	if err != nil {
		return err
	}
	if probeErr != nil {
		return fmt.Errorf("probe: %w", probeErr)
	}
	r.Accept, r.Readable = accept, readable.Summary()

	want := int(accepted.Load())
	deadline := time.Now().Add(5 * time.Minute)
	for {
		n, err := t.countActivations(ctx, name)
		if err != nil {
			return err
		}
		if n >= want {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d records stored after 5 minutes", n, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.DrainMS = float64(time.Since(loadEnd)) / 1e6
	b.report.NonBlocking = &r
	b.progress("   %.0f accepted/s; readable p50 %s; all stored %s after the load", accept.Throughput,
		fmtMS(r.Readable.P50), fmtMS(r.DrainMS))
	return nil
}

// firstTarget starts a server on the first driver that works here.
func (b *bench) firstTarget(ctx context.Context, section string, mutate func(*serverConfig)) (*benchTarget, bool, error) {
	for _, driver := range b.drivers() {
		t, ok, err := b.target(ctx, section, driver, mutate)
		if err != nil || ok {
			return t, ok, err
		}
	}
	return nil, false, nil
}

// probeReadable invokes name non-blocking and polls its record every
// millisecond until it is readable.
func (t *benchTarget) probeReadable(ctx context.Context, name string, accepted *atomic.Int64) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	status, body, err := t.do(ctx, http.MethodPost, "/api/v1/namespaces/_/actions/"+url.PathEscape(name), invokeBody)
	if err != nil {
		return 0, err
	}
	at := time.Now()
	if status != http.StatusAccepted {
		return 0, fmt.Errorf("probe invoke: status %d: %s", status, body)
	}
	accepted.Add(1)
	var id struct {
		ActivationID string `json:"activationId"`
	}
	if err := json.Unmarshal(body, &id); err != nil {
		return 0, err
	}
	for {
		status, body, err := t.do(ctx, http.MethodGet, "/api/v1/namespaces/_/activations/"+id.ActivationID, nil)
		if err != nil {
			return 0, err
		}
		switch status {
		case http.StatusOK:
			return time.Since(at), nil
		case http.StatusNotFound:
		default:
			return 0, fmt.Errorf("probe read: status %d: %s", status, body)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func (t *benchTarget) countActivations(ctx context.Context, name string) (int, error) {
	status, body, err := t.do(ctx, http.MethodGet, "/api/v1/namespaces/_/activations?count=true&name="+url.QueryEscape(name), nil)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("counting activations: status %d: %s", status, body)
	}
	var c struct {
		Activations int `json:"activations"`
	}
	err = json.Unmarshal(body, &c)
	return c.Activations, err
}

// storeResult is activation queries over a large store.
type storeResult struct {
	Records     int          `json:"records"`
	SeedSeconds float64      `json:"seed_seconds"`
	Seeded      string       `json:"seeded"` // "sql" (the fast path) or "store API"
	Queries     []storeQuery `json:"queries"`
}

type storeQuery struct {
	Name  string    `json:"name"`
	Path  string    `json:"path"`
	Load  loadPoint `json:"load"`
	Found int       `json:"found"` // activations the query answers with
}

// runStore stores --store-records activation records straight through the
// store (a few large transactions), then times list queries over HTTP.
func (b *bench) runStore(ctx context.Context) error {
	if b.opts.remote != nil {
		b.skip("store: needs the server's store in this process")
		return nil
	}
	t, ok, err := b.firstTarget(ctx, "store", nil)
	if err != nil || !ok {
		return err
	}
	defer t.close(ctx)
	ns, err := t.namespace(ctx)
	if err != nil {
		return err
	}
	started := time.Now()
	r := storeResult{Records: b.opts.storeRecords, Seeded: "sql"}
	if err := seedActivationsSQL(ctx, storePath(t.dataDir), ns, b.opts.storeRecords); err != nil {
		// The fast path writes the store's table itself; should the schema
		// have moved on, the store's own API still works, three times slower.
		b.progress("   the SQL fast path failed (%v); storing through the store's API", err)
		r.Seeded = "store API"
		if err := seedActivations(ctx, t.srv.store, ns, b.opts.storeRecords); err != nil {
			return err
		}
	}
	r.SeedSeconds = time.Since(started).Seconds()
	b.progress("   stored %d records in %.1f s (%s)", r.Records, r.SeedSeconds, r.Seeded)
	// The newest record, for a get by id.
	status, body, err := t.do(ctx, http.MethodGet, "/api/v1/namespaces/_/activations?limit=1", nil)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("listing activations: %d %v", status, err)
	}
	var newest []struct {
		ActivationID string `json:"activationId"`
	}
	if err := json.Unmarshal(body, &newest); err != nil || len(newest) != 1 {
		return fmt.Errorf("listing activations: %s", body)
	}
	base := "/api/v1/namespaces/_/activations"
	for _, q := range []struct{ name, path string }{
		{"newest 30", base},
		{"newest 30 of one action", base + "?name=action7"},
		{"one action, skip 1000", base + "?name=action7&skip=1000"},
		{"one action, a day's window", base + "?name=action7&since=" + strconv.FormatInt(seedStart+10*86400000, 10) +
			"&upto=" + strconv.FormatInt(seedStart+11*86400000, 10)},
		{"newest 200 with docs", base + "?limit=200&docs=true"},
		{"count of one action", base + "?count=true&name=action7"},
		{"get by id", base + "/" + newest[0].ActivationID},
	} {
		status, body, err := t.do(ctx, http.MethodGet, q.path, nil)
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("%s: %d %v %s", q.path, status, err, body)
		}
		found := 1
		var list []json.RawMessage
		if json.Unmarshal(body, &list) == nil {
			found = len(list)
		}
		p, err := b.measure(ctx, httpLoad(t.hc, http.MethodGet, t.base+q.path, t.authHdr, nil, http.StatusOK), 1, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", q.name, err)
		}
		r.Queries = append(r.Queries, storeQuery{Name: q.name, Path: q.path, Load: p, Found: found})
		b.progress("   %s: %s", q.name, fmtPoint(p))
	}
	b.report.Store = &r
	return nil
}

// namespace is the key's own namespace.
func (t *benchTarget) namespace(ctx context.Context) (string, error) {
	status, body, err := t.do(ctx, http.MethodGet, "/api/v1/namespaces", nil)
	if err != nil {
		return "", err
	}
	var list []string
	if status != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list) == 0 {
		return "", fmt.Errorf("listing namespaces: status %d: %s", status, body)
	}
	return list[0], nil
}

// seedStart is the start time of the oldest seeded record: 2024-06-01.
const seedStart = int64(1717200000000)

// seedActivations stores n records of 100 actions (a fifth of them in
// packages) spread over 30 days, in transactions of 10,000, encoding the
// next batch while the previous one is written.
func seedActivations(ctx context.Context, st store.Store, ns string, n int) error {
	const batch = 10000
	span := int64(30 * 86400000)
	result := json.RawMessage(`{"n":1}`)
	batches := make(chan []*whisk.Activation, 2)
	var genErr error
	go func() {
		defer close(batches)
		for from := 0; from < n; from += batch {
			acts := make([]*whisk.Activation, 0, min(batch, n-from))
			for i := from; i < min(from+batch, n); i++ {
				name := "action" + strconv.Itoa(i%100)
				path := ns + "/" + name
				if i%5 == 0 {
					path = ns + "/pkg" + strconv.Itoa(i%3) + "/" + name
				}
				start := seedStart + int64(i)*span/int64(n)
				a := &whisk.Activation{
					Namespace: ns, Name: name, Version: "0.0.1", Subject: ns,
					ActivationID: whisk.NewActivationID(), Start: start, End: start + 3, Duration: 3,
					Response: whisk.NewResponse(whisk.StatusSuccess, result),
					Logs:     []string{},
				}
				a.Annotations = a.Annotations.Set("path", path).Set("kind", "nodejs:20").Set("waitTime", 1)
				acts = append(acts, a)
			}
			select {
			case batches <- acts:
			case <-ctx.Done():
				genErr = ctx.Err()
				return
			}
		}
	}()
	for acts := range batches {
		if err := st.PutActivations(ctx, acts); err != nil {
			for range batches {
			}
			return err
		}
	}
	if genErr != nil {
		return genErr
	}
	return ctx.Err()
}
