package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestTriggerRuleCLI drives `gust trigger` and `gust rule` against a real
// server, as wsk's users type them.
func TestTriggerRuleCLI(t *testing.T) {
	ts := startTestServer(t)
	clearClientEnv(t)
	t.Setenv("WSK_CONFIG_FILE", filepath.Join(t.TempDir(), "wskprops"))
	t.Setenv("GUST_APIHOST", ts.base)
	t.Setenv("GUST_AUTH", ts.key.String())
	t.Setenv("NO_COLOR", "1")
	ts.putAction("echo", "python:3.11", echoPy, nil)

	steps := []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{args: []string{"trigger", "create", "events", "-p", "source", "cli", "-a", "description", "things happen"}, stdout: "ok: created trigger events\n"},
		{args: []string{"trigger", "create", "events"}, code: exitFailed, stderr: "hint: it exists already"},
		{args: []string{"trigger", "get", "events", "parameters"}, stdout: `"value": "cli"`},
		{args: []string{"trigger", "get", "events", "--summary"}, stdout: "trigger /guest/events: things happen\n   (parameters: *source)\n"},
		{args: []string{"trigger", "update", "events", "-p", "source", "updated"}, stdout: "ok: updated trigger events\n"},
		{args: []string{"trigger", "get", "events", "version", "-o", "json"}, stdout: `"0.0.2"`},
		{args: []string{"trigger", "fire", "events"}, stdout: "ok: triggered /_/events, but it has no active rule: nothing ran and nothing was recorded\n"},
		{args: []string{"rule", "create", "onEvent", "events", "echo"}, stdout: "ok: created rule onEvent\n"},
		{args: []string{"rule", "create", "broken", "nope", "echo"}, code: exitFailed, stderr: "trigger /guest/nope does not exist"},
		{args: []string{"rule", "status", "onEvent"}, stdout: "ok: rule onEvent is active\n"},
		{args: []string{"rule", "disable", "onEvent"}, stdout: "ok: disabled rule onEvent\n"},
		{args: []string{"rule", "list"}, stdout: "/guest/onEvent  private  inactive  /guest/events → /guest/echo"},
		{args: []string{"rule", "enable", "onEvent"}, stdout: "ok: enabled rule onEvent\n"},
		{args: []string{"rule", "get", "onEvent", "status"}, stdout: `"active"`},
		{args: []string{"trigger", "list"}, stdout: "triggers\n/guest/events  private\n"},
		{args: []string{"list"}, stdout: "triggers\n/guest/events  private\nrules\n/guest/onEvent  private  active"},
		{args: []string{"trigger", "get", "events", "rules"}, stdout: `"guest/onEvent"`},
	}
	for _, s := range steps {
		out, errOut, code := runCLI(t, s.args...)
		if code != s.code || !strings.Contains(out, s.stdout) || !strings.Contains(errOut, s.stderr) {
			t.Fatalf("gust %s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout containing %q and stderr containing %q",
				strings.Join(s.args, " "), code, s.code, out, errOut, s.stdout, s.stderr)
		}
	}

	out, errOut, code := runCLI(t, "trigger", "fire", "events", "-p", "n", "5")
	m := regexp.MustCompile(`^ok: triggered /_/events with id ([0-9a-f]{32})\n$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("fire: %d %q %q", code, out, errOut)
	}
	act := ts.waitActivation(m[1], 10*time.Second)
	logs := ruleLogs(t, act)
	if len(logs) != 1 || !logs[0].Success {
		t.Fatalf("fire logs %q", act.Logs)
	}
	got := resultOf(t, ts.waitActivation(logs[0].ActivationID, 30*time.Second))
	if got["n"] != 5.0 || got["source"] != "updated" {
		t.Fatalf("the action got %v", got)
	}
	// The trigger activation is an activation like the others.
	out, _, code = runCLI(t, "activation", "get", m[1], "-o", "json")
	var rec map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rec) != nil || rec["name"] != "events" {
		t.Fatalf("activation get: %d %s", code, out)
	}

	for _, s := range []struct{ args []string }{
		{[]string{"rule", "delete", "onEvent", "--disable"}},
		{[]string{"trigger", "delete", "events"}},
	} {
		if out, errOut, code := runCLI(t, s.args...); code != 0 || !strings.HasPrefix(out, "ok: deleted") {
			t.Fatalf("gust %s: %d %q %q", strings.Join(s.args, " "), code, out, errOut)
		}
	}
	if _, errOut, code := runCLI(t, "trigger", "get", "events"); code != exitFailed || !strings.Contains(errOut, "The requested resource does not exist.") {
		t.Fatalf("after delete: %d %q", code, errOut)
	}
	if out, _, code := runCLI(t, "rule", "list", "--count"); code != 0 || out != "0\n" {
		t.Fatalf("rule count %q", out)
	}
}
