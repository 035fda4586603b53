package runtimes_test

import (
	"strings"
	"testing"
)

func TestPython(t *testing.T) {
	rt := lookup(t, "python")
	d := newDriver(t)
	kind := rt.Kind()
	if !rt.StemCell() || rt.SupportsConcurrency() {
		t.Fatalf("python: stem cell %v, concurrency %v", rt.StemCell(), rt.SupportsConcurrency())
	}

	t.Run("HelloLogsWarm", func(t *testing.T) {
		a := start(t, d, rt, sourceExec(kind, `
import sys
calls = 0

def main(args):
    global calls
    calls += 1
    print("hello", args.get("name"))
    print("to stderr", file=sys.stderr)
    print("no newline", end="")
    return {"greeting": "Hello " + args.get("name"), "calls": calls}
`), startOpts{})
		mustInit(t, a)
		r := a.run(t, `{"name":"Ada"}`)
		wantJSON(t, r, `{"greeting":"Hello Ada","calls":1}`)
		if got := logTexts(r, "stdout"); len(got) != 2 || got[0] != "hello Ada" || got[1] != "no newline" {
			t.Errorf("stdout = %q", got)
		}
		if got := logTexts(r, "stderr"); len(got) != 1 || got[0] != "to stderr" {
			t.Errorf("stderr = %q", got)
		}
		wantJSON(t, a.run(t, `{"name":"Bob"}`), `{"greeting":"Hello Bob","calls":2}`)
	})

	t.Run("MainNameAndGuard", func(t *testing.T) {
		e := sourceExec(kind, `
def hello(args):
    return {"hi": True}

if __name__ == "__main__":
    raise SystemExit("must not run at init")
`)
		e.Main = "hello"
		a := start(t, d, rt, e, startOpts{})
		mustInit(t, a)
		wantJSON(t, a.run(t, `null`), `{"hi":true}`)
	})

	t.Run("Errors", func(t *testing.T) {
		a := start(t, d, rt, sourceExec(kind, `
def main(args):
    op = args.get("op")
    if op == "raise":
        raise ValueError("boom")
    if op == "number":
        return 42
    if op == "none":
        return None
    if op == "list":
        return [1, 2]
    if op == "set":
        return {"s": {1}}
    return {"ok": True}
`), startOpts{})
		mustInit(t, a)
		r := a.run(t, `{"op":"raise"}`)
		if got := errorOf(t, r); got != "boom" {
			t.Errorf("raise: %q", got)
		}
		if !hasLog(r, "stderr", "ValueError: boom") || !hasLog(r, "stderr", "Traceback") {
			t.Errorf("raise: no traceback in the logs: %v", logTexts(r, "stderr"))
		}
		for _, op := range []string{"number", "none"} {
			if got := errorOf(t, a.run(t, `{"op":"`+op+`"}`)); got != "The action did not return a dictionary or array." {
				t.Errorf("%s: %q", op, got)
			}
		}
		wantJSON(t, a.run(t, `{"op":"list"}`), `[1,2]`)
		if got := errorOf(t, a.run(t, `{"op":"set"}`)); !strings.HasPrefix(got, "An error has occurred: ") {
			t.Errorf("unserializable: %q", got)
		}
		wantJSON(t, a.run(t, `{}`), `{"ok":true}`)
	})

	t.Run("InitErrors", func(t *testing.T) {
		for name, c := range map[string]struct{ code, want string }{
			"syntax": {"def main(args)\n    return {}\n", "SyntaxError"},
			"nomain": {"def other(args):\n    return {}\n", "Action entrypoint 'main' is not a function."},
			"import": {"import no_such_module_xyz\n", "ModuleNotFoundError"},
			"nocode": {"", "Missing main/no code to execute."},
		} {
			t.Run(name, func(t *testing.T) {
				a := start(t, d, rt, sourceExec(kind, c.code), startOpts{})
				if msg := errorOf(t, a.init); !strings.Contains(msg, c.want) {
					t.Errorf("init error %q does not mention %q", msg, c.want)
				}
			})
		}
	})

	t.Run("Zip", func(t *testing.T) {
		e := zipExec(t, kind, map[string]string{
			"__main__.py": `
import helper
import venvdep

def main(args):
    with open("data.txt") as f:
        data = f.read().strip()
    return {"twice": helper.twice(args["n"]), "venv": venvdep.NAME, "data": data}
`,
			"helper.py": "def twice(n):\n    return 2 * n\n",
			"data.txt":  "from the zip\n",
			"virtualenv/lib/python3.11/site-packages/venvdep.py": "NAME = 'from the virtualenv'\n",
		})
		a := start(t, d, rt, e, startOpts{})
		mustInit(t, a)
		wantJSON(t, a.run(t, `{"n":21}`), `{"twice":42,"venv":"from the virtualenv","data":"from the zip"}`)
	})

	t.Run("ZipWithoutMain", func(t *testing.T) {
		a := start(t, d, rt, zipExec(t, kind, map[string]string{"other.py": "x = 1\n"}), startOpts{})
		if msg := errorOf(t, a.init); !strings.Contains(msg, "Zip file does not include mandatory files.") {
			t.Errorf("init error %q", msg)
		}
	})

	t.Run("Env", func(t *testing.T) {
		initEnv := map[string]string{"__OW_API_HOST": "https://gust.test", "MYPARAM": "init value"}
		a := start(t, d, rt, sourceExec(kind, `
import os

def main(args):
    e = os.environ
    return {"id": e.get("__OW_ACTIVATION_ID"), "ns": e.get("__OW_NAMESPACE"), "key": e.get("__OW_API_KEY"),
            "host": e.get("__OW_API_HOST"), "param": e.get("MYPARAM"), "leaked": e.get("PYENV_ROOT") or e.get("GOPATH")}
`), startOpts{initEnv: initEnv})
		mustInit(t, a)
		m := result(t, a.run(t, `{}`))
		if m["ns"] != "guest" || m["key"] != "uuid:key" || m["host"] != "https://gust.test" || m["param"] != "init value" ||
			m["leaked"] != nil || len(m["id"].(string)) != 32 {
			t.Errorf("env = %v", m)
		}
	})
}

func BenchmarkPythonWarmRun(b *testing.B) {
	rt := lookup(b, "python")
	a := start(b, newDriver(b), rt, sourceExec(rt.Kind(), "def main(args):\n    return args\n"), startOpts{})
	mustInit(b, a)
	benchWarm(b, a)
}

func BenchmarkPythonStemCellInit(b *testing.B) {
	benchStemCell(b, "python", "def main(args):\n    return args\n")
}
