package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gustfaas/gust/internal/client"
	"github.com/gustfaas/gust/internal/loadgen"
	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/whisk"
)

// `gust bench` measures the platform on the machine it runs on, side by side
// with a floor measured in the same run (DESIGN §6): absolute numbers depend
// on the machine and on what else it is doing, ratios to the floor much less.

var benchSections = []string{"floor", "warm", "cold", "burst", "density", "nonblocking", "store"}

// benchRuntimeNames are the runtimes in the order they are reported.
var benchRuntimeNames = []string{"native", "go", "nodejs", "python"}

type benchOptions struct {
	duration     time.Duration
	warmup       time.Duration
	only         []string
	jsonFile     string
	drivers      []string
	runtimes     []string
	quick        bool
	cpuProfile   string
	cacheDir     string
	coldSamples  int
	burst        int
	density      int
	storeRecords int
	remote       *clientSettings // benchmark a running server instead of starting one
	command      string          // the command line, for the report
}

func (o *benchOptions) runs(section string) bool { return slices.Contains(o.only, section) }

func (a *app) newBenchCmd() *cobra.Command {
	opts := benchOptions{}
	var only, drivers, rts string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the platform on this machine, side by side with a bare HTTP floor",
		Long: `Measure the platform on this machine and print a table (and, with --json, a
report): a bare Go HTTP echo server as the floor; warm invokes of a no-op
action (blocking, result=true, over HTTP with authentication) per runtime and
sandbox driver, at concurrency 1, 2x cores and 32 and at a fixed rate; cold
starts from a stem cell and without, split into sandbox create, runtime start
and code init; a burst of concurrent requests to a cold action; memory per
idle warm sandbox; non-blocking invokes accepted per second and the time until
their records are readable; activation list latency over a million records.

By default it starts its own server in this process on a free port, with
throttles off, for each section and sandbox driver (one temporary data
directory per driver, removed at the end).
With --apihost it benchmarks a running server instead, with the key from
--auth (or the usual client settings); the density and store sections need
the server in this process and are skipped. The load generator runs in this
process too: on a small machine it competes with the server for the CPU, as
it does for the floor.`,
		Example: `  gust bench                                  # everything, about 3 minutes
  gust bench --quick                          # every section, short, process driver: under 30 s
  gust bench --only floor,warm --runtimes python --duration 5s --json warm.json
  gust bench --only warm --cpuprofile warm.pprof && go tool pprof -top warm.pprof
  gust bench --apihost http://host:3233 --auth UUID:KEY --only floor,warm`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.only, err = benchList("--only", only, benchSections); err != nil {
				return usageError(cmd, "%v", err)
			}
			if opts.runtimes, err = benchList("--runtimes", rts, benchRuntimeNames); err != nil {
				return usageError(cmd, "%v", err)
			}
			opts.drivers = splitList(drivers)
			if len(opts.drivers) == 0 {
				return usageError(cmd, "--drivers: name at least one sandbox driver")
			}
			if opts.quick {
				opts.applyQuick(cmd)
			}
			if opts.duration <= 0 {
				return usageError(cmd, "--duration must be positive")
			}
			for name, v := range map[string]int{"--cold-samples": opts.coldSamples, "--burst": opts.burst,
				"--density": opts.density, "--store-records": opts.storeRecords} {
				if v <= 0 {
					return usageError(cmd, "%s must be positive", name)
				}
			}
			opts.command = commandLine(cmd)
			if a.root.PersistentFlags().Changed("apihost") {
				s, err := a.settings()
				if err != nil {
					return err
				}
				if s.auth.value == "" {
					return usageError(cmd, "--apihost needs a key: give --auth UUID:KEY")
				}
				opts.remote = &s
			}
			return runBench(cmd.Context(), opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.DurationVar(&opts.duration, "duration", time.Second, "how long each load measurement runs")
	f.DurationVar(&opts.warmup, "warmup", 300*time.Millisecond, "load run before each measurement and not counted")
	f.StringVar(&only, "only", strings.Join(benchSections, ","), "sections to run: "+strings.Join(benchSections, ","))
	f.StringVar(&drivers, "drivers", "process,linux", "sandbox drivers to measure; one that cannot start here is reported as skipped")
	f.StringVar(&rts, "runtimes", strings.Join(benchRuntimeNames, ","), "runtimes to measure (those missing on this machine are skipped)")
	f.StringVar(&opts.jsonFile, "json", "", "also write the results as JSON to `FILE`")
	f.BoolVar(&opts.quick, "quick", false, "short runs, few samples, the process driver only: a smoke test of the numbers, under 30 s")
	f.StringVar(&opts.cpuProfile, "cpuprofile", "", "write a CPU profile of the sections run (server and load generator) to `FILE`")
	f.StringVar(&opts.cacheDir, "cache-dir", defaultCacheDir(), "`DIR` for runtime launchers and the Go build cache (as gust serve's)")
	f.IntVar(&opts.coldSamples, "cold-samples", 10, "cold starts measured per runtime, driver and stem-cell setting")
	f.IntVar(&opts.burst, "burst", 100, "concurrent requests of the burst section")
	f.IntVar(&opts.density, "density", 20, "idle warm sandboxes started per runtime in the density section")
	f.IntVar(&opts.storeRecords, "store-records", 1000000, "activation records stored before the store section's queries")
	return cmd
}

// commandLine is the command as given, the key left out.
func commandLine(cmd *cobra.Command) string {
	parts := []string{cmd.CommandPath()}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		switch {
		case f.Name == "auth":
			parts = append(parts, "--auth ...")
		case f.Value.Type() == "bool":
			parts = append(parts, "--"+f.Name)
		default:
			parts = append(parts, "--"+f.Name+" "+f.Value.String())
		}
	})
	return strings.Join(parts, " ")
}

// applyQuick shortens what the user did not set.
func (o *benchOptions) applyQuick(cmd *cobra.Command) {
	set := func(name string, apply func()) {
		if !cmd.Flags().Changed(name) {
			apply()
		}
	}
	set("duration", func() { o.duration = 200 * time.Millisecond })
	set("warmup", func() { o.warmup = 50 * time.Millisecond })
	set("cold-samples", func() { o.coldSamples = 2 })
	set("density", func() { o.density = 2 })
	set("burst", func() { o.burst = 50 })
	// One driver, the quickest to start (a linux sandbox server takes a
	// second to set up its cgroups and prestarted inits, ten times over).
	set("drivers", func() { o.drivers = []string{"process"} })
	set("store-records", func() { o.storeRecords = 50000 })
}

func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.ToLower(strings.TrimSpace(part)); part != "" && !slices.Contains(out, part) {
			out = append(out, part)
		}
	}
	return out
}

// benchList reads a comma-separated choice among known values, in the
// known values' order.
func benchList(flag, s string, known []string) ([]string, error) {
	chosen := splitList(s)
	for _, c := range chosen {
		if !slices.Contains(known, c) {
			return nil, fmt.Errorf("%s: unknown %q (want some of %s)", flag, c, strings.Join(known, ","))
		}
	}
	if len(chosen) == 0 {
		return nil, fmt.Errorf("%s: choose at least one of %s", flag, strings.Join(known, ","))
	}
	var out []string
	for _, k := range known {
		if slices.Contains(chosen, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// bench is one run of `gust bench`.
type bench struct {
	opts     benchOptions
	out, log io.Writer
	report   benchReport
	rts      []benchRuntime  // the runtimes to measure that this machine has
	kinds    map[string]bool // every kind the server offers
	cores    int
	runID    string // makes action names unique on a shared server
	// dataDirs holds one data directory per driver, shared by the servers
	// started one after the other: code compiled or unpacked for an action
	// (a Go compile takes seconds) is prepared once per run, not per section.
	dataDirs map[string]string
}

// benchRuntime is a runtime's no-op action.
type benchRuntime struct {
	Name string         `json:"name"` // native, go, nodejs, python
	Kind string         `json:"kind"`
	Note string         `json:"note,omitempty"`
	exec map[string]any // the action's exec, as PUT
}

func runBench(ctx context.Context, opts benchOptions, out, logw io.Writer) error {
	b := &bench{opts: opts, out: out, log: logw, cores: runtime.NumCPU(), runID: whisk.NewActivationID()[26:],
		dataDirs: map[string]string{}}
	defer func() {
		for _, dir := range b.dataDirs {
			os.RemoveAll(dir)
		}
	}()
	b.report = newBenchReport(opts, b.cores)
	if err := b.findRuntimes(ctx); err != nil {
		return err
	}
	stopProfile, err := b.startCPUProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	started := time.Now()
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"floor", b.runFloor},
		{"warm", b.runWarm},
		{"cold", b.runCold},
		{"burst", b.runBurst},
		{"density", b.runDensity},
		{"nonblocking", b.runNonBlocking},
		{"store", b.runStore},
	}
	for _, s := range steps {
		if !opts.runs(s.name) {
			continue
		}
		b.progress("== %s", s.name)
		t := time.Now()
		if err := s.run(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			b.report.Failed = append(b.report.Failed, fmt.Sprintf("%s: %v", s.name, err))
			b.progress("   FAILED: %s: %v", s.name, err)
		}
		b.progress("   (%s in %.1f s)", s.name, time.Since(t).Seconds())
	}
	b.report.Finished = time.Now().UTC()
	b.report.Seconds = time.Since(started).Seconds()
	b.report.LoadAfter = loadAverage()
	b.report.Targets = b.checkTargets()
	b.print()
	if opts.jsonFile != "" {
		data, err := json.MarshalIndent(&b.report, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(opts.jsonFile, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	if n := len(b.report.Failed); n > 0 {
		return fmt.Errorf("%d measurements failed (listed above)", n)
	}
	return nil
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.log, format+"\n", args...)
}

// fail records a measurement that failed; the run goes on with the next
// one and ends with an error once everything was printed.
func (b *bench) fail(section, driver, runtime string, err error) {
	msg := fmt.Sprintf("%s of %s on the %s driver: %v", section, runtime, driver, err)
	b.report.Failed = append(b.report.Failed, msg)
	b.progress("   FAILED: %s", msg)
}

func (b *bench) skip(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.report.Skipped = append(b.report.Skipped, msg)
	b.progress("   skipped: %s", msg)
}

// findRuntimes resolves each runtime to the kind this machine (or the remote
// server) offers and readies its no-op action.
func (b *bench) findRuntimes(ctx context.Context) error {
	kinds := map[string]string{} // family → default kind
	b.kinds = map[string]bool{}
	if b.opts.remote != nil {
		t, err := b.remoteTarget()
		if err != nil {
			return err
		}
		status, body, err := t.do(ctx, http.MethodGet, "/", nil)
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("reading the server's runtimes: %d %v", status, err)
		}
		var root struct {
			Runtimes map[string][]runtimes.Info `json:"runtimes"`
		}
		if err := json.Unmarshal(body, &root); err != nil {
			return fmt.Errorf("reading the server's runtimes: %w", err)
		}
		for family, infos := range root.Runtimes {
			for _, in := range infos {
				if in.Default {
					kinds[family] = in.Kind
				}
				b.kinds[in.Kind] = true
			}
		}
		kinds[whisk.KindBlackbox] = whisk.KindBlackbox
	} else {
		reg, err := runtimes.NewRegistry(runtimes.Config{CacheDir: b.opts.cacheDir})
		if err != nil {
			return err
		}
		for _, k := range reg.Kinds() {
			b.kinds[k] = true
		}
		for _, family := range []string{"go", "nodejs", "python", whisk.KindBlackbox} {
			if rt, ok := reg.Lookup(family + ":default"); ok {
				kinds[family] = rt.Kind()
			} else if rt, ok := reg.Lookup(family); ok {
				kinds[family] = rt.Kind()
			}
		}
	}
	for _, name := range b.opts.runtimes {
		family := name
		if name == "native" {
			family = whisk.KindBlackbox
		}
		kind, ok := kinds[family]
		if !ok {
			b.skip("runtime %s: not installed on this machine", name)
			continue
		}
		rt := benchRuntime{Name: name, Kind: kind}
		switch name {
		case "native":
			code, note, err := nativeNoop(ctx, b.opts.cacheDir)
			if err != nil {
				return err
			}
			rt.Note = note
			rt.exec = map[string]any{"kind": whisk.KindBlackbox, "image": "openwhisk/dockerskeleton", "code": code}
		case "go":
			rt.exec = map[string]any{"kind": kind, "code": goNoop}
		case "nodejs":
			rt.exec = map[string]any{"kind": kind, "code": nodeNoop}
		case "python":
			rt.exec = map[string]any{"kind": kind, "code": pythonNoop}
		}
		b.rts = append(b.rts, rt)
	}
	b.report.Runtimes = b.rts
	if len(b.rts) == 0 {
		return errors.New("none of the chosen runtimes is available")
	}
	return nil
}

// The no-op actions return their arguments. Given {"sleep":true} they hold
// their sandbox for 200 ms first, which is how the density section gets one
// action to start many sandboxes.
const (
	goNoop = `package main

import "time"

func Main(args map[string]interface{}) map[string]interface{} {
	if args["sleep"] != nil {
		time.Sleep(200 * time.Millisecond)
	}
	return args
}
`
	nodeNoop = `function main(args) {
  if (args.sleep) return new Promise(resolve => setTimeout(() => resolve(args), 200))
  return args
}
`
	pythonNoop = `import time


def main(args):
    if "sleep" in args:
        time.sleep(0.2)
    return args
`
)

// nativeNoopSource is the native no-op: a compiled loop that answers every
// request line with {}, as an OpenWhisk actionloop executable does. A shell
// script would be the slowest thing measured (sh reads its input a byte per
// system call).
const nativeNoopSource = `package main

import (
	"bufio"
	"bytes"
	"os"
	"time"
)

func main() {
	out := os.NewFile(3, "reply")
	in := bufio.NewReaderSize(os.Stdin, 64<<10)
	sleep := false
	for {
		line, err := in.ReadSlice('\n')
		sleep = sleep || bytes.Contains(line, []byte("\"sleep\":true"))
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return
		}
		if sleep {
			time.Sleep(200 * time.Millisecond)
			sleep = false
		}
		if _, err := out.Write([]byte("{}\n")); err != nil {
			return
		}
	}
}
`

// nativeNoop compiles the native no-op with the Go toolchain when there is
// one, and falls back to a shell script otherwise. It returns the action's
// code (base64, as wsk --native sends it) and a note on what was built.
func nativeNoop(ctx context.Context, cacheDir string) (code, note string, err error) {
	goBin, _ := exec.LookPath("go")
	if goBin == "" {
		if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
			goBin = "/usr/local/go/bin/go"
		}
	}
	if goBin == "" {
		script := "#!/bin/sh\nwhile read -r l; do case \"$l\" in *'\"sleep\":true'*) sleep 0.2;; esac; echo '{}' >&3; done\n"
		return base64.StdEncoding.EncodeToString([]byte(script)), "shell script (no Go toolchain to build the compiled one)", nil
	}
	dir, err := os.MkdirTemp("", "gust-bench-native-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(nativeNoopSource), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module noop\n\ngo 1.21\n"), 0o644); err != nil {
		return "", "", err
	}
	build := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", "exec", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOCACHE="+filepath.Join(cacheDir, "go-build"))
	if out, err := build.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("building the native no-op: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "exec"))
	if err != nil {
		return "", "", err
	}
	return base64.StdEncoding.EncodeToString(bin), "compiled Go executable", nil
}

// benchTarget is a server under measurement.
type benchTarget struct {
	base    string // http://host:port
	authHdr string
	hc      *http.Client
	srv     *server // nil for a server this process did not start
	dataDir string
	driver  string
	actions []string // created on a remote server, deleted at the end
}

// newBenchClient is the HTTP client of every measurement, the floor's
// included: keep-alive connections, enough of them for every worker.
func newBenchClient() *http.Client {
	return &http.Client{
		Timeout: 90 * time.Second, // past the 60 s blocking wait
		Transport: &http.Transport{
			MaxIdleConns:        2048,
			MaxIdleConnsPerHost: 2048,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

func (b *bench) remoteTarget() (*benchTarget, error) {
	s := b.opts.remote
	u, err := client.BaseURL(s.apihost.value)
	if err != nil {
		return nil, err
	}
	return &benchTarget{
		base:    strings.TrimSuffix(u.String(), "/"),
		authHdr: "Basic " + base64.StdEncoding.EncodeToString([]byte(s.auth.value)),
		hc:      newBenchClient(),
		driver:  "remote",
	}, nil
}

// target starts a server for one section with driver, or connects to the
// remote one. ok is false (and the reason recorded) when the driver cannot
// run here.
func (b *bench) target(ctx context.Context, section, driver string, mutate func(*serverConfig)) (t *benchTarget, ok bool, err error) {
	if b.opts.remote != nil {
		t, err := b.remoteTarget()
		return t, err == nil, err
	}
	dir := b.dataDirs[driver]
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "gust-bench-"+driver+"-"); err != nil {
			return nil, false, err
		}
		b.dataDirs[driver] = dir
	}
	cfg := defaultServerConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.CacheDir = b.opts.cacheDir
	cfg.Sandbox = driver
	cfg.StemCells = map[string]int{}
	cfg.StemCellsMax = 0 // "no stem cell" must stay so; the burst section sets serve's defaults
	cfg.ShutdownGrace = 10 * time.Second
	cfg.Controller.InvocationsPerMinute = 0
	cfg.Controller.ConcurrentInvocations = 0
	cfg.Controller.FiresPerMinute = 0
	cfg.Logger = slog.New(slog.NewTextHandler(b.log, &slog.HandlerOptions{Level: slog.LevelError}))
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := startServer(ctx, cfg)
	if err != nil {
		b.skip("%s on the %s driver: %v", section, driver, err)
		return nil, false, nil
	}
	t = &benchTarget{
		base:    "http://" + srv.Addr(),
		authHdr: "Basic " + base64.StdEncoding.EncodeToString([]byte(srv.guestKey.String())),
		hc:      newBenchClient(),
		srv:     srv,
		dataDir: dir,
		driver:  srv.driver.Name(),
	}
	waitGoWarmUp(ctx)
	return t, true, nil
}

// waitGoWarmUp waits for the Go build-cache warm-up every server starts in
// the background (runtimes.Registry.WarmUp): a compile that would otherwise
// take a core away from the first measurement. The compile runs as child
// processes of this one (go, compile, link).
func waitGoWarmUp(ctx context.Context) {
	deadline := time.Now().Add(2 * time.Minute)
	time.Sleep(20 * time.Millisecond) // let the warm-up goroutine start its go build
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if !goToolRunning() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// goToolRunning reports whether the Go toolchain runs below this process.
func goToolRunning() bool {
	pids, err := descendants(os.Getpid())
	if err != nil {
		return false
	}
	for _, pid := range pids {
		comm, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
		if err != nil {
			continue
		}
		switch strings.TrimSpace(string(comm)) {
		case "go", "compile", "link", "asm", "cgo", "vet":
			return true
		}
	}
	return false
}

func (t *benchTarget) close(ctx context.Context) {
	if t.srv != nil {
		_ = t.srv.shutdown(ctx)
	} else {
		for _, name := range t.actions {
			_, _, _ = t.do(ctx, http.MethodDelete, "/api/v1/namespaces/_/actions/"+url.PathEscape(name), nil)
		}
	}
	t.hc.CloseIdleConnections()
}

// do sends one request with the key and returns the status and body.
func (t *benchTarget) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", t.authHdr)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// putAction creates (or replaces) a no-op action of rt.
func (t *benchTarget) putAction(ctx context.Context, name string, rt benchRuntime, limits map[string]any) error {
	put := map[string]any{"exec": rt.exec}
	if limits != nil {
		put["limits"] = limits
	}
	body, err := json.Marshal(put)
	if err != nil {
		return err
	}
	status, resp, err := t.do(ctx, http.MethodPut, "/api/v1/namespaces/_/actions/"+url.PathEscape(name)+"?overwrite=true", body)
	if err != nil {
		return fmt.Errorf("creating action %s: %w", name, err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("creating action %s: status %d: %s", name, status, resp)
	}
	if t.srv == nil {
		t.actions = append(t.actions, name)
	}
	return nil
}

// invokeBody is what every invoke sends, and what the no-ops and the floor
// send back.
var invokeBody = []byte(`{"n":1}`)

// invoker returns a load function that invokes name: blocking with
// result=true (answered 200) or non-blocking (answered 202).
func (t *benchTarget) invoker(name string, blocking bool) loadgen.Func {
	u := t.base + "/api/v1/namespaces/_/actions/" + url.PathEscape(name)
	want := http.StatusAccepted
	if blocking {
		u += "?blocking=true&result=true"
		want = http.StatusOK
	}
	return httpLoad(t.hc, http.MethodPost, u, t.authHdr, invokeBody, want)
}

// httpLoad returns a load function for one request, checked for its status.
func httpLoad(hc *http.Client, method, u, auth string, body []byte, want int) loadgen.Func {
	return func(ctx context.Context) error {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return err
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != want {
			return fmt.Errorf("%s %s: status %d, want %d", method, u, resp.StatusCode, want)
		}
		return nil
	}
}

// invokeRecord invokes name blocking and returns the whole activation
// record with the client's latency.
func (t *benchTarget) invokeRecord(ctx context.Context, name string) (time.Duration, *whisk.Activation, error) {
	start := time.Now()
	status, body, err := t.do(ctx, http.MethodPost, "/api/v1/namespaces/_/actions/"+url.PathEscape(name)+"?blocking=true", invokeBody)
	took := time.Since(start)
	if err != nil {
		return 0, nil, err
	}
	if status != http.StatusOK {
		return 0, nil, fmt.Errorf("invoking %s: status %d: %s", name, status, body)
	}
	act := new(whisk.Activation)
	if err := json.Unmarshal(body, act); err != nil {
		return 0, nil, fmt.Errorf("invoking %s: %w", name, err)
	}
	return took, act, nil
}

// metrics scrapes the server's /metrics.
func (t *benchTarget) metrics(ctx context.Context) (map[string]float64, error) {
	status, body, err := t.do(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("/metrics: status %d", status)
	}
	return promSamples(body), nil
}

// waitStemCells waits until the server holds at least n stem cells.
func (t *benchTarget) waitStemCells(ctx context.Context, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := t.metrics(ctx)
		if err != nil {
			return err
		}
		if m["gust_invoker_stem_cells"] >= float64(n) {
			return t.waitRuntimesIdle(ctx)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server has %v stem cells after 30 s, want %d", m["gust_invoker_stem_cells"], n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitRuntimesIdle waits until the sandboxes' processes stop using the CPU:
// a stem cell counts as ready once its process started, but an interpreter
// boots for tens of milliseconds more, and a cold start "from a stem cell"
// that waits for the boot measures the boot. A remote server's processes
// cannot be seen; half a second is given instead.
func (t *benchTarget) waitRuntimesIdle(ctx context.Context) error {
	if t.srv == nil {
		return sleepCtx(ctx, 500*time.Millisecond)
	}
	deadline := time.Now().Add(10 * time.Second)
	last, quiet := int64(-1), 0
	for quiet < 3 && time.Now().Before(deadline) {
		pids, err := descendants(os.Getpid())
		if err != nil {
			return sleepCtx(ctx, 500*time.Millisecond)
		}
		if ticks := cpuTicks(pids); ticks == last {
			quiet++
		} else {
			last, quiet = ticks, 0
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// measure runs one load measurement with the configured duration.
func (b *bench) measure(ctx context.Context, fn loadgen.Func, concurrency int, rate float64) (loadPoint, error) {
	res, err := loadgen.Run(ctx, loadgen.Config{
		Concurrency: concurrency, Rate: rate, Duration: b.opts.duration, Warmup: b.opts.warmup,
	}, fn)
	if err != nil {
		return loadPoint{}, err
	}
	p := loadPoint{
		Concurrency: concurrency, Rate: rate, Requests: res.Requests, Errors: res.Errors, Late: res.Late,
		Throughput: res.Throughput, Latency: res.Summary(),
	}
	if res.FirstError != nil {
		p.FirstError = res.FirstError.Error()
		b.progress("   %d of %d requests failed; the first: %v", res.Errors, res.Requests, res.FirstError)
		if res.Errors == res.Requests {
			return p, fmt.Errorf("every request failed: %w", res.FirstError)
		}
	}
	return p, nil
}

// startCPUProfile starts the --cpuprofile profile; the returned function
// stops it.
func (b *bench) startCPUProfile() (func(), error) {
	if b.opts.cpuProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(b.opts.cpuProfile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
