package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runBenchCmd runs `gust bench args...` in-process and returns its report.
func runBenchCmd(t *testing.T, args ...string) (benchReport, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	args = append([]string{"bench", "--json", file}, args...)
	if code := run(args, &stdout, &stderr); code != exitOK {
		t.Fatalf("gust %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var r benchReport
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("--json wrote %v:\n%s", err, data)
	}
	return r, stdout.String()
}

// TestBenchEverySection runs every section with tiny sizes against the
// server it starts, and checks that each measured something real.
func TestBenchEverySection(t *testing.T) {
	r, out := runBenchCmd(t, "--runtimes", "native", "--drivers", "process,nosuchdriver",
		"--duration", "200ms", "--warmup", "50ms", "--cold-samples", "2", "--burst", "10", "--density", "2",
		"--store-records", "5000")

	if r.Floor == nil || r.Floor.C1.Requests == 0 || r.Floor.C1.Errors != 0 || r.Floor.C1.Latency.P50 <= 0 {
		t.Errorf("floor: %+v", r.Floor)
	}
	if p := r.PipeFloor; p == nil || p.C1.Requests == 0 || p.C1.Errors != 0 || p.C1.Latency.P50 <= 0 {
		t.Errorf("pipe floor: %+v", p)
	}
	if len(r.Warm) != 1 {
		t.Fatalf("warm: %+v, want native on the process driver", r.Warm)
	}
	w := r.Warm[0]
	if w.Driver != "process" || w.Runtime != "native" || w.Kind != "blackbox" {
		t.Errorf("warm measured %s/%s (%s)", w.Driver, w.Runtime, w.Kind)
	}
	for name, p := range map[string]loadPoint{"c1": w.Load.C1, "2x cores": w.Load.Cores, "c32": w.Load.C32} {
		if p.Requests == 0 || p.Errors != 0 || p.Throughput <= 0 || p.Latency.P50 <= 0 || p.Latency.Max < p.Latency.P99 {
			t.Errorf("warm %s: %+v", name, p)
		}
	}
	if w.Load.Open == nil || w.Load.Open.Rate <= 0 || w.Load.Open.Requests == 0 {
		t.Errorf("warm open loop: %+v", w.Load.Open)
	}
	if w.P50VsFloor <= 0 || w.ThroughputVsFloor <= 0 {
		t.Errorf("warm ratios to the floor: p50 %v, throughput %v", w.P50VsFloor, w.ThroughputVsFloor)
	}

	if len(r.Cold) != 1 || r.Cold[0].StemCell || r.Cold[0].Latency.Count != 2 || r.Cold[0].CreateMS <= 0 {
		t.Errorf("cold: %+v, want 2 samples without stem cell with the sandbox create time", r.Cold)
	}
	if len(r.Burst) != 1 || r.Burst[0].Requests != 10 || r.Burst[0].Errors != 0 ||
		r.Burst[0].Latency.Count != 10 || r.Burst[0].Cold < 1 || r.Burst[0].AllMS < r.Burst[0].Latency.Max {
		t.Errorf("burst: %+v", r.Burst)
	}
	if len(r.Density) != 1 || r.Density[0].Sandboxes != 2 || r.Density[0].PSSKB <= 0 ||
		r.Density[0].Processes < 1 || r.Density[0].FitIn1GiB <= 0 {
		t.Errorf("density: %+v", r.Density)
	}
	if nb := r.NonBlocking; nb == nil || nb.Accept.Requests == 0 || nb.Accept.Errors != 0 ||
		nb.Readable.Count == 0 || nb.DrainMS <= 0 {
		t.Errorf("non-blocking: %+v", r.NonBlocking)
	}
	if st := r.Store; st == nil || st.Records != 5000 || len(st.Queries) == 0 || st.Queries[0].Found != 30 {
		t.Errorf("store: %+v", r.Store)
	} else {
		for _, q := range st.Queries {
			if q.Load.Requests == 0 || q.Load.Errors != 0 {
				t.Errorf("store query %s: %+v", q.Name, q.Load)
			}
		}
	}
	if len(r.Targets) == 0 {
		t.Error("no targets checked")
	}
	skipped := strings.Join(r.Skipped, "\n")
	if !strings.Contains(skipped, `warm on the nosuchdriver driver: unknown sandbox driver "nosuchdriver"`) {
		t.Errorf("an unknown driver is not reported as skipped: %q", r.Skipped)
	}
	for _, want := range []string{"| floor: Go HTTP echo", "| process | native", "Targets (DESIGN §6)",
		"command: gust bench --burst 10 --cold-samples 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("the printed report lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchColdFromStemCell measures the stem-cell path, which only the
// interpreted runtimes have.
func TestBenchColdFromStemCell(t *testing.T) {
	r, _ := runBenchCmd(t, "--only", "cold", "--runtimes", "python,nodejs", "--drivers", "process", "--cold-samples", "1")
	for _, name := range []string{"python", "nodejs"} {
		var stem, noStem *coldResult
		for i := range r.Cold {
			if r.Cold[i].Runtime == name {
				if r.Cold[i].StemCell {
					stem = &r.Cold[i]
				} else {
					noStem = &r.Cold[i]
				}
			}
		}
		if stem == nil || noStem == nil {
			if strings.Contains(strings.Join(r.Skipped, " "), "runtime "+name+": not installed") {
				continue
			}
			t.Fatalf("%s: cold results %+v", name, r.Cold)
		}
		if stem.Latency.Count != 1 || noStem.Latency.Count != 1 || noStem.CreateMS <= 0 {
			t.Errorf("%s: stem %+v, no stem %+v", name, stem, noStem)
		}
	}
}

// TestBenchRemote benchmarks a server it did not start: the sections that
// need the server in this process say so, and the actions it created are
// deleted.
func TestBenchRemote(t *testing.T) {
	ts := startTestServer(t)
	r, _ := runBenchCmd(t, "--apihost", ts.base, "--auth", ts.key.String(), "--only", "warm,density,store",
		"--runtimes", "native", "--duration", "100ms", "--warmup", "20ms")
	if len(r.Warm) != 1 || r.Warm[0].Driver != "remote" || r.Warm[0].Load.C1.Errors != 0 || r.Target != ts.base {
		t.Errorf("warm: %+v (target %s)", r.Warm, r.Target)
	}
	if !strings.Contains(r.Command, "--auth ...") || strings.Contains(r.Command, ts.key.Secret) {
		t.Errorf("the report's command %q must name --auth without the key", r.Command)
	}
	skipped := strings.Join(r.Skipped, "\n")
	for _, want := range []string{"density: needs the server in this process", "store: needs the server's store in this process"} {
		if !strings.Contains(skipped, want) {
			t.Errorf("skipped %q, want %q", r.Skipped, want)
		}
	}
	resp := ts.do("GET", "/api/v1/namespaces/_/actions", nil)
	if resp.status != 200 || strings.Contains(string(resp.body), "bench-") {
		t.Errorf("the benchmark's actions are left behind: %d %s", resp.status, resp.body)
	}
}

func TestBenchRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"--only warm,bogus", `--only: unknown "bogus" (want some of floor,warm,cold,burst,density,nonblocking,store)`},
		{"--runtimes cobol", `--runtimes: unknown "cobol" (want some of native,go,nodejs,python)`},
		{"--drivers ,", "--drivers: name at least one sandbox driver"},
		{"--duration 0s", "--duration must be positive"},
		{"--burst 0", "--burst must be positive"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"bench"}, strings.Fields(tc.args)...), &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), "error: "+tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), exitUsage, tc.want)
		}
	}
}
