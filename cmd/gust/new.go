package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/whisk"
)

// A scaffold is the files of a ready-to-deploy action of one runtime family,
// with a test that runs with that family's own tools and nothing else:
// node --test, python3 -m unittest, go test, sh.
type scaffold struct {
	family string
	files  map[string]string
	exec   string // the file that must be executable, if any
	test   string // the command that runs the scaffold's test, in its directory
	deploy string // what `gust action create NAME` takes: "." or a file, relative to the directory
	flags  string // extra flags for `gust action create`
	// manifestFunction and manifestExtra fill the wskdeploy manifest.
	manifestFunction string
	manifestExtra    string
}

// scaffoldFamilies maps what `gust new` accepts to a runtime family.
var scaffoldFamilies = map[string]string{
	"nodejs": "nodejs", "node": "nodejs", "js": "nodejs", "javascript": "nodejs",
	"python": "python", "py": "python",
	"go": "go", "golang": "go",
	"native": "native", "blackbox": "native", "exec": "native", "sh": "native",
}

func (a *app) newNewCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "new KIND NAME",
		Short: "Write a ready-to-deploy action with a test, for a runtime",
		Long: `Write a new action NAME in a directory (./NAME, or --dir): its code, a test that
runs locally with the runtime's own tools, a manifest.yaml in wskdeploy's
format and a README. KIND is a runtime family — nodejs, python, go or native
(an executable speaking the action loop) — or a kind such as nodejs:20 or
python:3.11, which the manifest then names. Existing files are never
overwritten.

  nodejs   index.js, package.json, index.test.js      (node --test)
  python   __main__.py, test_main.py                  (python3 -m unittest)
  go       main.go (func Main), go.mod, main_test.go  (go test)
  native   exec (a shell script), test.sh             (sh test.sh)`,
		Example: `  gust new nodejs hello
  gust new python:3.11 greeter --dir ./actions/greeter
  gust new go hello && cd hello && go test`,
		Args: argsBetween(2, 2, "a runtime kind and an action name are required, e.g. gust new nodejs hello"),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []string{"nodejs", "python", "go", "native"}, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name := strings.ToLower(strings.TrimSpace(args[0])), args[1]
			family, version, _ := strings.Cut(kind, ":")
			family = scaffoldFamilies[family]
			if family == "" {
				return usageError(cmd, "unknown runtime %q: use nodejs, python, go or native (optionally with a version, e.g. nodejs:20)", args[0])
			}
			if family == "native" && version != "" {
				return usageError(cmd, "a native action has no runtime version: use native")
			}
			if !whisk.ValidName(name) {
				return usageError(cmd, "%q is not a valid action name: letters, digits, '_', and inside the name also '@', '.', '-', '&' or spaces", name)
			}
			if dir == "" {
				dir = name
			}
			sc := newScaffold(family, version, name)
			if err := writeScaffold(dir, sc); err != nil {
				return &exitError{code: exitFailed, err: err, hint: "choose another directory with --dir"}
			}
			files := make([]string, 0, len(sc.files))
			for f := range sc.files {
				files = append(files, f)
			}
			sort.Strings(files)
			a.ok("created %s action %s in %s", family, a.bold(name), dir)
			fmt.Fprintf(a.stdout, "  %s\n\nNext:\n", strings.Join(files, ", "))
			t := newTable(a.stdout)
			t.row("  (cd "+shellQuote(dir)+" && "+sc.test+")", "# run its test")
			t.row("  gust action create "+shellQuote(name)+" "+shellQuote(filepath.Join(dir, sc.deploy))+sc.flags, "# deploy it")
			t.row("  gust action invoke "+shellQuote(name)+" -r -p name Ada", "# run it")
			t.row("  (cd "+shellQuote(dir)+" && wskdeploy -m manifest.yaml)", "# or deploy it with wskdeploy")
			if err := t.flush(); err != nil {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "write into `DIR` (default ./NAME)")
	return cmd
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./@:=+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeScaffold writes the files into dir, which may exist but must not hold
// any of them: nothing of the user's is overwritten, and nothing is written
// when one is in the way.
func writeScaffold(dir string, sc scaffold) error {
	for f := range sc.files {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return fmt.Errorf("%s exists already; gust new overwrites nothing", filepath.Join(dir, f))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for f, content := range sc.files {
		mode := os.FileMode(0o644)
		if f == sc.exec {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), mode); err != nil {
			return err
		}
	}
	return nil
}

// packageName turns an action name into a name npm and Go modules accept.
func packageName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-._")
	if s == "" {
		return "action"
	}
	return s
}

func newScaffold(family, version, name string) scaffold {
	runtime := family + ":default"
	if version != "" {
		runtime = family + ":" + version
	}
	var sc scaffold
	switch family {
	case "nodejs":
		sc = scaffold{files: map[string]string{
			"index.js":      nodeIndex,
			"index.test.js": nodeTest,
			"package.json":  nodePackage,
		}, test: "node --test", deploy: ".", manifestFunction: "."}
		if version != "" {
			sc.flags = " --kind " + runtime
		}
	case "python":
		sc = scaffold{files: map[string]string{
			"__main__.py":  pythonMain,
			"test_main.py": pythonTest,
		}, test: "python3 -m unittest -v", deploy: ".", manifestFunction: "."}
		if version != "" {
			sc.flags = " --kind " + runtime
		}
	case "go":
		sc = scaffold{files: map[string]string{
			"main.go":      goMain,
			"main_test.go": goTest,
			"go.mod":       goMod,
		}, test: "go test ./...", deploy: ".", manifestFunction: "."}
		if version != "" {
			sc.flags = " --kind " + runtime
		}
	case "native":
		runtime = whisk.KindBlackbox
		sc = scaffold{files: map[string]string{
			"exec":    nativeExec,
			"test.sh": nativeTest,
		}, exec: "exec", test: "sh test.sh", deploy: "exec", flags: " --native",
			manifestFunction: "exec", manifestExtra: "        docker: openwhisk/dockerskeleton\n"}
	}
	sc.family = family
	if family != "native" {
		sc.manifestExtra = "        runtime: " + runtime + "\n"
	}
	sc.files["manifest.yaml"] = manifestTemplate
	sc.files["README.md"] = readmeTemplate
	r := strings.NewReplacer(
		"{{NAME}}", name,
		"{{YAML_NAME}}", yamlString(name),
		"{{PKG}}", packageName(name),
		"{{FAMILY}}", family,
		"{{TEST}}", sc.test,
		"{{CREATE}}", "gust action create "+shellQuote(name)+" "+sc.deploy+sc.flags,
		"{{FUNCTION}}", sc.manifestFunction,
		"{{MANIFEST_EXTRA}}", sc.manifestExtra,
		"{{FILES}}", scaffoldFileList(family),
	)
	for f, content := range sc.files {
		sc.files[f] = r.Replace(content)
	}
	return sc
}

// yamlString quotes a name for YAML when plain text could read otherwise.
func yamlString(s string) string {
	if strings.ContainsAny(s, ":#&*!|>'\"%@` ") || s != strings.TrimSpace(s) {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return s
}

func scaffoldFileList(family string) string {
	switch family {
	case "nodejs":
		return "- `index.js`: the action; OpenWhisk calls its exported `main` with the parameters.\n" +
			"- `index.test.js`: its test, for `node --test` (Node.js 18 or later).\n" +
			"- `package.json`: names `index.js` as the entry point when the directory is deployed as a zip."
	case "python":
		return "- `__main__.py`: the action; OpenWhisk calls its `main` with the parameters.\n" +
			"- `test_main.py`: its test, for `python3 -m unittest`."
	case "go":
		return "- `main.go`: the action; OpenWhisk calls `Main` with the parameters (no `func main`: the\n" +
			"  runtime supplies the loop around it).\n" +
			"- `main_test.go`: its test, for `go test`.\n" +
			"- `go.mod`: the module, so that the directory builds and tests on its own."
	default:
		return "- `exec`: the action, an executable speaking OpenWhisk's action loop: one JSON request per line on\n" +
			"  stdin, one JSON result per line on file descriptor 3, logs on stdout and stderr.\n" +
			"- `test.sh`: its test, for `sh test.sh`."
	}
}

const manifestTemplate = `# wskdeploy manifest: wskdeploy -m manifest.yaml deploys the action to the
# namespace (the package "default" means no package).
packages:
  default:
    actions:
      {{YAML_NAME}}:
        function: {{FUNCTION}}
{{MANIFEST_EXTRA}}        inputs:
          name:
            type: string
            description: who to greet
            default: world
`

const readmeTemplate = "# {{NAME}}\n\n" +
	"A {{FAMILY}} action for Gust (and any OpenWhisk): it greets `name` and logs what it does.\n\n" +
	"{{FILES}}\n" +
	"- `manifest.yaml`: the action for `wskdeploy`.\n\n" +
	"Test it here, without a server:\n\n" +
	"```sh\n{{TEST}}\n```\n\n" +
	"Deploy and run it (from this directory):\n\n" +
	"```sh\n{{CREATE}}\n" +
	"gust action invoke {{NAME}} -r -p name Ada\n" +
	"gust activation logs --last\n" +
	"```\n\n" +
	"After a change: `gust action update` with the same arguments. The same commands work with `wsk`.\n"

const nodeIndex = `// {{NAME}}: an action. OpenWhisk calls main with the invocation's parameters
// (an object); it returns the result, an object (or a Promise of one).
// What it prints is the activation's log: gust activation logs --last.
function main(params) {
  const name = params.name || 'world'
  console.log('greeting', name)
  return { greeting: ` + "`Hello, ${name}!`" + ` }
}

exports.main = main
`

const nodeTest = `// Run with: node --test
const test = require('node:test')
const assert = require('node:assert')
const { main } = require('./index.js')

test('greets by name', async () => {
  assert.deepStrictEqual(await main({ name: 'Ada' }), { greeting: 'Hello, Ada!' })
})

test('greets the world without a name', async () => {
  assert.deepStrictEqual(await main({}), { greeting: 'Hello, world!' })
})
`

const nodePackage = `{
  "name": "{{PKG}}",
  "version": "0.0.1",
  "private": true,
  "description": "{{NAME}}: an OpenWhisk action",
  "main": "index.js",
  "scripts": {
    "test": "node --test"
  }
}
`

const pythonMain = `"""{{NAME}}: an action. OpenWhisk calls main with the invocation's parameters
(a dict); it returns the result, a dict. What it prints is the activation's
log: gust activation logs --last."""


def main(args):
    name = args.get("name", "world")
    print("greeting", name)
    return {"greeting": f"Hello, {name}!"}
`

const pythonTest = `"""Run with: python3 -m unittest"""
import importlib.util
import pathlib
import unittest

# __main__.py cannot be imported by name (the test runner is __main__).
_spec = importlib.util.spec_from_file_location(
    "action", pathlib.Path(__file__).with_name("__main__.py"))
action = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(action)


class MainTest(unittest.TestCase):
    def test_greets_by_name(self):
        self.assertEqual(action.main({"name": "Ada"}), {"greeting": "Hello, Ada!"})

    def test_greets_the_world_without_a_name(self):
        self.assertEqual(action.main({}), {"greeting": "Hello, world!"})


if __name__ == "__main__":
    unittest.main()
`

const goMain = `// Package main is {{NAME}}: an action. OpenWhisk calls Main with the
// invocation's parameters; it returns the result. What it prints is the
// activation's log: gust activation logs --last. There is no func main: the
// runtime supplies the loop that calls Main.
package main

import "fmt"

// Main greets params["name"].
func Main(params map[string]interface{}) map[string]interface{} {
	name, ok := params["name"].(string)
	if !ok || name == "" {
		name = "world"
	}
	fmt.Println("greeting", name)
	return map[string]interface{}{"greeting": "Hello, " + name + "!"}
}
`

const goTest = `package main

import (
	"reflect"
	"testing"
)

func TestMainGreets(t *testing.T) {
	for _, c := range []struct {
		params map[string]interface{}
		want   string
	}{
		{map[string]interface{}{"name": "Ada"}, "Hello, Ada!"},
		{map[string]interface{}{}, "Hello, world!"},
	} {
		got := Main(c.params)
		if want := map[string]interface{}{"greeting": c.want}; !reflect.DeepEqual(got, want) {
			t.Errorf("Main(%v) = %v, want %v", c.params, got, want)
		}
	}
}
`

const goMod = `module {{PKG}}

go 1.21
`

// The native scaffold is POSIX sh with sed: it runs wherever the action loop
// runs, with nothing to build. A real action would use a JSON tool or a
// compiled program; the loop is the same.
const nativeExec = `#!/bin/sh
# {{NAME}}: a native action. It speaks OpenWhisk's action loop: each request
# is one JSON line on stdin ({"value": {parameters}, "activation_id": ...}),
# and each result is one JSON line written to file descriptor 3. What it
# prints on stdout and stderr is the activation's log.
while IFS= read -r line; do
  name=$(printf '%s\n' "$line" | sed -n 's/.*"value" *: *{[^}]*"name" *: *"\([^"\\]*\)".*/\1/p')
  [ -n "$name" ] || name=world
  echo "greeting $name"
  printf '{"greeting":"Hello, %s!"}\n' "$name" >&3
done
`

const nativeTest = `#!/bin/sh
# Run with: sh test.sh
# Feeds exec two requests as the platform would and checks its results.
set -eu
cd "$(dirname "$0")"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
printf '%s\n' '{"value":{"name":"Ada"},"activation_id":"1"}' '{"value":{},"activation_id":"2"}' |
  ./exec 3>"$out" >/dev/null
expected='{"greeting":"Hello, Ada!"}
{"greeting":"Hello, world!"}'
if [ "$(cat "$out")" != "$expected" ]; then
  echo "FAIL: exec answered:"; cat "$out"; exit 1
fi
echo "ok: exec answers as expected"
`
