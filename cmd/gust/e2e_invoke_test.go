package main

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// Each runtime's hello world, returning its parameters with a greeting.
var helloActions = []struct {
	kind, code string
}{
	{"nodejs:20", `function main(p) { console.log("hello from node"); return {greeting: "hello " + p.name, kind: "node"} }`},
	{"python:3.11", "def main(p):\n    print('hello from python')\n    return {'greeting': 'hello ' + p['name'], 'kind': 'python'}\n"},
	{"go:1.26", "package main\n\nimport \"fmt\"\n\nfunc Main(p map[string]interface{}) map[string]interface{} {\n\tfmt.Println(\"hello from go\")\n\treturn map[string]interface{}{\"greeting\": fmt.Sprintf(\"hello %v\", p[\"name\"]), \"kind\": \"go\"}\n}\n"},
}

// nativeZip is what `wsk action create --native` sends: a zip holding an
// `exec` that speaks the action loop itself.
func nativeZip(t *testing.T, script string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "exec", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(script))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

const nativeHello = `#!/bin/sh
while read -r line; do
  echo "hello from native"
  echo '{"greeting":"hello native","kind":"native"}' >&3
  echo "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
  echo "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX" >&2
done
`

func TestInvokeEachRuntime(t *testing.T) {
	ts := startTestServer(t)
	for _, a := range helloActions {
		t.Run(a.kind, func(t *testing.T) {
			name := "hello-" + strings.Split(a.kind, ":")[0]
			ts.putAction(name, a.kind, a.code, nil)
			status, act := ts.invoke(name, map[string]any{"name": "gust"})
			if status != 200 || !act.Response.Success {
				t.Fatalf("status %d, response %+v, logs %v", status, act.Response, act.Logs)
			}
			if got := resultOf(t, act)["greeting"]; got != "hello gust" {
				t.Fatalf("greeting %v", got)
			}
			if len(act.Logs) == 0 || !strings.Contains(act.Logs[0], "stdout: hello from") {
				t.Fatalf("logs %q", act.Logs)
			}
			if annotation(act, "initTime") == nil {
				t.Errorf("a cold start has no initTime annotation: %v", act.Annotations)
			}
			if annotation(act, "kind") != a.kind || annotation(act, "path") != "guest/"+name {
				t.Errorf("annotations %s", mustJSON(act.Annotations))
			}
			// The second invocation reuses the warm sandbox.
			_, warm := ts.invoke(name, map[string]any{"name": "again"})
			if annotation(warm, "initTime") != nil {
				t.Errorf("a warm start has initTime: %v", warm.Annotations)
			}
			if got := resultOf(t, warm)["greeting"]; got != "hello again" {
				t.Fatalf("warm greeting %v", got)
			}
			// result=true answers the result alone.
			r := ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/actions/"+name+"?blocking=true&result=true", map[string]any{"name": "r"}), 200)
			if r.object(t)["greeting"] != "hello r" {
				t.Fatalf("result=true body %s", r.body)
			}
		})
	}
	t.Run("native", func(t *testing.T) {
		r := ts.do("PUT", "/api/v1/namespaces/_/actions/native?overwrite=true", map[string]any{
			"exec": map[string]any{"kind": "blackbox", "image": "openwhisk/dockerskeleton", "code": nativeZip(t, nativeHello)},
		})
		ts.mustStatus(r, 200)
		status, act := ts.invoke("native", nil)
		if status != 200 || resultOf(t, act)["greeting"] != "hello native" {
			t.Fatalf("status %d, %+v", status, act.Response)
		}
	})
}

func TestFailuresAreClassified(t *testing.T) {
	ts := startTestServer(t)
	cases := []struct {
		name, kind, code string
		limits           map[string]any
		wantHTTP         int
		wantStatus       string
		wantError        string // substring of result.error
	}{
		{"throws", "nodejs:20", `function main() { throw new Error("boom") }`, nil, 502, "application error", "boom"},
		{"returns-error", "python:3.11", "def main(p):\n    return {'error': 'bad input'}\n", nil, 502, "application error", "bad input"},
		{"crashes", "nodejs:20", `function main() { process.exit(3) }`, nil, 502, "action developer error", "exited unexpectedly"},
		{"syntax-error", "python:3.11", "def main(p)\n    return p\n", nil, 502, "action developer error", ""},
		{"compile-error", "go:1.26", "package main\nfunc Main(p map[string]interface{}) map[string]interface{} { return nope }\n", nil, 502, "action developer error", "undefined: nope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			extra := map[string]any{}
			if c.limits != nil {
				extra["limits"] = c.limits
			}
			ts.putAction(c.name, c.kind, c.code, extra)
			status, act := ts.invoke(c.name, nil)
			if status != c.wantHTTP || act.Response.Status != c.wantStatus {
				t.Fatalf("HTTP %d status %q, want %d %q: %s", status, act.Response.Status, c.wantHTTP, c.wantStatus, act.Response.Result)
			}
			if msg, _ := resultOf(t, act)["error"].(string); !strings.Contains(msg, c.wantError) {
				t.Fatalf("error %q does not contain %q", msg, c.wantError)
			}
		})
	}

	t.Run("times-out", func(t *testing.T) {
		// Warm first, so that the limit applies to the run, not to a slow
		// start on a loaded machine (init has the same limit).
		ts.putAction("slowpoke", "nodejs:20", `function main(p) { return p.hang ? new Promise(() => {}) : {} }`,
			map[string]any{"limits": map[string]any{"timeout": 1000}})
		ts.invoke("slowpoke", nil)
		status, act := ts.invoke("slowpoke", map[string]any{"hang": true})
		want := "The action exceeded its time limits of 1000 milliseconds."
		if status != 502 || act.Response.Status != "action developer error" || resultOf(t, act)["error"] != want {
			t.Fatalf("HTTP %d %q %s", status, act.Response.Status, act.Response.Result)
		}
	})

	t.Run("timed-out sandbox is not reused", func(t *testing.T) {
		code := `let calls = 0; function main(p) { calls++; if (p.hang) return new Promise(() => {}); return {calls} }`
		ts.putAction("hang", "nodejs:20", code, map[string]any{"limits": map[string]any{"timeout": 1000}})
		_, first := ts.invoke("hang", nil)
		if resultOf(t, first)["calls"] != 1.0 {
			t.Fatalf("first %s", first.Response.Result)
		}
		_, hung := ts.invoke("hang", map[string]any{"hang": true})
		if annotation(hung, "timeout") != true {
			t.Fatalf("timed-out activation lacks timeout:true: %s", mustJSON(hung.Annotations))
		}
		_, after := ts.invoke("hang", nil)
		if resultOf(t, after)["calls"] != 1.0 || annotation(after, "initTime") == nil {
			t.Fatalf("after a timeout the action ran in the old sandbox: %s %s", after.Response.Result, mustJSON(after.Annotations))
		}
	})

	t.Run("logs over the limit are truncated", func(t *testing.T) {
		code := `function main() { const line = "x".repeat(1023); for (let i = 0; i < 2048; i++) console.log(line); return {done: true} }`
		ts.putAction("chatty", "nodejs:20", code, map[string]any{"limits": map[string]any{"logs": 1}})
		_, act := ts.invoke("chatty", nil)
		if !act.Response.Success {
			t.Fatalf("%+v", act.Response)
		}
		last := act.Logs[len(act.Logs)-1]
		if !strings.Contains(last, "Logs were truncated because the total bytes size exceeds the limit of 1048576 bytes.") {
			t.Fatalf("last log line %q", last)
		}
	})

	t.Run("result over the size limit", func(t *testing.T) {
		code := `function main() { return {big: "x".repeat(2 * 1024 * 1024)} }`
		ts.putAction("big", "nodejs:20", code, nil)
		status, act := ts.invoke("big", nil)
		if status != 502 || act.Response.Status != "application error" ||
			!strings.Contains(fmt.Sprint(resultOf(t, act)["error"]), "exceeded the allowed length") {
			t.Fatalf("%d %s", status, act.Response.Result)
		}
	})

	t.Run("non-JSON result is a developer error", func(t *testing.T) {
		script := "#!/bin/sh\nwhile read -r line; do echo 'not json' >&3; done\n"
		ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/actions/garbage?overwrite=true", map[string]any{
			"exec":   map[string]any{"kind": "blackbox", "image": "openwhisk/dockerskeleton", "code": nativeZip(t, script)},
			"limits": map[string]any{"timeout": 2000},
		}), 200)
		status, act := ts.invoke("garbage", nil)
		if status != 502 || act.Response.Status != "action developer error" ||
			!strings.Contains(fmt.Sprint(resultOf(t, act)["error"]), "did not produce a valid JSON") {
			t.Fatalf("%d %s", status, act.Response.Result)
		}
	})
}

func TestNonBlockingIsRecordedOnce(t *testing.T) {
	ts := startTestServer(t)
	ts.putAction("echo", "nodejs:20", `function main(p) { return p }`, nil)
	var ids []string
	for i := range 20 {
		r := ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/actions/echo", map[string]any{"i": i}), 202)
		id, _ := r.object(t)["activationId"].(string)
		if !whisk.ValidActivationID(id) || r.header.Get("x-openwhisk-activation-id") != id {
			t.Fatalf("202 body %s, header %q", r.body, r.header.Get("x-openwhisk-activation-id"))
		}
		ids = append(ids, id)
	}
	for i, id := range ids {
		act := ts.waitActivation(id, 30*time.Second)
		if resultOf(t, act)["i"] != float64(i) {
			t.Fatalf("activation %s result %s, want i=%d", id, act.Response.Result, i)
		}
	}
	r := ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/activations?name=echo&count=true", nil), 200)
	if n := r.object(t)["activations"]; n != 20.0 {
		t.Fatalf("count %v, want 20", n)
	}
}
