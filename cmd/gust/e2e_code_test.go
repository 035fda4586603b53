package main

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"sync"
	"testing"
)

func zipOf(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestZipActions(t *testing.T) {
	ts := startTestServer(t)
	t.Run("nodejs package.json main and node_modules", func(t *testing.T) {
		code := zipOf(t, map[string]string{
			"package.json":                    `{"name":"app","main":"lib/app.js"}`,
			"lib/app.js":                      `const shout = require("shout"); exports.handler = p => ({said: shout(p.word)})`,
			"node_modules/shout/index.js":     `module.exports = s => s.toUpperCase() + "!"`,
			"node_modules/shout/package.json": `{"name":"shout"}`,
		})
		ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/actions/zipnode?overwrite=true", map[string]any{
			"exec": map[string]any{"kind": "nodejs:20", "code": code, "main": "handler"},
		}), 200)
		status, act := ts.invoke("zipnode", map[string]any{"word": "hey"})
		if status != 200 || resultOf(t, act)["said"] != "HEY!" {
			t.Fatalf("%d %s %q", status, act.Response.Result, act.Logs)
		}
	})
	t.Run("python __main__.py", func(t *testing.T) {
		code := zipOf(t, map[string]string{
			"__main__.py": "from helper import twice\n\ndef main(p):\n    return {'twice': twice(p['n'])}\n",
			"helper.py":   "def twice(n):\n    return 2 * n\n",
		})
		ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/actions/zippy?overwrite=true", map[string]any{
			"exec": map[string]any{"kind": "python:3.11", "code": code},
		}), 200)
		status, act := ts.invoke("zippy", map[string]any{"n": 21})
		if status != 200 || resultOf(t, act)["twice"] != 42.0 {
			t.Fatalf("%d %s %q", status, act.Response.Result, act.Logs)
		}
	})
	r := ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/actions/zippy", nil), 200)
	if exec := r.object(t)["exec"].(map[string]any); exec["binary"] != true {
		t.Fatalf("a zip action is not marked binary: %v", exec)
	}
}

func TestParametersReachTheFunction(t *testing.T) {
	ts := startTestServer(t)
	code := `function main(p) { return {p, secret: process.env.SECRET || null, ns: process.env.__OW_NAMESPACE, name: process.env.__OW_ACTION_NAME} }`
	ts.putAction("params", "nodejs:20", code, map[string]any{
		"parameters": []map[string]any{
			{"key": "place", "value": "Kansas"},
			{"key": "who", "value": "default"},
			{"key": "SECRET", "value": "s3cret", "init": true},
		},
	})
	_, act := ts.invoke("params", map[string]any{"who": "caller"})
	res := resultOf(t, act)
	p := res["p"].(map[string]any)
	if p["place"] != "Kansas" || p["who"] != "caller" {
		t.Fatalf("parameters %v: defaults must be merged under the request's", p)
	}
	if _, leaked := p["SECRET"]; leaked || res["secret"] != "s3cret" {
		t.Fatalf("an init parameter must reach the environment, not the arguments: %v", res)
	}
	if res["ns"] != "guest" || res["name"] != "/guest/params" {
		t.Fatalf("__OW_ variables %v", res)
	}
}

// Intra-sandbox concurrency: with limits.concurrency 2, two slow activations
// run at once in one sandbox (the module-level counter sees both).
func TestIntraSandboxConcurrency(t *testing.T) {
	ts := startTestServer(t, func(c *serverConfig) { c.Controller.Concurrency.Max = 4 })
	code := `let inflight = 0, peak = 0
async function main() { inflight++; peak = Math.max(peak, inflight); await new Promise(r => setTimeout(r, 300)); inflight--; return {peak} }`
	ts.putAction("conc", "nodejs:20", code, map[string]any{"limits": map[string]any{"concurrency": 2}})
	ts.invoke("conc", nil) // start the sandbox
	var wg sync.WaitGroup
	peaks := make([]float64, 2)
	for i := range peaks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, act := ts.invoke("conc", nil)
			peaks[i], _ = resultOf(t, act)["peak"].(float64)
		}()
	}
	wg.Wait()
	if max(peaks[0], peaks[1]) != 2 {
		t.Fatalf("peaks %v: two activations did not share the sandbox", peaks)
	}
}
