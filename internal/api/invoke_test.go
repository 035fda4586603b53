package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/invoker"
	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/sandbox/process"
	"github.com/gustfaas/gust/internal/whisk"
)

// withRealInvoker runs actions for real: the runtimes this machine has, the
// process sandbox driver and the invoker, recording through the env's
// recorder.
func withRealInvoker(t testing.TB) envOption {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is needed to run actions: install it (apt-get install python3)")
	}
	dir := t.TempDir()
	rts, err := runtimes.NewRegistry(runtimes.Config{CacheDir: filepath.Join(dir, "cache"), Disabled: []string{"go", "nodejs"}})
	if err != nil {
		t.Fatal(err)
	}
	drv, err := process.New(process.Config{WorkRoot: filepath.Join(dir, "sandboxes")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })
	return func(cfg *controller.Config, deps *controller.Deps) {
		icfg := invoker.DefaultConfig()
		icfg.WorkDir = filepath.Join(dir, "invoker")
		inv, err := invoker.New(icfg, invoker.Deps{
			Driver: drv, Runtimes: rts, Recorder: deps.Recorder.(*invoker.Recorder), Logger: deps.Logger,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			inv.Close(ctx)
		})
		deps.Invoker = inv
		deps.Kinds = rts
		deps.Now = nil // activations are timed with the real clock
	}
}

const pyEcho = `
def main(args):
    print("hello from", args.get("name"))
    if args.get("fail"):
        return {"error": "asked to fail"}
    if args.get("list"):
        return [1, 2, 3]
    if args.get("crash"):
        raise Exception("crashed")
    return {"args": args}
`

func TestInvokeBlocking(t *testing.T) {
	e := newEnv(t, withRealInvoker(t))
	put := map[string]any{
		"exec":       map[string]any{"kind": "python:default", "code": pyEcho},
		"parameters": []map[string]any{{"key": "name", "value": "default"}, {"key": "greeting", "value": "hi"}},
	}
	expectStatus(t, e.do(&guestKey, "PUT", actionsPath+"echo", put), http.StatusOK)

	// Success: the whole record, parameters merged under the arguments.
	r := e.do(&guestKey, "POST", actionsPath+"echo?blocking=true", `{"name":"Ann"}`)
	expectStatus(t, r, http.StatusOK)
	var act struct {
		ActivationID string `json:"activationId"`
		Namespace    string `json:"namespace"`
		Name         string `json:"name"`
		Response     struct {
			Status  string          `json:"status"`
			Success bool            `json:"success"`
			Result  json.RawMessage `json:"result"`
		} `json:"response"`
		Logs        []string        `json:"logs"`
		Annotations whisk.KeyValues `json:"annotations"`
		Duration    *int64          `json:"duration"`
	}
	r.json(t, &act)
	if act.Response.Status != "success" || !act.Response.Success || act.Name != "echo" || act.Namespace != "guest" ||
		r.header.Get("x-openwhisk-activation-id") != act.ActivationID || act.Duration == nil {
		t.Fatalf("blocking invoke answered %s", r.body)
	}
	var result struct {
		Args map[string]string `json:"args"`
	}
	if err := json.Unmarshal(act.Response.Result, &result); err != nil || result.Args["name"] != "Ann" || result.Args["greeting"] != "hi" {
		t.Errorf("result %s", act.Response.Result)
	}
	if len(act.Logs) != 1 || !strings.HasSuffix(act.Logs[0], "stdout: hello from Ann") {
		t.Errorf("logs %q", act.Logs)
	}
	if p, _ := act.Annotations.GetString("path"); p != "guest/echo" {
		t.Errorf("path annotation %q", p)
	}

	// The record is readable at once.
	expectStatus(t, e.do(&guestKey, "GET", "/api/v1/namespaces/_/activations/"+act.ActivationID, nil), http.StatusOK)

	// result=true: only the result.
	r = e.do(&guestKey, "POST", actionsPath+"echo?blocking=true&result=true", `{"name":"Bob"}`)
	expectStatus(t, r, http.StatusOK)
	if !strings.HasPrefix(string(r.body), `{"args":`) {
		t.Errorf("result=true answered %s", r.body)
	}
	// An array result is answered as the array itself.
	r = e.do(&guestKey, "POST", actionsPath+"echo?blocking=true", `{"list":true}`)
	expectStatus(t, r, http.StatusOK)
	if string(r.body) != "[1, 2, 3]" && string(r.body) != "[1,2,3]" {
		t.Errorf("array result answered %s", r.body)
	}
	// Application error: 502 with the record; with result=true just the error.
	r = e.do(&guestKey, "POST", actionsPath+"echo?blocking=true", `{"fail":true}`)
	expectStatus(t, r, http.StatusBadGateway)
	r.json(t, &act)
	if act.Response.Status != "application error" || act.Response.Success {
		t.Errorf("application error answered %s", r.body)
	}
	r = e.do(&guestKey, "POST", actionsPath+"echo?blocking=true&result=true", `{"fail":true}`)
	expectStatus(t, r, http.StatusBadGateway)
	if string(r.body) != `{"error": "asked to fail"}` && string(r.body) != `{"error":"asked to fail"}` {
		t.Errorf("application error with result=true answered %s", r.body)
	}
	// A thrown exception is the developer's error: 502 too.
	r = e.do(&guestKey, "POST", actionsPath+"echo?blocking=true", `{"crash":true}`)
	expectStatus(t, r, http.StatusBadGateway)
	r.json(t, &act)
	if act.Response.Status != "action developer error" && act.Response.Status != "application error" {
		t.Errorf("crash answered %s", r.body)
	}

	m := string(e.do(nil, "GET", "/metrics", nil).body)
	if !strings.Contains(m, `gust_invocations_total{action="guest/echo",namespace="guest",status="success"} 3`) {
		t.Errorf("metrics lack the invocation counter:\n%s", m)
	}
}

// TestInvokeBlockingTimeout checks that a blocking invoke whose action runs
// past the wait is answered 202 and completes in the background.
func TestInvokeBlockingTimeout(t *testing.T) {
	e := newEnv(t, withRealInvoker(t))
	code := "import time\ndef main(args):\n    time.sleep(0.5)\n    return {\"slept\": True}\n"
	expectStatus(t, e.do(&guestKey, "PUT", actionsPath+"slow", map[string]any{"exec": map[string]any{"kind": "python:default", "code": code}}), http.StatusOK)
	r := e.do(&guestKey, "POST", actionsPath+"slow?blocking=true&timeout=50", nil)
	expectStatus(t, r, http.StatusAccepted)
	var accepted struct {
		ActivationID string `json:"activationId"`
	}
	r.json(t, &accepted)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = e.do(&guestKey, "GET", "/api/v1/namespaces/_/activations/"+accepted.ActivationID+"/result", nil)
		if r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the activation never completed: %d %s", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(string(r.body), `"slept"`) {
		t.Errorf("result %s", r.body)
	}
}

// TestConcurrentInvocations checks the in-flight limit with actions really
// running: with a limit of 2, a third concurrent blocking invoke gets 429.
func TestConcurrentInvocations(t *testing.T) {
	real := withRealInvoker(t)
	e := newEnv(t, real, func(cfg *controller.Config, _ *controller.Deps) { cfg.ConcurrentInvocations = 2 })
	code := "import time\ndef main(args):\n    time.sleep(1)\n    return {}\n"
	expectStatus(t, e.do(&guestKey, "PUT", actionsPath+"slow", map[string]any{"exec": map[string]any{"kind": "python:default", "code": code}}), http.StatusOK)
	var wg sync.WaitGroup
	statuses := make(chan int, 2)
	for range 2 {
		wg.Go(func() { statuses <- e.do(&guestKey, "POST", actionsPath+"slow?blocking=true", nil).status })
	}
	time.Sleep(300 * time.Millisecond) // both are running
	expectError(t, e.do(&guestKey, "POST", actionsPath+"slow?blocking=true", nil), http.StatusTooManyRequests,
		"Too many concurrent requests in flight (count: 2, allowed: 2).")
	// Non-blocking work is bounded by the rate, not the in-flight count.
	expectStatus(t, e.do(&guestKey, "POST", actionsPath+"slow", nil), http.StatusAccepted)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			t.Errorf("a running invocation ended with %d", s)
		}
	}
	expectStatus(t, e.do(&guestKey, "POST", actionsPath+"slow?blocking=true", nil), http.StatusOK)
}

// TestInvokeNative runs a native (blackbox) action from a zip, the form
// `wsk action create --native` sends.
func TestInvokeNative(t *testing.T) {
	e := newEnv(t, withRealInvoker(t))
	script := "#!/bin/sh\nwhile read -r line; do echo '{\"native\":true}' >&3; echo 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX'; echo 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX' >&2; done\n"
	code := base64.StdEncoding.EncodeToString([]byte(script))
	r := e.do(&guestKey, "PUT", actionsPath+"native", map[string]any{
		"exec": map[string]any{"kind": "blackbox", "image": "openwhisk/dockerskeleton", "code": code}})
	expectStatus(t, r, http.StatusOK)
	var a whisk.Action
	r.json(t, &a)
	if !a.Exec.Binary {
		t.Errorf("base64 code not marked binary: %s", r.body)
	}
	r = e.do(&guestKey, "POST", actionsPath+"native?blocking=true&result=true", nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"native"`) {
		t.Skipf("native action did not run here (%d %s); covered by the runtimes' own tests", r.status, r.body)
	}
}

// BenchmarkInvokeBlocking measures a warm blocking invoke with result over
// HTTP with authentication: the whole path a client sees.
func BenchmarkInvokeBlocking(b *testing.B) {
	e := newEnv(b, withRealInvoker(b), func(cfg *controller.Config, _ *controller.Deps) {
		cfg.InvocationsPerMinute, cfg.ConcurrentInvocations = 0, 0
	})
	code := "def main(args):\n    return args\n"
	if r := e.do(&guestKey, "PUT", actionsPath+"noop", map[string]any{"exec": map[string]any{"kind": "python:default", "code": code}}); r.status != http.StatusOK {
		b.Fatalf("create: %d %s", r.status, r.body)
	}
	req := func() {
		r := e.do(&guestKey, "POST", actionsPath+"noop?blocking=true&result=true", `{"n":1}`)
		if r.status != http.StatusOK {
			b.Fatalf("invoke: %d %s", r.status, r.body)
		}
	}
	req() // warm
	b.ResetTimer()
	for b.Loop() {
		req()
	}
}

// TestInvokeRecreatedAction deletes a warm action and creates it again under
// its name with other code: the next invoke must run the new code, not the
// warm sandbox of the deleted one.
func TestInvokeRecreatedAction(t *testing.T) {
	e := newEnv(t, withRealInvoker(t))
	for _, v := range []string{"1", "2", "3"} {
		put := map[string]any{"exec": map[string]any{"kind": "python:default", "code": "def main(args):\n    return {'v': " + v + "}\n"}}
		expectStatus(t, e.do(&guestKey, "PUT", actionsPath+"again", put), http.StatusOK)
		for range 2 { // the second runs warm
			r := e.do(&guestKey, "POST", actionsPath+"again?blocking=true&result=true", nil)
			expectStatus(t, r, http.StatusOK)
			if want := `{"v": ` + v + `}`; string(r.body) != want && string(r.body) != `{"v":`+v+`}` {
				t.Fatalf("version %s answered %s", v, r.body)
			}
		}
		expectStatus(t, e.do(&guestKey, "DELETE", actionsPath+"again", nil), http.StatusOK)
	}
}
