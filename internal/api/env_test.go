package api

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gustfaas/gust/internal/bus/inproc"
	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/invoker"
	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/store/sqlite"
	"github.com/gustfaas/gust/internal/whisk"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// Keys of the test namespaces, in OpenWhisk's shape.
var (
	guestKey = whisk.AuthKey{UUID: "23bc46b1-71f6-4ed5-8c54-816aa4f8c502", Secret: "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"}
	otherKey = whisk.AuthKey{UUID: "789c46b1-71f6-4ed5-8c54-816aa4f8c502", Secret: "abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"}
)

// clock is a settable test clock: every reading advances it by one
// millisecond, so that entities written one after the other sort newest
// first deterministically.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one API server over a fresh SQLite store.
type env struct {
	t     testing.TB
	srv   *httptest.Server
	store *sqlite.Store
	ctl   *controller.Controller
	clock *clock
	reg   *prometheus.Registry
	rec   *invoker.Recorder
}

type envOption func(*controller.Config, *controller.Deps)

// newEnv starts a server whose invoker refuses work with 503 (tests that run
// actions wire the real invoker instead) and whose non-blocking work goes to
// the real in-process bus over the store's durable queue.
func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "gust.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	for _, ns := range []struct {
		name string
		key  whisk.AuthKey
	}{{"guest", guestKey}, {"other", otherKey}} {
		if err := st.CreateNamespace(ctx, store.Namespace{Name: ns.name, Subject: ns.name, UUID: ns.key.UUID, KeyHash: whisk.HashSecret(ns.key.Secret)}); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	clk := &clock{t: time.UnixMilli(1717000000000)}
	reg := prometheus.NewRegistry()
	rec := invoker.NewRecorder(invoker.DefaultRecorderConfig(), st, log)
	t.Cleanup(rec.Close)
	b := inproc.New(inproc.DefaultConfig(), st, log)
	t.Cleanup(func() { b.Close() })

	cfg := controller.DefaultConfig()
	deps := controller.Deps{
		Store:    st,
		Invoker:  unavailableInvoker{},
		Acceptor: invoker.Acceptor{Bus: b},
		Recorder: rec,
		Records:  rec,
		Kinds:    testKinds(),
		Now:      clk.Now,
		Logger:   log,
		Metrics:  reg,
	}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	ctl, err := controller.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	s := New(DefaultConfig(), Deps{
		Controller: ctl, Gatherer: reg, Metrics: reg, Logger: log,
		Build: BuildInfo{Date: "2026-01-01T00:00:00Z", Version: "test"},
	})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, store: st, ctl: ctl, clock: clk, reg: reg, rec: rec}
}

// unavailableInvoker is the invoker of a server that has none to offer.
type unavailableInvoker struct{}

func (unavailableInvoker) Start(*whisk.ActivationMessage) (<-chan *whisk.Activation, error) {
	return nil, &whisk.Error{Code: whisk.CodeUnavailable, Message: whisk.MsgNoInvokers}
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

// do sends a request as key (nil = no credentials). body may be a string,
// []byte or any value to encode as JSON.
func (e *env) do(key *whisk.AuthKey, method, path string, body any, headers ...string) response {
	e.t.Helper()
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
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != nil {
		req.SetBasicAuth(key.UUID, key.Secret)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if res.Header.Get("X-Request-ID") == "" {
		e.t.Errorf("%s %s: no X-Request-ID", method, path)
	}
	// A failed activation's 502 or 500 carries the activation, not a
	// platform error: the Go client tells them apart by the code field.
	if res.StatusCode >= 400 && res.Header.Get("x-openwhisk-activation-id") == "" {
		checkErrorBody(e.t, method+" "+path, res.Header, data)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// checkErrorBody asserts OpenWhisk's error shape: exactly error and a
// non-empty code equal to the request's transaction id.
func checkErrorBody(t testing.TB, what string, h http.Header, body []byte) {
	t.Helper()
	var eb map[string]any
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Errorf("%s: error body %q is not JSON: %v", what, body, err)
		return
	}
	msg, _ := eb["error"].(string)
	code, _ := eb["code"].(string)
	if msg == "" || code == "" || len(eb) != 2 {
		t.Errorf("%s: error body %s lacks error or code", what, body)
	}
	if code != h.Get("X-Request-ID") {
		t.Errorf("%s: code %q is not the X-Request-ID %q", what, code, h.Get("X-Request-ID"))
	}
}

// expectError asserts status and message of an error response.
func expectError(t *testing.T, r response, status int, message string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	var eb errorBody
	r.json(t, &eb)
	if eb.Error != message {
		t.Fatalf("error %q\nwant  %q", eb.Error, message)
	}
}

func expectStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
// JSON is compared after indenting, so that the files are readable.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if json.Valid(got) {
		if err := json.Indent(&pretty, got, "", "  "); err != nil {
			t.Fatal(err)
		}
		pretty.WriteByte('\n')
		got = pretty.Bytes()
	}
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n got: %s\nwant: %s", name, got, want)
	}
}

// scrub replaces the values of volatile JSON fields (transaction ids,
// activation ids) so that golden files stay stable.
func scrub(body []byte, fields ...string) []byte {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return body
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, val := range x {
				for _, f := range fields {
					if k == f {
						x[k] = "<" + f + ">"
					}
				}
				walk(val)
			}
		case []any:
			for _, val := range x {
				walk(val)
			}
		}
	}
	walk(v)
	out, _ := json.Marshal(v)
	return out
}

// staticRuntime describes a kind for the controller's validation. It cannot
// run anything; tests that run actions use the real runtimes.
type staticRuntime struct {
	kind, family string
}

func (r staticRuntime) Kind() string                                       { return r.kind }
func (r staticRuntime) Family() string                                     { return r.family }
func (r staticRuntime) Image() string                                      { return "openwhisk/action-" + r.family }
func (r staticRuntime) StemCell() bool                                     { return false }
func (r staticRuntime) Prepare(context.Context, *whisk.Exec, string) error { return nil }
func (r staticRuntime) Command(string, map[string]string) runtimes.Command { return runtimes.Command{} }
func (r staticRuntime) InitLine(*whisk.Exec, string, map[string]string) []byte {
	return nil
}
func (r staticRuntime) SupportsConcurrency() bool { return false }

// staticKinds is a registry of described kinds: nodejs:20 (the nodejs
// default), python:3.11, java:8 (requires main) and nodejs:14 (deprecated).
type staticKinds struct {
	byKind map[string]runtimes.Runtime
	kinds  []string
	infos  map[string][]runtimes.Info
}

func (k staticKinds) Infos() map[string][]runtimes.Info { return k.infos }
func (k staticKinds) Kinds() []string                   { return k.kinds }
func (k staticKinds) Lookup(kind string) (runtimes.Runtime, bool) {
	r, ok := k.byKind[kind]
	return r, ok
}

func testKinds() staticKinds {
	k := staticKinds{byKind: map[string]runtimes.Runtime{}, infos: map[string][]runtimes.Info{}}
	for _, e := range []struct {
		family string
		info   runtimes.Info
	}{
		{"nodejs", runtimes.Info{Kind: "nodejs:20", Image: "openwhisk/action-nodejs-v20", Default: true}},
		{"nodejs", runtimes.Info{Kind: "nodejs:14", Image: "openwhisk/action-nodejs-v14", Deprecated: true}},
		{"python", runtimes.Info{Kind: "python:3.11", Image: "openwhisk/action-python-v3.11", Default: true}},
		{"java", runtimes.Info{Kind: "java:8", Image: "openwhisk/java8action", Default: true, Attached: true, RequireMain: true}},
	} {
		rt := staticRuntime{kind: e.info.Kind, family: e.family}
		k.byKind[e.info.Kind] = rt
		k.kinds = append(k.kinds, e.info.Kind)
		k.infos[e.family] = append(k.infos[e.family], e.info)
		if e.info.Default {
			k.byKind[e.family+":default"] = rt
		}
	}
	return k
}
