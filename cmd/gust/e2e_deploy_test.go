package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gustfaas/gust/internal/whisk"
)

const deployManifest = `project:
  name: demo
  packages:
    demo:
      inputs:
        greeting: Hello
        who: $DEPLOY_WHO
      actions:
        greet:
          function: src/greet.js
          runtime: nodejs:default
          inputs:
            name:
              type: string
              description: who to greet
              default: world
          limits:
            timeout: 5000
            memorySize: 128
          annotations:
            description: greets someone
        shout:
          function: src/shout.py
          web-export: true
        zipped:
          function: src/zipped
      sequences:
        pipeline:
          actions: greet, shout
      triggers:
        everyMinute:
          feed: /whisk.system/alarms/interval
          inputs:
            minutes: 1
      rules:
        onMinute:
          trigger: everyMinute
          action: pipeline
      apis:
        demo-api:
          demo:
            shout:
              shout:
                method: POST
                response: json
`

const deployGreetJS = `function main(params) {
  console.log('greeting', params.name)
  return { greeting: params.greeting + ' ' + params.name, who: params.who }
}
`

const deployShoutPy = `def main(args):
    return {"shout": args.get("greeting", "").upper()}
`

// planOf runs gust deploy (or undeploy) -o json and returns op → names.
func planOf(t *testing.T, args ...string) map[string][]string {
	t.Helper()
	out, errOut, code := runCLI(t, append(args, "-o", "json")...)
	if code != 0 {
		t.Fatalf("gust %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
	}
	var raw struct {
		Project string `json:"project"`
		Changes []struct {
			Op, Kind, Name string
			Changes        []string
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("plan %q: %v", out, err)
	}
	ops := map[string][]string{}
	for _, c := range raw.Changes {
		s := c.Kind + " " + c.Name
		if len(c.Changes) > 0 {
			s += " (" + strings.Join(c.Changes, ",") + ")"
		}
		ops[c.Op] = append(ops[c.Op], s)
	}
	for _, v := range ops {
		sort.Strings(v)
	}
	return ops
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeployManifest deploys a wskdeploy manifest with every kind of entity
// against a real server, then changes it step by step.
func TestDeployManifest(t *testing.T) {
	ts := startTestServer(t)
	clearClientEnv(t)
	t.Setenv("WSK_CONFIG_FILE", filepath.Join(t.TempDir(), "wskprops"))
	t.Setenv("GUST_APIHOST", ts.base)
	t.Setenv("GUST_AUTH", ts.key.String())
	t.Setenv("NO_COLOR", "1")
	t.Setenv("DEPLOY_WHO", "env-who")

	dir := t.TempDir()
	manifest := filepath.Join(dir, "manifest.yaml")
	zippedAction := "        zipped:\n          function: src/zipped\n"
	writeFiles(t, dir, map[string]string{
		"src/greet.js":            deployGreetJS,
		"src/shout.py":            deployShoutPy,
		"src/zipped/package.json": `{"name": "zipped", "main": "main.js"}`,
		"src/zipped/main.js":      "exports.main = () => ({ zipped: true })\n",
	})
	full := deployManifest
	if err := os.WriteFile(manifest, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}

	all := []string{"action demo/greet", "action demo/shout", "action demo/zipped", "api /demo/shout POST",
		"package demo", "rule onMinute", "sequence demo/pipeline", "trigger everyMinute"}

	// --dry-run first: the plan, and nothing made.
	if ops := planOf(t, "deploy", "-f", manifest, "--dry-run"); strings.Join(ops[opCreate], "|") != strings.Join(all, "|") || len(ops) != 1 {
		t.Fatalf("dry-run plan %v", ops)
	}
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/packages/demo", nil), 404)

	if ops := planOf(t, "deploy", "-f", manifest); strings.Join(ops[opCreate], "|") != strings.Join(all, "|") || len(ops) != 1 {
		t.Fatalf("first deploy plan %v", ops)
	}

	// Everything exists and works.
	invoke := func(name string) map[string]any {
		t.Helper()
		r := ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/actions/"+name+"?blocking=true&result=true", map[string]any{}), 200)
		return r.object(t)
	}
	if got := invoke("demo/pipeline"); got["shout"] != "HELLO WORLD" {
		t.Fatalf("pipeline: %v", got)
	}
	if got := invoke("demo/greet"); got["who"] != "env-who" {
		t.Fatalf("greet ($ENV input of the package): %v", got)
	}
	if got := invoke("demo/zipped"); got["zipped"] != true {
		t.Fatalf("zipped: %v", got)
	}
	var greet whisk.Action
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/actions/demo/greet", nil), 200).json(t, &greet)
	if greet.Limits.Timeout != 5000 || greet.Limits.Memory != 128 || greet.Annotations.Get("description") == nil ||
		!strings.Contains(string(greet.Annotations.Get(annotManaged)), `"projectName":"demo"`) {
		t.Fatalf("greet: %+v", greet)
	}
	var shout whisk.Action
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/actions/demo/shout", nil), 200).json(t, &shout)
	if !shout.Annotations.IsTruthy(annotWebExport) {
		t.Fatalf("shout is not a web action: %v", shout.Annotations)
	}
	var trig whisk.Trigger
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/triggers/everyMinute", nil), 200).json(t, &trig)
	if feed, _ := trig.Annotations.GetString("feed"); feed != "/whisk.system/alarms/interval" || len(trig.Rules) != 1 {
		t.Fatalf("trigger: %+v", trig)
	}
	if r := ts.feedOK("interval", "READ", "everyMinute", nil); r["config"] == nil {
		t.Fatalf("the alarms feed does not know the trigger: %v", r)
	}
	out, errOut, code := runCLI(t, "api", "list", "/demo")
	if code != 0 || !strings.Contains(out, "/demo/shout") {
		t.Fatalf("api list: %d %s %s", code, out, errOut)
	}

	versions := func() map[string]string {
		v := map[string]string{}
		for _, p := range []string{"packages/demo", "actions/demo/greet", "actions/demo/shout", "actions/demo/zipped",
			"actions/demo/pipeline", "triggers/everyMinute", "rules/onMinute"} {
			var e struct{ Version string }
			ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/"+p, nil), 200).json(t, &e)
			v[p] = e.Version
		}
		return v
	}
	before := versions()

	// Unchanged: nothing to do, no version bumped.
	if ops := planOf(t, "deploy", "-f", manifest); len(ops) != 1 || len(ops[opUnchanged]) != len(all) {
		t.Fatalf("redeploy plan %v", ops)
	}
	if after := versions(); !equalMaps(before, after) {
		t.Fatalf("versions changed: %v → %v", before, after)
	}
	out, _, _ = runCLI(t, "deploy", "-f", manifest)
	if !strings.Contains(out, "0 to create, 0 to update, 0 to delete, 8 unchanged") || !strings.Contains(out, "is up to date") {
		t.Fatalf("table plan:\n%s", out)
	}

	// One action's code changes: exactly one update.
	writeFiles(t, dir, map[string]string{"src/greet.js": strings.Replace(deployGreetJS, "' ' + params.name", "' there ' + params.name", 1)})
	ops := planOf(t, "deploy", "-f", manifest)
	if strings.Join(ops[opUpdate], "|") != "action demo/greet (code)" || len(ops[opUnchanged]) != len(all)-1 || len(ops) != 2 {
		t.Fatalf("code change plan %v", ops)
	}
	if got := invoke("demo/pipeline"); got["shout"] != "HELLO THERE WORLD" {
		t.Fatalf("pipeline after the change: %v", got)
	}

	// A feed input changes: the feed is told DELETE then CREATE, and the
	// trigger keeps its rule.
	full = strings.Replace(full, "minutes: 1", "minutes: 2", 1)
	if err := os.WriteFile(manifest, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	if ops := planOf(t, "deploy", "-f", manifest); strings.Join(ops[opUpdate], "|") != "trigger everyMinute (annotations)" {
		t.Fatalf("feed input plan %v", ops)
	}
	if cfg, _ := ts.feedOK("interval", "READ", "everyMinute", nil)["config"].(map[string]any); cfg["minutes"] != 2.0 {
		t.Fatalf("the feed has %v", cfg)
	}
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/triggers/everyMinute", nil), 200).json(t, &trig)
	if len(trig.Rules) != 1 {
		t.Fatalf("the trigger lost its rule: %+v", trig)
	}

	// --dry-run of a change changes nothing.
	writeFiles(t, dir, map[string]string{"src/shout.py": strings.Replace(deployShoutPy, ".upper()", ".lower()", 1)})
	if ops := planOf(t, "deploy", "-f", manifest, "--dry-run"); strings.Join(ops[opUpdate], "|") != "action demo/shout (code)" {
		t.Fatalf("dry-run plan %v", ops)
	}
	if got := invoke("demo/pipeline"); got["shout"] != "HELLO THERE WORLD" {
		t.Fatalf("--dry-run changed the action: %v", got)
	}
	writeFiles(t, dir, map[string]string{"src/shout.py": deployShoutPy})

	// An action removed from the manifest is deleted.
	if err := os.WriteFile(manifest, []byte(strings.Replace(full, zippedAction, "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if ops := planOf(t, "deploy", "-f", manifest); strings.Join(ops[opDelete], "|") != "action demo/zipped" || len(ops) != 2 {
		t.Fatalf("removal plan %v", ops)
	}
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/actions/demo/zipped", nil), 404)

	// Undeploy deletes all the project made, and takes the trigger off its feed.
	ops = planOf(t, "undeploy", "-f", manifest)
	if len(ops[opDelete]) != len(all)-1 || len(ops) != 1 {
		t.Fatalf("undeploy plan %v", ops)
	}
	for _, p := range []string{"packages/demo", "actions/demo/greet", "actions/demo/pipeline", "triggers/everyMinute", "rules/onMinute"} {
		ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/"+p, nil), 404)
	}
	if status, act := ts.feed("interval", "READ", "everyMinute", nil); status == 200 {
		t.Fatalf("the feed still has the trigger: %s", act.Response.Result)
	}
	out, _, _ = runCLI(t, "api", "list", "-o", "json")
	if strings.Contains(out, "/demo") {
		t.Fatalf("the API is left: %s", out)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestDeployNewScaffold deploys the manifest `gust new nodejs hello` writes.
func TestDeployNewScaffold(t *testing.T) {
	ts := startTestServer(t)
	clearClientEnv(t)
	t.Setenv("WSK_CONFIG_FILE", filepath.Join(t.TempDir(), "wskprops"))
	t.Setenv("GUST_APIHOST", ts.base)
	t.Setenv("GUST_AUTH", ts.key.String())
	t.Setenv("NO_COLOR", "1")
	dir := filepath.Join(t.TempDir(), "hello")
	if out, errOut, code := runCLI(t, "new", "nodejs", "hello", "--dir", dir); code != 0 {
		t.Fatalf("gust new: %s %s", out, errOut)
	}
	manifest := filepath.Join(dir, "manifest.yaml")
	if ops := planOf(t, "deploy", "-f", manifest); strings.Join(ops[opCreate], "|") != "action hello" {
		t.Fatalf("plan %v", ops)
	}
	r := ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/actions/hello?blocking=true&result=true", map[string]any{}), 200).object(t)
	if r["greeting"] != "Hello, world!" {
		t.Fatalf("hello: %v", r)
	}
	if ops := planOf(t, "deploy", "-f", manifest); strings.Join(ops[opUnchanged], "|") != "action hello" {
		t.Fatalf("second plan %v", ops)
	}
	if ops := planOf(t, "undeploy", "-f", manifest); strings.Join(ops[opDelete], "|") != "action hello" {
		t.Fatalf("undeploy plan %v", ops)
	}
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/actions/hello", nil), 404)
}
