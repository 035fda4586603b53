package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"
)

// benchReport is everything one `gust bench` measured; --json writes it.
type benchReport struct {
	Version     string             `json:"version"`
	Command     string             `json:"command"`
	Started     time.Time          `json:"started"`
	Finished    time.Time          `json:"finished"`
	Seconds     float64            `json:"seconds"`
	Machine     benchMachine       `json:"machine"`
	LoadBefore  float64            `json:"load_average_before"`
	LoadAfter   float64            `json:"load_average_after"`
	DurationS   float64            `json:"duration_s"` // of each load measurement
	WarmupS     float64            `json:"warmup_s"`
	Target      string             `json:"target"` // "in-process" or the remote API host
	Runtimes    []benchRuntime     `json:"runtimes"`
	Floor       *loadSet           `json:"floor,omitempty"`
	PipeFloor   *loadSet           `json:"pipe_floor,omitempty"` // HTTP echo through a pipe to a no-op process
	Warm        []warmResult       `json:"warm,omitempty"`
	Cold        []coldResult       `json:"cold,omitempty"`
	Burst       []burstResult      `json:"burst,omitempty"`
	Density     []densityResult    `json:"density,omitempty"`
	NonBlocking *nonBlockingResult `json:"nonblocking,omitempty"`
	Store       *storeResult       `json:"store,omitempty"`
	Targets     []targetCheck      `json:"targets,omitempty"`
	Skipped     []string           `json:"skipped,omitempty"`
	Failed      []string           `json:"failed,omitempty"`
}

type benchMachine struct {
	OS    string `json:"os"`
	Arch  string `json:"arch"`
	CPU   string `json:"cpu,omitempty"`
	Cores int    `json:"cores"`
	Go    string `json:"go"`
}

// targetCheck compares a measurement with a target of DESIGN §6.
type targetCheck struct {
	Metric   string `json:"metric"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      string `json:"met"` // "yes", "no", "3 of 4", or "—" when not measured
}

func newBenchReport(opts benchOptions, cores int) benchReport {
	r := benchReport{
		Version:    versionString(),
		Command:    opts.command,
		Started:    time.Now().UTC(),
		Machine:    benchMachine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPU: cpuModel(), Cores: cores, Go: runtime.Version()},
		LoadBefore: loadAverage(),
		DurationS:  opts.duration.Seconds(),
		WarmupS:    opts.warmup.Seconds(),
		Target:     "in-process",
	}
	if opts.remote != nil {
		r.Target = opts.remote.apihost.value
	}
	return r
}

func fmtMS(ms float64) string {
	switch {
	case ms <= 0:
		return "0"
	case ms < 1:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 10:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0f ms", ms)
	default:
		return fmt.Sprintf("%.2f s", ms/1000)
	}
}

func fmtRate(r float64) string {
	if r >= 10000 {
		return fmt.Sprintf("%.1fk/s", r/1000)
	}
	return fmt.Sprintf("%.0f/s", r)
}

func fmtPoint(p loadPoint) string {
	return fmt.Sprintf("p50 %s p99 %s max %s, %s", fmtMS(p.Latency.P50), fmtMS(p.Latency.P99), fmtMS(p.Latency.Max), fmtRate(p.Throughput))
}

func fmtTimes(x float64) string {
	if x == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f×", x)
}

func fmtPct(x float64) string {
	if x == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f%%", x*100)
}

// mdTable prints a Markdown table with padded columns, readable in a
// terminal and ready for a README.
func mdTable(w io.Writer, header []string, rows [][]string) {
	width := make([]int, len(header))
	for i, h := range header {
		width[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) {
		var sb strings.Builder
		sb.WriteString("|")
		for i, c := range cells {
			sb.WriteString(" " + c + strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)) + " |")
		}
		fmt.Fprintln(w, sb.String())
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
	fmt.Fprintln(w)
}

func (b *bench) print() {
	r := &b.report
	w := b.out
	fmt.Fprintf(w, "gust bench: %s, %d cores (%s), load average %.2f before, %.2f after; %s in %s\n",
		r.Version, r.Machine.Cores, orDash(r.Machine.CPU), r.LoadBefore, r.LoadAfter, r.Target,
		(time.Duration(r.Seconds) * time.Second).Round(time.Second))
	fmt.Fprintf(w, "command: %s\n", r.Command)
	fmt.Fprintf(w, "each load measurement: %s after a %s warm-up; the load generator runs in this process\n\n",
		time.Duration(r.DurationS*float64(time.Second)), time.Duration(r.WarmupS*float64(time.Second)))

	if r.Floor != nil || len(r.Warm) > 0 {
		fmt.Fprintf(w, "Warm invoke: POST a no-op action ?blocking=true&result=true with Basic auth over keep-alive loopback HTTP;\n"+
			"floor: a bare Go net/http server echoing the body; pipe floor: the same server handing the body as a line to one of\n"+
			"8 processes running the native no-op and answering with its reply (the least a process-isolated invoke costs here).\n"+
			"Latency at concurrency 1; throughput at 1, %d (2× cores) and 32;\n"+
			"open loop: a fixed rate of half the best throughput, latency counted from when each request was due (late: sent\n"+
			"over 1 ms after it was due, every one of 256 workers busy or the generator short of CPU).\n\n", 2*b.cores)
		c := fmt.Sprintf("c=%d", 2*b.cores)
		header := []string{"driver", "runtime", "p50", "p90", "p99", "max", "p50 vs floor", "req/s c=1", "req/s " + c, "req/s c=32",
			c + " vs floor", "open loop: rate: p50, p99"}
		var rows [][]string
		row := func(driver, rt string, s loadSet, p50x, thrx float64) []string {
			open := "—"
			if s.Open != nil {
				open = fmt.Sprintf("%s: %s, %s", fmtRate(s.Open.Rate), fmtMS(s.Open.Latency.P50), fmtMS(s.Open.Latency.P99))
				if s.Open.Requests > 0 && s.Open.Late > 0 {
					open += fmt.Sprintf(" (%.0f%% late)", 100*float64(s.Open.Late)/float64(s.Open.Requests))
				}
			}
			return []string{driver, rt, fmtMS(s.C1.Latency.P50), fmtMS(s.C1.Latency.P90), fmtMS(s.C1.Latency.P99),
				fmtMS(s.C1.Latency.Max), fmtTimes(p50x), fmtRate(s.C1.Throughput), fmtRate(s.Cores.Throughput),
				fmtRate(s.C32.Throughput), fmtPct(thrx), open}
		}
		if r.Floor != nil {
			rows = append(rows, row("—", "floor: Go HTTP echo", *r.Floor, 1, 1))
			if p := r.PipeFloor; p != nil {
				rows = append(rows, row("—", "floor: HTTP + pipe to a process", *p,
					ratio(p.C1.Latency.P50, r.Floor.C1.Latency.P50), ratio(p.Cores.Throughput, r.Floor.Cores.Throughput)))
			}
		}
		for _, x := range r.Warm {
			rows = append(rows, row(x.Driver, x.Runtime, x.Load, x.P50VsFloor, x.ThroughputVsFloor))
		}
		mdTable(w, header, rows)
	}

	if len(r.Cold) > 0 {
		fmt.Fprintf(w, "Cold start: a blocking invoke of a new action (client latency, median of %d); sandbox create = the driver's\n"+
			"start (gust_invoker_sandbox_create_seconds); runtime start and code init from the records' initTime (whole ms):\n"+
			"for nodejs/python code init = initTime from a stem cell, runtime start = initTime without − with; for go runtime\n"+
			"start = initTime − create (until the ack; compiled at create); native executables start inside their first run.\n\n",
			b.opts.coldSamples)
		var rows [][]string
		for _, c := range r.Cold {
			if c.StemCell {
				continue
			}
			stem := b.coldFind(c.Driver, c.Runtime, true)
			fromStem, start, init := "—", "—", "—"
			switch {
			case stem != nil:
				fromStem = fmtMS(stem.Latency.P50)
				start = fmt.Sprintf("%.0f ms", max(c.InitMS-stem.InitMS, 0))
				init = fmt.Sprintf("%.0f ms", stem.InitMS)
			case c.Runtime == "go":
				start = fmt.Sprintf("%.0f ms", max(c.InitMS-c.CreateMS, 0))
				init = "(compiled at create)"
			case c.Runtime == "native":
				start = fmt.Sprintf("in 1st run (%.0f ms)", c.DurationMS)
				init = "—"
			}
			rows = append(rows, []string{c.Driver, c.Runtime, fromStem, fmtMS(c.Latency.P50), fmtMS(c.Latency.Max),
				fmt.Sprintf("%.2f ms", c.CreateMS), start, init})
		}
		mdTable(w, []string{"driver", "runtime", "from stem cell p50", "no stem cell p50", "no stem cell max", "sandbox create", "runtime start", "code init"}, rows)
	}

	if len(r.Burst) > 0 {
		fmt.Fprintf(w, "Burst: %d concurrent blocking invokes of an action with no warm sandbox, on gust serve's defaults\n"+
			"(2048 MB of sandbox memory, 256 MB per action: at most 8 sandboxes; one stem cell each for nodejs and python).\n\n", b.opts.burst)
		var rows [][]string
		for _, x := range r.Burst {
			rows = append(rows, []string{x.Driver, x.Runtime, fmtMS(x.AllMS), fmtMS(x.Latency.P50), fmtMS(x.Latency.Max),
				fmt.Sprintf("%d cold, %d stem", x.Cold, x.Stem), fmt.Sprint(x.Errors)})
		}
		mdTable(w, []string{"driver", "runtime", "all answered", "p50", "max", "sandboxes started", "errors"}, rows)
	}

	if len(r.Density) > 0 {
		fmt.Fprintf(w, "Density: %d idle warm sandboxes per runtime asked for. PSS of their processes (/proc/PID/smaps_rollup; shared pages split\n"+
			"among sharers); Gust's bookkeeping = its Go heap and stacks after GC, before and after; fit = 1 GiB / (PSS + bookkeeping).\n\n",
			b.opts.density)
		var rows [][]string
		for _, x := range r.Density {
			rows = append(rows, []string{x.Driver, x.Runtime, fmt.Sprint(x.Sandboxes), fmt.Sprintf("%.1f MB", x.PSSKB/1024), fmt.Sprintf("%.1f MB", x.RSSKB/1024),
				fmt.Sprintf("%.1f", x.Processes), fmt.Sprintf("%.1f KB", x.GustHeapKB), fmt.Sprintf("%.1f", x.Threads),
				fmt.Sprint(x.FitIn1GiB)})
		}
		mdTable(w, []string{"driver", "runtime", "sandboxes", "PSS / sandbox", "RSS / sandbox", "processes", "Gust heap / sandbox", "Gust threads / sandbox", "fit in 1 GiB"}, rows)
	}

	if nb := r.NonBlocking; nb != nil {
		fmt.Fprintf(w, "Non-blocking: 32 clients POST without blocking (answered 202 once durable: SQLite, synchronous=FULL), %s no-op;\n"+
			"a probe every 50 ms polls its record until readable; drain = end of the load until every record is stored.\n\n", nb.Runtime)
		mdTable(w, []string{"driver", "accepted/s", "accept p50", "accept p99", "readable after p50", "readable after max", "drain"},
			[][]string{{nb.Driver, fmtRate(nb.Accept.Throughput), fmtMS(nb.Accept.Latency.P50), fmtMS(nb.Accept.Latency.P99),
				fmtMS(nb.Readable.P50), fmtMS(nb.Readable.Max), fmtMS(nb.DrainMS)}})
	}

	if st := r.Store; st != nil {
		how := "generated in SQL, 100,000 per transaction"
		if st.Seeded != "sql" {
			how = "through the store's API, 10,000 per transaction"
		}
		fmt.Fprintf(w, "Store: %d activation records of 100 actions over 30 days in one namespace (SQLite; stored in %.1f s, %s),\n"+
			"queried over HTTP with the key, one request at a time.\n\n", st.Records, st.SeedSeconds, how)
		var rows [][]string
		for _, q := range st.Queries {
			rows = append(rows, []string{q.Name, fmt.Sprint(q.Found), fmtMS(q.Load.Latency.P50), fmtMS(q.Load.Latency.P99), fmtRate(q.Load.Throughput)})
		}
		mdTable(w, []string{"query", "answers", "p50", "p99", "req/s"}, rows)
	}

	if len(r.Targets) > 0 {
		fmt.Fprintf(w, "Targets (DESIGN §6):\n\n")
		var rows [][]string
		for _, t := range r.Targets {
			rows = append(rows, []string{t.Metric, t.Target, t.Measured, t.Met})
		}
		mdTable(w, []string{"metric", "target", "measured", "met"}, rows)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped: %s\n", s)
	}
	for _, s := range r.Failed {
		fmt.Fprintf(w, "FAILED: %s\n", s)
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func (b *bench) coldFind(driver, rt string, stem bool) *coldResult {
	for i := range b.report.Cold {
		c := &b.report.Cold[i]
		if c.Driver == driver && c.Runtime == rt && c.StemCell == stem {
			return c
		}
	}
	return nil
}

// checkTargets compares the run with DESIGN §6.
func (b *bench) checkTargets() []targetCheck {
	r := &b.report
	var out []targetCheck
	multi := len(b.drivers()) > 1
	label := func(driver, rt string) string {
		if multi {
			return driver + "/" + rt
		}
		return rt
	}
	// each adds one row over several measurements: met when all are.
	each := func(metric, target string, n int, item func(i int) (name, value string, ok, measured bool)) {
		var parts []string
		met, total := 0, 0
		for i := range n {
			name, value, ok, measured := item(i)
			if !measured {
				continue
			}
			total++
			if ok {
				met++
			}
			parts = append(parts, name+" "+value)
		}
		if total == 0 {
			return
		}
		verdict := fmt.Sprintf("%d of %d", met, total)
		switch met {
		case total:
			verdict = "yes"
		case 0:
			verdict = "no"
		}
		out = append(out, targetCheck{Metric: metric, Target: target, Measured: strings.Join(parts, ", "), Met: verdict})
	}
	each("warm invoke p50 (c=1)", "≤ 0.5 ms", len(r.Warm), func(i int) (string, string, bool, bool) {
		x := r.Warm[i]
		return label(x.Driver, x.Runtime), fmtMS(x.Load.C1.Latency.P50), x.Load.C1.Latency.P50 <= 0.5, true
	})
	each("warm invoke p99 (c=1)", "≤ 2 ms", len(r.Warm), func(i int) (string, string, bool, bool) {
		x := r.Warm[i]
		return label(x.Driver, x.Runtime), fmtMS(x.Load.C1.Latency.P99), x.Load.C1.Latency.P99 <= 2, true
	})
	each("warm invoke p50 vs the floor's", "≤ 3×", len(r.Warm), func(i int) (string, string, bool, bool) {
		x := r.Warm[i]
		return label(x.Driver, x.Runtime), fmtTimes(x.P50VsFloor), x.P50VsFloor <= 3, x.P50VsFloor > 0
	})
	if p := r.PipeFloor; p != nil && len(r.Warm) > 0 {
		// Not a DESIGN target: how far each runtime is from the least a
		// process-isolated invoke costs on this machine.
		var parts []string
		for _, x := range r.Warm {
			parts = append(parts, label(x.Driver, x.Runtime)+" "+fmtTimes(ratio(x.Load.C1.Latency.P50, p.C1.Latency.P50)))
		}
		out = append(out, targetCheck{Metric: "warm invoke p50 vs the pipe floor's (for information)", Target: "—",
			Measured: strings.Join(parts, ", "), Met: "—"})
	}
	each("warm throughput, best of c=2×cores and c=32", "≥ 10,000/s", len(r.Warm), func(i int) (string, string, bool, bool) {
		x := r.Warm[i]
		best := max(x.Load.Cores.Throughput, x.Load.C32.Throughput)
		return label(x.Driver, x.Runtime), fmtRate(best), best >= 10000, true
	})
	each("cold start from a stem cell, beyond the code's loading (latency − initTime)", "≤ 5 ms", len(r.Cold), func(i int) (string, string, bool, bool) {
		x := r.Cold[i]
		return label(x.Driver, x.Runtime), fmtMS(x.PlatformMS), x.PlatformMS <= 5, x.StemCell
	})
	noStem := map[string]float64{"native": 10, "python": 30, "nodejs": 90}
	each("cold start, no stem cell, linux sandbox", "native ≤ 10 ms, python ≤ 30 ms, nodejs ≤ 90 ms", len(r.Cold), func(i int) (string, string, bool, bool) {
		x := r.Cold[i]
		limit, ok := noStem[x.Runtime]
		return label(x.Driver, x.Runtime), fmtMS(x.Latency.P50), x.Latency.P50 <= limit, ok && !x.StemCell && x.Driver == "linux"
	})
	if !coldHasDriver(r.Cold, "linux") && len(r.Cold) > 0 {
		out = append(out, targetCheck{Metric: "cold start, no stem cell, linux sandbox", Target: "native ≤ 10 ms, python ≤ 30 ms, nodejs ≤ 90 ms",
			Measured: "the linux driver was not measured (see skipped)", Met: "—"})
	}
	each("platform memory per idle warm sandbox", "≤ 100 KB", len(r.Density), func(i int) (string, string, bool, bool) {
		x := r.Density[i]
		return label(x.Driver, x.Runtime), fmt.Sprintf("%.1f KB", x.GustHeapKB), x.GustHeapKB <= 100, true
	})
	each(fmt.Sprintf("%d concurrent requests to a cold action, all answered", b.opts.burst), "≤ 1 s (for 100)", len(r.Burst), func(i int) (string, string, bool, bool) {
		x := r.Burst[i]
		return label(x.Driver, x.Runtime), fmtMS(x.AllMS), x.AllMS <= 1000 && x.Errors == 0, true
	})
	return out
}

func coldHasDriver(cold []coldResult, driver string) bool {
	for _, c := range cold {
		if c.Driver == driver {
			return true
		}
	}
	return false
}
