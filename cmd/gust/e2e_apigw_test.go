package main

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// API gateway tests (spec §10): the apimgmt web actions as wsk and the npm
// client call them, and the routes Gust then serves.

// pyBooks answers a route: what it saw of the request.
const pyBooks = `def main(p):
    return {'statusCode': 200, 'body': {'path': p['__ow_path'], 'method': p['__ow_method'],
            'isbn': p.get('isbn'), 'q': p.get('q'), 'user': p.get('__ow_user')}}
`

// apiDoc is the body wsk sends to createApi for `api create BASE PATH VERB ACTION`.
func apiDoc(ts *testServer, base, path, verb, action string, extra map[string]any) map[string]any {
	act := map[string]any{
		"name": action, "namespace": "_", "backendMethod": strings.ToUpper(verb),
		"backendUrl": ts.base + "/api/v1/web/_/default/" + action + ".http", "authkey": ts.key.String(),
	}
	for k, v := range extra {
		act[k] = v
	}
	return map[string]any{"apidoc": map[string]any{
		"namespace": "_", "gatewayBasePath": base, "gatewayPath": path, "gatewayMethod": strings.ToUpper(verb),
		"id": "API:_:" + base, "action": act,
	}}
}

const apimgmt = "/api/v1/web/whisk.system/apimgmt/"

var pathParamRE = regexp.MustCompile(`\{([^/{}]+)\}`)

// apiValue is createApi's answer and getApi's value.
type apiValue struct {
	Namespace string          `json:"namespace"`
	BaseURL   string          `json:"gwApiUrl"`
	Activated bool            `json:"gwApiActivated"`
	TenantID  string          `json:"tenantId"`
	APIDoc    json.RawMessage `json:"apidoc"`
}

// checkSwagger checks that doc is a valid OpenAPI 2.0 document whose
// operations name their web actions.
func checkSwagger(t *testing.T, doc json.RawMessage, basePath string) map[string]map[string]map[string]any {
	t.Helper()
	var sw struct {
		Swagger  string `json:"swagger"`
		Info     struct{ Title, Version string }
		BasePath string                               `json:"basePath"`
		Paths    map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(doc, &sw); err != nil {
		t.Fatalf("apidoc %s: %v", doc, err)
	}
	if sw.Swagger != "2.0" || sw.Info.Title == "" || sw.Info.Version == "" || sw.BasePath != basePath || sw.Paths == nil {
		t.Errorf("not a valid swagger 2.0 document: %s", doc)
	}
	for path, ops := range sw.Paths {
		if !strings.HasPrefix(path, "/") {
			t.Errorf("path %q does not start with /", path)
		}
		for verb, op := range ops {
			if !map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true}[verb] {
				t.Errorf("%s: operation %q", path, verb)
			}
			if op["operationId"] == nil || op["responses"] == nil {
				t.Errorf("%s %s lacks operationId or responses: %v", verb, path, op)
			}
			x, _ := op["x-openwhisk"].(map[string]any)
			if x == nil || x["namespace"] == nil || x["action"] == nil || x["url"] == nil {
				t.Errorf("%s %s lacks x-openwhisk: %v", verb, path, op)
			}
			// Path parameters are declared, as swagger requires.
			for _, m := range pathParamRE.FindAllStringSubmatch(path, -1) {
				found := false
				params, _ := op["parameters"].([]any)
				for _, p := range params {
					if pm, _ := p.(map[string]any); pm["name"] == m[1] && pm["in"] == "path" && pm["required"] == true {
						found = true
					}
				}
				if !found {
					t.Errorf("%s %s does not declare path parameter %s", verb, path, m[1])
				}
			}
		}
	}
	return sw.Paths
}

func TestAPIGateway(t *testing.T) {
	ts := startTestServer(t)
	ts.putAction("books", "python:3.11", pyBooks, map[string]any{"annotations": webAnn(false)})
	ts.putAction("plain", "python:3.11", pyBooks, nil)

	// wsk api create /club /books/{isbn} get books --response-type http
	r := ts.mustStatus(ts.do("POST", apimgmt+"createApi.http?responsetype=http&accesstoken=DUMMY+TOKEN&spaceguid="+ts.key.UUID,
		apiDoc(ts, "/club", "/books/{isbn}", "get", "books", nil)), 200)
	var created apiValue
	r.json(t, &created)
	if created.Namespace != "guest" || !created.Activated || created.BaseURL != ts.base+"/api/guest/club" {
		t.Fatalf("createApi answered %s", r.body)
	}
	paths := checkSwagger(t, created.APIDoc, "/club")
	x, _ := paths["/books/{isbn}"]["get"]["x-openwhisk"].(map[string]any)
	if x["namespace"] != "guest" || x["action"] != "books" || x["package"] != "" ||
		x["url"] != ts.base+"/api/v1/web/guest/default/books.http" {
		t.Errorf("x-openwhisk %v", x)
	}

	// A second operation on the same API, as the npm client sends it.
	ts.mustStatus(ts.do("POST", apimgmt+"createApi.http", map[string]any{"apidoc": map[string]any{
		"namespace": "_", "gatewayBasePath": "/club", "gatewayPath": "/books", "gatewayMethod": "post", "id": "API:_:/club",
		"action": map[string]any{"name": "books", "namespace": "_", "backendMethod": "GET",
			"backendUrl": ts.base + "/api/v1/web/_/default/books.http", "authkey": ts.key.String()},
	}}), 200)

	t.Run("routes", func(t *testing.T) {
		r := ts.webReq("GET", "/api/guest/club/books/978-0596517748?q=x", nil, nil)
		if r.status != 200 {
			t.Fatalf("route: %d %s", r.status, r.body)
		}
		got := r.object(t)
		if got["path"] != "/club/books/978-0596517748" || got["isbn"] != "978-0596517748" || got["method"] != "get" || got["q"] != "x" {
			t.Errorf("the action saw %s", r.body)
		}
		// The second operation answers as .json: the default response type.
		r = ts.webReq("POST", "/api/guest/club/books", []byte(`{"q":"posted"}`), map[string]string{"Content-Type": "application/json"})
		if r.status != 200 || r.object(t)["body"].(map[string]any)["q"] != "posted" {
			t.Errorf("post: %d %s", r.status, r.body)
		}
		for _, c := range []struct{ method, path string }{
			{"DELETE", "/api/guest/club/books/1"}, {"GET", "/api/guest/club/nope"}, {"GET", "/api/guest/other/books/1"},
			{"GET", "/api/nobody/club/books/1"}, {"GET", "/api/guest/club/books/1/2"},
		} {
			expectWebError(t, ts.webReq(c.method, c.path, nil, nil), 404, "The requested resource does not exist.")
		}
		// Preflights are answered like the web action's.
		r = ts.webReq("OPTIONS", "/api/guest/club/books/1", nil, nil)
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("preflight: %d %v", r.status, r.header)
		}
	})

	t.Run("get and list", func(t *testing.T) {
		for _, q := range []string{"basepath=/club", "basepath=%2Fclub", "basepath=/club", ""} {
			r := ts.mustStatus(ts.do("GET", apimgmt+"getApi.http?"+q, nil), 200)
			var got struct {
				APIs []struct {
					ID, Key string
					Value   apiValue
				}
			}
			r.json(t, &got)
			if len(got.APIs) != 1 || got.APIs[0].Value.BaseURL != ts.base+"/api/guest/club" {
				t.Fatalf("getApi?%s: %s", q, r.body)
			}
			paths := checkSwagger(t, got.APIs[0].Value.APIDoc, "/club")
			if len(paths) != 2 || paths["/books"]["post"] == nil {
				t.Errorf("paths %v", paths)
			}
		}
		r := ts.mustStatus(ts.do("GET", apimgmt+"getApi.http?basepath=/none", nil), 200)
		if strings.TrimSpace(string(r.body)) != `{"apis":[]}` {
			t.Errorf("no API: %s", r.body)
		}
	})

	t.Run("errors", func(t *testing.T) {
		check := func(r response, msg string) {
			t.Helper()
			var body map[string]any
			if r.status != 502 || json.Unmarshal(r.body, &body) != nil || body["error"] != msg {
				t.Errorf("got %d %s, want 502 %q", r.status, r.body, msg)
			}
		}
		check(ts.do("POST", apimgmt+"createApi.http", apiDoc(ts, "/x", "/y", "get", "books", nil), "-"), "A valid auth key is required.")
		check(ts.do("GET", apimgmt+"getApi.http", nil, "-"), "Invalid authentication.")
		check(ts.do("POST", apimgmt+"createApi.http", map[string]any{}), "apidoc is required.")
		check(ts.do("POST", apimgmt+"createApi.http", map[string]any{"apidoc": map[string]any{"namespace": "_", "gatewayBasePath": "/x"}}),
			"apidoc is missing the gatewayPath field")
		check(ts.do("DELETE", apimgmt+"deleteApi.http?basepath=/nope", nil), "API deletion failure: API '/nope' does not exist.")
		check(ts.do("DELETE", apimgmt+"deleteApi.http?basepath=/club&relpath=/nope", nil), "API deletion failure: path /nope does not exist in the API")
		check(ts.do("DELETE", apimgmt+"deleteApi.http?basepath=/club&operation=get", nil), "When specifying an operation, the path is required.")
		expectWebError(t, ts.do("GET", apimgmt+"nothing.http", nil), 404, "The requested resource does not exist.")
	})

	t.Run("a route to a non-web action is not found", func(t *testing.T) {
		ts.mustStatus(ts.do("POST", apimgmt+"createApi.http?responsetype=http", apiDoc(ts, "/plain", "/x", "get", "plain", nil)), 200)
		expectWebError(t, ts.webReq("GET", "/api/guest/plain/x", nil, nil), 404, "The requested resource does not exist.")
	})

	t.Run("secured web action", func(t *testing.T) {
		ts.putAction("guarded", "python:3.11", pyBooks, map[string]any{"annotations": webAnn(false,
			map[string]any{"key": "require-whisk-auth", "value": 271828})})
		ts.mustStatus(ts.do("POST", apimgmt+"createApi.http?responsetype=http",
			apiDoc(ts, "/safe", "/g", "get", "guarded", map[string]any{"secureKey": 271828})), 200)
		if r := ts.webReq("GET", "/api/guest/safe/g", nil, nil); r.status != 200 {
			t.Errorf("the gateway presents the action's secret: %d %s", r.status, r.body)
		}
		if r := ts.webReq("GET", "/api/v1/web/guest/default/guarded.http", nil, nil); r.status != 401 {
			t.Errorf("the web action itself still needs it: %d", r.status)
		}
	})

	t.Run("delete", func(t *testing.T) {
		ts.mustStatus(ts.do("DELETE", apimgmt+"deleteApi.http?basepath=/club&relpath=/books&operation=POST&force=true", nil), 200)
		expectWebError(t, ts.webReq("POST", "/api/guest/club/books", nil, nil), 404, "The requested resource does not exist.")
		if r := ts.webReq("GET", "/api/guest/club/books/1", nil, nil); r.status != 200 {
			t.Errorf("the other operation went too: %d", r.status)
		}
		ts.mustStatus(ts.do("DELETE", apimgmt+"deleteApi.http?basepath=/club", nil), 200)
		expectWebError(t, ts.webReq("GET", "/api/guest/club/books/1", nil, nil), 404, "The requested resource does not exist.")
		r := ts.mustStatus(ts.do("GET", apimgmt+"getApi.http?basepath=/club", nil), 200)
		if strings.TrimSpace(string(r.body)) != `{"apis":[]}` {
			t.Errorf("after delete: %s", r.body)
		}
	})

	t.Run("swagger file", func(t *testing.T) {
		sw := `{"swagger":"2.0","info":{"title":"Shelf","version":"1.0"},"basePath":"/shelf","paths":{"/items/{id}":{"get":{
			"operationId":"getItem","responses":{"default":{"description":"ok"}},
			"parameters":[{"name":"id","in":"path","required":true,"type":"string"}],
			"x-openwhisk":{"namespace":"guest","package":"","action":"books","url":"` + ts.base + `/api/v1/web/guest/default/books.http"}}}}}`
		r := ts.mustStatus(ts.do("POST", apimgmt+"createApi.http", map[string]any{"apidoc": map[string]any{"namespace": "_", "swagger": sw}}), 200)
		var created apiValue
		r.json(t, &created)
		checkSwagger(t, created.APIDoc, "/shelf")
		r = ts.webReq("GET", "/api/guest/shelf/items/42", nil, nil)
		if r.status != 200 || r.object(t)["isbn"] != nil || r.object(t)["path"] != "/shelf/items/42" {
			t.Errorf("swagger route: %d %s", r.status, r.body)
		}
		// By name.
		r = ts.mustStatus(ts.do("GET", apimgmt+"getApi.http?basepath="+url.QueryEscape("Shelf"), nil), 200)
		if !strings.Contains(string(r.body), `"basePath":"/shelf"`) {
			t.Errorf("getApi by name: %s", r.body)
		}
		ts.mustStatus(ts.do("DELETE", apimgmt+"deleteApi.http?basepath=Shelf", nil), 200)
	})
}

// TestAPICLI drives `gust api` against a real server.
func TestAPICLI(t *testing.T) {
	ts := startTestServer(t)
	clearClientEnv(t)
	t.Setenv("WSK_CONFIG_FILE", filepath.Join(t.TempDir(), "wskprops"))
	t.Setenv("GUST_APIHOST", ts.base)
	t.Setenv("GUST_AUTH", ts.key.String())
	t.Setenv("NO_COLOR", "1")
	ts.putAction("books", "python:3.11", pyBooks, map[string]any{"annotations": webAnn(false)})
	ts.putAction("notweb", "python:3.11", pyBooks, nil)
	ts.putAction("locked", "python:3.11", pyBooks, nil)
	sw := writeFile(t, "api.yaml", `swagger: "2.0"
info: {title: Shelf, version: "1.0"}
basePath: /shelf
paths:
  /items:
    get:
      operationId: items
      responses: {default: {description: ok}}
      x-openwhisk: {namespace: guest, package: "", action: books, url: "`+ts.base+`/api/v1/web/guest/default/books.json"}
`)

	steps := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{args: []string{"api", "create", "/club", "/books/{isbn}", "get", "books", "--response-type", "http"},
			stdout: "ok: created API /club/books/{isbn} GET for action /_/books\n" + ts.base + "/api/guest/club/books/{isbn}\n"},
		{args: []string{"api", "create", "-n", "Book Club", "/club", "/books", "post", "books"},
			stdout: "ok: created API /club/books POST for action /_/books\n"},
		{args: []string{"api", "create", "/club", "/books/{isbn}", "put", "books"}, code: exitUsage,
			stderr: "A response type of 'http' is required when using path parameters."},
		{args: []string{"api", "create", "/club", "books", "get", "books"}, code: exitUsage, stderr: "'books' must begin with '/'."},
		{args: []string{"api", "create", "/club", "/x", "fetch", "books"}, code: exitUsage, stderr: "'fetch' is not a valid API verb."},
		{args: []string{"api", "create", "/club", "/x", "get", "notweb"}, code: exitFailed, stderr: "Action 'notweb' is not a web action."},
		{args: []string{"action", "update", "locked", "--web", "true", "--web-secure", "true"}, stdout: "ok: updated action locked"},
		{args: []string{"api", "create", "/vault", "/open", "get", "locked", "--response-type", "http"}, stdout: "ok: created API /vault/open GET"},
		{args: []string{"api", "create", "--config-file", sw}, stdout: "ok: created API /shelf/items get for action /guest/books\n" + ts.base + "/api/guest/shelf/items\n"},
		{args: []string{"api", "list"}, stdout: "ok: APIs\n"},
		{args: []string{"api", "list", "/club", "/books/{isbn}", "get"}, stdout: "/guest/books  get   /club     " + ts.base + "/api/guest/club/books/{isbn}"},
		{args: []string{"api", "list", "-f"}, stdout: "Action: /guest/books\n  API Name: /club\n  Base path: /club\n  Path: /books\n  Verb: post\n"},
		{args: []string{"api", "get", "/club"}, stdout: "\"swagger\": \"2.0\""},
		{args: []string{"api", "get", "/club", "--format", "yaml"}, stdout: "swagger: \"2.0\""},
		{args: []string{"api", "get", "/club", "-f"}, stdout: "\"gwApiUrl\": \"" + ts.base + "/api/guest/club\""},
		{args: []string{"api", "get", "/nope"}, code: exitFailed, stderr: "API does not exist for basepath /nope"},
		{args: []string{"api", "delete", "/club", "/books", "post"}, stdout: "ok: deleted /books POST from /club\n"},
		{args: []string{"api", "delete", "/club", "/books"}, code: exitFailed, stderr: "API deletion failure: path /books does not exist in the API"},
		{args: []string{"api", "delete", "Shelf"}, stdout: "ok: deleted API Shelf\n"},
	}
	for _, s := range steps {
		out, errOut, code := runCLI(t, s.args...)
		if code != s.code || !strings.Contains(out, s.stdout) || !strings.Contains(errOut, s.stderr) {
			t.Fatalf("gust %s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout containing %q and stderr containing %q",
				strings.Join(s.args, " "), code, s.code, out, errOut, s.stdout, s.stderr)
		}
	}
	// The routes the CLI made are served.
	r := ts.webReq("GET", "/api/guest/club/books/12", nil, nil)
	if r.status != 200 || r.object(t)["isbn"] != "12" {
		t.Errorf("route: %d %s", r.status, r.body)
	}
	if r := ts.webReq("GET", "/api/guest/vault/open", nil, nil); r.status != 200 {
		t.Errorf("secured route: %d %s", r.status, r.body)
	}
	out, _, code := runCLI(t, "api", "delete", "/club")
	if code != 0 || out != "ok: deleted API /club\n" {
		t.Errorf("delete: %d %q", code, out)
	}
	expectWebError(t, ts.webReq("GET", "/api/guest/club/books/12", nil, nil), 404, "The requested resource does not exist.")
}
