package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"
)

// Benchmarks of the whole platform over HTTP with authentication, as a client
// sees it: a blocking invoke with result=true of a no-op action. They report
// percentiles besides ns/op because a serverless platform is judged by its
// tail. README's figures come from:
//
//	go test ./cmd/gust -run '^$' -bench 'Invoke|ColdStart' -benchtime 2000x

var benchCode = []struct{ kind, code string }{
	{"nodejs:20", `function main(p) { return p }`},
	{"python:3.11", "def main(p):\n    return p\n"},
	{"go:1.26", "package main\n\nfunc Main(p map[string]interface{}) map[string]interface{} { return p }\n"},
	{"blackbox", "#!/bin/sh\nwhile read -r l; do echo '{}' >&3; done\n"},
}

func benchAction(ts *testServer, name, kind, code string) {
	body := map[string]any{"exec": map[string]any{"kind": kind, "code": code}}
	if kind == "blackbox" {
		body["exec"].(map[string]any)["image"] = "openwhisk/dockerskeleton"
	}
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/actions/"+name+"?overwrite=true", body), 200)
}

func BenchmarkWarmInvoke(b *testing.B) {
	ts := startTestServer(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(ts.key.String()))
	for _, c := range benchCode {
		b.Run(c.kind, func(b *testing.B) {
			name := "noop-" + c.kind[:2]
			benchAction(ts, name, c.kind, c.code)
			url := ts.base + "/api/v1/namespaces/_/actions/" + name + "?blocking=true&result=true"
			invokeOnce(b, client, url, auth) // the cold start is not what this measures
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				lat = append(lat, invokeOnce(b, client, url, auth))
			}
			reportPercentiles(b, lat)
		})
	}
}

// BenchmarkColdStart creates a new action for every iteration, so every
// invoke starts a sandbox: from a stem cell where the runtime has them, and
// from nothing with stem cells off.
func BenchmarkColdStart(b *testing.B) {
	for _, stem := range []bool{true, false} {
		ts := startTestServer(b, func(c *serverConfig) {
			if stem {
				c.StemCells = map[string]int{"nodejs:20": 2, "python:3.11": 2}
			}
		})
		client := &http.Client{}
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(ts.key.String()))
		for _, c := range benchCode {
			label := "nostem"
			if stem {
				if c.kind != "nodejs:20" && c.kind != "python:3.11" {
					continue
				}
				label = "stem"
			}
			b.Run(label+"/"+c.kind, func(b *testing.B) {
				lat := make([]time.Duration, 0, b.N)
				for i := range b.N {
					b.StopTimer()
					name := fmt.Sprintf("cold-%s-%s-%d", label, c.kind[:2], i)
					// A comment makes each action's code distinct: Go compiles
					// are cached by code, and this measures starts, not compiles.
					code := c.code
					if c.kind != "go:1.26" {
						code += "\n"
					}
					benchAction(ts, name, c.kind, code)
					if stem {
						time.Sleep(400 * time.Millisecond) // let the stem cell be replenished (a node boot is ~150 ms)
					}
					b.StartTimer()
					lat = append(lat, invokeOnce(b, client, ts.base+"/api/v1/namespaces/_/actions/"+name+"?blocking=true&result=true", auth))
				}
				reportPercentiles(b, lat)
			})
		}
	}
}

func invokeOnce(b *testing.B, client *http.Client, url, auth string) time.Duration {
	req, _ := http.NewRequest("POST", url, bytes.NewReader([]byte(`{"x":1}`)))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
	return d
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Nanoseconds()) / 1e6
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}
