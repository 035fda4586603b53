package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Web action tests (spec §9), over HTTP against a real server.

const (
	// pyWebEcho returns its arguments: what a web request becomes.
	pyWebEcho = "def main(p):\n    return p\n"
	// pyRespond returns the result the request asks for (body field "r"),
	// to try every shape of result against every extension.
	pyRespond = "def main(p):\n    return p.get('r', {})\n"
	// pyRespondError fails with the error the request asks for.
	pyRespondError = "def main(p):\n    return {'error': p.get('e')}\n"
	pyCrash        = "import sys\ndef main(p):\n    sys.exit(3)\n"
)

// webAnn is what `--web true` writes; raw adds raw-http.
func webAnn(raw bool, extra ...map[string]any) []map[string]any {
	out := []map[string]any{{"key": "web-export", "value": true}, {"key": "final", "value": true}, {"key": "raw-http", "value": raw}}
	return append(out, extra...)
}

// webReq sends a request to a web URL with the given headers (no
// credentials unless an Authorization header is given).
func (ts *testServer) webReq(method, path string, body []byte, headers map[string]string) response {
	ts.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.base+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, data}
}

// noRedirects shows a web action's redirect as it answered it.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func basicAuth(key string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(key))
}

func expectWebError(t *testing.T, r response, status int, msg string) {
	t.Helper()
	var body struct{ Error, Code string }
	if r.status != status || json.Unmarshal(r.body, &body) != nil || body.Error != msg || body.Code == "" {
		t.Errorf("got %d %s, want %d with error %q", r.status, r.body, status, msg)
	}
}

func TestWebActionArguments(t *testing.T) {
	ts := startTestServer(t)
	ts.putAction("echo", "python:3.11", pyWebEcho, map[string]any{
		"annotations": webAnn(false),
		"parameters":  []map[string]any{{"key": "fixed", "value": "set"}},
	})

	t.Run("get with query and path", func(t *testing.T) {
		r := ts.webReq("GET", "/api/v1/web/guest/default/echo.json/extra/path?a=1&b=x&a=2", nil, map[string]string{"X-Custom": "yes"})
		if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%d %s %s", r.status, r.header.Get("Content-Type"), r.body)
		}
		m := r.object(t)
		if m["__ow_method"] != "get" || m["__ow_path"] != "/extra/path" || m["a"] != "2" || m["b"] != "x" || m["fixed"] != "set" {
			t.Errorf("arguments %s", r.body)
		}
		if _, ok := m["__ow_user"]; ok {
			t.Errorf("anonymous request has __ow_user: %s", r.body)
		}
		h, _ := m["__ow_headers"].(map[string]any)
		if h["x-custom"] != "yes" || h["host"] == nil {
			t.Errorf("__ow_headers %v", h)
		}
		if r.header.Get("x-openwhisk-activation-id") == "" {
			t.Errorf("no activation id header")
		}
	})

	t.Run("json body wins over query", func(t *testing.T) {
		r := ts.webReq("POST", "/api/v1/web/guest/default/echo.json?a=query&q=1", []byte(`{"a":"body","n":2}`),
			map[string]string{"Content-Type": "application/json", "Authorization": basicAuth(ts.key.String())})
		m := r.object(t)
		if r.status != 200 || m["a"] != "body" || m["n"] != 2.0 || m["q"] != "1" || m["__ow_method"] != "post" || m["__ow_user"] != "guest" {
			t.Errorf("%d %s", r.status, r.body)
		}
		if h, _ := m["__ow_headers"].(map[string]any); h["content-type"] != "application/json" {
			t.Errorf("content-type not among the headers: %v", h)
		}
	})

	t.Run("bodies", func(t *testing.T) {
		bin := []byte{0, 1, 2, 250, 251}
		cases := []struct {
			ctype string
			body  []byte
			key   string
			want  any
		}{
			{"application/x-www-form-urlencoded", []byte("a=1&b=two"), "b", "two"},
			{"text/plain", []byte("hello there"), "__ow_body", "hello there"},
			{"application/octet-stream", bin, "__ow_body", base64.StdEncoding.EncodeToString(bin)},
			{"image/png", bin, "__ow_body", base64.StdEncoding.EncodeToString(bin)},
			{"application/json", []byte(`[1,2]`), "__ow_body", []any{1.0, 2.0}},
			{"application/json", []byte(`"str"`), "__ow_body", "str"},
		}
		for _, c := range cases {
			r := ts.webReq("PUT", "/api/v1/web/guest/default/echo.json", c.body, map[string]string{"Content-Type": c.ctype})
			if r.status != 200 {
				t.Errorf("%s: %d %s", c.ctype, r.status, r.body)
				continue
			}
			if got := r.object(t)[c.key]; mustJSON(got) != mustJSON(c.want) || r.object(t)["__ow_method"] != "put" {
				t.Errorf("%s: %s = %v, want %v", c.ctype, c.key, got, c.want)
			}
		}
	})

	t.Run("every method", func(t *testing.T) {
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			r := ts.webReq(m, "/api/v1/web/guest/default/echo.json", nil, nil)
			if r.status != 200 || r.object(t)["__ow_method"] != strings.ToLower(m) {
				t.Errorf("%s: %d %s", m, r.status, r.body)
			}
		}
		if r := ts.webReq("HEAD", "/api/v1/web/guest/default/echo.json", nil, nil); r.status != 200 {
			t.Errorf("HEAD: %d", r.status)
		}
	})

	t.Run("reserved and final parameters", func(t *testing.T) {
		msg := "Request defines parameters that are not allowed (e.g., reserved properties)."
		expectWebError(t, ts.webReq("GET", "/api/v1/web/guest/default/echo.json?__ow_method=x", nil, nil), 400, msg)
		expectWebError(t, ts.webReq("POST", "/api/v1/web/guest/default/echo.json", []byte(`{"__ow_path":"/x"}`),
			map[string]string{"Content-Type": "application/json"}), 400, msg)
		expectWebError(t, ts.webReq("GET", "/api/v1/web/guest/default/echo.json?fixed=other", nil, nil), 400, msg)
	})

	t.Run("malformed json", func(t *testing.T) {
		r := ts.webReq("POST", "/api/v1/web/guest/default/echo.json", []byte(`{"a":`), map[string]string{"Content-Type": "application/json"})
		if r.status != 400 || !strings.Contains(string(r.body), "The request content was malformed") {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
}

func TestWebActionRawHTTP(t *testing.T) {
	ts := startTestServer(t)
	ts.putAction("raw", "python:3.11", pyWebEcho, map[string]any{"annotations": webAnn(true)})
	r := ts.webReq("POST", "/api/v1/web/guest/default/raw.json/p?a=1&b=%20x", []byte(`{"k":"v"}`), map[string]string{"Content-Type": "application/json"})
	m := r.object(t)
	if r.status != 200 || m["__ow_query"] != "a=1&b=%20x" || m["__ow_path"] != "/p" ||
		m["__ow_body"] != base64.StdEncoding.EncodeToString([]byte(`{"k":"v"}`)) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if _, ok := m["a"]; ok {
		t.Errorf("a raw action got parsed query parameters: %s", r.body)
	}
	if _, ok := m["k"]; ok {
		t.Errorf("a raw action got parsed body fields: %s", r.body)
	}
	r = ts.webReq("POST", "/api/v1/web/guest/default/raw.json", []byte("plain text"), map[string]string{"Content-Type": "text/plain"})
	if m = r.object(t); m["__ow_body"] != "plain text" || m["__ow_query"] != "" {
		t.Errorf("text body: %s", r.body)
	}
	r = ts.webReq("GET", "/api/v1/web/guest/default/raw.json?__ow_method=allowed", nil, nil)
	if m = r.object(t); r.status != 200 || m["__ow_body"] != "" || m["__ow_query"] != "__ow_method=allowed" {
		t.Errorf("empty body: %d %s", r.status, r.body)
	}
}

// respond sends the result r for an action to return, through ext.
func (ts *testServer) respond(ext string, result any) response {
	ts.t.Helper()
	body, _ := json.Marshal(map[string]any{"r": result})
	return ts.webReq("POST", "/api/v1/web/guest/default/respond"+ext, body, map[string]string{"Content-Type": "application/json"})
}

func TestWebActionExtensions(t *testing.T) {
	ts := startTestServer(t)
	ts.putAction("respond", "python:3.11", pyRespond, map[string]any{"annotations": webAnn(false)})
	ts.putAction("fails", "python:3.11", pyRespondError, map[string]any{"annotations": webAnn(false)})
	ts.putAction("crash", "python:3.11", pyCrash, map[string]any{"annotations": webAnn(false)})

	check := func(name string, r response, status int, ctype, body string) {
		t.Helper()
		if r.status != status || r.header.Get("Content-Type") != ctype || string(r.body) != body {
			t.Errorf("%s: got %d %q %q, want %d %q %q", name, r.status, r.header.Get("Content-Type"), r.body, status, ctype, body)
		}
	}

	t.Run("json", func(t *testing.T) {
		check("object", ts.respond(".json", map[string]any{"a": 1}), 200, "application/json", `{"a":1}`)
	})
	t.Run("html", func(t *testing.T) {
		check("body", ts.respond(".html", map[string]any{"body": "<p>hi</p>"}), 200, "text/html; charset=UTF-8", "<p>hi</p>")
		check("html", ts.respond(".html", map[string]any{"html": "<b>x</b>"}), 200, "text/html; charset=UTF-8", "<b>x</b>")
		expectWebError(t, ts.respond(".html", map[string]any{"body": 1}), 400, "Response is not valid 'text/html'.")
	})
	t.Run("svg", func(t *testing.T) {
		check("svg", ts.respond(".svg", map[string]any{"svg": "<svg/>"}), 200, "image/svg+xml", "<svg/>")
		expectWebError(t, ts.respond(".svg", map[string]any{}), 400, "Response is not valid 'image/svg+xml'.")
	})
	t.Run("text", func(t *testing.T) {
		check("text", ts.respond(".text", map[string]any{"text": "plain"}), 200, "text/plain; charset=UTF-8", "plain")
		check("number", ts.respond(".text", map[string]any{"body": 5}), 200, "text/plain; charset=UTF-8", "5")
		check("object", ts.respond(".text", map[string]any{"body": map[string]any{"a": 1}}), 200, "text/plain; charset=UTF-8", "{\n  \"a\": 1\n}")
		expectWebError(t, ts.respond(".text", map[string]any{"other": 1}), 404, "Response does not include requested property.")
	})
	t.Run("http", func(t *testing.T) {
		r := ts.respond(".http", map[string]any{"statusCode": 201, "body": "<b>made</b>",
			"headers": map[string]any{"X-Answer": 42, "Set-Cookie": []string{"a=1", "b=2"}, "X-Flag": true}})
		check("string body", r, 201, "text/html; charset=UTF-8", "<b>made</b>")
		if got := r.header.Values("Set-Cookie"); len(got) != 2 || got[0] != "a=1" || got[1] != "b=2" {
			t.Errorf("repeated headers %v", got)
		}
		if r.header.Get("X-Answer") != "42" || r.header.Get("X-Flag") != "true" {
			t.Errorf("headers %v", r.header)
		}
		check("string status", ts.respond(".http", map[string]any{"statusCode": "202", "body": "ok"}), 202, "text/html; charset=UTF-8", "ok")
		check("json body", ts.respond(".http", map[string]any{"body": map[string]any{"k": "v"}}), 200, "application/json", `{"k":"v"}`)
		check("text type", ts.respond(".http", map[string]any{"headers": map[string]any{"content-type": "text/plain"}, "body": "t"}), 200, "text/plain; charset=UTF-8", "t")
		png := []byte{0x89, 'P', 'N', 'G', 0, 1, 2, 3}
		check("binary", ts.respond(".http", map[string]any{"headers": map[string]any{"Content-Type": "image/png"},
			"body": base64.StdEncoding.EncodeToString(png)}), 200, "image/png", string(png))
		check("base64 json", ts.respond(".http", map[string]any{"headers": map[string]any{"Content-Type": "application/json"},
			"body": base64.StdEncoding.EncodeToString([]byte(`{"x":1}`))}), 200, "application/json", `{"x":1}`)
		r = ts.respond(".http", map[string]any{"headers": map[string]any{"Location": "/elsewhere"}, "statusCode": 302})
		if r.status != 302 || r.header.Get("Location") != "/elsewhere" || len(r.body) != 0 {
			t.Errorf("redirect: %d %v %q", r.status, r.header, r.body)
		}
		if r = ts.respond(".http", map[string]any{}); r.status != 204 || len(r.body) != 0 {
			t.Errorf("empty result: %d %q", r.status, r.body)
		}
		// No extension is .http.
		body, _ := json.Marshal(map[string]any{"r": map[string]any{"statusCode": 200, "body": "default"}})
		r = ts.webReq("POST", "/api/v1/web/guest/default/respond", body, map[string]string{"Content-Type": "application/json"})
		check("no extension", r, 200, "text/html; charset=UTF-8", "default")

		bad := "Response is not valid 'message/http'."
		expectWebError(t, ts.respond(".http", map[string]any{"statusCode": "abc"}), 400, bad)
		expectWebError(t, ts.respond(".http", map[string]any{"statusCode": 999}), 400, bad)
		expectWebError(t, ts.respond(".http", map[string]any{"headers": map[string]any{"X": map[string]any{}}}), 400, bad)
		expectWebError(t, ts.respond(".http", map[string]any{"headers": map[string]any{"Content-Type": "text/plain"}, "body": map[string]any{}}),
			400, "Response type in header did not match generated content type.")
		expectWebError(t, ts.respond(".http", map[string]any{"headers": map[string]any{"Content-Type": "image/png"}, "body": "not base64!"}),
			400, "Response type in header did not match generated content type.")
	})
	t.Run("application error is projected", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"e": map[string]any{"statusCode": 418, "body": "teapot"}})
		r := ts.webReq("POST", "/api/v1/web/guest/default/fails.http", body, map[string]string{"Content-Type": "application/json"})
		check("error field", r, 418, "text/html; charset=UTF-8", "teapot")
		body, _ = json.Marshal(map[string]any{"e": "just text"})
		expectWebError(t, ts.webReq("POST", "/api/v1/web/guest/default/fails.json", body, map[string]string{"Content-Type": "application/json"}),
			400, "Response is not valid 'application/json'.")
	})
	t.Run("developer error", func(t *testing.T) {
		r := ts.webReq("GET", "/api/v1/web/guest/default/crash.json", nil, nil)
		expectWebError(t, r, 400, "There was an error processing your request.")
		if r.header.Get("x-openwhisk-activation-id") == "" {
			t.Errorf("no activation id on a failed web activation")
		}
	})
}

func TestWebActionAccessAndCORS(t *testing.T) {
	ts := startTestServer(t)
	ts.putAction("open", "python:3.11", pyWebEcho, map[string]any{"annotations": webAnn(false)})
	ts.putAction("hidden", "python:3.11", pyWebEcho, nil)
	ts.putAction("unexported", "python:3.11", pyWebEcho, map[string]any{"annotations": []map[string]any{{"key": "web-export", "value": false}}})
	ts.putAction("needsKey", "python:3.11", pyWebEcho, map[string]any{"annotations": webAnn(false,
		map[string]any{"key": "require-whisk-auth", "value": true})})
	ts.putAction("secret", "python:3.11", pyWebEcho, map[string]any{"annotations": webAnn(false,
		map[string]any{"key": "require-whisk-auth", "value": "s3cret"})})
	ts.putAction("numbered", "python:3.11", pyWebEcho, map[string]any{"annotations": webAnn(false,
		map[string]any{"key": "require-whisk-auth", "value": 7329845})})
	ts.putAction("options", "python:3.11",
		"def main(p):\n    return {'statusCode': 200, 'headers': {'Access-Control-Allow-Origin': 'example.com', 'X-Method': p['__ow_method']}}\n",
		map[string]any{"annotations": webAnn(false,
			map[string]any{"key": "web-custom-options", "value": true},
			map[string]any{"key": "require-whisk-auth", "value": true})})

	t.Run("not exported is not found", func(t *testing.T) {
		missing := ts.webReq("GET", "/api/v1/web/guest/default/nothing.json", nil, nil)
		expectWebError(t, missing, 404, "The requested resource does not exist.")
		for _, p := range []string{"/api/v1/web/guest/default/hidden.json", "/api/v1/web/guest/default/unexported.json",
			"/api/v1/web/nobody/default/open.json", "/api/v1/web/guest/nopkg/open.json"} {
			r := ts.webReq("GET", p, nil, nil)
			expectWebError(t, r, 404, "The requested resource does not exist.")
			if r.header.Get("x-openwhisk-activation-id") != "" || r.header.Get("Access-Control-Allow-Origin") != missing.header.Get("Access-Control-Allow-Origin") {
				t.Errorf("%s answers unlike a missing action: %v", p, r.header)
			}
		}
	})

	t.Run("require-whisk-auth true", func(t *testing.T) {
		expectWebError(t, ts.webReq("GET", "/api/v1/web/guest/default/needsKey.json", nil, nil), 401, "The supplied authentication is invalid.")
		bad := ts.webReq("GET", "/api/v1/web/guest/default/needsKey.json", nil, map[string]string{"Authorization": basicAuth(ts.key.UUID + ":wrong-secret-wrong-secret")})
		expectWebError(t, bad, 401, "The supplied authentication is invalid.")
		if bad.header.Get("WWW-Authenticate") != "" {
			t.Errorf("a web action's 401 challenges for the platform's credentials")
		}
		r := ts.webReq("GET", "/api/v1/web/guest/default/needsKey.json", nil, map[string]string{"Authorization": basicAuth(ts.key.String())})
		if r.status != 200 || r.object(t)["__ow_user"] != "guest" {
			t.Errorf("with the key: %d %s", r.status, r.body)
		}
		// Another namespace's key is valid credentials too; its activation is the owner's.
		alice := ts.createNamespace("alice")
		r = ts.webReq("GET", "/api/v1/web/guest/default/needsKey.json", nil, map[string]string{"Authorization": basicAuth(alice)})
		if r.status != 200 || r.object(t)["__ow_user"] != "alice" {
			t.Fatalf("with alice's key: %d %s", r.status, r.body)
		}
		id := r.header.Get("x-openwhisk-activation-id")
		if act := ts.getActivation(id); act.Namespace != "guest" {
			t.Errorf("the activation is in %q, want the owner's namespace", act.Namespace)
		}
		if got := ts.do("GET", "/api/v1/namespaces/_/activations/"+id, nil, alice); got.status != 404 {
			t.Errorf("the caller reads the owner's activation: %d", got.status)
		}
	})

	t.Run("require-whisk-auth secret", func(t *testing.T) {
		for _, c := range []struct {
			path, header string
			status       int
		}{
			{"secret", "", 401}, {"secret", "wrong", 401}, {"secret", "s3cret", 200},
			{"numbered", "", 401}, {"numbered", "7329845", 200},
		} {
			h := map[string]string{}
			if c.header != "" {
				h["X-Require-Whisk-Auth"] = c.header
			}
			if r := ts.webReq("GET", "/api/v1/web/guest/default/"+c.path+".json", nil, h); r.status != c.status {
				t.Errorf("%s with %q: %d, want %d", c.path, c.header, r.status, c.status)
			}
		}
	})

	t.Run("cors", func(t *testing.T) {
		r := ts.webReq("GET", "/api/v1/web/guest/default/open.json", nil, nil)
		if r.header.Get("Access-Control-Allow-Origin") != "*" ||
			r.header.Get("Access-Control-Allow-Methods") != "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH" ||
			r.header.Get("Access-Control-Allow-Headers") != "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent" {
			t.Errorf("CORS headers %v", r.header)
		}
		r = ts.webReq("OPTIONS", "/api/v1/web/guest/default/open.json", nil, map[string]string{"Access-Control-Request-Headers": "X-Foo, X-Bar"})
		if r.status != 200 || len(r.body) != 0 || r.header.Get("x-openwhisk-activation-id") != "" ||
			r.header.Get("Access-Control-Allow-Headers") != "X-Foo, X-Bar" || r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("preflight: %d %v %q", r.status, r.header, r.body)
		}
		// A preflight of a secured action needs no credentials.
		if r = ts.webReq("OPTIONS", "/api/v1/web/guest/default/needsKey.json", nil, nil); r.status != 200 {
			t.Errorf("preflight of a secured action: %d", r.status)
		}
	})

	t.Run("custom options", func(t *testing.T) {
		r := ts.webReq("OPTIONS", "/api/v1/web/guest/default/options", nil, nil)
		if r.status != 200 || r.header.Get("X-Method") != "options" || r.header.Get("Access-Control-Allow-Origin") != "example.com" ||
			r.header.Get("Access-Control-Allow-Methods") != "" || r.header.Get("x-openwhisk-activation-id") == "" {
			t.Errorf("custom options: %d %v", r.status, r.header)
		}
		// Other methods still need the credentials.
		expectWebError(t, ts.webReq("GET", "/api/v1/web/guest/default/options", nil, nil), 401, "The supplied authentication is invalid.")
	})
}

func TestWebActionNotReady(t *testing.T) {
	ts := startTestServer(t, func(c *serverConfig) { c.Controller.MaxBlockingWait = 300 * time.Millisecond })
	ts.putAction("slow", "python:3.11", pySlow, map[string]any{"annotations": webAnn(false)})
	r := ts.webReq("GET", "/api/v1/web/guest/default/slow.json?sleep=1", nil, nil)
	expectWebError(t, r, 202, "Response not yet ready.")
	id := r.header.Get("x-openwhisk-activation-id")
	if act := ts.getActivation(id); resultOf(t, act)["slept"] != true {
		t.Errorf("the activation did not complete: %+v", act.Response)
	}
}

func TestWebActionInPackage(t *testing.T) {
	ts := startTestServer(t)
	r := ts.do("PUT", "/api/v1/namespaces/_/packages/site", map[string]any{"parameters": []map[string]any{{"key": "from", "value": "package"}}})
	if r.status == 404 {
		t.Skip("the packages API is not served yet")
	}
	ts.mustStatus(r, 200)
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/actions/site/page?overwrite=true", map[string]any{
		"exec": map[string]any{"kind": "python:3.11", "code": pyWebEcho}, "annotations": webAnn(false)}), 200)
	r = ts.webReq("GET", "/api/v1/web/guest/site/page.json", nil, nil)
	if r.status != 200 || r.object(t)["from"] != "package" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/packages/mysite", map[string]any{
		"binding": map[string]any{"namespace": "guest", "name": "site"}, "parameters": []map[string]any{{"key": "from", "value": "binding"}}}), 200)
	r = ts.webReq("GET", "/api/v1/web/guest/mysite/page.json", nil, nil)
	if r.status != 200 || r.object(t)["from"] != "binding" {
		t.Errorf("through a binding: %d %s", r.status, r.body)
	}
}

// TestWebAndSequenceCLI makes a sequence and a web action with the CLI and
// uses them as wsk users do.
func TestWebAndSequenceCLI(t *testing.T) {
	ts := startTestServer(t)
	clearClientEnv(t)
	t.Setenv("WSK_CONFIG_FILE", filepath.Join(t.TempDir(), "wskprops"))
	t.Setenv("GUST_APIHOST", ts.base)
	t.Setenv("GUST_AUTH", ts.key.String())
	t.Setenv("NO_COLOR", "1")
	inc := writeFile(t, "inc.py", pyInc)
	page := writeFile(t, "page.py", "def main(p):\n    return {'body': '<h1>' + p.get('name', 'nobody') + '</h1>'}\n")
	steps := []struct {
		args   []string
		code   int
		stdout string
	}{
		{args: []string{"action", "create", "inc", inc}, stdout: "ok: created action inc\n"},
		{args: []string{"action", "create", "inc3", "--sequence", "inc,inc,/_/inc"}, stdout: "ok: created action inc3\n"},
		{args: []string{"action", "invoke", "inc3", "-p", "n", "1", "-r"}, stdout: "\"n\": 4"},
		{args: []string{"action", "get", "inc3", "exec"}, stdout: "\"kind\": \"sequence\""},
		{args: []string{"action", "create", "page", page, "--web", "true"}, stdout: "ok: created action page\n"},
		{args: []string{"action", "get", "page", "--url"}, stdout: ts.base + "/api/v1/web/guest/default/page\n"},
		{args: []string{"action", "create", "hidden", page}, stdout: "ok: created action hidden\n"},
		{args: []string{"action", "get", "hidden", "--url"}, stdout: ts.base + "/api/v1/namespaces/guest/actions/hidden\n"},
	}
	for _, s := range steps {
		out, errOut, code := runCLI(t, s.args...)
		if code != s.code || !strings.Contains(out, s.stdout) {
			t.Fatalf("gust %s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout containing %q",
				strings.Join(s.args, " "), code, s.code, out, errOut, s.stdout)
		}
	}
	// The URL `action get --url` printed serves the page.
	r := ts.webReq("GET", "/api/v1/web/guest/default/page.html?name=Ada", nil, nil)
	if r.status != 200 || string(r.body) != "<h1>Ada</h1>" {
		t.Errorf("web page: %d %s", r.status, r.body)
	}
	if out, _, _ := runCLI(t, "activation", "list", "inc3"); !strings.Contains(out, "inc3") {
		t.Errorf("the sequence's activation is not listed:\n%s", out)
	}
}
