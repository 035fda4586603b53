package runtimes_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/sandbox"
)

func TestNodeJS(t *testing.T) {
	rt := lookup(t, "nodejs")
	d := newDriver(t)
	kind := rt.Kind()
	if !rt.StemCell() || !rt.SupportsConcurrency() {
		t.Fatalf("nodejs: stem cell %v, concurrency %v", rt.StemCell(), rt.SupportsConcurrency())
	}

	t.Run("HelloLogsWarm", func(t *testing.T) {
		a := start(t, d, rt, sourceExec(kind, `
let calls = 0;
function main(params) {
  calls++;
  console.log('hello', params.name);
  console.error('to stderr');
  return { greeting: 'Hello ' + params.name, calls };
}`), startOpts{})
		mustInit(t, a)
		r := a.run(t, `{"name":"Ada"}`)
		wantJSON(t, r, `{"greeting":"Hello Ada","calls":1}`)
		if got := logTexts(r, "stdout"); len(got) != 1 || got[0] != "hello Ada" {
			t.Errorf("stdout = %q", got)
		}
		if got := logTexts(r, "stderr"); len(got) != 1 || got[0] != "to stderr" {
			t.Errorf("stderr = %q", got)
		}
		// The same process serves the next activation.
		wantJSON(t, a.run(t, `{"name":"Bob"}`), `{"greeting":"Hello Bob","calls":2}`)
	})

	t.Run("ExportStyles", func(t *testing.T) {
		for name, code := range map[string]string{
			"exports":        `exports.main = (p) => ({ style: 'exports', x: p.x });`,
			"module.exports": `module.exports = function (p) { return { style: 'module', x: p.x }; };`,
			"arrow":          `const main = (p) => ({ style: 'arrow', x: p.x });`,
			"esm":            `export function main(p) { return { style: 'esm', x: p.x }; }`,
			"require":        `const os = require('os'); function main(p) { return { style: typeof os.hostname(), x: p.x }; }`,
		} {
			t.Run(name, func(t *testing.T) {
				a := start(t, d, rt, sourceExec(kind, code), startOpts{})
				mustInit(t, a)
				m := result(t, a.run(t, `{"x":7}`))
				if m["x"] != float64(7) || m["style"] == nil {
					t.Errorf("result = %v", m)
				}
			})
		}
	})

	t.Run("MainName", func(t *testing.T) {
		e := sourceExec(kind, `function hello(p) { return { hi: true }; } function main() { return { hi: false }; }`)
		e.Main = "hello"
		a := start(t, d, rt, e, startOpts{})
		mustInit(t, a)
		wantJSON(t, a.run(t, `{}`), `{"hi":true}`)
	})

	t.Run("AsyncAndNullValue", func(t *testing.T) {
		a := start(t, d, rt, sourceExec(kind, `
async function main(p) {
  await new Promise((r) => setTimeout(r, 5));
  return { keys: Object.keys(p).length };
}`), startOpts{})
		mustInit(t, a)
		wantJSON(t, a.run(t, `null`), `{"keys":0}`)
	})

	t.Run("Errors", func(t *testing.T) {
		a := start(t, d, rt, sourceExec(kind, `
function main(p) {
  switch (p.op) {
    case 'throw': throw new Error('boom');
    case 'reject': return Promise.reject(new Error('nope'));
    case 'number': return 42;
    case 'undefined': return;
    case 'array': return [1, 2];
  }
  return { ok: true };
}`), startOpts{})
		mustInit(t, a)
		r := a.run(t, `{"op":"throw"}`)
		if got := errorOf(t, r); got != "An error has occurred: Error: boom" {
			t.Errorf("throw: %q", got)
		}
		if !hasLog(r, "stderr", "Error: boom") {
			t.Errorf("throw: the error is not in the logs: %v", r.Logs)
		}
		m := result(t, a.run(t, `{"op":"reject"}`))
		if e, _ := m["error"].(map[string]any); e["message"] != "nope" || e["name"] != "Error" {
			t.Errorf("reject: %v", m)
		}
		if got := errorOf(t, a.run(t, `{"op":"number"}`)); got != "The action did not return a dictionary." {
			t.Errorf("number: %q", got)
		}
		wantJSON(t, a.run(t, `{"op":"undefined"}`), `{}`)
		wantJSON(t, a.run(t, `{"op":"array"}`), `[1,2]`)
		// Still warm after all that.
		wantJSON(t, a.run(t, `{}`), `{"ok":true}`)
	})

	t.Run("InitErrors", func(t *testing.T) {
		for name, c := range map[string]struct{ code, want string }{
			"syntax": {`function main( {`, "SyntaxError"},
			"nomain": {`function other() {}`, "Action entrypoint 'main' is not a function."},
			"throws": {`throw new Error('at load');`, "Error: at load"},
			"nocode": {``, "Missing main/no code to execute."},
		} {
			t.Run(name, func(t *testing.T) {
				a := start(t, d, rt, sourceExec(kind, c.code), startOpts{})
				msg := errorOf(t, a.init)
				if !strings.Contains(msg, c.want) {
					t.Errorf("init error %q does not mention %q", msg, c.want)
				}
				if name != "nocode" && !strings.HasPrefix(msg, "Initialization has failed due to: ") {
					t.Errorf("init error %q", msg)
				}
			})
		}
	})

	t.Run("Zip", func(t *testing.T) {
		e := zipExec(t, kind, map[string]string{
			"package.json":              `{"name":"act","main":"lib/entry.js"}`,
			"lib/entry.js":              `const dep = require('dep'); const fs = require('fs'); exports.main = (p) => ({ dep: dep.twice(p.n), data: fs.readFileSync(__dirname + '/../data.txt', 'utf8').trim() });`,
			"node_modules/dep/index.js": `exports.twice = (n) => n * 2;`,
			"data.txt":                  "from the zip\n",
		})
		a := start(t, d, rt, e, startOpts{})
		mustInit(t, a)
		wantJSON(t, a.run(t, `{"n":21}`), `{"dep":42,"data":"from the zip"}`)
	})

	t.Run("ZipWithoutEntry", func(t *testing.T) {
		a := start(t, d, rt, zipExec(t, kind, map[string]string{"other.js": "exports.main = () => ({})"}), startOpts{})
		if msg := errorOf(t, a.init); !strings.Contains(msg, "package.json or index.js") {
			t.Errorf("init error %q", msg)
		}
	})

	t.Run("Env", func(t *testing.T) {
		initEnv := map[string]string{"__OW_API_HOST": "https://gust.test", "MYPARAM": "init value"}
		a := start(t, d, rt, sourceExec(kind, `
function main() {
  const e = process.env;
  return { id: e.__OW_ACTIVATION_ID, ns: e.__OW_NAMESPACE, name: e.__OW_ACTION_NAME, key: e.__OW_API_KEY,
           deadline: e.__OW_DEADLINE, host: e.__OW_API_HOST, param: e.MYPARAM, leaked: e.GOPATH || e.USER || null };
}`), startOpts{initEnv: initEnv})
		mustInit(t, a)
		r := a.run(t, `{}`)
		m := result(t, r)
		if m["ns"] != "guest" || m["name"] != "/guest/hello" || m["key"] != "uuid:key" || m["host"] != "https://gust.test" ||
			m["param"] != "init value" || m["leaked"] != nil || len(m["id"].(string)) != 32 || m["deadline"] == nil {
			t.Errorf("env = %v", m)
		}
	})

	t.Run("FloodAndTimeout", func(t *testing.T) {
		a := start(t, d, rt, sourceExec(kind, `
function main(p) {
  if (p.op === 'flood') { for (let i = 0; i < 20000; i++) console.log('line ' + i + ' of a function that prints far too much'); return { flooded: true }; }
  if (p.op === 'spin') { for (;;) {} }
  return { ok: true };
}`), startOpts{})
		mustInit(t, a)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, line := runLine(`{"op":"flood"}`)
		r, err := a.sb.Call(ctx, line, 16<<10)
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Line) != `{"flooded":true}` || !r.Truncated {
			t.Fatalf("flood: %s truncated=%v", r.Line, r.Truncated)
		}
		wantJSON(t, a.run(t, `{}`), `{"ok":true}`)
		r = a.runTimeout(t, `{"op":"spin"}`, 300*time.Millisecond)
		if !r.TimedOut {
			t.Fatalf("spin: %+v", r)
		}
		if r := a.run(t, `{}`); !r.Exited {
			t.Fatalf("after timeout: %+v", r)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		a := start(t, d, rt, sourceExec(kind, `
async function main(p) {
  await new Promise((r) => setTimeout(r, p.delay));
  return { delay: p.delay, id: p.id };
}`), startOpts{concurrent: true})
		mustInit(t, a)
		var wg sync.WaitGroup
		begin := time.Now()
		replies := make([]sandbox.Reply, 4)
		for i := range replies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				replies[i] = a.run(t, `{"delay":300,"id":`+string(rune('0'+i))+`}`)
			}()
		}
		wg.Wait()
		for i, r := range replies {
			m := result(t, r)
			if m["id"] != float64(i) {
				t.Errorf("call %d got %v", i, m)
			}
		}
		if el := time.Since(begin); el > 1100*time.Millisecond {
			t.Errorf("4 concurrent calls of 300 ms took %v: not concurrent", el)
		}
	})
}

func BenchmarkNodeJSWarmRun(b *testing.B) {
	rt := lookup(b, "nodejs")
	a := start(b, newDriver(b), rt, sourceExec(rt.Kind(), `function main(p) { return p; }`), startOpts{})
	mustInit(b, a)
	benchWarm(b, a)
}

func BenchmarkNodeJSStemCellInit(b *testing.B) {
	benchStemCell(b, "nodejs", `function main(p) { return p; }`)
}
