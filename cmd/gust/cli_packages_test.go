package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIPackages drives the package verbs against a real server, the
// standard catalog included.
func TestCLIPackages(t *testing.T) {
	ts := startTestServer(t)
	clearClientEnv(t)
	t.Setenv("WSK_CONFIG_FILE", filepath.Join(t.TempDir(), "wskprops"))
	t.Setenv("GUST_APIHOST", ts.base)
	t.Setenv("GUST_AUTH", ts.key.String())
	t.Setenv("NO_COLOR", "1")
	js := filepath.Join(t.TempDir(), "where.js")
	if err := os.WriteFile(js, []byte(`function main(p) { return {region: p.region, team: p.team} }`), 0o644); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		args   []string
		code   int
		stdout string // a fragment of stdout
		stderr string // a fragment of stderr
	}{
		{args: []string{"package", "create", "tools", "-p", "region", "eu", "-a", "description", "Team tools"}, stdout: "ok: created package tools\n"},
		{args: []string{"package", "create", "tools"}, code: exitFailed, stderr: "hint: it exists already; `gust package update tools ...` changes it"},
		{args: []string{"package", "create", "default"}, code: exitFailed, stderr: "Package name 'default' is reserved."},
		{args: []string{"package", "update", "tools", "--shared", "maybe"}, code: exitUsage, stderr: "--shared takes yes or no"},
		{args: []string{"package", "update", "tools", "--shared", "yes"}, stdout: "ok: updated package tools\n"},
		{args: []string{"action", "create", "tools/where", js, "-p", "team", "core"}, stdout: "ok: created action tools/where\n"},
		{args: []string{"action", "create", "tools/changes", js, "-a", "feed", "true"}, stdout: "ok: created action tools/changes\n"},
		{args: []string{"package", "get", "tools", "--summary"}, stdout: "\n feed   /guest/tools/changes\n   (parameters: none defined)\n"},
		{args: []string{"package", "get", "tools", "--summary"},
			stdout: "package /guest/tools: Team tools\n   (parameters: *region)\n action /guest/tools/where\n   (parameters: none defined)\n"},
		{args: []string{"package", "get", "tools"}, stdout: "ok: got package tools\n{\n    \"namespace\": \"guest\""},
		{args: []string{"package", "get", "tools", "-o", "json"}, stdout: `"name": "where"`},
		{args: []string{"package", "list"}, stdout: "packages\n/guest/tools  shared\n"},
		{args: []string{"package", "bind", "tools", "mine", "-p", "region", "us"}, stdout: "ok: created binding mine\n"},
		{args: []string{"package", "list"}, stdout: "/guest/mine   private  binding to /guest/tools\n"},
		{args: []string{"package", "list", "--count"}, stdout: "2\n"},
		{args: []string{"action", "invoke", "mine/where", "-r"}, stdout: "\"region\": \"us\""},
		{args: []string{"action", "invoke", "tools/where", "-r"}, stdout: "\"region\": \"eu\""},
		{args: []string{"package", "bind", "nope", "x"}, code: exitFailed, stderr: "Binding references a package that does not exist."},
		{args: []string{"package", "bind", "mine", "x"}, code: exitFailed, stderr: "Cannot bind to another package binding."},
		{args: []string{"package", "delete", "tools"}, code: exitFailed,
			stderr: "Package not empty (contains 2 entities). Set force param or delete package contents."},
		{args: []string{"package", "delete", "tools", "--force"}, stdout: "ok: deleted package tools\n"},
		{args: []string{"action", "invoke", "mine/where", "-r"}, code: exitFailed, stderr: "The requested resource does not exist."},
		{args: []string{"package", "delete", "mine"}, stdout: "ok: deleted package mine\n"},
		{args: []string{"package", "get", "mine"}, code: exitFailed, stderr: "hint: `gust package list` shows the packages"},

		// The standard catalog, as OpenWhisk's tutorials use it.
		{args: []string{"package", "list", "/whisk.system"}, stdout: "/whisk.system/utils    shared\n"},
		{args: []string{"package", "get", "/whisk.system/samples", "--summary"},
			stdout: " action /whisk.system/samples/greeting: Returns a friendly greeting\n   (parameters: name, place)\n"},
		{args: []string{"action", "invoke", "/whisk.system/samples/greeting", "-r", "-p", "name", "Ada"}, stdout: "\"payload\": \"Hello, Ada from somewhere!\""},
		{args: []string{"package", "bind", "/whisk.system/samples", "valhallaSamples", "-p", "place", "Valhalla"}, stdout: "ok: created binding valhallaSamples\n"},
		{args: []string{"action", "invoke", "valhallaSamples/greeting", "-r", "-p", "name", "Odin"}, stdout: "\"payload\": \"Hello, Odin from Valhalla!\""},
		{args: []string{"action", "list", "/whisk.system/utils"}, stdout: "/whisk.system/utils/echo"},
		{args: []string{"list"}, stdout: "Entities in namespace: guest\npackages\n/guest/valhallaSamples  private  binding to /whisk.system/samples\nactions\n"},
		{args: []string{"list", "/whisk.system"}, stdout: "Entities in namespace: whisk.system\npackages\n"},
		{args: []string{"package", "delete", "/whisk.system/utils"}, code: exitFailed,
			stderr: "The supplied authentication is not authorized to access 'whisk.system/utils'."},
	}
	for _, s := range steps {
		out, errOut, code := runCLI(t, s.args...)
		if code != s.code || !strings.Contains(out, s.stdout) || !strings.Contains(errOut, s.stderr) {
			t.Fatalf("gust %s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout containing %q and stderr containing %q",
				strings.Join(s.args, " "), code, s.code, out, errOut, s.stdout, s.stderr)
		}
	}
	if out, _, _ := runCLI(t, "list", "/whisk.system"); strings.Contains(out, "actions") {
		t.Fatalf("another namespace's actions are not listed:\n%s", out)
	}
}
