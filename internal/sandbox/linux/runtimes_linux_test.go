package linux_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/sandbox"
	"github.com/gustfaas/gust/internal/whisk"
)

// Gust's own runtimes, as the invoker starts them: nodejs and python stem
// cells with their launchers and the read-only paths they list, and a
// native action from the code cache inside the (hidden) data directory.
func TestGustRuntimes(t *testing.T) {
	f := sharedFixture(t)
	cacheDir, err := os.MkdirTemp("", "gust-linux-runtimes-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(cacheDir) })
	reg, err := runtimes.NewRegistry(runtimes.Config{CacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	start := func(t *testing.T, cmd runtimes.Command) sandbox.Sandbox {
		t.Helper()
		spec := f.spec(t)
		spec.Argv, spec.Env, spec.Dir, spec.ReadOnlyPaths, spec.NoSentinels = cmd.Argv, cmd.Env, cmd.Dir, cmd.ReadOnlyPaths, cmd.NoSentinels
		spec.MemoryMB = 256
		return f.start(t, spec)
	}
	call := func(t *testing.T, sb sandbox.Sandbox, line string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		r, err := sb.Call(ctx, []byte(line), 1<<20)
		if err != nil || r.Line == nil {
			t.Fatalf("%s: %+v %v", line, r, err)
		}
		return string(r.Line)
	}
	const run = `{"value":{"name":"sandbox"},"activation_id":"0123456789abcdef0123456789abcdef"}`
	for _, c := range []struct{ kind, code string }{
		{"nodejs:default", `function main(a) { return {hi: a.name, pid: process.pid} }`},
		{"python:default", "import os\ndef main(a):\n    return {'hi': a['name'], 'pid': os.getpid()}\n"},
	} {
		t.Run(c.kind, func(t *testing.T) {
			rt, ok := reg.Lookup(c.kind)
			if !ok {
				t.Skipf("no %s runtime here", c.kind)
			}
			sb := start(t, rt.Command("", nil))
			code := c.code
			if got := call(t, sb, string(rt.InitLine(&whisk.Exec{Kind: c.kind, Code: &code}, "hello", nil))); got != `{"ok":true}` {
				t.Fatalf("init: %s", got)
			}
			if got := call(t, sb, run); !strings.Contains(got, `"hi":"sandbox"`) || !strings.Contains(got, `"pid":1`) {
				t.Errorf("run: %s", got)
			}
		})
	}
	t.Run("native", func(t *testing.T) {
		rt, ok := reg.Lookup("blackbox")
		if !ok {
			t.Skip("no native runtime")
		}
		prepared := filepath.Join(f.data, "code", "native-"+strings.ReplaceAll(t.Name(), "/", "-"))
		if err := os.MkdirAll(prepared, 0o700); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(prepared) })
		code := "#!/bin/sh\nwhile read -r l; do echo \"{\\\"cwd\\\":\\\"$(pwd)\\\"}\" >&3; done\n"
		if err := rt.Prepare(context.Background(), &whisk.Exec{Kind: "blackbox", Code: &code}, prepared); err != nil {
			t.Fatal(err)
		}
		sb := start(t, rt.Command(prepared, nil))
		if got := call(t, sb, run); got != `{"cwd":"`+prepared+`"}` {
			t.Errorf("run: %s", got)
		}
	})
}
