package controller

import (
	"encoding/json"
	"testing"
)

func TestRouteMatching(t *testing.T) {
	sw := `{"swagger":"2.0","info":{"title":"t","version":"1"},"basePath":"/b","paths":{
		"/books/{isbn}":{"get":{"x-openwhisk":{"namespace":"ns","package":"","action":"byIsbn","url":"u/byIsbn.http"}}},
		"/books/new":{"get":{"x-openwhisk":{"namespace":"ns","package":"p","action":"fresh","url":"u/fresh.json"}}},
		"/a/{x}/c/{y}":{"post":{"x-openwhisk":{"namespace":"ns","package":"","action":"two","url":"u/two.text"}}},
		"/":{"get":{"x-openwhisk":{"namespace":"ns","package":"","action":"root","url":"u/root.html"}}},
		"/raw":{"get":{"responses":{}}}}}`
	api := parseAPI(&API{Namespace: "ns", BasePath: "/b", Swagger: json.RawMessage(sw)})
	cases := []struct {
		verb, rel, action, ext string
		params                 map[string]string
	}{
		{"get", "/books/123", "byIsbn", "http", map[string]string{"isbn": "123"}},
		{"get", "/books/new", "fresh", "json", nil}, // a literal segment beats a parameter
		{"post", "/a/1/c/2", "two", "text", map[string]string{"x": "1", "y": "2"}},
		{"get", "/", "root", "html", nil},
		{"get", "/books/", "", "", nil},   // a parameter is never empty
		{"post", "/books/1", "", "", nil}, // no such operation
		{"get", "/raw", "", "", nil},      // no x-openwhisk: nothing to run
		{"options", "/books/1", "byIsbn", "http", map[string]string{"isbn": "1"}},
	}
	for _, c := range cases {
		p, verb, params := api.route(c.verb, c.rel)
		if p == nil {
			if c.action != "" {
				t.Errorf("%s %s: no match, want %s", c.verb, c.rel, c.action)
			}
			continue
		}
		op := p.ops[verb]
		if op.fqn.Name != c.action || op.ext != c.ext || mustMarshalString(params) != mustMarshalString(c.params) {
			t.Errorf("%s %s: %s.%s %v, want %q.%s %v", c.verb, c.rel, op.fqn.Name, op.ext, params, c.action, c.ext, c.params)
		}
	}
}

func mustMarshalString(v any) string { return string(mustMarshal(v)) }

func TestBelowBasePath(t *testing.T) {
	for _, c := range []struct {
		path, base, rel string
		ok              bool
	}{
		{"/club/books", "/club", "/books", true},
		{"/club", "/club", "/", true},
		{"/clubs/books", "/club", "", false},
		{"/x/y", "/", "/x/y", true},
	} {
		rel, ok := belowBasePath(c.path, c.base)
		if rel != c.rel || ok != c.ok {
			t.Errorf("belowBasePath(%q, %q) = %q, %v", c.path, c.base, rel, ok)
		}
	}
}

func TestSplitActionName(t *testing.T) {
	for in, want := range map[string][3]string{
		"/ns/pkg/a": {"ns", "pkg", "a"}, "/ns/a": {"ns", "", "a"}, "pkg/a": {"", "pkg", "a"}, "a": {"", "", "a"},
	} {
		ns, pkg, name := splitActionName(in)
		if [3]string{ns, pkg, name} != want {
			t.Errorf("splitActionName(%q) = %q %q %q", in, ns, pkg, name)
		}
	}
}
