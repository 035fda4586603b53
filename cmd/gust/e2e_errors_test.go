package main

import (
	"strings"
	"testing"
)

func TestErrorsOverHTTP(t *testing.T) {
	ts := startTestServer(t)
	ts.putAction("exists", "nodejs:20", `function main(p) { return p }`, nil)
	big := `{"x":"` + strings.Repeat("a", 1<<20+10) + `"}`
	cases := []struct {
		name         string
		method, path string
		body         any
		auth         []string
		want         int
		wantMsg      string
	}{
		{"no key", "GET", "/api/v1/namespaces/_/actions", nil, []string{"-"}, 401, ""},
		{"wrong key", "GET", "/api/v1/namespaces/_/actions", nil,
			[]string{"23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"}, 401, ""},
		{"another namespace", "GET", "/api/v1/namespaces/other/actions/x", nil, nil, 403,
			"The supplied authentication is not authorized to access"},
		{"missing entity", "GET", "/api/v1/namespaces/_/actions/nope", nil, nil, 404, "The requested resource does not exist."},
		{"create without overwrite", "PUT", "/api/v1/namespaces/_/actions/exists",
			map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": "function main(){}"}}, nil, 409, "resource already exists"},
		{"unknown kind", "PUT", "/api/v1/namespaces/_/actions/k",
			map[string]any{"exec": map[string]any{"kind": "cobol:1", "code": "x"}}, nil, 400, "The specified runtime 'cobol:1' is not supported"},
		{"illegal name", "PUT", "/api/v1/namespaces/_/actions/bad%24name",
			map[string]any{"exec": map[string]any{"kind": "nodejs:20", "code": "x"}}, nil, 400, "The name of the entity contains illegal characters."},
		{"malformed body", "PUT", "/api/v1/namespaces/_/actions/m", `{"exec": `, nil, 400, "The request content was malformed"},
		{"payload over 1 MB", "POST", "/api/v1/namespaces/_/actions/exists?blocking=true", big, nil, 413, ""},
		{"bad timeout", "POST", "/api/v1/namespaces/_/actions/exists?blocking=true&timeout=70000", nil, nil, 400,
			"Timeout must be number of milliseconds up to 60000."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.do(c.method, c.path, c.body, c.auth...)
			if r.status != c.want {
				t.Fatalf("status %d, want %d: %s", r.status, c.want, r.body)
			}
			body := r.object(t)
			msg, _ := body["error"].(string)
			if msg == "" || body["code"] == nil || body["code"] == "" {
				t.Fatalf("error body lacks error or code: %s", r.body)
			}
			if !strings.Contains(msg, c.wantMsg) {
				t.Fatalf("error %q does not contain %q", msg, c.wantMsg)
			}
			if r.header.Get("X-Request-ID") == "" || r.header.Get("X-Request-ID") != body["code"] {
				t.Fatalf("X-Request-ID %q, code %v", r.header.Get("X-Request-ID"), body["code"])
			}
			if c.want == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	t.Run("X-Request-ID on success and adopted", func(t *testing.T) {
		r := ts.mustStatus(ts.do("GET", "/api/v1/namespaces", nil), 200)
		if r.header.Get("X-Request-ID") == "" {
			t.Fatal("no X-Request-ID")
		}
		var names []string
		r.json(t, &names)
		if len(names) != 1 || names[0] != "guest" {
			t.Fatalf("namespaces %v", names)
		}
	})
}
