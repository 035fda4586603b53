package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	r := e.do(nil, "GET", "/api/v1/namespaces", nil)
	expectError(t, r, http.StatusUnauthorized, whisk.MsgMissingAuth)
	if got := r.header.Get("WWW-Authenticate"); got != `Basic realm="OpenWhisk secure realm"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
	wrong := guestKey
	wrong.Secret = strings.Repeat("x", 64)
	expectError(t, e.do(&wrong, "GET", "/api/v1/namespaces", nil), http.StatusUnauthorized, whisk.MsgUnauthenticated)
	unknown := guestKey
	unknown.UUID = "00000000-0000-4000-8000-000000000000"
	expectError(t, e.do(&unknown, "GET", "/api/v1/namespaces", nil), http.StatusUnauthorized, whisk.MsgUnauthenticated)
	expectError(t, e.do(nil, "GET", "/api/v1/namespaces", nil, "Authorization", "Bearer x"), http.StatusUnauthorized, whisk.MsgUnauthenticated)

	r = e.do(&guestKey, "GET", "/api/v1/namespaces", nil)
	expectStatus(t, r, http.StatusOK)
	if string(r.body) != `["guest"]` {
		t.Errorf("namespaces: %s", r.body)
	}
	expectStatus(t, e.do(&guestKey, "GET", "/api/v1/namespaces/", nil), http.StatusOK)

	// A key rotated by another process stops working once the cache expires.
	ctx := context.Background()
	ns, err := e.store.GetNamespace(ctx, "guest")
	if err != nil {
		t.Fatal(err)
	}
	rotated := whisk.NewAuthKey()
	ns.KeyHash = whisk.HashSecret(rotated.Secret)
	rotated.UUID = ns.UUID
	if err := e.store.UpdateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, e.do(&rotated, "GET", "/api/v1/namespaces", nil), http.StatusOK)
	e.clock.Advance(controller.DefaultConfig().AuthCacheTTL + time.Second)
	expectError(t, e.do(&guestKey, "GET", "/api/v1/namespaces", nil), http.StatusUnauthorized, whisk.MsgUnauthenticated)
}

func TestRequestIDAndErrorBodies(t *testing.T) {
	e := newEnv(t)
	r := e.do(&guestKey, "GET", actionsPath+"missing", nil, "X-Request-ID", "my-tid-1")
	expectError(t, r, http.StatusNotFound, whisk.MsgNotFound)
	if r.header.Get("X-Request-ID") != "my-tid-1" {
		t.Errorf("X-Request-ID %q, want the adopted one", r.header.Get("X-Request-ID"))
	}
	golden(t, "error_not_found.json", r.body)

	r = e.do(&guestKey, "GET", "/no/such/route", nil)
	expectError(t, r, http.StatusNotFound, whisk.MsgNotFound)
	if len(r.header.Get("X-Request-ID")) != 32 {
		t.Errorf("generated X-Request-ID %q", r.header.Get("X-Request-ID"))
	}
	expectError(t, e.do(&guestKey, "PATCH", actionsPath+"a", nil), http.StatusMethodNotAllowed,
		"HTTP method not allowed, supported methods: GET, PUT, DELETE, POST")
	expectError(t, e.do(&guestKey, "GET", "/api/v1/namespaces/bad%20ns!/actions", nil), http.StatusBadRequest, controller.MsgNamespaceIllegal)
}

func TestCORS(t *testing.T) {
	e := newEnv(t)
	r := e.do(nil, "OPTIONS", "/api/v1/namespaces/_/actions/a", nil)
	expectStatus(t, r, http.StatusOK)
	for h, want := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "GET, DELETE, POST, PUT, HEAD",
		"Access-Control-Allow-Headers": "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	r = e.do(nil, "GET", "/api/v1/namespaces", nil)
	if r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("no CORS header on an error under /api/v1")
	}
}

func TestInfoEndpoints(t *testing.T) {
	e := newEnv(t)
	r := e.do(nil, "GET", "/", nil)
	expectStatus(t, r, http.StatusOK)
	golden(t, "root.json", r.body)
	r = e.do(nil, "GET", "/api/v1", nil)
	expectStatus(t, r, http.StatusOK)
	golden(t, "api_v1.json", r.body)

	r = e.do(nil, "GET", "/api/v1/api-docs", nil)
	expectStatus(t, r, http.StatusOK)
	var doc struct {
		Swagger string         `json:"swagger"`
		Paths   map[string]any `json:"paths"`
	}
	r.json(t, &doc)
	if doc.Swagger != "2.0" || doc.Paths["/namespaces/{namespace}/actions/{actionName}"] == nil {
		t.Errorf("swagger document: %.200s", r.body)
	}
	for path, want := range map[string]string{"/ping": "pong", "/healthz": "ok", "/readyz": "ok"} {
		r := e.do(nil, "GET", path, nil)
		if r.status != http.StatusOK || string(r.body) != want {
			t.Errorf("%s: %d %q", path, r.status, r.body)
		}
	}
	r = e.do(nil, "GET", "/metrics", nil)
	expectStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), `gust_http_requests_total{code="200",method="GET",route="/ping"} 1`) {
		t.Errorf("metrics lack the request counter:\n%s", r.body)
	}

	// Readiness follows the store.
	e.store.Close()
	expectError(t, e.do(nil, "GET", "/readyz", nil), http.StatusServiceUnavailable, controller.MsgUnavailable)
}

func TestLimits(t *testing.T) {
	e := newEnv(t)
	r := e.do(&guestKey, "GET", "/api/v1/namespaces/_/limits", nil)
	expectStatus(t, r, http.StatusOK)
	golden(t, "limits.json", r.body)

	ctx := context.Background()
	ns, _ := e.store.GetNamespace(ctx, "other")
	perMinute, concurrent := 7, 0
	ns.Limits = whisk.NamespaceLimits{InvocationsPerMinute: &perMinute, ConcurrentInvocations: &concurrent}
	if err := e.store.UpdateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	var l controller.NamespaceLimits
	e.do(&otherKey, "GET", "/api/v1/namespaces/other/limits", nil).json(t, &l)
	if l.InvocationsPerMinute != 7 || l.ConcurrentInvocations != 0 || l.FiresPerMinute != 60 {
		t.Errorf("overridden limits %+v", l)
	}
	expectError(t, e.do(&guestKey, "GET", "/api/v1/namespaces/other/limits", nil), http.StatusForbidden,
		"The supplied authentication is not authorized to access 'other'.")
}

func TestInvocationsPerMinute(t *testing.T) {
	e := newEnv(t, func(cfg *controller.Config, _ *controller.Deps) { cfg.InvocationsPerMinute = 2 })
	expectStatus(t, e.do(&guestKey, "PUT", actionsPath+"a", `{"exec":{"kind":"nodejs:20","code":"x"}}`), http.StatusOK)
	for range 2 {
		expectStatus(t, e.do(&guestKey, "POST", actionsPath+"a", nil), http.StatusAccepted)
	}
	expectError(t, e.do(&guestKey, "POST", actionsPath+"a", nil), http.StatusTooManyRequests,
		"Too many requests in the last minute (count: 3, allowed: 2).")
	// Other namespaces have their own budget; the next minute starts afresh.
	expectError(t, e.do(&otherKey, "POST", "/api/v1/namespaces/_/actions/a", nil), http.StatusNotFound, whisk.MsgNotFound)
	e.clock.Advance(time.Minute)
	expectStatus(t, e.do(&guestKey, "POST", actionsPath+"a", nil), http.StatusAccepted)

	r := e.do(nil, "GET", "/metrics", nil)
	if !strings.Contains(string(r.body), `gust_invocations_throttled_total{namespace="guest",reason="rate"} 1`) {
		t.Errorf("metrics lack the throttle counter")
	}
}

func TestInvokeErrors(t *testing.T) {
	e := newEnv(t)
	expectStatus(t, e.do(&guestKey, "PUT", actionsPath+"a", `{"exec":{"kind":"nodejs:20","code":"x"}}`), http.StatusOK)
	expectStatus(t, e.do(&guestKey, "PUT", actionsPath+"f",
		`{"exec":{"kind":"nodejs:20","code":"x"},"parameters":[{"key":"fixed","value":1},{"key":"open","value":null}],"annotations":[{"key":"final","value":true}]}`), http.StatusOK)
	// A stored action whose kind the server no longer runs.
	ctx := context.Background()
	if _, err := e.store.PutEntity(ctx, store.Doc{Collection: store.Actions, Namespace: "guest", Path: "guest", Name: "old",
		Body: []byte(`{"namespace":"guest","name":"old","version":"0.0.1","publish":false,"exec":{"kind":"nodejs:6","code":"x","binary":false},"parameters":[],"limits":{"timeout":60000,"memory":256,"logs":10,"concurrency":1},"annotations":[],"updated":1}`)}, 0); err != nil {
		t.Fatal(err)
	}
	big := `{"x":"` + strings.Repeat("y", 1<<20) + `"}`
	for _, tc := range []struct {
		name, path, body string
		status           int
		message          string
	}{
		{"NoInvoker", "a?blocking=true", `{"a":1}`, 503, whisk.MsgNoInvokers},
		{"Missing", "nothing?blocking=true", "", 404, whisk.MsgNotFound},
		{"TooLarge", "a?blocking=true", big, 413, "Request larger than allowed: 1048584 > 1048576 bytes."},
		{"Malformed", "a?blocking=true", `{"a":`, 400, "The request content was malformed:\nUnexpected end-of-input, expected JSON Value"},
		{"NotObject", "a?blocking=true", `[1,2]`, 400, "The request content was malformed:\nJSON object expected"},
		{"Timeout", "a?blocking=true&timeout=60001", "", 400, "The query parameter 'timeout' was malformed:\nTimeout must be number of milliseconds up to 60000."},
		{"TimeoutZero", "a?blocking=true&timeout=0", "", 400, "The query parameter 'timeout' was malformed:\nTimeout must be number of milliseconds up to 60000."},
		{"Final", "f?blocking=true", `{"fixed":2}`, 400, whisk.MsgFinalParams},
		{"GoneKind", "old?blocking=true", "", 400, "The 'nodejs:6' runtime is no longer supported. You may read and delete but not update or invoke this action."},
		{"OtherNamespace", "../../other/actions/a", "", 403, "The supplied authentication is not authorized to access 'other/a'."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := actionsPath + tc.path
			if strings.HasPrefix(tc.path, "../../") {
				path = "/api/v1/namespaces/" + strings.TrimPrefix(tc.path, "../../")
			}
			expectError(t, e.do(&guestKey, "POST", path, tc.body), tc.status, tc.message)
		})
	}
	// A parameter with a null value is not final.
	expectError(t, e.do(&guestKey, "POST", actionsPath+"f?blocking=true", `{"open":2}`), http.StatusServiceUnavailable, whisk.MsgNoInvokers)
	// The deprecated action may still be read and deleted.
	expectStatus(t, e.do(&guestKey, "GET", actionsPath+"old", nil), http.StatusOK)
	expectStatus(t, e.do(&guestKey, "DELETE", actionsPath+"old", nil), http.StatusOK)
}

// TestNonBlockingIsDurable checks that a 202 is answered only once the work
// is in the durable queue, with the merged arguments.
func TestNonBlockingIsDurable(t *testing.T) {
	e := newEnv(t)
	expectStatus(t, e.do(&guestKey, "PUT", actionsPath+"a",
		`{"exec":{"kind":"nodejs:20","code":"x"},"parameters":[{"key":"p","value":"default"},{"key":"q","value":"default"},{"key":"i","value":{"n":1},"init":true}]}`), http.StatusOK)
	r := e.do(&guestKey, "POST", actionsPath+"a", `{"q":"given","r":[1]}`)
	expectStatus(t, r, http.StatusAccepted)
	var accepted struct {
		ActivationID string `json:"activationId"`
	}
	r.json(t, &accepted)
	if !whisk.ValidActivationID(accepted.ActivationID) || r.header.Get("x-openwhisk-activation-id") != accepted.ActivationID {
		t.Fatalf("202 body %s, header %q", r.body, r.header.Get("x-openwhisk-activation-id"))
	}
	items, err := e.store.Claim(context.Background(), "test", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].ID != accepted.ActivationID {
		t.Fatalf("queue holds %+v", items)
	}
	var msg whisk.ActivationMessage
	if err := json.Unmarshal(items[0].Body, &msg); err != nil {
		t.Fatal(err)
	}
	var args map[string]any
	if err := json.Unmarshal(msg.Args, &args); err != nil {
		t.Fatalf("args %s: %v", msg.Args, err)
	}
	if len(args) != 3 || args["p"] != "default" || args["q"] != "given" {
		t.Errorf("args %s", msg.Args)
	}
	if msg.InitEnv["i"] != `{"n":1}` || msg.Identity.Namespace != "guest" || msg.ActionFQN.String() != "/guest/a" {
		t.Errorf("message %+v", msg)
	}
	if msg.APIKey != "" {
		t.Error("the API key was given to an action created with provide-api-key false")
	}
}
