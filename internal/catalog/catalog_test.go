package catalog

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gustfaas/gust/internal/whisk"
)

// TestStandardPackages checks what the catalog ships: every action has code
// that Node.js parses, a description, and a name of its own.
func TestStandardPackages(t *testing.T) {
	node, _ := exec.LookPath("node")
	dir := t.TempDir()
	for _, p := range Standard() {
		if !p.Publish {
			t.Errorf("%s is not published", p.Name)
		}
		seen := map[string]bool{}
		for _, a := range p.Actions {
			if seen[a.Name] || !whisk.ValidName(a.Name) {
				t.Errorf("%s/%s: duplicate or illegal name", p.Name, a.Name)
			}
			seen[a.Name] = true
			if d, _ := a.Annotations.GetString("description"); d == "" {
				t.Errorf("%s/%s has no description", p.Name, a.Name)
			}
			if a.Code == "" {
				t.Errorf("%s/%s has no code", p.Name, a.Name)
				continue
			}
			if node == "" {
				continue
			}
			file := filepath.Join(dir, p.Name+"-"+a.Name+".js")
			if err := os.WriteFile(file, []byte(a.Code), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(node, "--check", file).CombinedOutput(); err != nil {
				t.Errorf("%s/%s does not parse: %v\n%s", p.Name, a.Name, err, out)
			}
		}
	}
}

func TestSameKeyValues(t *testing.T) {
	kv := func(s string) whisk.KeyValues {
		var out whisk.KeyValues
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	cases := []struct {
		a, b string
		same bool
	}{
		{`[]`, `null`, true},
		{`[{"key":"a","value":1},{"key":"b","value":{"x": [1, 2]}}]`, `[{"key":"b","value":{"x":[1,2]}},{"key":"a","value":1}]`, true},
		{`[{"key":"a","value":1}]`, `[{"key":"a","value":2}]`, false},
		{`[{"key":"a","value":1}]`, `[{"key":"a","value":1,"init":true}]`, false},
		{`[{"key":"a","value":1}]`, `[{"key":"a","value":1},{"key":"b","value":null}]`, false},
	}
	for _, c := range cases {
		if got := sameKeyValues(kv(c.a), kv(c.b)); got != c.same {
			t.Errorf("sameKeyValues(%s, %s) = %v", c.a, c.b, got)
		}
	}
}

func TestExpectedAnnotations(t *testing.T) {
	got := expectedAnnotations(whisk.KeyValues{}.Set("description", "d").Set("exec", "stale"), "nodejs:20")
	if s, _ := got.GetString("exec"); s != "nodejs:20" || got.IsTruthy("provide-api-key") || !got.Has("provide-api-key") {
		t.Fatalf("expected annotations %v", got)
	}
	got = expectedAnnotations(whisk.KeyValues{}.Set("provide-api-key", true), "nodejs:20")
	if !got.IsTruthy("provide-api-key") {
		t.Fatalf("an action's own provide-api-key is kept: %v", got)
	}
}
