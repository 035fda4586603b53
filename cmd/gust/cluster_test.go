package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/scheduler"
	"github.com/gustfaas/gust/internal/testenv"
	"github.com/gustfaas/gust/internal/whisk"
)

// slowCode is the fault tests' action: it notes each run of an activation in
// the file p.log (to count repeated executions), then answers after
// p.sleep ms.
const slowCode = `const fs = require('fs');
function main(p) {
  if (p.log) fs.appendFileSync(p.log, process.env.__OW_ACTIVATION_ID + '\n');
  return new Promise(r => setTimeout(() => r({i: p.i}), p.sleep || 0));
}`

// versionCode answers its code's version and its parameter v.
func versionCode(v int) string {
	return fmt.Sprintf(`function main(p) { return {code: %d, param: p.v} }`, v)
}

// homedOn returns a name for an action of the guest namespace whose home
// invoker, among ids (sorted), is want.
func homedOn(t *testing.T, prefix string, ids []string, want string) string {
	t.Helper()
	invs := make([]scheduler.Invoker, len(ids))
	for i, id := range ids {
		invs[i] = scheduler.Invoker{ID: id, Healthy: true, FreeMB: 1 << 20}
	}
	for i := range 1000 {
		name := fmt.Sprintf("%s-%d", prefix, i)
		idx, _ := scheduler.Place(invs, "guest", whisk.FQN{Namespace: "guest", Name: name}.String(), 256)
		if ids[idx] == want {
			return name
		}
	}
	t.Fatalf("no action name homes on %s", want)
	return ""
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func busyOf(views []memberView, id string) int {
	for _, v := range views {
		if v.ID == id {
			return v.Busy
		}
	}
	return 0
}

func activationsOf(views []memberView, id string) uint64 {
	for _, v := range views {
		if v.ID == id {
			return v.Activations
		}
	}
	return 0
}

// TestCluster runs two controllers and two (then three) invokers as
// processes and checks that the platform behaves through either controller
// as it does in one process, and keeps its promises when members are added,
// killed or stopped.
func TestCluster(t *testing.T) {
	h := newCluster(t, testenv.MustHaveNATS(t))
	c1, c2 := h.controller("c1"), h.controller("c2")
	i1, i2 := h.invoker("i1"), h.invoker("i2")
	h.waitMembers("invokers", "i1", "i2")
	h.waitMembers("controllers", "c1", "c2")
	a, b := c1.api(t), c2.api(t)
	runLog := filepath.Join(h.dir, "runs.log")

	t.Run("Readiness", func(t *testing.T) {
		for _, m := range []*member{c1, c2, i1, i2} {
			if status, body := get(t, "http://"+m.addr+"/readyz"); status != 200 || body != "ok" {
				t.Errorf("%s %s /readyz: %d %q", m.role, m.id, status, body)
			}
		}
		views := h.admin("invokers")
		for _, v := range views {
			if v.UserMB != 1024 || v.State != "healthy" || v.SecondsSinceHeartbeat > 3 {
				t.Errorf("invoker as listed: %+v", v)
			}
		}
	})

	t.Run("EntitiesThroughEitherController", func(t *testing.T) {
		a.t, b.t = t, t
		a.putAction("hello", "nodejs:20", `function main(p) { return {hello: p.name} }`, nil)
		var got whisk.Action
		b.mustStatus(b.do("GET", "/api/v1/namespaces/_/actions/hello", nil), 200).json(t, &got)
		if got.Exec.Kind != "nodejs:20" || got.Version != "0.0.1" {
			t.Fatalf("action read through the other controller: %s", mustJSON(got))
		}
		b.mustStatus(b.do("PUT", "/api/v1/namespaces/_/packages/tools", map[string]any{
			"parameters": []map[string]any{{"key": "greeting", "value": "hi"}}}), 200)
		a.mustStatus(a.do("PUT", "/api/v1/namespaces/_/actions/tools/greet", map[string]any{
			"exec": map[string]any{"kind": "nodejs:20", "code": `function main(p) { return {text: p.greeting + ' ' + p.name} }`}}), 200)
		var pkg whisk.PackageWithActions
		b.mustStatus(b.do("GET", "/api/v1/namespaces/_/packages/tools", nil), 200).json(t, &pkg)
		if len(pkg.Actions) != 1 || pkg.Actions[0].Name != "greet" {
			t.Fatalf("package through the other controller: %s", mustJSON(pkg))
		}
		var act whisk.Activation
		b.mustStatus(b.do("POST", "/api/v1/namespaces/_/actions/tools/greet?blocking=true", map[string]any{"name": "ada"}), 200).json(t, &act)
		if r := resultOf(t, act); r["text"] != "hi ada" {
			t.Fatalf("packaged action through the other controller: %v", r)
		}
		b.mustStatus(b.do("DELETE", "/api/v1/namespaces/_/actions/tools/greet", nil), 200)
		a.mustStatus(a.do("GET", "/api/v1/namespaces/_/actions/tools/greet", nil), 404)
	})

	t.Run("InvokeThroughEither", func(t *testing.T) {
		a.t, b.t = t, t
		for _, ts := range []*testServer{a, b} {
			status, act := ts.invoke("hello", map[string]any{"name": "ada"})
			if status != 200 || resultOf(t, act)["hello"] != "ada" {
				t.Fatalf("blocking invoke: %d %s", status, act.Response.Result)
			}
		}
		r := a.mustStatus(a.do("POST", "/api/v1/namespaces/_/actions/hello", map[string]any{"name": "bob"}), 202)
		id := r.object(t)["activationId"].(string)
		if act := b.waitActivation(id, 30*time.Second); resultOf(t, act)["hello"] != "bob" {
			t.Fatalf("non-blocking record read through the other controller: %s", act.Response.Result)
		}
	})

	t.Run("UpdateNeverRunsOldVersion", func(t *testing.T) {
		a.t, b.t = t, t
		for v := 1; v <= 6; v++ {
			writer, reader := a, b
			if v%2 == 0 {
				writer, reader = b, a
			}
			writer.putAction("versioned", "nodejs:20", versionCode(v), map[string]any{
				"parameters": []map[string]any{{"key": "v", "value": v}}})
			// Read right after the write returned, through the controller
			// that cached the previous version.
			_, act := reader.invoke("versioned", nil)
			if r := resultOf(t, act); r["code"] != float64(v) || r["param"] != float64(v) {
				t.Fatalf("after update %d through one controller, the other ran %v", v, r)
			}
		}
		// Web export withdrawn through one controller: the other stops
		// serving the action at once.
		a.putAction("webby", "nodejs:20", `function main() { return {body: 'web'} }`, map[string]any{
			"annotations": []map[string]any{{"key": "web-export", "value": true}}})
		if status, body := get(t, "http://"+c2.addr+"/api/v1/web/guest/default/webby.http"); status != 200 || body != "web" {
			t.Fatalf("web action through the other controller: %d %q", status, body)
		}
		a.putAction("webby", "nodejs:20", `function main() { return {body: 'web'} }`, map[string]any{
			"annotations": []map[string]any{{"key": "web-export", "value": false}}})
		if status, _ := get(t, "http://"+c2.addr+"/api/v1/web/guest/default/webby.http"); status != 404 {
			t.Fatalf("web action withdrawn through one controller, served by the other: %d", status)
		}
	})

	t.Run("SequencesTriggersRules", func(t *testing.T) {
		a.t, b.t = t, t
		a.putAction("inc", "nodejs:20", `function main(p) { return {n: (p.n || 0) + 1} }`, nil)
		b.mustStatus(b.do("PUT", "/api/v1/namespaces/_/actions/twice", map[string]any{
			"exec": map[string]any{"kind": "sequence", "components": []string{"/guest/inc", "/guest/inc"}}}), 200)
		_, act := a.invoke("twice", map[string]any{"n": 1})
		if r := resultOf(t, act); r["n"] != float64(3) {
			t.Fatalf("blocking sequence: %v", r)
		}
		// Accepted non-blocking, a sequence runs wherever its message is
		// consumed: on an invoker, whose components go back to the cluster.
		r := b.mustStatus(b.do("POST", "/api/v1/namespaces/_/actions/twice", map[string]any{"n": 10}), 202)
		seqID := r.object(t)["activationId"].(string)
		if act := a.waitActivation(seqID, 30*time.Second); resultOf(t, act)["n"] != float64(12) || len(act.Logs) != 2 {
			t.Fatalf("non-blocking sequence: %s logs %v", act.Response.Result, act.Logs)
		}

		a.mustStatus(a.do("PUT", triggersPath+"bump", map[string]any{}), 200)
		b.mustStatus(b.do("PUT", rulesPath+"bumpRule", map[string]string{"trigger": "/_/bump", "action": "/_/inc"}), 200)
		fired := b.mustStatus(b.do("POST", triggersPath+"bump", map[string]any{"n": 5}), 202).object(t)["activationId"].(string)
		trig := a.waitActivation(fired, 30*time.Second)
		if len(trig.Logs) != 1 {
			t.Fatalf("trigger activation logs %v", trig.Logs)
		}
		var ruleLog struct {
			ActivationID string `json:"activationId"`
			Success      bool   `json:"success"`
		}
		if err := json.Unmarshal([]byte(trig.Logs[0]), &ruleLog); err != nil || !ruleLog.Success {
			t.Fatalf("rule log %q: %v", trig.Logs[0], err)
		}
		if act := b.waitActivation(ruleLog.ActivationID, 30*time.Second); resultOf(t, act)["n"] != float64(6) {
			t.Fatalf("rule's action: %s", act.Response.Result)
		}
	})

	t.Run("ActivationStreamThroughOtherController", func(t *testing.T) {
		a.t, b.t = t, t
		req, _ := http.NewRequest("GET", b.base+"/api/v1/namespaces/_/activations/stream?name=hello&keepalive=1", nil)
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(clusterGuestKey.String())))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("stream: %d", resp.StatusCode)
		}
		seen := make(chan string, 64)
		go func() {
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
					seen <- id
				}
			}
			close(seen)
		}()
		time.Sleep(300 * time.Millisecond) // the watcher is announced with a heartbeat
		id := a.mustStatus(a.do("POST", "/api/v1/namespaces/_/actions/hello", map[string]any{"name": "eve"}), 202).
			object(t)["activationId"].(string)
		deadline := time.After(20 * time.Second)
		for {
			select {
			case got, ok := <-seen:
				if !ok {
					t.Fatal("stream ended")
				}
				if got == id {
					return
				}
			case <-deadline:
				t.Fatalf("record %s not streamed through the other controller", id)
			}
		}
	})

	t.Run("AlarmsFireOncePerTick", func(t *testing.T) {
		a.t, b.t = t, t
		// Every controller runs the alarms provider: each tick of this
		// every-2-seconds alarm and the one date must fire once in all.
		a.putAction("noop", "nodejs:20", `function main() { return {} }`, nil)
		a.feedTrigger("everyTwo", "alarm", map[string]any{"cron": "*/2 * * * * *"})
		a.feedTrigger("onceSoon", "once", map[string]any{"date": time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339Nano)})
		b.putRule("r1", "/_/everyTwo", "/_/noop") // a trigger without rules records no fire
		b.putRule("r2", "/_/onceSoon", "/_/noop")
		time.Sleep(9 * time.Second)
		a.feedOK("alarm", "DELETE", "everyTwo", nil)
		fires := a.triggerActivations("everyTwo")
		if len(fires) < 3 || len(fires) > 5 {
			t.Fatalf("an every-2-s alarm fired %d times in 9 s", len(fires))
		}
		for i := 1; i < len(fires); i++ {
			if gap := fires[i-1].Start - fires[i].Start; gap < 1500 {
				t.Fatalf("two fires %d ms apart: a tick fired twice (%d fires)", gap, len(fires))
			}
		}
		if once := a.triggerActivations("onceSoon"); len(once) != 1 {
			t.Fatalf("a once alarm fired %d times", len(once))
		}
	})

	t.Run("NamespaceLimitsAcrossControllers", func(t *testing.T) {
		a.t, b.t = t, t
		var out, errb bytes.Buffer
		if code := run([]string{"admin", "namespace", "create", "limited", "--store", h.store,
			"--invocations-per-minute", "4", "-o", "json"}, &out, &errb); code != 0 {
			t.Fatalf("admin namespace create: %d %s", code, errb.String())
		}
		var created struct{ Key string }
		json.Unmarshal(out.Bytes(), &created)
		la := &testServer{t: t, base: a.base}
		la.key, _ = whisk.ParseAuthKey(created.Key)
		lb := &testServer{t: t, base: b.base, key: la.key}
		la.putAction("limited", "nodejs:20", `function main() { return {} }`, nil)
		var limits controller.NamespaceLimits
		lb.mustStatus(lb.do("GET", "/api/v1/namespaces/_/limits", nil), 200).json(t, &limits)
		if limits.InvocationsPerMinute != 4 {
			t.Fatalf("limits report %d invocations per minute, want the namespace's 4", limits.InvocationsPerMinute)
		}
		if s := time.Now().Second(); s > 50 {
			time.Sleep(time.Duration(61-s) * time.Second) // one calendar minute for the whole test
		}
		// Two controllers: each admits its half of the 4 per minute.
		accepted := 0
		for _, ts := range []*testServer{la, lb} {
			for i := range 3 {
				r := ts.do("POST", "/api/v1/namespaces/_/actions/limited", nil)
				switch {
				case i < 2 && r.status == 202:
					accepted++
				case i == 2 && r.status == 429:
					if !strings.Contains(string(r.body), "allowed: 2") {
						t.Errorf("429 body %s, want this controller's share (allowed: 2)", r.body)
					}
				default:
					t.Fatalf("invocation %d through %s: %d %s", i+1, ts.base, r.status, r.body)
				}
			}
		}
		if accepted != 4 {
			t.Fatalf("%d accepted across the controllers, want the namespace's 4", accepted)
		}
		// Changed in the store by gust admin, with the bus to tell the
		// controllers: both apply it at once, not when their cache of the
		// key expires.
		if code := run([]string{"admin", "namespace", "update", "limited", "--store", h.store, "--bus", h.bus,
			"--bus-prefix", h.prefix, "--invocations-per-minute", "6", "-o", "json"}, &out, &errb); code != 0 {
			t.Fatalf("admin namespace update: %d %s", code, errb.String())
		}
		for _, ts := range []*testServer{la, lb} {
			ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/limits", nil), 200).json(t, &limits)
			if limits.InvocationsPerMinute != 6 {
				t.Fatalf("limits through %s right after gust admin changed them: %d, want 6", ts.base, limits.InvocationsPerMinute)
			}
		}
	})

	var i3 *member
	t.Run("NewInvokerTakesLoad", func(t *testing.T) {
		a.t, b.t = t, t
		began := time.Now()
		i3 = h.invoker("i3")
		h.waitMembers("invokers", "i1", "i2", "i3")
		name := homedOn(t, "fresh", []string{"i1", "i2", "i3"}, "i3")
		a.putAction(name, "nodejs:20", `function main() { return {} }`, nil)
		for _, ts := range []*testServer{a, b, a} {
			if status, act := ts.invoke(name, nil); status != 200 {
				t.Fatalf("invoke %s: %d %s", name, status, act.Response.Result)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for activationsOf(h.admin("invokers"), "i3") < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("the new invoker ran %d activations of its home action", activationsOf(h.admin("invokers"), "i3"))
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("the new invoker took its share %v after it was started", time.Since(began).Round(100*time.Millisecond))
	})

	slowNames := []string{
		homedOn(t, "slow", []string{"i1", "i2", "i3"}, "i1"),
		homedOn(t, "slow", []string{"i1", "i2", "i3"}, "i2"),
		homedOn(t, "slow", []string{"i1", "i2", "i3"}, "i3"),
	}
	for _, name := range slowNames {
		a.putAction(name, "nodejs:20", slowCode, map[string]any{"limits": map[string]any{"memory": 128}})
	}
	params := func(i int) map[string]any { return map[string]any{"i": i, "log": runLog, "sleep": 400} }

	t.Run("InvokerKilledUnderLoad", func(t *testing.T) {
		l := startLoad([]string{a.base, b.base}, slowNames, 3, 150*time.Millisecond, params)
		time.Sleep(time.Second)
		// Killed while it runs something (as its heartbeat says), with more
		// queued for it.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			if busyOf(h.admin("invokers"), "i2") > 0 {
				break
			}
		}
		i2.kill()
		time.Sleep(3 * time.Second)
		l.halt()
		accepted, statuses := l.snapshot()
		if len(accepted) == 0 || statuses[202] != len(accepted) {
			t.Fatalf("statuses %v with one invoker killed and two healthy", statuses)
		}
		h.report(t, "invoker SIGKILL", accepted, statuses, runLog, 90*time.Second)
	})

	t.Run("ControllerKilledMidRequest", func(t *testing.T) {
		l := startLoad([]string{b.base}, slowNames, 4, 100*time.Millisecond, params)
		time.Sleep(1500 * time.Millisecond)
		c2.kill()
		time.Sleep(300 * time.Millisecond)
		l.halt()
		accepted, statuses := l.snapshot()
		if len(accepted) == 0 {
			t.Fatalf("nothing accepted before the kill: %v", statuses)
		}
		h.report(t, "controller SIGKILL", accepted, statuses, runLog, 60*time.Second)
		c2 = h.controller("c2") // restarted under the same id
		b = c2.api(t)
		h.waitMembers("controllers", "c1", "c2")
		// A controller that has just started waits for the invokers' first
		// heartbeats (about a second) instead of refusing; a 503 is still
		// tolerated here for a slow start under CI load.
		deadline := time.Now().Add(10 * time.Second)
		for {
			status, _ := b.invoke("hello", map[string]any{"name": "again"})
			if status == 200 {
				break
			}
			if status != 503 || time.Now().After(deadline) {
				t.Fatalf("restarted controller: %d", status)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("InvokerStoppedGracefully", func(t *testing.T) {
		l := startLoad([]string{a.base, b.base}, slowNames, 3, 150*time.Millisecond, params)
		time.Sleep(1500 * time.Millisecond)
		i3.stop()
		time.Sleep(2 * time.Second)
		l.halt()
		accepted, statuses := l.snapshot()
		// A request placed on the stopping invoker in the instant it leaves
		// may get a clear 503 (KNOWN GAP, see the closing note): never a
		// lost 202, and rarely.
		if statuses[202] != len(accepted) || statuses[503] > len(accepted)/50 || len(statuses) > 2 {
			t.Fatalf("statuses %v while an invoker stopped and another was healthy", statuses)
		}
		h.report(t, "invoker SIGTERM", accepted, statuses, runLog, 60*time.Second)
	})

	t.Run("NoInvokerIs503", func(t *testing.T) {
		a.t, b.t = t, t
		i1.stop()
		h.waitMembers("invokers") // none healthy: i2 killed, i3 and i1 stopped
		for _, ts := range []*testServer{a, b} {
			for _, path := range []string{"/api/v1/namespaces/_/actions/hello", "/api/v1/namespaces/_/actions/hello?blocking=true"} {
				r := ts.do("POST", path, map[string]any{"name": "nobody"})
				if r.status != 503 || !strings.Contains(string(r.body), controller.MsgUnavailable) {
					t.Fatalf("POST %s with no invoker: %d %s", path, r.status, r.body)
				}
			}
		}
		h.invoker("i4")
		h.waitMembers("invokers", "i4")
		if status, act := a.invoke("hello", map[string]any{"name": "back"}); status != 200 || resultOf(t, act)["hello"] != "back" {
			t.Fatalf("after an invoker came back: %d %s", status, act.Response.Result)
		}
	})
}

// TestClusterNATSKilled kills the cluster's nats-server under non-blocking
// load and starts it again: requests meanwhile get 503, never a 202 that is
// lost; the cluster carries on once NATS is back.
func TestClusterNATSKilled(t *testing.T) {
	ns := startNATSServer(t)
	h := newCluster(t, ns.url)
	c1 := h.controller("c1")
	h.invoker("i1")
	h.waitMembers("invokers", "i1")
	a := c1.api(t)
	runLog := filepath.Join(h.dir, "runs.log")
	a.putAction("work", "nodejs:20", slowCode, nil)
	params := func(i int) map[string]any { return map[string]any{"i": i, "log": runLog, "sleep": 20} }

	l := startLoad([]string{a.base}, []string{"work"}, 3, 100*time.Millisecond, params)
	time.Sleep(1500 * time.Millisecond)
	ns.kill()
	killedAt := time.Now()
	time.Sleep(4 * time.Second)
	_, during := l.snapshot()
	r := a.do("POST", "/api/v1/namespaces/_/actions/work?blocking=true", params(-1))
	if r.status != 503 {
		t.Errorf("blocking invoke with NATS down: %d %s", r.status, r.body)
	}
	ns.start()
	l.markRecovery()
	deadline := time.Now().Add(60 * time.Second)
	for {
		l.mu.Lock()
		back := !l.first202.IsZero()
		l.mu.Unlock()
		if back {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no 202 within 60 s of NATS coming back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	l.halt()
	accepted, statuses := l.snapshot()
	for status := range statuses {
		if status != 202 && status != 503 {
			t.Errorf("status %d (%d times) around the NATS restart, want only 202 and 503", status, statuses[status])
		}
	}
	if during[503] == 0 {
		t.Errorf("no 503 while NATS was down %v: %v", time.Since(killedAt), during)
	}
	t.Logf("NATS killed: recovery (first 202 after the restart) took %v", l.first202.Sub(l.resetAt).Round(10*time.Millisecond))
	h.report(t, "nats-server SIGKILL", accepted, statuses, runLog, 90*time.Second)
}

// TestClusterPostgresUnreachable cuts the cluster off PostgreSQL under
// load (through a proxy: connections reset, new ones refused) and lets it
// back: what needs the store meanwhile gets 503; accepted work waits in
// NATS and is recorded once the store is back.
func TestClusterPostgresUnreachable(t *testing.T) {
	h := newCluster(t, testenv.MustHaveNATS(t))
	direct := h.store
	u, _ := url.Parse(direct)
	proxy := startProxy(t, u.Host)
	u.Host = proxy.addr
	h.store = u.String()
	c1 := h.controller("c1")
	h.invoker("i1")
	h.waitMembers("invokers", "i1")
	a := c1.api(t)
	runLog := filepath.Join(h.dir, "runs.log")
	a.putAction("work", "nodejs:20", slowCode, nil)
	params := func(i int) map[string]any { return map[string]any{"i": i, "log": runLog, "sleep": 20} }

	l := startLoad([]string{a.base}, []string{"work"}, 3, 100*time.Millisecond, params)
	time.Sleep(1500 * time.Millisecond)
	proxy.down()
	time.Sleep(6 * time.Second) // past the authentication cache's 5 s
	r := a.do("GET", "/api/v1/namespaces/_/activations?limit=5", nil)
	if r.status != 503 {
		t.Errorf("listing activations with the store unreachable: %d %s", r.status, r.body)
	}
	if status, body := get(t, "http://"+c1.addr+"/readyz"); status != 503 {
		t.Errorf("/readyz with the store unreachable: %d %s", status, body)
	}
	proxy.up(t)
	l.markRecovery()
	time.Sleep(2 * time.Second)
	l.halt()
	accepted, statuses := l.snapshot()
	for status := range statuses {
		if status != 202 && status != 503 {
			t.Errorf("status %d (%d times) around the store outage, want only 202 and 503", status, statuses[status])
		}
	}
	h.store = direct
	h.report(t, "PostgreSQL unreachable", accepted, statuses, runLog, 90*time.Second)
	a.mustStatus(a.do("GET", "/api/v1/namespaces/_/activations?limit=5", nil), 200)
}
