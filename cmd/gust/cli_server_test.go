package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIAgainstServer drives the client commands, in-process, against a real
// server started by startTestServer: what the CLI sends must be what the API
// takes, and what the API answers must be what the CLI reads.
func TestCLIAgainstServer(t *testing.T) {
	ts := startTestServer(t)
	clearClientEnv(t)
	t.Setenv("WSK_CONFIG_FILE", filepath.Join(t.TempDir(), "wskprops"))
	t.Setenv("GUST_APIHOST", ts.base)
	t.Setenv("GUST_AUTH", ts.key.String())
	t.Setenv("NO_COLOR", "1")
	dir := t.TempDir()
	js := filepath.Join(dir, "hello.js")
	py := filepath.Join(dir, "fail.py")
	if err := os.WriteFile(js, []byte(`function main(p) { console.log("hi " + p.name); return {greeting: "Hello " + p.name} }`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(py, []byte("def main(a):\n    return {'error': 'boom'}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		args   []string
		code   int
		stdout string // a fragment of stdout
		stderr string // a fragment of stderr
	}{
		{args: []string{"namespace", "list"}, stdout: "namespaces\nguest\n"},
		{args: []string{"namespace", "get"}, stdout: "namespace guest\n"},
		{args: []string{"action", "create", "hello", js, "-p", "name", "Ada"}, stdout: "ok: created action hello\n"},
		{args: []string{"action", "create", "hello", js}, code: exitFailed, stderr: "hint: it exists already"},
		{args: []string{"action", "update", "hello", "-m", "128", "-a", "description", "greets"}, stdout: "ok: updated action hello\n"},
		{args: []string{"action", "list"}, stdout: "/guest/hello  private  nodejs:"},
		{args: []string{"action", "get", "hello", "limits", "-o", "yaml"}, stdout: "memory: 128\n"},
		{args: []string{"action", "get", "hello", "--summary"}, stdout: "action /guest/hello: greets\n   (parameters: *name)\n"},
		{args: []string{"action", "invoke", "hello", "-r"}, stdout: "\"greeting\": \"Hello Ada\""},
		{args: []string{"action", "invoke", "hello", "-b", "-p", "name", "Bob"}, stdout: "ok: invoked /guest/hello with id "},
		{args: []string{"action", "create", "fail", py}, stdout: "ok: created action fail\n"},
		{args: []string{"action", "invoke", "fail", "-r"}, code: exitActionError, stderr: `"error": "boom"`},
		{args: []string{"action", "create", "twice", "--sequence", "hello,hello"}, stdout: "ok: created action twice\n"},
		{args: []string{"activation", "list", "fail"}, stdout: "application error"},
		{args: []string{"activation", "result", "--last"}, stdout: `"error": "boom"`},
		// Non-blocking only now: its record, written whenever it runs, must
		// not race the --last above.
		{args: []string{"action", "invoke", "hello"}, stdout: "ok: invoked /_/hello with id "},
		{args: []string{"list"}, stdout: "Entities in namespace: guest\npackages\nactions\n"},
		{args: []string{"action", "delete", "hello"}, stdout: "ok: deleted action hello\n"},
		{args: []string{"action", "invoke", "hello"}, code: exitFailed, stderr: "The requested resource does not exist."},
	}
	for _, s := range steps {
		out, errOut, code := runCLI(t, s.args...)
		if code != s.code || !strings.Contains(out, s.stdout) || !strings.Contains(errOut, s.stderr) {
			t.Fatalf("gust %s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout containing %q and stderr containing %q",
				strings.Join(s.args, " "), code, s.code, out, errOut, s.stdout, s.stderr)
		}
	}

	// Logs of the blocking invocation with Bob, found by polling: records are
	// written asynchronously.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _, _ := runCLI(t, "activation", "list", "hello", "-f")
		if strings.Contains(out, "stdout: hi Bob") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no activation with the log line \"hi Bob\":\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAdminWhileServing makes a tenant with `gust admin` while the server
// runs on the same data directory, uses its key, rotates it, and sees the old
// key refused once the server's authentication cache expires.
func TestAdminWhileServing(t *testing.T) {
	ts := startTestServer(t)
	dir := ts.srv.cfg.DataDir
	clearClientEnv(t)
	t.Setenv("WSK_CONFIG_FILE", filepath.Join(t.TempDir(), "wskprops"))
	t.Setenv("GUST_APIHOST", ts.base)

	out, errOut, code := runCLI(t, "admin", "namespace", "create", "alice", "--data", dir)
	if code != 0 {
		t.Fatalf("create: exit %d %s", code, errOut)
	}
	t.Setenv("GUST_AUTH", strings.TrimSpace(out))
	if out, errOut, code = runCLI(t, "namespace", "list"); code != 0 || out != "namespaces\nalice\n" {
		t.Fatalf("new key: exit %d %q %q", code, out, errOut)
	}
	if _, errOut, code = runCLI(t, "admin", "key", "rotate", "alice", "--data", dir); code != 0 {
		t.Fatalf("rotate: exit %d %s", code, errOut)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, errOut, code = runCLI(t, "namespace", "list")
		if code == exitFailed && strings.Contains(errOut, "hint: the API key was rejected") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old key still works 30 s after rotation: exit %d %q", code, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
