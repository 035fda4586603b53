package runtimes_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

const goHello = `package main

import (
	"fmt"
	"log"
	"os"
)

var calls int

func Main(args map[string]interface{}) map[string]interface{} {
	calls++
	switch args["op"] {
	case "panic":
		panic("boom")
	case "env":
		return map[string]interface{}{
			"id": os.Getenv("__OW_ACTIVATION_ID"), "ns": os.Getenv("__OW_NAMESPACE"), "key": os.Getenv("__OW_API_KEY"),
			"param": os.Getenv("MYPARAM"), "host": os.Getenv("__OW_API_HOST"), "leaked": os.Getenv("GOPATH"),
		}
	}
	fmt.Println("hello", args["name"])
	log.Println("to stderr")
	return map[string]interface{}{"greeting": fmt.Sprintf("Hello %v", args["name"]), "calls": calls}
}
`

func TestGo(t *testing.T) {
	rt := lookup(t, "go")
	d := newDriver(t)
	kind := rt.Kind()
	if rt.StemCell() {
		t.Fatal("go must not be a stem cell")
	}

	t.Run("HelloLogsEnvWarmPanic", func(t *testing.T) {
		prepared := t.TempDir()
		begin := time.Now()
		if err := rt.Prepare(context.Background(), sourceExec(kind, goHello), prepared); err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		t.Logf("compile: %v", time.Since(begin))
		initEnv := map[string]string{"__OW_API_HOST": "https://gust.test", "MYPARAM": "init value"}
		a := start(t, d, rt, nil, startOpts{prepared: prepared, initEnv: initEnv})
		r := a.run(t, `{"name":"Ada"}`)
		wantJSON(t, r, `{"greeting":"Hello Ada","calls":1}`)
		if got := logTexts(r, "stdout"); len(got) != 1 || got[0] != "hello Ada" {
			t.Errorf("stdout = %q", got)
		}
		if !hasLog(r, "stderr", "to stderr") {
			t.Errorf("stderr = %q", logTexts(r, "stderr"))
		}
		wantJSON(t, a.run(t, `{"name":"Bob"}`), `{"greeting":"Hello Bob","calls":2}`)

		m := result(t, a.run(t, `{"op":"env"}`))
		if m["ns"] != "guest" || m["key"] != "uuid:key" || m["param"] != "init value" || m["host"] != "https://gust.test" ||
			m["leaked"] != "" || len(m["id"].(string)) != 32 {
			t.Errorf("env = %v", m)
		}

		r = a.run(t, `{"op":"panic"}`)
		if got := errorOf(t, r); got != "An error has occurred: boom" {
			t.Errorf("panic: %q", got)
		}
		if !hasLog(r, "stderr", "panic: boom") {
			t.Errorf("panic not logged: %v", logTexts(r, "stderr"))
		}
		m = result(t, a.run(t, `{"name":"Cy"}`))
		if m["calls"] != float64(5) {
			t.Errorf("after a panic: %v", m)
		}
	})

	t.Run("MainNameAndScalar", func(t *testing.T) {
		e := sourceExec(kind, `package main

func Scalar(args map[string]any) any { return 42 }
`)
		e.Main = "scalar"
		a := start(t, d, rt, e, startOpts{})
		if got := errorOf(t, a.run(t, `{}`)); got != "The action did not return a dictionary or array." {
			t.Errorf("scalar: %q", got)
		}
	})

	t.Run("CompileError", func(t *testing.T) {
		err := rt.Prepare(context.Background(), sourceExec(kind, `package main

func Main(args map[string]interface{}) map[string]interface{} {
	return undefinedThing
}
`), t.TempDir())
		var we *whisk.Error
		if !errors.As(err, &we) || we.Code != whisk.CodeBadRequest {
			t.Fatalf("Prepare = %v, want a *whisk.Error with CodeBadRequest", err)
		}
		if !strings.Contains(we.Message, "undefined: undefinedThing") || !strings.Contains(we.Message, "action.go:4") {
			t.Errorf("message %q lacks the compiler's diagnostic", we.Message)
		}
	})

	t.Run("NoEntryPoint", func(t *testing.T) {
		err := rt.Prepare(context.Background(), sourceExec(kind, "package main\n\nfunc Other() {}\n"), t.TempDir())
		if whisk.CodeOf(err) != whisk.CodeBadRequest || !strings.Contains(err.Error(), "func Main(") {
			t.Fatalf("Prepare = %v", err)
		}
	})

	t.Run("ZipSources", func(t *testing.T) {
		e := zipExec(t, kind, map[string]string{
			"go.mod":         "module example.com/act\n\ngo 1.22\n",
			"main.go":        "package main\n\nimport \"example.com/act/greet\"\n\nfunc Main(args map[string]interface{}) map[string]interface{} {\n\treturn map[string]interface{}{\"msg\": greet.Hello(args[\"name\"].(string))}\n}\n",
			"greet/greet.go": "package greet\n\nfunc Hello(n string) string { return \"hi \" + n }\n",
		})
		a := start(t, d, rt, e, startOpts{})
		wantJSON(t, a.run(t, `{"name":"zip"}`), `{"msg":"hi zip"}`)
	})

	t.Run("ZipPrebuiltExec", func(t *testing.T) {
		// An exec built elsewhere runs its own loop: it acks, and prints no
		// sentinels, as openwhisk-runtime-go's launcher does.
		e := zipExec(t, kind, map[string]string{
			"exec": "#!/bin/sh\necho '{\"ok\":true}' >&3\nwhile read -r line; do echo \"prebuilt log\"; echo '{\"prebuilt\":true}' >&3; done\n",
		})
		a := start(t, d, rt, e, startOpts{})
		r := a.run(t, `{}`)
		wantJSON(t, r, `{"prebuilt":true}`)
		if got := logTexts(r, "stdout"); len(got) != 1 || got[0] != "prebuilt log" {
			t.Errorf("stdout = %q", got)
		}
	})
}

func TestGoConcurrent(t *testing.T) {
	rt := lookup(t, "go")
	a := start(t, newDriver(t), rt, sourceExec(rt.Kind(), `package main

import "time"

func Main(args map[string]interface{}) map[string]interface{} {
	time.Sleep(time.Duration(args["delay"].(float64)) * time.Millisecond)
	return map[string]interface{}{"id": args["id"]}
}
`), startOpts{concurrent: true, initEnv: map[string]string{"__OW_ALLOW_CONCURRENT": "true"}})
	var wg sync.WaitGroup
	begin := time.Now()
	ids := make([]any, 4)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = result(t, a.run(t, fmt.Sprintf(`{"delay":300,"id":%d}`, i)))["id"]
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if id != float64(i) {
			t.Errorf("call %d got id %v", i, id)
		}
	}
	if el := time.Since(begin); el > 1100*time.Millisecond {
		t.Errorf("4 concurrent calls of 300 ms took %v: not concurrent", el)
	}
}

func BenchmarkGoWarmRun(b *testing.B) {
	rt := lookup(b, "go")
	a := start(b, newDriver(b), rt, sourceExec(rt.Kind(), `package main

func Main(args map[string]interface{}) map[string]interface{} { return args }
`), startOpts{})
	benchWarm(b, a)
}

// BenchmarkGoCompile measures Prepare with a warm build cache: what creating
// or updating a Go action costs.
func BenchmarkGoCompile(b *testing.B) {
	rt := lookup(b, "go")
	for i := range b.N {
		code := goHello + "\nvar _ = " + strings.Repeat("1+", i%7) + "1\n"
		if err := rt.Prepare(context.Background(), sourceExec(rt.Kind(), code), b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGoColdStart measures start to ack of a compiled action.
func BenchmarkGoColdStart(b *testing.B) {
	rt := lookup(b, "go")
	prepared := b.TempDir()
	if err := rt.Prepare(context.Background(), sourceExec(rt.Kind(), goHello), prepared); err != nil {
		b.Fatal(err)
	}
	benchColdStart(b, rt, prepared)
}
