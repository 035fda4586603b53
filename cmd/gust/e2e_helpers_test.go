package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// testServer is a real `gust serve` started in-process on a free port, with
// its own data directory, driven over HTTP as a client would.
type testServer struct {
	t    testing.TB
	srv  *server
	base string
	key  whisk.AuthKey
}

func startTestServer(t testing.TB, mutate ...func(*serverConfig)) *testServer {
	t.Helper()
	cfg := defaultServerConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.StemCells = map[string]int{}
	cfg.StemCellsMax = 0 // tests that want stem cells ask for them
	cfg.ShutdownGrace = 5 * time.Second
	cfg.Controller.InvocationsPerMinute = 0
	cfg.Controller.ConcurrentInvocations = 0
	cfg.Controller.FiresPerMinute = 0
	tw := &testLogWriter{t: t}
	t.Cleanup(tw.close) // registered first, so it runs after the server's shutdown
	cfg.Logger = slog.New(slog.NewTextHandler(tw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := startServer(context.Background(), cfg)
	if err != nil {
		t.Fatalf("starting the server: %v", err)
	}
	ts := &testServer{t: t, srv: srv, base: "http://" + srv.Addr(), key: srv.guestKey}
	t.Cleanup(func() {
		if err := srv.shutdown(context.Background()); err != nil {
			t.Logf("shutdown: %v", err)
		}
	})
	return ts
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", r.status, err, r.body)
	}
}

func (r response) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	return m
}

// do sends a request with the guest key (auth "" = the guest key, "-" = none).
func (ts *testServer) do(method, path string, body any, auth ...string) response {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, ts.base+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	key := ts.key.String()
	if len(auth) > 0 {
		key = auth[0]
	}
	if key != "-" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(key)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, data}
}

func (ts *testServer) mustStatus(r response, want int) response {
	ts.t.Helper()
	if r.status != want {
		ts.t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	return r
}

// putAction creates an action from source code.
func (ts *testServer) putAction(name, kind, code string, extra map[string]any) response {
	ts.t.Helper()
	body := map[string]any{"exec": map[string]any{"kind": kind, "code": code}}
	for k, v := range extra {
		body[k] = v
	}
	return ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/actions/"+url.PathEscape(name)+"?overwrite=true", body), 200)
}

// invoke runs an action blocking and returns the activation record.
func (ts *testServer) invoke(name string, params any) (int, whisk.Activation) {
	ts.t.Helper()
	r := ts.do("POST", "/api/v1/namespaces/_/actions/"+url.PathEscape(name)+"?blocking=true", params)
	var act whisk.Activation
	if r.status == 200 || r.status == 502 || r.status == 500 {
		r.json(ts.t, &act)
	} else {
		ts.t.Fatalf("invoke %s: status %d: %s", name, r.status, r.body)
	}
	return r.status, act
}

// waitActivation polls until the record of id is readable.
func (ts *testServer) waitActivation(id string, within time.Duration) whisk.Activation {
	ts.t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := ts.do("GET", "/api/v1/namespaces/_/activations/"+id, nil)
		if r.status == 200 {
			var act whisk.Activation
			r.json(ts.t, &act)
			return act
		}
		if time.Now().After(deadline) {
			ts.t.Fatalf("activation %s not readable after %v: %d %s", id, within, r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func resultOf(t testing.TB, act whisk.Activation) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(act.Response.Result, &m); err != nil {
		t.Fatalf("result %s: %v", act.Response.Result, err)
	}
	return m
}

func annotation(act whisk.Activation, key string) any {
	raw := act.Annotations.Get(key)
	if raw == nil {
		return nil
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	return v
}

// testLogWriter shows the server's warnings and errors in the test's output,
// so that a failure carries its cause, and drops them once the test is over
// (t.Log then panics).
type testLogWriter struct {
	t      testing.TB
	mu     sync.Mutex
	closed bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testLogWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}
