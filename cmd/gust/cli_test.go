package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// These tests run command lines in-process against a fake API that records
// what it receives: they check what the CLI sends and prints. The end-to-end
// tests against a real server live in e2e_*_test.go.

const cliTestKey = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"

type cliRequest struct {
	method, uri, body string
}

type cliReply struct {
	status int
	body   string
}

// fakeWhisk answers "METHOD /path" (without query) with a canned reply.
type fakeWhisk struct {
	mu      sync.Mutex
	reqs    []cliRequest
	replies map[string]cliReply
}

func (f *fakeWhisk) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, cliRequest{r.Method, r.URL.RequestURI(), string(body)})
	rep, ok := f.replies[r.Method+" "+r.URL.EscapedPath()]
	f.mu.Unlock()
	if _, _, hasAuth := r.BasicAuth(); !hasAuth && strings.HasPrefix(r.URL.Path, "/api/v1/namespaces") {
		rep, ok = cliReply{401, `{"error":"The resource requires authentication, which was not supplied with the request.","code":"t0"}`}, true
	}
	if !ok {
		rep = cliReply{404, `{"error":"The requested resource does not exist.","code":"t404"}`}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

func (f *fakeWhisk) requests() []cliRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]cliRequest(nil), f.reqs...)
}

// startFake serves replies and points the client at it through the
// environment, away from the user's ~/.wskprops.
func startFake(t *testing.T, replies map[string]cliReply) *fakeWhisk {
	t.Helper()
	f := &fakeWhisk{replies: replies}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	clearClientEnv(t)
	t.Setenv("WSK_CONFIG_FILE", filepath.Join(t.TempDir(), "wskprops"))
	t.Setenv("GUST_APIHOST", srv.URL)
	t.Setenv("GUST_AUTH", cliTestKey)
	t.Setenv("NO_COLOR", "1")
	return f
}

const actionDoc = `{"namespace":"guest","name":"hello","version":"0.0.1","publish":false,
"exec":{"kind":"nodejs:20","binary":false},"parameters":[],"limits":{"timeout":60000,"memory":256,"logs":10,"concurrency":1},
"annotations":[{"key":"exec","value":"nodejs:20"},{"key":"web-export","value":true}],"updated":1717000000000}`

const actID = "0123456789abcdef0123456789abcdef"

func activationDoc(status string, code int, result string) string {
	b, _ := json.Marshal(map[string]any{
		"namespace": "guest", "name": "hello", "version": "0.0.1", "subject": "guest", "activationId": actID,
		"start": 1717000000123, "end": 1717000000131, "duration": 8, "statusCode": code,
		"response":    map[string]any{"status": status, "statusCode": code, "success": code == 0, "result": json.RawMessage(result)},
		"logs":        []string{"2024-05-29T16:26:40.123456789Z stdout: hello", "2024-05-29T16:26:40.2Z stderr: oops"},
		"annotations": []map[string]any{{"key": "kind", "value": "nodejs:20"}, {"key": "initTime", "value": 40}},
		"publish":     false,
	})
	return string(b)
}

func TestActionCreateSendsWhatWskSends(t *testing.T) {
	f := startFake(t, map[string]cliReply{"PUT /api/v1/namespaces/_/actions/hello": {200, actionDoc}})
	dir := t.TempDir()
	code := filepath.Join(dir, "hello.js")
	if err := os.WriteFile(code, []byte("function main(a) { return a }"), 0o644); err != nil {
		t.Fatal(err)
	}
	params := filepath.Join(dir, "params.json")
	if err := os.WriteFile(params, []byte(`{"place":"Kansas","name":"nobody"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, status := runCLI(t, "action", "create", "hello", code, "-P", params, "-p", "name", "Ada", "-p", "n", "3",
		"-a", "description", "greets", "--web", "true", "-m", "128", "--main", "greet")
	if status != 0 {
		t.Fatalf("exit %d: %s", status, errOut)
	}
	if out != "ok: created action hello\n" {
		t.Fatalf("stdout %q", out)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].method != "PUT" || reqs[0].uri != "/api/v1/namespaces/_/actions/hello?overwrite=false" {
		t.Fatalf("requests %+v", reqs)
	}
	want := `{"exec":{"kind":"nodejs:default","code":"function main(a) { return a }","main":"greet","binary":false},` +
		`"parameters":[{"key":"place","value":"Kansas"},{"key":"name","value":"Ada"},{"key":"n","value":3}],` +
		`"limits":{"memory":128},` +
		`"annotations":[{"key":"description","value":"greets"},{"key":"web-export","value":true},{"key":"raw-http","value":false},{"key":"final","value":true}]}`
	if reqs[0].body != want {
		t.Fatalf("body\n%s\nwant\n%s", reqs[0].body, want)
	}
}

func TestActionCreateVariants(t *testing.T) {
	dir := mkTree(t, map[string]string{"fn/package.json": "{}", "fn/index.js": "x", "code.zip": "PK"})
	cases := []struct {
		name string
		args []string
		want string // a fragment of the PUT body
	}{
		{name: "sequence", args: []string{"--sequence", "a, pkg/b,/other/c"},
			want: `"exec":{"kind":"sequence","binary":false,"components":["/_/a","/_/pkg/b","/other/c"]}`},
		{name: "directory", args: []string{filepath.Join(dir, "fn")}, want: `"kind":"nodejs:default","code":"UEsDB`},
		{name: "zip with kind", args: []string{filepath.Join(dir, "code.zip"), "--kind", "python:3.11"},
			want: `"exec":{"kind":"python:3.11","code":"UEs=","binary":false}`},
		{name: "native", args: []string{filepath.Join(dir, "code.zip"), "--native"},
			want: `"exec":{"kind":"blackbox","code":"UEs=","image":"openwhisk/dockerskeleton","binary":false}`},
		{name: "docker without code", args: []string{"--docker", "me/img:1"}, want: `"exec":{"kind":"blackbox","image":"me/img:1","binary":false}`},
		{name: "raw web action secured", args: []string{filepath.Join(dir, "fn", "index.js"), "--web", "raw", "--web-secure", "s3"},
			want: `{"key":"raw-http","value":true},{"key":"final","value":true},{"key":"require-whisk-auth","value":"s3"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, map[string]cliReply{"PUT /api/v1/namespaces/_/actions/x": {200, actionDoc}})
			_, errOut, status := runCLI(t, append([]string{"action", "create", "x"}, tc.args...)...)
			if status != 0 {
				t.Fatalf("exit %d: %s", status, errOut)
			}
			if body := f.requests()[0].body; !strings.Contains(body, tc.want) {
				t.Fatalf("body\n%s\nlacks\n%s", body, tc.want)
			}
		})
	}
}

func TestActionUpdate(t *testing.T) {
	f := startFake(t, map[string]cliReply{
		"PUT /api/v1/namespaces/_/actions/hello": {200, actionDoc},
		"GET /api/v1/namespaces/_/actions/hello": {200, actionDoc},
	})
	out, errOut, status := runCLI(t, "action", "update", "hello", "--del-annotation", "description", "--web-secure", "false", "-t", "5000")
	if status != 0 || out != "ok: updated action hello\n" {
		t.Fatalf("exit %d: %q %s", status, out, errOut)
	}
	reqs := f.requests()
	last := reqs[len(reqs)-1]
	if last.uri != "/api/v1/namespaces/_/actions/hello?overwrite=true" ||
		last.body != `{"limits":{"timeout":5000},"delAnnotations":["description"]}` {
		t.Fatalf("request %+v", last)
	}
}

func TestUsageErrors(t *testing.T) {
	startFake(t, nil)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"action", "create", "hello"}, "error: an action name and its code are required\nhint: run 'gust action create --help' for usage\n"},
		{[]string{"action", "create", "x", "a.zip", "--kind", "k", "--docker", "i"}, "error: --kind and --docker exclude each other"},
		{[]string{"action", "get"}, "error: an action name is required\n"},
		{[]string{"action", "get", "x", "nofield"}, `error: invalid field filter "nofield"`},
		{[]string{"action", "invoke", "x", "--bogus"}, "error: unknown flag: --bogus\n"},
		{[]string{"activation", "list", "-p", "a", "b"}, "error: unknown flag: --param\n"},
		{[]string{"action", "create", "x", "x.js", "--web", "maybe"}, `error: --web takes true, yes, raw, false or no, not "maybe"`},
		{[]string{"action", "update", "x", "--web-secure", "true"}, "error: --web-secure is valid only for a web action"},
		{[]string{"-o", "xml", "action", "list"}, `error: --output must be json, yaml or table, not "xml"`},
		{[]string{"actoin"}, `error: unknown command "actoin" for "gust"; did you mean action?`},
		{[]string{"action", "get", "a/b/c"}, `error: unable to get action "a/b/c": invalid entity name "a/b/c"`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, status := runCLI(t, tc.args...)
			if status != exitUsage || !strings.Contains(errOut, tc.want) || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and %q", status, out, errOut, tc.want)
			}
		})
	}
}

func TestAPIErrorsSayWhatToDo(t *testing.T) {
	startFake(t, map[string]cliReply{
		"PUT /api/v1/namespaces/_/actions/hello": {409, `{"error":"resource already exists","code":"c409"}`},
		"GET /api/v1/namespaces/_/actions":       {401, `{"error":"The supplied authentication is invalid.","code":"c401"}`},
	})
	code := writeFile(t, "hello.py", "def main(a): return a")
	_, errOut, status := runCLI(t, "action", "create", "hello", code)
	want := "error: unable to create action \"hello\": resource already exists (code c409)\n" +
		"hint: it exists already; `gust action update hello ...` changes it\n"
	if status != exitFailed || errOut != want {
		t.Fatalf("exit %d, stderr %q", status, errOut)
	}
	_, errOut, status = runCLI(t, "action", "list")
	if status != exitFailed || !strings.Contains(errOut, "hint: the API key was rejected; run `gust property set --auth UUID:KEY`") {
		t.Fatalf("401: exit %d, stderr %q", status, errOut)
	}
	_, errOut, status = runCLI(t, "action", "get", "nope")
	if status != exitFailed || errOut != "error: unable to get action \"nope\": The requested resource does not exist. (code t404)\n"+
		"hint: `gust action list` shows the actions\n" {
		t.Fatalf("404: exit %d, stderr %q", status, errOut)
	}

	t.Setenv("GUST_AUTH", "")
	_, errOut, status = runCLI(t, "action", "list")
	if status != exitFailed || !strings.HasPrefix(errOut, "error: no API key is configured\nhint: run `gust property set --auth UUID:KEY`") {
		t.Fatalf("no key: exit %d, stderr %q", status, errOut)
	}
}

func TestUnreachableServer(t *testing.T) {
	startFake(t, nil)
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	t.Setenv("GUST_APIHOST", srv.URL)
	_, errOut, status := runCLI(t, "action", "list")
	if status != exitFailed || !strings.Contains(errOut, "hint: cannot reach the API host; start a local server with `gust serve`") {
		t.Fatalf("exit %d, stderr %q", status, errOut)
	}
}

func TestInvoke(t *testing.T) {
	const path = "POST /api/v1/namespaces/_/actions/hello"
	cases := []struct {
		name          string
		reply         cliReply
		args          []string
		status        int
		stdout        string
		stderr        string
		uri, body     string
		stderrMatches bool
	}{
		{
			name: "non-blocking", reply: cliReply{202, `{"activationId":"` + actID + `"}`},
			args: []string{"-p", "name", "Ada"}, stdout: "ok: invoked /_/hello with id " + actID + "\n",
			uri: "/api/v1/namespaces/_/actions/hello?blocking=false&result=false", body: `{"name":"Ada"}`,
		},
		{
			name: "result", reply: cliReply{200, `{"greeting":"Hi Ada"}`}, args: []string{"-r"},
			stdout: "{\n    \"greeting\": \"Hi Ada\"\n}\n", uri: "/api/v1/namespaces/_/actions/hello?blocking=true&result=true",
		},
		{
			name: "result as json for scripts", reply: cliReply{200, `{"greeting":"Hi Ada"}`}, args: []string{"-r", "-o", "json"},
			stdout: "{\n    \"greeting\": \"Hi Ada\"\n}\n", uri: "/api/v1/namespaces/_/actions/hello?blocking=true&result=true",
		},
		{
			name: "blocking shows the activation", reply: cliReply{200, activationDoc("success", 0, `{"ok":true}`)}, args: []string{"-b"},
			stdout: "ok: invoked /guest/hello with id " + actID + "\n{\n", uri: "/api/v1/namespaces/_/actions/hello?blocking=true&result=false",
		},
		{
			name: "failed action exits 3 and writes stderr", reply: cliReply{502, activationDoc("application error", 1, `{"error":"boom"}`)},
			args: []string{"-b"}, status: exitActionError, stderr: `"error": "boom"`, stderrMatches: true,
			uri: "/api/v1/namespaces/_/actions/hello?blocking=true&result=false",
		},
		{
			name: "not finished in time exits 4", reply: cliReply{202, `{"activationId":"` + actID + `"}`}, args: []string{"-r"},
			status: exitNotFinished, uri: "/api/v1/namespaces/_/actions/hello?blocking=true&result=true",
			stderr: "ok: invoked /_/hello, but the request has not yet finished, with id " + actID + "\n" +
				"hint: fetch the outcome later with `gust activation get " + actID + "`\n",
		},
		{
			name: "throttled", reply: cliReply{429, `{"error":"Too many requests in the last minute (count: 2, allowed: 1).","code":"c429"}`},
			status: exitFailed, uri: "/api/v1/namespaces/_/actions/hello?blocking=false&result=false",
			stderr: "error: unable to invoke action \"hello\": Too many requests in the last minute (count: 2, allowed: 1). (code c429)\n" +
				"hint: the namespace is throttled; wait a minute, or see its limits with `gust namespace get`\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, map[string]cliReply{path: tc.reply})
			out, errOut, status := runCLI(t, append([]string{"action", "invoke", "hello"}, tc.args...)...)
			if status != tc.status {
				t.Fatalf("exit %d, want %d; stderr %q", status, tc.status, errOut)
			}
			if tc.stdout != "" && !strings.HasPrefix(out, tc.stdout) || tc.stdout == "" && out != "" {
				t.Fatalf("stdout %q, want %q", out, tc.stdout)
			}
			if tc.stderrMatches && !strings.Contains(errOut, tc.stderr) || !tc.stderrMatches && errOut != tc.stderr {
				t.Fatalf("stderr %q, want %q", errOut, tc.stderr)
			}
			r := f.requests()[0]
			if r.uri != tc.uri || r.body != tc.body {
				t.Fatalf("request %s %q, want %s %q", r.uri, r.body, tc.uri, tc.body)
			}
		})
	}
}

func TestReadOutputs(t *testing.T) {
	actionList := `[` + actionDoc + `,{"namespace":"guest/utils","name":"echo","version":"0.0.3","publish":true,"exec":{"binary":false},"annotations":[{"key":"exec","value":"python:3.11"}],"updated":1}]`
	startFake(t, map[string]cliReply{
		"GET /api/v1/namespaces/_/actions":                          {200, actionList},
		"GET /api/v1/namespaces/_/actions/hello":                    {200, actionDoc},
		"GET /api/v1/namespaces/_/activations":                      {200, "[" + activationDoc("success", 0, `{}`) + "]"},
		"GET /api/v1/namespaces/_/activations/" + actID + "/logs":   {200, `{"logs":["2024-05-29T16:26:40.123456789Z stdout: hello","2024-05-29T16:26:40.2Z  stderr: oops"]}`},
		"GET /api/v1/namespaces/_/activations/" + actID + "/result": {200, `{"result":{"n":1},"success":true,"status":"success"}`},
		"GET /api/v1/namespaces/_/limits":                           {200, `{"invocationsPerMinute":120,"concurrentInvocations":0,"minActionMemory":128,"maxActionMemory":512,"maxParameterSize":"1048576 B"}`},
		"GET /api/v1/namespaces":                                    {200, `["guest"]`},
		"GET /api/v1/namespaces/_/activations/" + actID:             {200, activationDoc("success", 0, `{"n":1}`)},
		"GET /api/v1/namespaces/_/packages":                         {200, `[]`},
		"GET /api/v1/namespaces/_/triggers":                         {200, `[]`},
		"GET /api/v1/namespaces/_/rules":                            {200, `[]`},
	})
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"action", "list"}, "actions\n/guest/hello       private  nodejs:20\n/guest/utils/echo  public   python:3.11\n"},
		{[]string{"action", "list", "-o", "json"}, "[\n    {\n        \"namespace\": \"guest\",\n"},
		{[]string{"action", "get", "hello", "limits", "-o", "yaml"}, "timeout: 60000\nmemory: 256\nlogs: 10\nconcurrency: 1\n"},
		{[]string{"action", "get", "hello", "--url"}, "ok: got action hello\nhttp://127.0.0.1:"},
		{[]string{"activation", "logs", "--last", "--strip"}, "hello\noops\n"},
		{[]string{"activation", "result", actID}, "{\n    \"n\": 1\n}\n"},
		{[]string{"activation", "get", "--last", "--summary"}, "activation result for '/guest/hello' (success at "},
		{[]string{"activation", "list"}, "Datetime             Activation ID                     Kind       Start  Duration  Status   Entity\n"},
		{[]string{"namespace", "list"}, "namespaces\nguest\n"},
		{[]string{"namespace", "get"}, "namespace guest\ninvocations per minute  120\nconcurrent invocations  unlimited\naction memory           128 – 512 MB\n"},
		{[]string{"list", "--activations", "0"}, "Entities in namespace: guest\npackages\nactions\n/guest/hello "},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, status := runCLI(t, tc.args...)
			if status != 0 || !strings.HasPrefix(out, tc.want) {
				t.Fatalf("exit %d, stderr %q\nstdout:\n%s\nwant prefix:\n%s", status, errOut, out, tc.want)
			}
		})
	}
}

func TestStripLog(t *testing.T) {
	cases := map[string]string{
		"2024-05-29T16:26:40.123456789Z stdout: hello world": "hello world",
		"2024-05-29T16:26:40.2Z    stderr: oops":             "oops",
		"2024-05-29T16:26:40Z stdout:":                       "",
		"plain line":                                         "plain line",
	}
	for in, want := range cases {
		if got := stripLog(in); got != want {
			t.Errorf("stripLog(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestActionGetSave(t *testing.T) {
	zipped := base64.StdEncoding.EncodeToString([]byte("PK\x03\x04zip"))
	doc := func(kind, code string, binary bool) string {
		b, _ := json.Marshal(map[string]any{"namespace": "guest", "name": "hello", "version": "0.0.1",
			"exec": map[string]any{"kind": kind, "code": code, "binary": binary}, "annotations": []any{}})
		return string(b)
	}
	cases := []struct {
		name, reply, file, content string
	}{
		{"source", doc("nodejs:20", "function main() {}", false), "hello.js", "function main() {}"},
		{"archive", doc("python:3.11", zipped, true), "hello.zip", "PK\x03\x04zip"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, map[string]cliReply{"GET /api/v1/namespaces/_/actions/hello": {200, tc.reply}})
			t.Chdir(t.TempDir())
			out, errOut, status := runCLI(t, "action", "get", "hello", "--save")
			if status != 0 || !strings.HasPrefix(out, "ok: saved action code to ") || !strings.HasSuffix(out, tc.file+"\n") {
				t.Fatalf("exit %d: %q %q", status, out, errOut)
			}
			if got, _ := os.ReadFile(tc.file); string(got) != tc.content {
				t.Fatalf("saved %q", got)
			}
			if r := f.requests()[0]; r.uri != "/api/v1/namespaces/_/actions/hello?code=true" {
				t.Fatalf("request %s", r.uri)
			}
			if _, errOut, status = runCLI(t, "action", "get", "hello", "--save"); status != exitFailed ||
				!strings.Contains(errOut, `the file "`+tc.file+`" exists already`) {
				t.Fatalf("second save: exit %d %q", status, errOut)
			}
		})
	}
}

func TestActionCopy(t *testing.T) {
	src := `{"namespace":"guest","name":"src","version":"0.0.1","exec":{"kind":"python:3.11","code":"def main(a): return a","binary":false},
"parameters":[{"key":"a","value":1},{"key":"b","value":2}],"annotations":[{"key":"exec","value":"python:3.11"},{"key":"description","value":"d"}]}`
	f := startFake(t, map[string]cliReply{
		"GET /api/v1/namespaces/_/actions/src":  {200, src},
		"PUT /api/v1/namespaces/_/actions/copy": {200, actionDoc},
	})
	if _, errOut, status := runCLI(t, "action", "create", "copy", "src", "--copy", "-p", "b", "3"); status != 0 {
		t.Fatalf("exit %d %s", status, errOut)
	}
	want := `{"exec":{"kind":"python:3.11","code":"def main(a): return a","binary":false},` +
		`"parameters":[{"key":"a","value":1},{"key":"b","value":3}],"annotations":[{"key":"description","value":"d"}]}`
	if r := f.requests()[1]; r.body != want {
		t.Fatalf("body\n%s\nwant\n%s", r.body, want)
	}
}

func TestDebugTraceRedactsKey(t *testing.T) {
	startFake(t, map[string]cliReply{"GET /api/v1/namespaces": {200, `["guest"]`}})
	_, errOut, status := runCLI(t, "namespace", "list", "-d")
	secret := cliTestKey[strings.Index(cliTestKey, ":")+1:]
	if status != 0 || !strings.Contains(errOut, "> GET http://127.0.0.1:") || !strings.Contains(errOut, `< ["guest"]`) ||
		strings.Contains(errOut, secret) {
		t.Fatalf("exit %d, trace:\n%s", status, errOut)
	}
}

func TestListAsJSON(t *testing.T) {
	startFake(t, map[string]cliReply{
		"GET /api/v1/namespaces/_/actions":     {200, "[" + actionDoc + "]"},
		"GET /api/v1/namespaces/_/activations": {200, "[]"},
		"GET /api/v1/namespaces":               {200, `["guest"]`},
		"GET /api/v1/namespaces/_/packages":    {200, "[]"},
		"GET /api/v1/namespaces/_/triggers":    {200, "[]"},
		"GET /api/v1/namespaces/_/rules":       {200, "[]"},
	})
	out, errOut, status := runCLI(t, "list", "-o", "json")
	var got map[string][]map[string]any
	if status != 0 || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("exit %d %q %s", status, out, errOut)
	}
	if len(got["actions"]) != 1 || got["actions"][0]["name"] != "hello" || got["activations"] == nil {
		t.Fatalf("list %v", got)
	}
}

func TestMissingCodeFile(t *testing.T) {
	startFake(t, nil)
	_, errOut, status := runCLI(t, "action", "create", "x", "nope.js")
	if status != exitFailed || errOut != "error: cannot read the code: stat nope.js: no such file or directory\n" {
		t.Fatalf("exit %d %q", status, errOut)
	}
}
