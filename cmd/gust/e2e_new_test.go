package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestNewScaffolds writes each runtime's scaffold, runs the test it ships
// with the runtime's own tool, then follows the commands `gust new` printed:
// deploys it to a real server and invokes it.
func TestNewScaffolds(t *testing.T) {
	ts := startTestServer(t)
	useServer(t, ts.base, ts.key.String())
	root := t.TempDir()
	cases := []struct {
		kind, name string
		tool       string   // the toolchain the scaffold's own test needs
		files      []string // besides manifest.yaml and README.md
	}{
		{"nodejs", "hello-js", "node", []string{"index.js", "index.test.js", "package.json"}},
		{"python:3.11", "hello py", "python3", []string{"__main__.py", "test_main.py"}},
		{"go", "hello_go", "go", []string{"main.go", "main_test.go", "go.mod"}},
		{"native", "hello.sh", "sh", []string{"exec", "test.sh"}},
	}
	for _, c := range cases {
		t.Run(strings.SplitN(c.kind, ":", 2)[0], func(t *testing.T) {
			dir := filepath.Join(root, strings.ReplaceAll(c.name, " ", "_"))
			out, errOut, code := runCLI(t, "new", c.kind, c.name, "--dir", dir)
			if code != 0 || !strings.Contains(out, "ok: created ") {
				t.Fatalf("gust new: exit %d\n%s\n%s", code, out, errOut)
			}
			for _, f := range append(c.files, "manifest.yaml", "README.md") {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("missing %s: %v", f, err)
				}
			}
			checkManifest(t, dir, c.name)

			// The scaffold's own test, with the runtime's tool alone.
			testCmd := printedCommand(t, out, "# run its test")
			if _, err := exec.LookPath(c.tool); err != nil {
				t.Logf("not running %q: %s is not installed", testCmd, c.tool)
			} else {
				run := exec.Command("sh", "-c", testCmd)
				run.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-count=1")
				if b, err := run.CombinedOutput(); err != nil {
					t.Fatalf("%s: %v\n%s", testCmd, err, b)
				}
			}

			// Deploy and invoke with the printed commands.
			create := shellWords(t, printedCommand(t, out, "# deploy it"))
			if out, errOut, code := runCLI(t, create[1:]...); code != 0 || !strings.Contains(out, "ok: created action") {
				t.Fatalf("%v: exit %d\n%s\n%s", create, code, out, errOut)
			}
			invoke := shellWords(t, printedCommand(t, out, "# run it"))
			out, errOut, code = runCLI(t, invoke[1:]...)
			if code != 0 || !strings.Contains(out, `"greeting": "Hello, Ada!"`) {
				t.Fatalf("%v: exit %d\n%s\n%s", invoke, code, out, errOut)
			}
			// The record is listed once its batch is written, a moment later.
			deadline := time.Now().Add(10 * time.Second)
			for {
				logs, errOut, code := runCLI(t, "activation", "logs", "--last", c.name, "--strip")
				if code == 0 && strings.TrimSpace(logs) == "greeting Ada" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("logs: exit %d %q %s", code, logs, errOut)
				}
				time.Sleep(50 * time.Millisecond)
			}

			// A second run overwrites nothing.
			before, _ := os.ReadFile(filepath.Join(dir, c.files[0]))
			os.WriteFile(filepath.Join(dir, c.files[0]), append(before, "\n// edited\n"...), 0o644)
			if _, errOut, code := runCLI(t, "new", c.kind, c.name, "--dir", dir); code != exitFailed || !strings.Contains(errOut, "exists already") {
				t.Fatalf("second gust new: exit %d %s", code, errOut)
			}
			if after, _ := os.ReadFile(filepath.Join(dir, c.files[0])); !strings.HasSuffix(string(after), "// edited\n") {
				t.Fatal("gust new overwrote an edited file")
			}
		})
	}
}

func TestNewUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"new", "ruby", "x"}, `unknown runtime "ruby"`},
		{[]string{"new", "nodejs", "bad/name"}, `"bad/name" is not a valid action name`},
		{[]string{"new", "native:1", "x"}, "a native action has no runtime version"},
		{[]string{"new", "nodejs"}, "a runtime kind and an action name are required"},
	} {
		_, errOut, code := runCLI(t, append(c.args, "--dir", filepath.Join(dir, "x"))...)
		if code != exitUsage || !strings.Contains(errOut, c.msg) {
			t.Errorf("gust %v: exit %d %q, want usage error %q", c.args, code, errOut, c.msg)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused gust new wrote %v", entries)
	}
}

// printedCommand finds the line of `gust new`'s "Next:" list that ends
// with comment, without its indentation and comment.
func printedCommand(t *testing.T, out, comment string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasSuffix(l, comment) {
			return strings.TrimSpace(strings.TrimSuffix(l, comment))
		}
	}
	t.Fatalf("no command marked %q in:\n%s", comment, out)
	return ""
}

// shellWords splits a command line as sh would, for the quoting gust new
// uses (single quotes only).
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case quoted && r == '\'':
			quoted = false
		case quoted:
			cur.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quotes in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// checkManifest reads manifest.yaml as wskdeploy does: the action under the
// default package, its function present beside the manifest.
func checkManifest(t *testing.T, dir, name string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Packages map[string]struct {
			Actions map[string]struct {
				Function string                    `yaml:"function"`
				Runtime  string                    `yaml:"runtime"`
				Docker   string                    `yaml:"docker"`
				Inputs   map[string]map[string]any `yaml:"inputs"`
			} `yaml:"actions"`
		} `yaml:"packages"`
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest.yaml: %v\n%s", err, b)
	}
	a, ok := m.Packages["default"].Actions[name]
	if !ok || a.Function == "" || a.Runtime == "" && a.Docker == "" || a.Inputs["name"]["default"] != "world" {
		t.Fatalf("manifest.yaml lacks the action %q:\n%s", name, b)
	}
	if _, err := os.Stat(filepath.Join(dir, a.Function)); err != nil {
		t.Fatalf("manifest function %s: %v", a.Function, err)
	}
}
