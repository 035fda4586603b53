package controller

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/whisk"
)

// describedKinds knows nodejs:20 (the nodejs default) and java:8, which
// requires main; it describes kinds, it runs nothing.
type describedKinds struct{}

type describedRuntime struct{ kind, family string }

func (r describedRuntime) Kind() string                                       { return r.kind }
func (r describedRuntime) Family() string                                     { return r.family }
func (r describedRuntime) Image() string                                      { return "" }
func (r describedRuntime) StemCell() bool                                     { return false }
func (r describedRuntime) Prepare(context.Context, *whisk.Exec, string) error { return nil }
func (r describedRuntime) Command(string, map[string]string) runtimes.Command {
	return runtimes.Command{}
}
func (r describedRuntime) InitLine(*whisk.Exec, string, map[string]string) []byte {
	return nil
}
func (r describedRuntime) SupportsConcurrency() bool { return false }

func (describedKinds) Lookup(kind string) (runtimes.Runtime, bool) {
	switch kind {
	case "nodejs:20", "nodejs:default":
		return describedRuntime{"nodejs:20", "nodejs"}, true
	case "java:8", "java:default":
		return describedRuntime{"java:8", "java"}, true
	}
	return nil, false
}
func (describedKinds) Kinds() []string { return []string{"java:8", "nodejs:20"} }
func (describedKinds) Infos() map[string][]runtimes.Info {
	return map[string][]runtimes.Info{
		"nodejs": {{Kind: "nodejs:20", Default: true}},
		"java":   {{Kind: "java:8", Default: true, RequireMain: true}},
	}
}

// FuzzCheckActionPut feeds decoded PUT bodies to the validation: it must not
// panic, and what it accepts must be normalized as stored.
func FuzzCheckActionPut(f *testing.F) {
	f.Add([]byte(`{"exec":{"kind":" NodeJS:Default ","code":"UEsDBAo="},"limits":{"memory":256,"timeout":100}}`))
	f.Add([]byte(`{"exec":{"kind":"java:8","code":"x","main":"Hello"},"version":"1.2","parameters":[{"key":"a","value":null}]}`))
	f.Add([]byte(`{"exec":{"kind":"sequence","components":["/_/a","b/c"]}}`))
	f.Add([]byte(`{"exec":{"kind":"blackbox","image":"openwhisk/dockerskeleton","code":" "}}`))
	f.Add([]byte(`{"limits":{"logs":-1},"annotations":[{"key":"","value":1}]}`))
	cfg := DefaultConfig()
	c := &Controller{cfg: cfg, kinds: describedKinds{}, kindInfo: map[string]runtimes.Info{"java:8": {Kind: "java:8", RequireMain: true}},
		kindNames: []string{"blackbox", "java:8", "nodejs:20", "sequence"}}
	id := whisk.Identity{Namespace: "guest"}
	f.Fuzz(func(t *testing.T, body []byte) {
		var put whisk.ActionPut
		if json.Unmarshal(body, &put) != nil {
			return
		}
		exec, err := c.checkActionPut(id, &put)
		if err != nil {
			if whisk.CodeOf(err) == whisk.CodeInternal {
				t.Fatalf("%s: internal error %v", body, err)
			}
			return
		}
		if exec == nil {
			return
		}
		if exec.Kind == "" || exec.Kind != strings.ToLower(exec.Kind) {
			t.Fatalf("%s: kind %q not normalized", body, exec.Kind)
		}
		if exec.Code != nil && exec.Binary != whisk.IsBase64(*exec.Code) {
			t.Fatalf("%s: binary %v for code %q", body, exec.Binary, *exec.Code)
		}
		for _, comp := range exec.Components {
			if _, err := whisk.ParseFQN(comp, "x"); err != nil || strings.HasPrefix(comp, "/_/") {
				t.Fatalf("%s: stored component %q", body, comp)
			}
		}
		if put.Version != nil {
			if _, ok := normalizeVersion(*put.Version); !ok {
				t.Fatalf("%s: stored version %q", body, *put.Version)
			}
		}
	})
}
