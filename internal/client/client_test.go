package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

const testKey = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"

// recorded is one request as the server saw it.
type recorded struct {
	Method, URI, Auth, UA, ContentType string
	Body                               string
	HasAuth                            bool
}

// fakeAPI answers every request with the next canned reply and records what
// it received: these tests check the client's wire encoding, not a server.
type fakeAPI struct {
	mu      sync.Mutex
	reqs    []recorded
	replies []reply
}

type reply struct {
	status int
	body   string
	header map[string]string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	user, pass, ok := r.BasicAuth()
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{
		Method: r.Method, URI: r.RequestURI, Auth: user + ":" + pass, HasAuth: ok,
		UA: r.UserAgent(), ContentType: r.Header.Get("Content-Type"), Body: string(body),
	})
	rep := reply{status: 200, body: "{}"}
	if len(f.replies) > 0 {
		rep, f.replies = f.replies[0], f.replies[1:]
	}
	f.mu.Unlock()
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

func (f *fakeAPI) last(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("no request received")
	}
	return f.reqs[len(f.reqs)-1]
}

func newTestClient(t *testing.T, replies ...reply) (*Client, *fakeAPI) {
	t.Helper()
	f := &fakeAPI{replies: replies}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(Config{APIHost: srv.URL, AuthKey: testKey, UserAgent: "gust-test"})
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

func TestBaseURL(t *testing.T) {
	cases := []struct {
		in, want, err string
	}{
		{in: "localhost:3233", want: "http://localhost:3233"},
		{in: "127.0.0.1:3233", want: "http://127.0.0.1:3233"},
		{in: "[::1]:3233", want: "http://[::1]:3233"},
		{in: "0.0.0.0:3233", want: "http://0.0.0.0:3233"},
		{in: "openwhisk.example.com", want: "https://openwhisk.example.com"},
		{in: "10.1.2.3:443", want: "https://10.1.2.3:443"},
		{in: "http://gust.example.com:8080/", want: "http://gust.example.com:8080"},
		{in: "https://localhost:3233", want: "https://localhost:3233"},
		{in: "https://host/prefix/api/v1", want: "https://host/prefix"},
		{in: " http://localhost:3233/api ", want: "http://localhost:3233"},
		{in: "", err: "client: no API host"},
		{in: "ftp://host", err: `client: API host "ftp://host": scheme must be http or https`},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			u, err := BaseURL(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("BaseURL(%q) error = %v, want %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.String() != tc.want {
				t.Fatalf("BaseURL(%q) = %s, want %s", tc.in, u, tc.want)
			}
		})
	}
}

func TestNewRejectsMalformedKey(t *testing.T) {
	_, err := New(Config{APIHost: "localhost", AuthKey: "nocolon"})
	if err == nil || err.Error() != "client: an API key has the form UUID:SECRET" {
		t.Fatalf("err = %v", err)
	}
}

func TestPathsAndHeaders(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		list bool // the reply is an array
		call func(c *Client) error
		want recorded
	}{
		{
			name: "get with code",
			call: func(c *Client) error { _, err := c.GetAction(ctx, "hello", true); return err },
			want: recorded{Method: "GET", URI: "/api/v1/namespaces/_/actions/hello?code=true"},
		},
		{
			name: "segments escaped one by one",
			call: func(c *Client) error { _, err := c.GetAction(ctx, "/guest/my pkg/a?b#c", false); return err },
			want: recorded{Method: "GET", URI: "/api/v1/namespaces/guest/actions/my%20pkg/a%3Fb%23c?code=false"},
		},
		{
			name: "package relative to the client's namespace",
			call: func(c *Client) error { _, err := c.DeleteAction(ctx, "utils/echo"); return err },
			want: recorded{Method: "DELETE", URI: "/api/v1/namespaces/_/actions/utils/echo"},
		},
		{
			name: "list always sends limit and skip", list: true,
			call: func(c *Client) error { _, err := c.ListActions(ctx, "", ListOptions{}); return err },
			want: recorded{Method: "GET", URI: "/api/v1/namespaces/_/actions?limit=0&skip=0"},
		},
		{
			name: "package listing has a trailing slash", list: true,
			call: func(c *Client) error {
				_, err := c.ListActions(ctx, "/guest/utils", ListOptions{Skip: 5, Limit: 10})
				return err
			},
			want: recorded{Method: "GET", URI: "/api/v1/namespaces/guest/actions/utils/?limit=10&skip=5"},
		},
		{
			name: "count",
			call: func(c *Client) error { _, err := c.CountActions(ctx, "/other"); return err },
			want: recorded{Method: "GET", URI: "/api/v1/namespaces/other/actions?count=true"},
		},
		{
			name: "put with explicit overwrite and no HTML escaping",
			call: func(c *Client) error {
				code := "x => x < 1"
				_, err := c.PutAction(ctx, "hello", &whisk.ActionPut{Exec: &whisk.Exec{Kind: "nodejs:default", Code: &code}}, false)
				return err
			},
			want: recorded{Method: "PUT", URI: "/api/v1/namespaces/_/actions/hello?overwrite=false", ContentType: "application/json",
				Body: `{"exec":{"kind":"nodejs:default","code":"x => x < 1","binary":false}}`},
		},
		{
			name: "activations", list: true,
			call: func(c *Client) error {
				_, err := c.ListActivations(ctx, ActivationListOptions{Name: "pkg/hello", Since: 10, Upto: 20, Limit: 30, Docs: true})
				return err
			},
			want: recorded{Method: "GET", URI: "/api/v1/namespaces/_/activations?docs=true&limit=30&name=pkg%2Fhello&since=10&skip=0&upto=20"},
		},
		{
			name: "activation count drops paging",
			call: func(c *Client) error {
				_, err := c.CountActivations(ctx, ActivationListOptions{Name: "hello", Limit: 30, Docs: true})
				return err
			},
			want: recorded{Method: "GET", URI: "/api/v1/namespaces/_/activations?count=true&name=hello"},
		},
		{
			name: "activation logs",
			call: func(c *Client) error {
				_, err := c.GetActivationLogs(ctx, "0123456789abcdef0123456789abcdef")
				return err
			},
			want: recorded{Method: "GET", URI: "/api/v1/namespaces/_/activations/0123456789abcdef0123456789abcdef/logs"},
		},
		{
			name: "limits",
			call: func(c *Client) error { _, err := c.GetLimits(ctx, ""); return err },
			want: recorded{Method: "GET", URI: "/api/v1/namespaces/_/limits"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := "{}"
			if tc.list {
				body = "[]"
			}
			c, f := newTestClient(t, reply{status: 200, body: body})
			if err := tc.call(c); err != nil {
				t.Fatal(err)
			}
			got := f.last(t)
			if got.Method != tc.want.Method || got.URI != tc.want.URI {
				t.Fatalf("request = %s %s, want %s %s", got.Method, got.URI, tc.want.Method, tc.want.URI)
			}
			if got.Body != tc.want.Body {
				t.Fatalf("body = %q, want %q", got.Body, tc.want.Body)
			}
			if got.ContentType != tc.want.ContentType {
				t.Fatalf("content type = %q, want %q (only with a body)", got.ContentType, tc.want.ContentType)
			}
			if got.Auth != testKey || got.UA != "gust-test" {
				t.Fatalf("auth %q, user agent %q", got.Auth, got.UA)
			}
		})
	}
}

func TestInvalidNames(t *testing.T) {
	c, _ := newTestClient(t)
	for _, name := range []string{"", "a/b/c", "/ns", "/ns/p/a/b", "pkg//a"} {
		if _, err := c.GetAction(context.Background(), name, false); !errors.Is(err, ErrInvalidName) {
			t.Errorf("GetAction(%q) error = %v, want ErrInvalidName", name, err)
		}
	}
}

func TestInfoSendsNoKey(t *testing.T) {
	c, f := newTestClient(t, reply{status: 200, body: `{"description":"OpenWhisk API","api_version":"1.0.0","api_version_path":"v1","build":"b","buildno":"7"}`})
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.BuildNo != "7" || info.APIVersion != "1.0.0" {
		t.Fatalf("info = %+v", info)
	}
	if got := f.last(t); got.HasAuth || got.URI != "/api/v1" {
		t.Fatalf("request %s, auth sent: %v", got.URI, got.HasAuth)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name  string
		reply reply
		want  Error
		text  string
	}{
		{
			name:  "openwhisk error",
			reply: reply{status: 404, body: `{"error":"The requested resource does not exist.","code":"a1b2"}`},
			want:  Error{StatusCode: 404, Message: "The requested resource does not exist.", Code: "a1b2"},
			text:  "The requested resource does not exist. (code a1b2)",
		},
		{
			name:  "numeric code of older servers",
			reply: reply{status: 409, body: `{"error":"resource already exists","code":1422870}`},
			want:  Error{StatusCode: 409, Message: "resource already exists", Code: "1422870"},
			text:  "resource already exists (code 1422870)",
		},
		{
			name:  "not an openwhisk body",
			reply: reply{status: 503, body: "<html>bad gateway</html>"},
			want:  Error{StatusCode: 503, Message: "the server answered HTTP 503 Service Unavailable: <html>bad gateway</html>"},
			text:  "the server answered HTTP 503 Service Unavailable: <html>bad gateway</html>",
		},
		{
			name:  "error without code",
			reply: reply{status: 401, body: `{"error":"nope"}`},
			want:  Error{StatusCode: 401, Message: `the server answered HTTP 401 Unauthorized: {"error":"nope"}`},
			text:  `the server answered HTTP 401 Unauthorized: {"error":"nope"}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestClient(t, tc.reply)
			_, err := c.GetAction(context.Background(), "hello", false)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if e.StatusCode != tc.want.StatusCode || e.Message != tc.want.Message || e.Code != tc.want.Code {
				t.Fatalf("error = %+v, want %+v", e, tc.want)
			}
			if e.Error() != tc.text {
				t.Fatalf("Error() = %q, want %q", e.Error(), tc.text)
			}
			if StatusCodeOf(err) != tc.want.StatusCode {
				t.Fatalf("StatusCodeOf = %d", StatusCodeOf(err))
			}
		})
	}
}

const activationJSON = `{"namespace":"guest","name":"hello","version":"0.0.1","subject":"guest",
"activationId":"0123456789abcdef0123456789abcdef","start":1,"end":9,"duration":8,"statusCode":%d,
"response":{"status":"%s","statusCode":%d,"success":%t,"result":%s},"logs":[],"annotations":[],"publish":false}`

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func fmtActivation(code int, status string, success bool, result string) string {
	s := activationJSON
	s = strings.Replace(s, "%d", itoa(code), 1)
	s = strings.Replace(s, "%s", status, 1)
	s = strings.Replace(s, "%d", itoa(code), 1)
	b, _ := json.Marshal(success)
	s = strings.Replace(s, "%t", string(b), 1)
	s = strings.Replace(s, "%s", result, 1)
	return s
}

func TestInvoke(t *testing.T) {
	ctx := context.Background()
	const id = "0123456789abcdef0123456789abcdef"
	idHeader := map[string]string{"X-Openwhisk-Activation-Id": id}

	t.Run("non-blocking", func(t *testing.T) {
		c, f := newTestClient(t, reply{status: 202, body: `{"activationId":"` + id + `"}`})
		inv, err := c.Invoke(ctx, "hello", map[string]any{"name": "Ada"}, InvokeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if inv.ActivationID != id || inv.Completed() {
			t.Fatalf("invocation = %+v", inv)
		}
		got := f.last(t)
		if got.URI != "/api/v1/namespaces/_/actions/hello?blocking=false&result=false" || got.Body != `{"name":"Ada"}` {
			t.Fatalf("request %s %s", got.URI, got.Body)
		}
	})

	t.Run("blocking with timeout and no params", func(t *testing.T) {
		c, f := newTestClient(t, reply{status: 200, body: fmtActivation(0, "success", true, `{"ok":1}`)})
		inv, err := c.Invoke(ctx, "hello", nil, InvokeOptions{Blocking: true, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if inv.Activation == nil || inv.ActivationID != id || string(inv.Activation.Response.Result) != `{"ok":1}` {
			t.Fatalf("invocation = %+v", inv)
		}
		got := f.last(t)
		if got.URI != "/api/v1/namespaces/_/actions/hello?blocking=true&result=false&timeout=5000" || got.Body != "" || got.ContentType != "" {
			t.Fatalf("request %s body %q type %q", got.URI, got.Body, got.ContentType)
		}
	})

	t.Run("result", func(t *testing.T) {
		c, _ := newTestClient(t, reply{status: 200, body: `{"ok":1}`, header: idHeader})
		inv, err := c.Invoke(ctx, "hello", nil, InvokeOptions{Blocking: true, Result: true})
		if err != nil {
			t.Fatal(err)
		}
		if string(inv.Result) != `{"ok":1}` || inv.ActivationID != id || inv.Activation != nil {
			t.Fatalf("invocation = %+v", inv)
		}
	})

	t.Run("array result comes bare", func(t *testing.T) {
		c, _ := newTestClient(t, reply{status: 200, body: `[1,2]`, header: idHeader})
		inv, err := c.Invoke(ctx, "hello", nil, InvokeOptions{Blocking: true})
		if err != nil {
			t.Fatal(err)
		}
		if string(inv.Result) != `[1,2]` || inv.Activation != nil {
			t.Fatalf("invocation = %+v", inv)
		}
	})

	t.Run("blocking not finished in time", func(t *testing.T) {
		c, _ := newTestClient(t, reply{status: 202, body: `{"activationId":"` + id + `"}`})
		inv, err := c.Invoke(ctx, "hello", nil, InvokeOptions{Blocking: true})
		if err != nil || inv.Completed() || inv.ActivationID != id {
			t.Fatalf("invocation = %+v, err = %v", inv, err)
		}
	})

	t.Run("application error returns the activation and an error", func(t *testing.T) {
		c, _ := newTestClient(t, reply{status: 502, body: fmtActivation(1, "application error", false, `{"error":"boom"}`)})
		inv, err := c.Invoke(ctx, "hello", nil, InvokeOptions{Blocking: true})
		var e *Error
		if !errors.As(err, &e) || !e.ActionFailed() || e.Activation == nil {
			t.Fatalf("err = %v", err)
		}
		if e.Error() != "the action failed (application error): boom" {
			t.Fatalf("message %q", e.Error())
		}
		if inv == nil || inv.Activation == nil || inv.StatusCode != 502 || inv.ActivationID != id {
			t.Fatalf("invocation = %+v", inv)
		}
	})

	t.Run("application error with result", func(t *testing.T) {
		c, _ := newTestClient(t, reply{status: 502, body: `{"error":{"message":"boom"}}`, header: idHeader})
		inv, err := c.Invoke(ctx, "hello", nil, InvokeOptions{Blocking: true, Result: true})
		var e *Error
		if !errors.As(err, &e) || string(e.Result) != `{"error":{"message":"boom"}}` {
			t.Fatalf("err = %#v", err)
		}
		if e.Error() != `the action failed (failed): {"message":"boom"}` {
			t.Fatalf("message %q", e.Error())
		}
		if inv == nil || inv.ActivationID != id {
			t.Fatalf("invocation = %+v", inv)
		}
	})

	t.Run("platform errors are not activations", func(t *testing.T) {
		for _, rep := range []reply{
			{status: 404, body: `{"error":"The requested resource does not exist.","code":"x1"}`},
			{status: 502, body: `{"error":"gateway","code":"x2"}`},
			{status: 429, body: `{"error":"Too many requests in the last minute (count: 2, allowed: 1).","code":"x3"}`},
		} {
			c, _ := newTestClient(t, rep)
			inv, err := c.Invoke(ctx, "hello", nil, InvokeOptions{Blocking: true})
			var e *Error
			if inv != nil || !errors.As(err, &e) || e.ActionFailed() || e.StatusCode != rep.status {
				t.Fatalf("%d: inv = %+v, err = %v", rep.status, inv, err)
			}
		}
	})
}

func TestCaptureBodyAndDebug(t *testing.T) {
	var trace bytes.Buffer
	f := &fakeAPI{replies: []reply{{status: 200, body: `["guest"]`}}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := New(Config{APIHost: srv.URL, AuthKey: testKey, Debug: &trace})
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	ns, err := c.ListNamespaces(CaptureBody(context.Background(), &raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0] != "guest" || string(raw) != `["guest"]` {
		t.Fatalf("namespaces %v, raw %q", ns, raw)
	}
	secret := strings.SplitN(testKey, ":", 2)[1]
	if !strings.Contains(trace.String(), "> GET "+srv.URL+"/api/v1/namespaces") || strings.Contains(trace.String(), secret) {
		t.Fatalf("trace:\n%s", trace.String())
	}
}

func TestConnectionError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := New(Config{APIHost: url, AuthKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListNamespaces(context.Background())
	if err == nil || StatusCodeOf(err) != 0 {
		t.Fatalf("err = %v", err)
	}
}

func TestByteSize(t *testing.T) {
	cases := []struct {
		in   string
		want ByteSize
		text string
	}{
		{`"1048576 B"`, 1 << 20, "1 MB"},
		{`"1 MB"`, 1 << 20, "1 MB"},
		{`"48m"`, 48 << 20, "48 MB"},
		{`"512 KB"`, 512 << 10, "512 KB"},
		{`1500`, 1500, "1500 B"},
	}
	for _, tc := range cases {
		var b ByteSize
		if err := json.Unmarshal([]byte(tc.in), &b); err != nil || b != tc.want || b.String() != tc.text {
			t.Errorf("%s: %d %q %v, want %d %q", tc.in, b, b.String(), err, tc.want, tc.text)
		}
	}
	var b ByteSize
	if err := json.Unmarshal([]byte(`"lots"`), &b); err == nil {
		t.Error(`"lots" read as a size`)
	}
	if out, _ := json.Marshal(ByteSize(1 << 20)); string(out) != `"1048576 B"` {
		t.Errorf("marshal: %s", out)
	}
}
