package main

import (
	"context"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// Python actions: they start fastest of the interpreted runtimes.
const (
	pyInc = "def main(p):\n    return {'n': p.get('n', 0) + p.get('step', 1)}\n"
	pyDbl = "def main(p):\n    return {'n': p.get('n', 0) * 2}\n"
	// pyEcho returns its input: a composition's component that shows what it got.
	pyEcho = "def main(p):\n    return p\n"
	pyFail = "def main(p):\n    return {'error': 'bad input', 'n': p.get('n')}\n"
	pySlow = "import time\ndef main(p):\n    time.sleep(float(p.get('sleep', 1.5)))\n    return {'slept': True}\n"
)

// putSequence creates or replaces a sequence over components.
func (ts *testServer) putSequence(name string, components ...string) response {
	ts.t.Helper()
	return ts.do("PUT", "/api/v1/namespaces/_/actions/"+url.PathEscape(name)+"?overwrite=true",
		map[string]any{"exec": map[string]any{"kind": "sequence", "components": components}})
}

// getActivation reads a record, waiting for it to be written.
func (ts *testServer) getActivation(id string) whisk.Activation {
	ts.t.Helper()
	return ts.waitActivation(id, 10*time.Second)
}

func TestSequenceCreateChecks(t *testing.T) {
	ts := startTestServer(t, func(c *serverConfig) { c.Controller.SequenceMaxLength = 3 })
	ts.putAction("inc", "python:3.11", pyInc, nil)
	cases := []struct {
		name       string
		components []string
		msg        string
	}{
		{"empty", []string{}, "No component specified for the sequence."},
		{"missing", []string{"/_/inc", "/_/nope"}, "Sequence component does not exist."},
		{"too-long", []string{"/_/inc", "/_/inc", "/_/inc", "/_/inc"}, "Too many actions in the sequence."},
	}
	for _, c := range cases {
		r := ts.putSequence(c.name, c.components...)
		if r.status != 400 || r.object(t)["error"] != c.msg {
			t.Errorf("%s: %d %s, want 400 %q", c.name, r.status, r.body, c.msg)
		}
	}
	// Nested sequences count their atomic actions.
	ts.mustStatus(ts.putSequence("two", "/_/inc", "/_/inc"), 200)
	r := ts.putSequence("five", "/_/two", "/_/two")
	if r.status != 400 || r.object(t)["error"] != "Too many actions in the sequence." {
		t.Errorf("nested too long: %d %s", r.status, r.body)
	}
	// A cycle back to the sequence itself.
	ts.mustStatus(ts.putSequence("outer", "/_/two"), 200)
	r = ts.putSequence("two", "/_/outer")
	if r.status != 400 || r.object(t)["error"] != "Sequence may not refer to itself." {
		t.Errorf("cycle: %d %s", r.status, r.body)
	}
}

func TestSequenceRuns(t *testing.T) {
	ts := startTestServer(t)
	ts.putAction("inc", "python:3.11", pyInc, map[string]any{
		"parameters": []map[string]any{{"key": "step", "value": 1}},
		"limits":     map[string]any{"memory": 128},
	})
	ts.putAction("dbl", "python:3.11", pyDbl, map[string]any{"limits": map[string]any{"memory": 192}})
	ts.putAction("fail", "python:3.11", pyFail, nil)
	ts.mustStatus(ts.putSequence("incdbl", "/_/inc", "/guest/dbl"), 200)

	t.Run("components in order", func(t *testing.T) {
		status, seq := ts.invoke("incdbl", map[string]any{"n": 1})
		if status != 200 || resultOf(t, seq)["n"] != 4.0 {
			t.Fatalf("status %d, response %+v", status, seq.Response)
		}
		if len(seq.Logs) != 2 {
			t.Fatalf("logs %v", seq.Logs)
		}
		if annotation(seq, "topmost") != true || annotation(seq, "kind") != "sequence" ||
			annotation(seq, "path") != "guest/incdbl" || annotation(seq, "causedBy") != nil || seq.Cause != "" {
			t.Errorf("sequence annotations %s, cause %q", mustJSON(seq.Annotations), seq.Cause)
		}
		if lim, _ := annotation(seq, "limits").(map[string]any); lim["memory"] != 192.0 {
			t.Errorf("limits %v: memory is the largest of the components'", annotation(seq, "limits"))
		}
		if annotation(seq, "waitTime") == nil {
			t.Errorf("no waitTime: %s", mustJSON(seq.Annotations))
		}
		var sum int64
		for i, id := range seq.Logs {
			comp := ts.getActivation(id)
			sum += comp.Duration
			if comp.Cause != seq.ActivationID || annotation(comp, "causedBy") != "sequence" {
				t.Errorf("component %d: cause %q causedBy %v", i, comp.Cause, annotation(comp, "causedBy"))
			}
			if want := []string{"inc", "dbl"}[i]; comp.Name != want {
				t.Errorf("component %d is %s, want %s", i, comp.Name, want)
			}
		}
		if seq.Duration != sum {
			t.Errorf("duration %d, want the components' sum %d", seq.Duration, sum)
		}
		// The stored record says the same.
		stored := ts.getActivation(seq.ActivationID)
		if stored.Duration != sum || len(stored.Logs) != 2 || resultOf(t, stored)["n"] != 4.0 {
			t.Errorf("stored record %+v", stored)
		}
	})

	t.Run("result only", func(t *testing.T) {
		r := ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/actions/incdbl?blocking=true&result=true", map[string]any{"n": 5}), 200)
		if r.object(t)["n"] != 12.0 {
			t.Errorf("result %s", r.body)
		}
	})

	t.Run("nested", func(t *testing.T) {
		ts.mustStatus(ts.putSequence("nested", "/_/incdbl", "/_/inc"), 200)
		status, outer := ts.invoke("nested", map[string]any{"n": 1})
		if status != 200 || resultOf(t, outer)["n"] != 5.0 || len(outer.Logs) != 2 {
			t.Fatalf("status %d, %+v logs %v", status, outer.Response, outer.Logs)
		}
		inner := ts.getActivation(outer.Logs[0])
		if inner.Name != "incdbl" || inner.Cause != outer.ActivationID || annotation(inner, "topmost") != false ||
			annotation(inner, "causedBy") != "sequence" || len(inner.Logs) != 2 {
			t.Errorf("inner sequence %+v annotations %s", inner, mustJSON(inner.Annotations))
		}
		// Components of the inner sequence are caused by it, not by the outer one.
		for _, id := range inner.Logs {
			if c := ts.getActivation(id); c.Cause != inner.ActivationID {
				t.Errorf("inner component cause %q, want %q", c.Cause, inner.ActivationID)
			}
		}
		last := ts.getActivation(outer.Logs[1])
		if last.Cause != outer.ActivationID {
			t.Errorf("outer component cause %q", last.Cause)
		}
		if outer.Duration != inner.Duration+last.Duration {
			t.Errorf("outer duration %d, want %d + %d", outer.Duration, inner.Duration, last.Duration)
		}
	})

	t.Run("short-circuit", func(t *testing.T) {
		ts.mustStatus(ts.putSequence("stops", "/_/inc", "/_/fail", "/_/dbl"), 200)
		status, seq := ts.invoke("stops", map[string]any{"n": 1})
		if status != 502 || seq.Response.Status != "application error" || resultOf(t, seq)["error"] != "bad input" {
			t.Fatalf("status %d, %+v", status, seq.Response)
		}
		if len(seq.Logs) != 2 {
			t.Errorf("ran %d components, want 2 (the third is skipped)", len(seq.Logs))
		}
	})

	t.Run("component removed", func(t *testing.T) {
		ts.putAction("tmp", "python:3.11", pyEcho, nil)
		ts.mustStatus(ts.putSequence("gone", "/_/inc", "/_/tmp"), 200)
		ts.mustStatus(ts.do("DELETE", "/api/v1/namespaces/_/actions/tmp", nil), 200)
		status, seq := ts.invoke("gone", map[string]any{"n": 1})
		if status != 502 || seq.Response.Status != "application error" ||
			resultOf(t, seq)["error"] != "Sequence component does not exist." || len(seq.Logs) != 1 {
			t.Fatalf("status %d, %+v logs %v", status, seq.Response, seq.Logs)
		}
	})

	t.Run("non-blocking", func(t *testing.T) {
		r := ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/actions/incdbl", map[string]any{"n": 2}), 202)
		id, _ := r.object(t)["activationId"].(string)
		if r.header.Get("x-openwhisk-activation-id") != id {
			t.Errorf("activation id header %q, body %s", r.header.Get("x-openwhisk-activation-id"), r.body)
		}
		seq := ts.getActivation(id)
		if resultOf(t, seq)["n"] != 6.0 || len(seq.Logs) != 2 || annotation(seq, "kind") != "sequence" {
			t.Errorf("non-blocking sequence %+v", seq)
		}
	})

	t.Run("blocking past the wait", func(t *testing.T) {
		ts.putAction("slow", "python:3.11", pySlow, nil)
		ts.mustStatus(ts.putSequence("slowseq", "/_/inc", "/_/slow"), 200)
		r := ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/actions/slowseq?blocking=true&timeout=300", map[string]any{"sleep": 1.5}), 202)
		id, _ := r.object(t)["activationId"].(string)
		if !whisk.ValidActivationID(id) {
			t.Fatalf("202 body %s", r.body)
		}
		seq := ts.getActivation(id)
		if resultOf(t, seq)["slept"] != true {
			t.Errorf("the sequence did not finish in the background: %+v", seq.Response)
		}
	})
}

func TestSequenceDynamicLimit(t *testing.T) {
	ts := startTestServer(t, func(c *serverConfig) { c.Controller.SequenceMaxLength = 3 })
	ts.putAction("inc", "python:3.11", pyInc, nil)
	ts.mustStatus(ts.putSequence("pair", "/_/inc", "/_/inc"), 200)
	ts.mustStatus(ts.putSequence("three", "/_/pair", "/_/inc"), 200)
	// pair grows after three was created: three now runs four atomic actions.
	ts.mustStatus(ts.putSequence("pair", "/_/inc", "/_/inc", "/_/inc"), 200)
	status, seq := ts.invoke("three", map[string]any{"n": 0})
	if status != 502 || resultOf(t, seq)["error"] != "Too many actions in the sequence." {
		t.Fatalf("status %d, %+v", status, seq.Response)
	}
	if len(seq.Logs) != 1 {
		t.Errorf("logs %v: the nested sequence runs, the fourth action does not", seq.Logs)
	}
}

// Conductor actions from docs/conductors.md: the conductor returns
// {action, params, state}; the controller runs action on params and the
// conductor again on the result with state.
const (
	pyTriple = "def main(p):\n    return {'value': p['value'] * 3}\n"
	pyIncr   = "def main(p):\n    return {'value': p['value'] + 1}\n"
	// tripleAndIncrement, the docs' example.
	pyTripleAndIncrement = `def main(p):
    step = p.pop('$step', 0)
    if step == 0:
        return {'action': 'triple', 'params': p, 'state': {'$step': 1}}
    if step == 1:
        return {'action': 'increment', 'params': p, 'state': {'$step': 2}}
    return {'params': p}
`
	// An if: small values are tripled, large ones incremented.
	pyIf = `def main(p):
    if p.pop('$done', False):
        return {'params': p}
    return {'action': 'triple' if p['value'] < 5 else 'increment', 'params': p, 'state': {'$done': True}}
`
	// A while: increment until the value reaches the goal.
	pyWhile = `def main(p):
    if 'error' in p:
        return {'error': p['error']}
    if p['value'] < p.get('goal', 10):
        return {'action': 'increment', 'params': {'value': p['value']}, 'state': {'goal': p.get('goal', 10)}}
    return {'params': {'value': p['value']}}
`
	// Runs whatever action it is told to, once, and reports errors.
	pyDispatch = `def main(p):
    if 'error' in p:
        return {'error': p['error']}
    if p.pop('$ran', False):
        return {'params': p}
    a = p.pop('run')
    return {'action': a, 'params': p, 'state': {'$ran': True}}
`
)

func TestConductorActions(t *testing.T) {
	ts := startTestServer(t, func(c *serverConfig) { c.Controller.SequenceMaxLength = 10 })
	ts.putAction("triple", "python:3.11", pyTriple, nil)
	ts.putAction("increment", "python:3.11", pyIncr, map[string]any{"limits": map[string]any{"memory": 320}})
	conductor := map[string]any{"annotations": []map[string]any{{"key": "conductor", "value": true}}}
	ts.putAction("tripleAndIncrement", "python:3.11", pyTripleAndIncrement, conductor)
	ts.putAction("choose", "python:3.11", pyIf, conductor)
	ts.putAction("loop", "python:3.11", pyWhile, conductor)
	ts.putAction("dispatch", "python:3.11", pyDispatch, conductor)

	t.Run("docs example", func(t *testing.T) {
		status, act := ts.invoke("tripleAndIncrement", map[string]any{"value": 3})
		if status != 200 || resultOf(t, act)["value"] != 10.0 {
			t.Fatalf("status %d %+v", status, act.Response)
		}
		if len(act.Logs) != 5 {
			t.Fatalf("logs %v: want conductor, triple, conductor, increment, conductor", act.Logs)
		}
		if annotation(act, "conductor") != true || annotation(act, "kind") != "sequence" || annotation(act, "topmost") != true {
			t.Errorf("annotations %s", mustJSON(act.Annotations))
		}
		if lim, _ := annotation(act, "limits").(map[string]any); lim["memory"] != 320.0 {
			t.Errorf("limits %v: memory is the largest of conductor and components", annotation(act, "limits"))
		}
		want := []string{"tripleAndIncrement", "triple", "tripleAndIncrement", "increment", "tripleAndIncrement"}
		var sum int64
		for i, id := range act.Logs {
			c := ts.getActivation(id)
			sum += c.Duration
			if c.Name != want[i] || c.Cause != act.ActivationID || annotation(c, "causedBy") != "sequence" {
				t.Errorf("activation %d: %s cause %q causedBy %v", i, c.Name, c.Cause, annotation(c, "causedBy"))
			}
		}
		if act.Duration != sum {
			t.Errorf("duration %d, want %d", act.Duration, sum)
		}
	})

	t.Run("if", func(t *testing.T) {
		for in, want := range map[float64]float64{2: 6, 7: 8} {
			status, act := ts.invoke("choose", map[string]any{"value": in})
			if status != 200 || resultOf(t, act)["value"] != want {
				t.Errorf("choose(%v): status %d %+v, want %v", in, status, act.Response, want)
			}
		}
	})

	t.Run("while", func(t *testing.T) {
		status, act := ts.invoke("loop", map[string]any{"value": 7})
		if status != 200 || resultOf(t, act)["value"] != 10.0 {
			t.Fatalf("status %d %+v", status, act.Response)
		}
		if len(act.Logs) != 7 { // 3 increments between 4 conductor activations
			t.Errorf("logs %d, want 7", len(act.Logs))
		}
	})

	t.Run("too long", func(t *testing.T) {
		status, act := ts.invoke("loop", map[string]any{"value": 0, "goal": 20})
		if status != 502 || resultOf(t, act)["error"] != "Too many actions in the composition." {
			t.Fatalf("status %d %+v", status, act.Response)
		}
	})

	t.Run("missing component", func(t *testing.T) {
		status, act := ts.invoke("dispatch", map[string]any{"run": "nope"})
		if status != 502 || act.Response.Status != "application error" ||
			resultOf(t, act)["error"] != "Failed to resolve action with name 'guest/nope' during composition." {
			t.Fatalf("status %d %+v", status, act.Response)
		}
		if len(act.Logs) != 2 { // the conductor twice: the error goes back to it
			t.Errorf("logs %v", act.Logs)
		}
	})

	t.Run("invalid name", func(t *testing.T) {
		status, act := ts.invoke("dispatch", map[string]any{"run": 42})
		want := "Failed to parse action name from json value 42 during composition."
		if status != 502 || resultOf(t, act)["error"] != want {
			t.Fatalf("status %d %+v", status, act.Response)
		}
	})

	t.Run("forbidden component", func(t *testing.T) {
		status, act := ts.invoke("dispatch", map[string]any{"run": "/other/pkg/secret"})
		want := "Failed entitlement check for action with name 'other/pkg/secret' during composition."
		if status != 502 || resultOf(t, act)["error"] != want {
			t.Fatalf("status %d %+v", status, act.Response)
		}
	})

	t.Run("nested composition and sequence", func(t *testing.T) {
		ts.mustStatus(ts.putSequence("tripleinc", "/_/triple", "/_/increment"), 200)
		status, act := ts.invoke("dispatch", map[string]any{"run": "tripleinc", "value": 1})
		if status != 200 || resultOf(t, act)["value"] != 4.0 || len(act.Logs) != 3 {
			t.Fatalf("sequence component: status %d %+v logs %v", status, act.Response, act.Logs)
		}
		seq := ts.getActivation(act.Logs[1])
		if seq.Name != "tripleinc" || seq.Cause != act.ActivationID || annotation(seq, "topmost") != false {
			t.Errorf("sequence inside a composition: %+v", seq)
		}
		status, act = ts.invoke("dispatch", map[string]any{"run": "tripleAndIncrement", "value": 1})
		if status != 200 || resultOf(t, act)["value"] != 4.0 || len(act.Logs) != 3 {
			t.Fatalf("composition component: status %d %+v logs %v", status, act.Response, act.Logs)
		}
		inner := ts.getActivation(act.Logs[1])
		if inner.Name != "tripleAndIncrement" || inner.Cause != act.ActivationID || len(inner.Logs) != 5 ||
			annotation(inner, "conductor") != true || annotation(inner, "causedBy") != "sequence" {
			t.Errorf("nested composition %+v %s", inner, mustJSON(inner.Annotations))
		}
	})

	t.Run("non-blocking", func(t *testing.T) {
		r := ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/actions/tripleAndIncrement", map[string]any{"value": 1}), 202)
		var body struct{ ActivationID string }
		r.json(t, &body)
		act := ts.getActivation(body.ActivationID)
		if resultOf(t, act)["value"] != 4.0 || annotation(act, "conductor") != true {
			t.Errorf("non-blocking composition %+v", act)
		}
	})
}

// TestSequenceAcrossNamespaces runs a sequence whose component is in
// another namespace's published package.
func TestSequenceAcrossNamespaces(t *testing.T) {
	ts := startTestServer(t)
	other := ts.createNamespace("lib")
	r := ts.do("PUT", "/api/v1/namespaces/_/packages/tools", map[string]any{"publish": true}, other)
	if r.status == 404 {
		t.Skip("the packages API is not served yet")
	}
	ts.mustStatus(r, 200)
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/actions/tools/dbl?overwrite=true",
		map[string]any{"exec": map[string]any{"kind": "python:3.11", "code": pyDbl}}, other), 200)
	ts.putAction("inc", "python:3.11", pyInc, nil)
	ts.mustStatus(ts.putSequence("mixed", "/_/inc", "/lib/tools/dbl"), 200)
	status, seq := ts.invoke("mixed", map[string]any{"n": 1})
	if status != 200 || resultOf(t, seq)["n"] != 4.0 {
		t.Fatalf("status %d %+v", status, seq.Response)
	}
	comp := ts.getActivation(seq.Logs[1])
	if comp.Namespace != "guest" || annotation(comp, "path") != "lib/tools/dbl" {
		t.Errorf("the component runs for the caller: %+v %s", comp, mustJSON(comp.Annotations))
	}
	// A published sequence runs its owner's private components for others,
	// who cannot run those themselves.
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/actions/secretinc?overwrite=true",
		map[string]any{"exec": map[string]any{"kind": "python:3.11", "code": pyInc}}, other), 200)
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/actions/tools/chain?overwrite=true",
		map[string]any{"exec": map[string]any{"kind": "sequence", "components": []string{"/lib/secretinc", "/lib/tools/dbl"}}}, other), 200)
	r = ts.mustStatus(ts.do("POST", "/api/v1/namespaces/lib/actions/tools/chain?blocking=true", map[string]any{"n": 1}), 200)
	var shared whisk.Activation
	r.json(t, &shared)
	if resultOf(t, shared)["n"] != 4.0 || shared.Namespace != "guest" || annotation(shared, "path") != "lib/tools/chain" {
		t.Errorf("shared sequence: %+v %s", shared, mustJSON(shared.Annotations))
	}
	if r := ts.do("POST", "/api/v1/namespaces/lib/actions/secretinc?blocking=true", nil); r.status != 403 {
		t.Errorf("the private component itself: %d %s", r.status, r.body)
	}

	// A private package of another namespace is not a valid component.
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/packages/tools?overwrite=true", map[string]any{"publish": false}, other), 200)
	r = ts.putSequence("private", "/lib/tools/dbl")
	if r.status == 200 {
		t.Errorf("a sequence over a private package of another namespace was created: %s", r.body)
	}
	status, seq = ts.invoke("mixed", map[string]any{"n": 1})
	if status != 502 || resultOf(t, seq)["error"] != "Sequence component does not exist." {
		t.Errorf("after unpublishing: status %d %+v", status, seq.Response)
	}

	// The catalog's building blocks, chained as OpenWhisk's docs chain them.
	if ts.do("GET", "/api/v1/namespaces/whisk.system/actions/utils/split", nil).status != 200 {
		t.Skip("no /whisk.system/utils catalog")
	}
	ts.mustStatus(ts.putSequence("sorted", "/whisk.system/utils/split", "/whisk.system/utils/sort"), 200)
	status, seq = ts.invoke("sorted", map[string]any{"payload": "pear,apple,fig", "separator": ","})
	if status != 200 || mustJSON(resultOf(t, seq)["lines"]) != `["apple","fig","pear"]` {
		t.Errorf("split then sort: status %d %s", status, seq.Response.Result)
	}
}

// createNamespace makes a tenant in the running server's store, as `gust
// admin namespace create` does, and returns its key.
func (ts *testServer) createNamespace(name string) string {
	ts.t.Helper()
	key := whisk.NewAuthKey()
	err := ts.srv.store.CreateNamespace(context.Background(), store.Namespace{
		Name: name, Subject: name, UUID: key.UUID, KeyHash: whisk.HashSecret(key.Secret), Created: time.Now().UnixMilli(),
	})
	if err != nil {
		ts.t.Fatal(err)
	}
	return key.String()
}

// A sequence accepted non-blocking survives a SIGKILL of the server like any
// accepted invocation (RELIABILITY.md P1, P3): after the restart it runs and
// its record is written exactly once.
func TestKilledAfterAcceptSequenceRunsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	dir := t.TempDir()
	cmd, ts := startChild(t, dir)
	ts.putAction("nap", "python:3.11", "import time\ndef main(p):\n    time.sleep(0.2)\n    return {'n': p.get('n', 0) + 1}\n", nil)
	ts.mustStatus(ts.putSequence("naps", "/_/nap", "/_/nap"), 200)
	var ids []string
	for i := range 6 {
		r := ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/actions/naps", map[string]any{"n": i * 10}), 202)
		ids = append(ids, r.object(t)["activationId"].(string))
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	_, ts2 := startChild(t, dir)
	for i, id := range ids {
		act := ts2.waitActivation(id, 60*time.Second)
		if resultOf(t, act)["n"] != float64(i*10+2) || len(act.Logs) != 2 || annotation(act, "kind") != "sequence" {
			t.Errorf("sequence %s: %+v logs %v", id, act.Response, act.Logs)
		}
	}
	// Records are committed in batches: wait until the list holds them all.
	seen := map[string]int{}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := ts2.mustStatus(ts2.do("GET", "/api/v1/namespaces/_/activations?name=naps&limit=200", nil), 200)
		var list []whisk.Activation
		r.json(t, &list)
		clear(seen)
		for _, a := range list {
			seen[a.ActivationID]++
		}
		if len(list) >= len(ids) || time.Now().After(deadline) {
			break
		}
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("sequence %s has %d records, want 1", id, seen[id])
		}
	}
}
