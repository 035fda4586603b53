package runtimes_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// nativeLoop is an action-loop executable as OpenWhisk's docs show them: it
// parses nothing it does not need and prints no sentinels.
const nativeLoop = `#!/bin/sh
n=0
while IFS= read -r line; do
  n=$((n+1))
  echo "native log $n"
  echo "native err $n" >&2
  printf '{"n":%d,"param":"%s","data":"%s"}\n' "$n" "$MYPARAM" "$(cat data.txt 2>/dev/null)" >&3
done
`

func TestNative(t *testing.T) {
	rt, ok := registry(t).Lookup("blackbox")
	if !ok {
		t.Fatal("blackbox is always available")
	}
	d := newDriver(t)
	if rt.StemCell() || rt.SupportsConcurrency() {
		t.Fatalf("blackbox: stem cell %v, concurrency %v", rt.StemCell(), rt.SupportsConcurrency())
	}

	t.Run("Script", func(t *testing.T) {
		e := sourceExec("blackbox", nativeLoop)
		e.Image = "openwhisk/dockerskeleton"
		a := start(t, d, rt, e, startOpts{initEnv: map[string]string{"MYPARAM": "init value"}})
		r := a.run(t, `{}`)
		wantJSON(t, r, `{"n":1,"param":"init value","data":""}`)
		if got := logTexts(r, "stdout"); len(got) != 1 || got[0] != "native log 1" {
			t.Errorf("stdout = %q", got)
		}
		if got := logTexts(r, "stderr"); len(got) != 1 || got[0] != "native err 1" {
			t.Errorf("stderr = %q", got)
		}
		r = a.run(t, `{}`)
		wantJSON(t, r, `{"n":2,"param":"init value","data":""}`)
		if got := logTexts(r, "stdout"); len(got) != 1 || got[0] != "native log 2" {
			t.Errorf("second stdout = %q", got)
		}
	})

	t.Run("Zip", func(t *testing.T) {
		e := zipExec(t, "blackbox", map[string]string{"exec": nativeLoop, "data.txt": "zipped"})
		e.Image = "docker.io/openwhisk/dockerskeleton:1.14.0"
		a := start(t, d, rt, e, startOpts{})
		wantJSON(t, a.run(t, `{}`), `{"n":1,"param":"","data":"zipped"}`)
	})

	t.Run("PrepareErrors", func(t *testing.T) {
		for name, e := range map[string]*whisk.Exec{
			"no exec":    zipExec(t, "blackbox", map[string]string{"run.sh": nativeLoop}),
			"not exec":   sourceExec("blackbox", "echo hi"),
			"image":      {Kind: "blackbox", Image: "myrepo/myimage:latest", Code: sourceExec("", nativeLoop).Code},
			"no code":    {Kind: "blackbox", Image: "openwhisk/dockerskeleton"},
			"escape zip": zipExec(t, "blackbox", map[string]string{"../exec": nativeLoop}),
		} {
			err := rt.Prepare(context.Background(), e, t.TempDir())
			if whisk.CodeOf(err) != whisk.CodeBadRequest {
				t.Errorf("%s: Prepare = %v, want a 400", name, err)
			}
		}
	})
}

func TestRegistry(t *testing.T) {
	r := registry(t)
	kinds := r.Kinds()
	if len(kinds) == 0 || kinds[0] != "blackbox" {
		t.Fatalf("kinds = %v", kinds)
	}
	for _, k := range kinds {
		rt, ok := r.Lookup(k)
		if !ok || rt.Kind() != k {
			t.Errorf("Lookup(%q) = %v, %v", k, rt, ok)
		}
		if up, ok := r.Lookup("  " + strings.ToUpper(k) + " "); !ok || up != rt {
			t.Errorf("Lookup is not trimmed and case-blind for %q", k)
		}
		if def, ok := r.Lookup(rt.Family() + ":default"); !ok || def.Family() != rt.Family() {
			t.Errorf("no default for family %q", rt.Family())
		}
	}
	for _, bad := range []string{"java:8", "nodejs", "", "nodejs:"} {
		if _, ok := r.Lookup(bad); ok {
			t.Errorf("Lookup(%q) succeeded", bad)
		}
	}

	err := r.UnsupportedKindError("java:8")
	want := "The specified runtime 'java:8' is not supported by this platform. Valid values are: " + strings.Join(kinds, ", ") + "."
	if err.Code != whisk.CodeBadRequest || err.Message != want {
		t.Errorf("UnsupportedKindError = %d %q, want %q", err.Code, err.Message, want)
	}

	infos := r.Infos()
	if _, ok := infos["blackbox"]; ok {
		t.Error("blackbox listed among the language runtimes")
	}
	for family, list := range infos {
		defaults := 0
		for _, in := range list {
			if in.Default {
				defaults++
			}
			if !strings.HasPrefix(in.Kind, family+":") || in.Image == "" {
				t.Errorf("info %+v in family %s", in, family)
			}
		}
		if defaults != 1 {
			t.Errorf("family %s has %d defaults", family, defaults)
		}
	}

	code := nativeLoop
	for name, c := range map[string]struct {
		e  *whisk.Exec
		ok bool
	}{
		"unknown kind":   {&whisk.Exec{Kind: "cobol:85", Code: &code}, false},
		"sequence":       {&whisk.Exec{Kind: "sequence", Components: []string{"/guest/a"}}, true},
		"native":         {&whisk.Exec{Kind: "blackbox", Image: "openwhisk/dockerskeleton", Code: &code}, true},
		"container":      {&whisk.Exec{Kind: "blackbox", Image: "library/nginx", Code: &code}, false},
		"native no code": {&whisk.Exec{Kind: "blackbox", Image: "openwhisk/dockerskeleton"}, false},
		"default kind":   {&whisk.Exec{Kind: "nodejs:default", Code: &code}, len(infos["nodejs"]) > 0},
	} {
		err := r.ValidateExec(c.e)
		if (err == nil) != c.ok || err != nil && whisk.CodeOf(err) != whisk.CodeBadRequest {
			t.Errorf("%s: ValidateExec = %v", name, err)
		}
	}
}

func BenchmarkNativeWarmRun(b *testing.B) {
	rt, _ := registry(b).Lookup("blackbox")
	// A loop that forks nothing per request, so the figure is the platform's.
	e := sourceExec("blackbox", "#!/bin/sh\nwhile IFS= read -r line; do echo '{\"ok\":1}' >&3; done\n")
	a := start(b, newDriver(b), rt, e, startOpts{})
	benchWarm(b, a)
}

func TestWarmUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := registry(t).WarmUp(ctx); err != nil {
		t.Fatal(err)
	}
}
