package api

import (
	"bytes"
	"net/http"
	"testing"
)

// TestWrittenActionCachedAsStored checks the entity cache written through on
// PUT: an action read back from the cache must be exactly the action read
// back from the store, whatever the PUT body left out or normalized.
func TestWrittenActionCachedAsStored(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name, query string
		body        map[string]any
	}{
		{"minimal", "", map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": "function main(){}"}}},
		{"everything", "", map[string]any{
			"exec":        map[string]any{"kind": "python:3.11", "code": "def main(a):\n  return a\n", "main": "main"},
			"parameters":  []map[string]any{{"key": "a", "value": 1}, {"key": "b", "value": map[string]any{"x": []int{1}}}},
			"annotations": []map[string]any{{"key": "web-export", "value": true}, {"key": "exec", "value": "ignored"}},
			"limits":      map[string]any{"timeout": 1000, "memory": 128, "logs": 1, "concurrency": 1},
			"publish":     true, "version": "1.2.3",
		}},
		{"binary", "", map[string]any{"exec": map[string]any{"kind": "blackbox", "image": "openwhisk/dockerskeleton", "code": "IyEvYmluL3NoCg==", "binary": true}}},
		{"sequence", "", map[string]any{"exec": map[string]any{"kind": "sequence", "components": []string{"/guest/minimal", "/guest/binary"}}}},
		{"minimal", "?overwrite=true", map[string]any{"limits": map[string]any{"timeout": 2000}, "parameters": []map[string]any{}}},
	} {
		r := e.do(&guestKey, "PUT", actionsPath+c.name+c.query, c.body)
		if r.status != http.StatusOK {
			t.Fatalf("%s: PUT %d %s", c.name, r.status, r.body)
		}
		cached := e.do(&guestKey, "GET", actionsPath+c.name, nil)
		e.ctl.Invalidate("guest", c.name)
		stored := e.do(&guestKey, "GET", actionsPath+c.name, nil)
		if cached.status != http.StatusOK || !bytes.Equal(cached.body, stored.body) {
			t.Errorf("%s%s: GET from the cache after PUT:\n%s\nfrom the store:\n%s", c.name, c.query, cached.body, stored.body)
		}
	}
}
