package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// showParams returns the arguments it was invoked with: what a function
// sees after package, binding, action and invocation parameters merged.
const showParams = `function main(p) { return {params: p} }`

// newTenant creates a namespace as `gust admin namespace create` does, in
// the running server's store, and returns its key.
func newTenant(t *testing.T, ts *testServer, name string) string {
	t.Helper()
	key := whisk.NewAuthKey()
	err := ts.srv.store.CreateNamespace(context.Background(), store.Namespace{
		Name: name, Subject: name, UUID: key.UUID, KeyHash: whisk.HashSecret(key.Secret), Created: time.Now().UnixMilli(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return key.String()
}

// wantError checks an error answer: status and OpenWhisk's exact message,
// with the transaction id as code.
func wantError(t *testing.T, r response, status int, message string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var e struct{ Error, Code string }
	r.json(t, &e)
	if e.Error != message || e.Code == "" {
		t.Fatalf("error %q (code %q), want %q", e.Error, e.Code, message)
	}
}

func names(t *testing.T, r response) []string {
	t.Helper()
	var list []struct{ Name string }
	r.json(t, &list)
	out := []string{}
	for _, e := range list {
		out = append(out, e.Name)
	}
	slices.Sort(out)
	return out
}

func paramsOf(t *testing.T, kv whisk.KeyValues) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, e := range kv {
		var v any
		if err := json.Unmarshal(e.Value, &v); err != nil {
			t.Fatal(err)
		}
		out[e.Key] = v
	}
	return out
}

// putPackaged creates or replaces the nodejs action "pkg/name".
func putPackaged(ts *testServer, name, code string, extra map[string]any) response {
	ts.t.Helper()
	body := map[string]any{"exec": map[string]any{"kind": "nodejs:default", "code": code}}
	for k, v := range extra {
		body[k] = v
	}
	return ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/actions/"+name+"?overwrite=true", body), 200)
}

// invokePackaged runs "pkg/name" blocking and returns its record.
func invokePackaged(ts *testServer, name string, params any) (int, whisk.Activation) {
	ts.t.Helper()
	r := ts.do("POST", "/api/v1/namespaces/_/actions/"+name+"?blocking=true", params)
	if r.status != 200 {
		ts.t.Fatalf("invoke %s: status %d: %s", name, r.status, r.body)
	}
	var act whisk.Activation
	r.json(ts.t, &act)
	return r.status, act
}

func TestPackageCRUD(t *testing.T) {
	ts := startTestServer(t)
	const base = "/api/v1/namespaces/_/packages/"

	r := ts.mustStatus(ts.do("PUT", base+"tools", map[string]any{
		"parameters":  []map[string]any{{"key": "region", "value": "eu"}},
		"annotations": []map[string]any{{"key": "description", "value": "Team tools"}, {"key": "binding", "value": "forged"}},
		// Clients send these; the server takes them from the path.
		"namespace": "someone", "name": "else",
	}), 200)
	var p whisk.Package
	r.json(t, &p)
	if p.Namespace != "guest" || p.Name != "tools" || p.Version != "0.0.1" || p.Publish || !p.Binding.IsZero() {
		t.Fatalf("created %+v", p)
	}
	if !strings.Contains(string(r.body), `"binding":{}`) {
		t.Fatalf("a package's binding is {}: %s", r.body)
	}
	if p.Annotations.Has("binding") || paramsOf(t, p.Parameters)["region"] != "eu" {
		t.Fatalf("the binding annotation is the controller's alone: %+v", p)
	}

	wantError(t, ts.do("PUT", base+"tools", map[string]any{}), 409, "resource already exists")
	wantError(t, ts.do("PUT", base+"default", map[string]any{}), 400, "Package name 'default' is reserved.")
	wantError(t, ts.do("PUT", base+"default?overwrite=true", map[string]any{}), 400, "Package name 'default' is reserved.")
	wantError(t, ts.do("PUT", base+"tools?overwrite=true", `{"version":"x.y"}`), 400,
		"The request content was malformed:\nbad semantic version x.y")
	wantError(t, ts.do("PUT", base+"bad", `{"parameters":`), 400,
		"The request content was malformed:\nUnexpected end-of-input, expected JSON Value")

	// Update: what is given replaces, the rest stays; the version goes up.
	r = ts.mustStatus(ts.do("PUT", base+"tools?overwrite=true", map[string]any{"publish": true}), 200)
	r.json(t, &p)
	if p.Version != "0.0.2" || !p.Publish || paramsOf(t, p.Parameters)["region"] != "eu" || !p.Annotations.Has("description") {
		t.Fatalf("updated %+v", p)
	}
	r = ts.mustStatus(ts.do("PUT", base+"tools?overwrite=true", map[string]any{
		"annotations": []map[string]any{{"key": "owner", "value": "ops"}},
	}), 200)
	r.json(t, &p)
	if p.Version != "0.0.3" || p.Annotations.Has("description") || !p.Annotations.Has("owner") || !p.Publish {
		t.Fatalf("annotations replace on update: %+v", p)
	}

	// Actions and feeds inside.
	putPackaged(ts, "tools/show", showParams, nil)
	putPackaged(ts, "tools/changes", showParams, map[string]any{
		"annotations": []map[string]any{{"key": "feed", "value": true}},
	})
	r = ts.mustStatus(ts.do("GET", base+"tools", nil), 200)
	var got whisk.PackageWithActions
	r.json(t, &got)
	if len(got.Actions) != 1 || got.Actions[0].Name != "show" || got.Actions[0].Version != "0.0.1" ||
		len(got.Feeds) != 1 || got.Feeds[0].Name != "changes" {
		t.Fatalf("package actions and feeds: %s", r.body)
	}
	var raw map[string]json.RawMessage
	r.json(t, &raw)
	var actions []map[string]json.RawMessage
	if err := json.Unmarshal(raw["actions"], &actions); err != nil {
		t.Fatal(err)
	}
	if action := actions[0]; len(action) != 3 || action["annotations"] == nil {
		t.Fatalf("a package lists its actions as {name, version, annotations}: %s", raw["actions"])
	}

	// Invoking a packaged action merges the package's parameters.
	_, act := invokePackaged(ts, "tools/show", map[string]any{"n": 1})
	if got := resultOf(t, act)["params"]; !reflect.DeepEqual(got, map[string]any{"region": "eu", "n": float64(1)}) {
		t.Fatalf("params %v", got)
	}
	if annotation(act, "path") != "guest/tools/show" {
		t.Fatalf("path annotation %v", annotation(act, "path"))
	}

	// Lists: summaries, newest first, paged and counted.
	ts.mustStatus(ts.do("PUT", base+"empty", map[string]any{}), 200)
	r = ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/packages", nil), 200)
	var list []map[string]any
	r.json(t, &list)
	if len(list) != 2 || list[0]["name"] != "empty" || list[1]["name"] != "tools" || list[1]["binding"] != false {
		t.Fatalf("list %s", r.body)
	}
	for _, k := range []string{"namespace", "name", "version", "publish", "annotations", "updated", "binding"} {
		if _, ok := list[1][k]; !ok {
			t.Fatalf("summary without %s: %v", k, list[1])
		}
	}
	if _, ok := list[1]["parameters"]; ok {
		t.Fatalf("a summary has no parameters: %v", list[1])
	}
	r = ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/packages?limit=1&skip=1", nil), 200)
	if n := names(t, r); !reflect.DeepEqual(n, []string{"tools"}) {
		t.Fatalf("page %v", n)
	}
	r = ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/packages/?count=true", nil), 200)
	if string(r.body) != `{"packages":2}` {
		t.Fatalf("count %s", r.body)
	}
	wantError(t, ts.do("GET", "/api/v1/namespaces/_/packages?limit=201", nil), 400,
		"The query parameter 'limit' was malformed:\nThe value '201' is not in the range of 0 to 200 for packages.")

	// Delete: a package with actions only with force, which takes them along.
	wantError(t, ts.do("DELETE", base+"tools", nil), 409,
		"Package not empty (contains 2 entities). Set force param or delete package contents.")
	ts.mustStatus(ts.do("DELETE", "/api/v1/namespaces/_/actions/tools/changes", nil), 200)
	wantError(t, ts.do("DELETE", base+"tools", nil), 409,
		"Package not empty (contains 1 entity). Set force param or delete package contents.")
	r = ts.mustStatus(ts.do("DELETE", base+"tools?force=true", nil), 200)
	r.json(t, &p)
	if p.Name != "tools" || p.Version != "0.0.3" {
		t.Fatalf("deleted %s", r.body)
	}
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/actions/tools/show", nil), 404)
	ts.mustStatus(ts.do("GET", base+"tools", nil), 404)
	ts.mustStatus(ts.do("DELETE", base+"tools", nil), 404)
	r = ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/actions", nil), 200)
	if n := names(t, r); len(n) != 0 {
		t.Fatalf("actions left behind: %v", n)
	}

	// A name is one entity: a package cannot take an action's name.
	ts.putAction("lonely", "nodejs:default", showParams, nil)
	wantError(t, ts.do("PUT", base+"lonely", map[string]any{}), 409, "Resource by this name exists but is not in this collection.")
	wantError(t, ts.do("GET", base+"lonely", nil), 409, "Resource by this name exists but is not in this collection.")
	ts.mustStatus(ts.do("POST", base+"empty", nil), 405)
}

func TestPackageBindings(t *testing.T) {
	ts := startTestServer(t)
	const base = "/api/v1/namespaces/_/packages/"
	kv := func(pairs ...string) []map[string]any {
		var out []map[string]any
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, map[string]any{"key": pairs[i], "value": pairs[i+1]})
		}
		return out
	}
	ts.mustStatus(ts.do("PUT", base+"lib", map[string]any{"parameters": kv("p", "package", "b", "package", "a", "package", "i", "package")}), 200)
	putPackaged(ts, "lib/show", showParams, map[string]any{"parameters": kv("a", "action", "i", "action")})

	// The binding names its package with "_" for the caller's namespace.
	r := ts.mustStatus(ts.do("PUT", base+"mine", map[string]any{
		"binding":    map[string]string{"namespace": "_", "name": "lib"},
		"parameters": kv("b", "binding", "a", "binding", "i", "binding"),
	}), 200)
	var p whisk.Package
	r.json(t, &p)
	if p.Binding != (whisk.Binding{Namespace: "guest", Name: "lib"}) {
		t.Fatalf("binding %+v", p.Binding)
	}
	var ann whisk.Binding
	if err := json.Unmarshal(p.Annotations.Get("binding"), &ann); err != nil || ann != p.Binding {
		t.Fatalf("binding annotation %s", p.Annotations.Get("binding"))
	}

	// package < binding < action < invocation.
	_, act := invokePackaged(ts, "mine/show", map[string]any{"i": "invocation"})
	want := map[string]any{"p": "package", "b": "binding", "a": "action", "i": "invocation"}
	if got := resultOf(t, act)["params"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("params %v, want %v", got, want)
	}
	if annotation(act, "path") != "guest/lib/show" || annotation(act, "binding") != "guest/mine" {
		t.Fatalf("annotations %v", act.Annotations)
	}
	// The record is filed under the binding's name.
	r = ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/actions/mine/show", nil), 200)
	var a whisk.Action
	r.json(t, &a)
	if got := paramsOf(t, a.Parameters); !reflect.DeepEqual(got, map[string]any{"p": "package", "b": "binding", "a": "action", "i": "action"}) {
		t.Fatalf("action through the binding shows %v", got)
	}

	// GET of a binding: its own document, the bound package's parameters
	// under its own, the bound package's actions.
	r = ts.mustStatus(ts.do("GET", base+"mine", nil), 200)
	var got whisk.PackageWithActions
	r.json(t, &got)
	if got.Name != "mine" || got.Binding.Name != "lib" || len(got.Actions) != 1 || got.Actions[0].Name != "show" {
		t.Fatalf("binding GET %s", r.body)
	}
	if params := paramsOf(t, got.Parameters); !reflect.DeepEqual(params, map[string]any{"p": "package", "b": "binding", "a": "binding", "i": "binding"}) {
		t.Fatalf("binding GET parameters %v", params)
	}
	r = ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/actions/mine/", nil), 200)
	if n := names(t, r); !reflect.DeepEqual(n, []string{"show"}) {
		t.Fatalf("actions of the binding %v", n)
	}
	r = ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/packages", nil), 200)
	var list []map[string]any
	r.json(t, &list)
	if list[0]["name"] != "mine" || !reflect.DeepEqual(list[0]["binding"], map[string]any{"namespace": "guest", "name": "lib"}) {
		t.Fatalf("a binding's summary names its package: %s", r.body)
	}

	// A web action reached through the binding, and a rule naming it.
	putPackaged(ts, "lib/web", showParams, map[string]any{
		"annotations": []map[string]any{{"key": "web-export", "value": true}},
		"parameters":  kv("a", "action"),
	})
	r = ts.do("GET", "/api/v1/web/guest/mine/web.json?q=1", nil, "-")
	if r.status != 200 {
		t.Fatalf("web action through a binding: %d %s", r.status, r.body)
	}
	webParams, _ := r.object(t)["params"].(map[string]any)
	if webParams["b"] != "binding" || webParams["a"] != "action" || webParams["q"] != "1" {
		t.Fatalf("web action params %v", webParams)
	}
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/triggers/tick", map[string]any{}), 200)
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/rules/onTick", map[string]any{"trigger": "/_/tick", "action": "/_/mine/show"}), 200)
	ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/triggers/tick", map[string]any{"i": "fired"}), 202)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r = ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/activations?name=mine/show&docs=true", nil), 200)
		var acts []whisk.Activation
		r.json(t, &acts)
		if len(acts) > 1 { // the first is the invocation above
			got, _ := resultOf(t, acts[0])["params"].(map[string]any)
			delete(got, "__ow_headers") // the fire's headers, which rules pass on
			if !reflect.DeepEqual(got, map[string]any{"p": "package", "b": "binding", "a": "action", "i": "fired"}) {
				t.Fatalf("rule's activation params %v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rule never ran mine/show: %s", r.body)
		}
	}
	ts.mustStatus(ts.do("DELETE", "/api/v1/namespaces/_/rules/onTick", nil), 200)

	// What a binding cannot do or be.
	wantError(t, ts.do("PUT", "/api/v1/namespaces/_/actions/mine/other?overwrite=true",
		map[string]any{"exec": map[string]any{"kind": "nodejs:default", "code": showParams}}), 400, "Operation not permitted on package binding.")
	wantError(t, ts.do("DELETE", "/api/v1/namespaces/_/actions/mine/show", nil), 400, "Operation not permitted on package binding.")
	wantError(t, ts.do("PUT", base+"x", map[string]any{"binding": map[string]string{"namespace": "guest", "name": "nope"}}), 400,
		"Binding references a package that does not exist.")
	wantError(t, ts.do("PUT", base+"x", map[string]any{"binding": map[string]string{"namespace": "guest", "name": "mine"}}), 400,
		"Cannot bind to another package binding.")
	ts.putAction("plain", "nodejs:default", showParams, nil)
	wantError(t, ts.do("PUT", base+"x", map[string]any{"binding": map[string]string{"namespace": "guest", "name": "plain"}}), 409,
		"Cannot bind to a resource that is not a package.")
	wantError(t, ts.do("PUT", base+"lib?overwrite=true", map[string]any{"binding": map[string]string{"namespace": "guest", "name": "mine"}}), 400,
		"Cannot bind to another package binding.")
	ts.mustStatus(ts.do("PUT", base+"other", map[string]any{}), 200)
	wantError(t, ts.do("PUT", base+"lib?overwrite=true", map[string]any{"binding": map[string]string{"namespace": "guest", "name": "other"}}), 409,
		"Resource is a package and cannot be converted into a binding.")
	wantError(t, ts.do("PUT", base+"x", map[string]any{"binding": map[string]string{"namespace": "guest"}}), 400,
		"The request content was malformed:\nObject is missing required member 'name'")

	// A binding moves to another package on update, keeping its parameters.
	putPackaged(ts, "other/show", `function main(p) { return {other: true, params: p} }`, nil)
	r = ts.mustStatus(ts.do("PUT", base+"mine?overwrite=true", map[string]any{"binding": map[string]string{"namespace": "guest", "name": "other"}}), 200)
	r.json(t, &p)
	if p.Binding.Name != "other" || p.Version != "0.0.2" || len(p.Parameters) != 3 {
		t.Fatalf("moved binding %+v", p)
	}
	_, act = invokePackaged(ts, "mine/show", nil)
	if resultOf(t, act)["other"] != true {
		t.Fatalf("the moved binding runs %v", resultOf(t, act))
	}

	// A binding is deleted whatever its package holds; the package is not
	// touched.
	ts.mustStatus(ts.do("DELETE", base+"mine", nil), 200)
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/actions/other/show", nil), 200)

	// A binding whose package is gone leads nowhere.
	ts.mustStatus(ts.do("PUT", base+"dangling", map[string]any{"binding": map[string]string{"namespace": "guest", "name": "lib"}}), 200)
	ts.mustStatus(ts.do("DELETE", base+"lib?force=true", nil), 200)
	ts.mustStatus(ts.do("GET", base+"dangling", nil), 404)
	ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/actions/dangling/show?blocking=true", nil), 404)
	ts.mustStatus(ts.do("DELETE", base+"dangling", nil), 200)
}

func TestPackagesAcrossNamespaces(t *testing.T) {
	ts := startTestServer(t)
	alice := newTenant(t, ts, "alice")
	const guestPkgs = "/api/v1/namespaces/guest/packages/"
	const guestActions = "/api/v1/namespaces/guest/actions/"
	kv := func(k, v string) []map[string]any { return []map[string]any{{"key": k, "value": v}} }

	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/packages/pub", map[string]any{"publish": true, "parameters": kv("owner", "guest")}), 200)
	putPackaged(ts, "pub/show", showParams, map[string]any{"parameters": kv("from", "action")})
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/packages/priv", map[string]any{}), 200)
	putPackaged(ts, "priv/show", showParams, nil)
	ts.putAction("top", "nodejs:default", showParams, nil)
	// A published binding shares nothing: bindings are private to their namespace.
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/packages/pubbind",
		map[string]any{"publish": true, "binding": map[string]string{"namespace": "guest", "name": "pub"}}), 200)

	// Alice sees the published package only, and its actions.
	r := ts.mustStatus(ts.do("GET", "/api/v1/namespaces/guest/packages", nil, alice), 200)
	if n := names(t, r); !reflect.DeepEqual(n, []string{"pub"}) {
		t.Fatalf("alice lists %v", n)
	}
	r = ts.mustStatus(ts.do("GET", "/api/v1/namespaces/guest/packages?count=true", nil, alice), 200)
	if string(r.body) != `{"packages":1}` {
		t.Fatalf("alice counts %s", r.body)
	}
	r = ts.mustStatus(ts.do("GET", "/api/v1/namespaces/nobody/packages", nil, alice), 200)
	if string(r.body) != "[]" {
		t.Fatalf("a namespace that does not exist lists %s", r.body)
	}
	r = ts.mustStatus(ts.do("GET", guestPkgs+"pub", nil, alice), 200)
	var pkg whisk.PackageWithActions
	r.json(t, &pkg)
	if len(pkg.Actions) != 1 || pkg.Actions[0].Name != "show" {
		t.Fatalf("alice gets %s", r.body)
	}
	r = ts.mustStatus(ts.do("GET", guestActions+"pub/", nil, alice), 200)
	if n := names(t, r); !reflect.DeepEqual(n, []string{"show"}) {
		t.Fatalf("alice lists the actions of pub: %v", n)
	}
	ts.mustStatus(ts.do("GET", guestActions+"pub/show", nil, alice), 200)

	// She invokes it; the activation is hers, not guest's.
	r = ts.mustStatus(ts.do("POST", guestActions+"pub/show?blocking=true", map[string]any{"x": 1}, alice), 200)
	var act whisk.Activation
	r.json(t, &act)
	if act.Namespace != "alice" || annotation(act, "path") != "guest/pub/show" {
		t.Fatalf("record %+v", act)
	}
	if got := resultOf(t, act)["params"]; !reflect.DeepEqual(got, map[string]any{"owner": "guest", "from": "action", "x": float64(1)}) {
		t.Fatalf("params %v", got)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if r := ts.do("GET", "/api/v1/namespaces/_/activations/"+act.ActivationID, nil, alice); r.status == 200 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("alice cannot read her activation: %d %s", r.status, r.body)
		}
	}
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/activations/"+act.ActivationID, nil), 404)

	// Everything else in guest's namespace stays closed to her.
	forbidden := func(method, path string, body any, resource string) {
		t.Helper()
		wantError(t, ts.do(method, path, body, alice), 403,
			"The supplied authentication is not authorized to access '"+resource+"'.")
	}
	forbidden("GET", guestPkgs+"priv", nil, "guest/priv")
	forbidden("GET", guestPkgs+"nothing", nil, "guest/nothing")
	forbidden("GET", guestPkgs+"pubbind", nil, "guest/pubbind")
	forbidden("GET", guestPkgs+"top", nil, "guest/top")
	forbidden("GET", guestActions+"priv/show", nil, "guest/priv")
	forbidden("POST", guestActions+"priv/show?blocking=true", nil, "guest/priv")
	forbidden("POST", guestActions+"pubbind/show?blocking=true", nil, "guest/pubbind")
	forbidden("POST", guestActions+"top?blocking=true", nil, "guest/top")
	forbidden("GET", guestActions+"priv/", nil, "guest/priv")
	forbidden("GET", "/api/v1/namespaces/guest/actions", nil, "guest")
	forbidden("PUT", guestPkgs+"pub?overwrite=true", map[string]any{"publish": false}, "guest/pub")
	forbidden("PUT", guestPkgs+"new", map[string]any{}, "guest/new")
	forbidden("DELETE", guestPkgs+"pub", nil, "guest/pub")
	forbidden("PUT", guestActions+"pub/show?overwrite=true", map[string]any{"exec": map[string]any{"kind": "nodejs:default", "code": "x"}}, "guest/pub/show")
	forbidden("DELETE", guestActions+"pub/show", nil, "guest/pub/show")

	// She binds guest's published package with parameters of her own.
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/packages/hers",
		map[string]any{"binding": map[string]string{"namespace": "guest", "name": "pub"}, "parameters": kv("owner", "alice")}, alice), 200)
	r = ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/actions/hers/show?blocking=true&result=true", nil, alice), 200)
	var res map[string]any
	r.json(t, &res)
	if !reflect.DeepEqual(res["params"], map[string]any{"owner": "alice", "from": "action"}) {
		t.Fatalf("through her binding %v", res)
	}
	forbidden("PUT", "/api/v1/namespaces/_/packages/x", map[string]any{"binding": map[string]string{"namespace": "guest", "name": "priv"}}, "guest/priv")
	forbidden("PUT", "/api/v1/namespaces/_/packages/x", map[string]any{"binding": map[string]string{"namespace": "guest", "name": "nothing"}}, "guest/nothing")
	forbidden("PUT", "/api/v1/namespaces/_/packages/x", map[string]any{"binding": map[string]string{"namespace": "guest", "name": "top"}}, "guest/top")
	forbidden("PUT", "/api/v1/namespaces/_/packages/x", map[string]any{"binding": map[string]string{"namespace": "guest", "name": "pubbind"}}, "guest/pubbind")

	// Sequences may be built of published actions, not of private ones.
	seq := func(components ...string) response {
		return ts.do("PUT", "/api/v1/namespaces/_/actions/seq?overwrite=true",
			map[string]any{"exec": map[string]any{"kind": "sequence", "components": components}}, alice)
	}
	ts.mustStatus(seq("/guest/pub/show", "/alice/hers/show"), 200)
	r = ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/actions/seq?blocking=true&result=true", map[string]any{"x": 2}, alice), 200)
	res = r.object(t)
	if params, _ := res["params"].(map[string]any); params == nil || params["owner"] != "alice" || params["params"] == nil {
		t.Fatalf("sequence of guest's and alice's actions: %v", res)
	}
	forbidden("PUT", "/api/v1/namespaces/_/actions/seq2", map[string]any{"exec": map[string]any{"kind": "sequence", "components": []string{"/guest/priv/show"}}}, "guest/priv")

	// Once unpublished, the package closes, bindings included.
	ts.mustStatus(ts.do("PUT", guestPkgs+"pub?overwrite=true", map[string]any{"publish": false}), 200)
	forbidden("GET", guestPkgs+"pub", nil, "guest/pub")
	forbidden("POST", "/api/v1/namespaces/_/actions/hers/show?blocking=true", nil, "guest/pub")
	r = ts.mustStatus(ts.do("GET", "/api/v1/namespaces/guest/packages", nil, alice), 200)
	if string(r.body) != "[]" {
		t.Fatalf("alice still lists %s", r.body)
	}
}

func TestCatalog(t *testing.T) {
	ts := startTestServer(t)
	const sys = "/api/v1/namespaces/whisk.system/"

	r := ts.mustStatus(ts.do("GET", sys+"packages", nil), 200)
	if n := names(t, r); !slices.Contains(n, "samples") || !slices.Contains(n, "utils") {
		t.Fatalf("/whisk.system packages %v", n)
	}
	r = ts.mustStatus(ts.do("GET", sys+"packages/utils", nil), 200)
	var utils whisk.PackageWithActions
	r.json(t, &utils)
	var actions []string
	for _, a := range utils.Actions {
		actions = append(actions, a.Name)
		if _, ok := a.Annotations.GetString("description"); !ok {
			t.Errorf("%s has no description", a.Name)
		}
	}
	slices.Sort(actions)
	if want := []string{"cat", "date", "echo", "head", "hosturl", "namespace", "smash", "sort", "split"}; !reflect.DeepEqual(actions, want) {
		t.Fatalf("utils actions %v, want %v", actions, want)
	}
	if desc, _ := utils.Annotations.GetString("description"); desc != "Building blocks that format and assemble data" || !utils.Publish {
		t.Fatalf("utils %+v", utils.Package)
	}
	r = ts.mustStatus(ts.do("GET", sys+"actions/samples/greeting", nil), 200)
	var greeting whisk.Action
	r.json(t, &greeting)
	if !strings.HasPrefix(greeting.Exec.Kind, "nodejs:") || !greeting.Publish || greeting.Annotations.Get("parameters") == nil {
		t.Fatalf("greeting %+v", greeting)
	}

	result := func(path string, params any) map[string]any {
		t.Helper()
		r := ts.do("POST", sys+"actions/"+path+"?blocking=true&result=true", params)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		return r.object(t)
	}
	check := func(path string, params any, want map[string]any) {
		t.Helper()
		if got := result(path, params); !reflect.DeepEqual(got, want) {
			t.Errorf("%s(%v) = %v, want %v", path, params, got, want)
		}
	}
	check("utils/echo", map[string]any{"payload": "hi", "n": 2}, map[string]any{"payload": "hi", "n": float64(2)})
	check("utils/cat", map[string]any{"lines": []any{4, 2, 3}}, map[string]any{"lines": []any{4.0, 2.0, 3.0}, "payload": "4\n2\n3"})
	check("utils/head", map[string]any{"lines": []any{"a", "b", "c"}, "num": 2}, map[string]any{"lines": []any{"a", "b"}, "num": 2.0})
	check("utils/head", map[string]any{"lines": []any{"a", "b"}}, map[string]any{"lines": []any{"a"}, "num": 1.0})
	check("utils/split", map[string]any{"payload": "one,two,three", "separator": ","},
		map[string]any{"lines": []any{"one", "two", "three"}, "payload": "one,two,three"})
	check("utils/split", map[string]any{"payload": "one\ntwo"}, map[string]any{"lines": []any{"one", "two"}, "payload": "one\ntwo"})
	check("utils/smash", map[string]any{"a": 1, "$fieldName": "p"}, map[string]any{"p": map[string]any{"a": 1.0}})
	check("utils/namespace", nil, map[string]any{"namespace": "guest"})
	check("utils/hosturl", map[string]any{"path": "utils/echo", "web": true, "ext": ".json"},
		map[string]any{"url": ts.base + "/api/v1/web/guest/utils/echo.json"})
	check("utils/hosturl", map[string]any{"path": "hello"}, map[string]any{"url": ts.base + "/api/v1/namespaces/guest/actions/hello"})
	check("samples/greeting", nil, map[string]any{"payload": "Hello, stranger from somewhere!"})
	check("samples/greeting", map[string]any{"name": "Ada", "place": "London"}, map[string]any{"payload": "Hello, Ada from London!"})
	check("samples/wordCount", map[string]any{"payload": "Five fuzzy felines"}, map[string]any{"count": 3.0})
	date, _ := result("utils/date", nil)["date"].(string)
	if at, err := time.Parse(time.RFC3339Nano, date); err != nil || time.Since(at) > time.Minute {
		t.Errorf("date %q: %v", date, err)
	}

	// helloWorld speaks through its logs.
	r = ts.mustStatus(ts.do("POST", sys+"actions/samples/helloWorld?blocking=true", map[string]any{"payload": "Cat"}), 200)
	var act whisk.Activation
	r.json(t, &act)
	if len(act.Logs) == 0 || !strings.HasSuffix(act.Logs[0], "stdout: hello Cat!") || string(act.Response.Result) != "{}" {
		t.Fatalf("helloWorld: logs %q result %s", act.Logs, act.Response.Result)
	}

	// The tutorial's binding: samples with a place of one's own.
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/packages/valhallaSamples", map[string]any{
		"binding":    map[string]string{"namespace": "whisk.system", "name": "samples"},
		"parameters": []map[string]any{{"key": "place", "value": "Valhalla"}},
	}), 200)
	_, act = invokePackaged(ts, "valhallaSamples/greeting", map[string]any{"name": "Odin"})
	if resultOf(t, act)["payload"] != "Hello, Odin from Valhalla!" {
		t.Fatalf("greeting through a binding %v", resultOf(t, act))
	}

	// OpenWhisk's sequence tutorial, verbatim: split, then sort.
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/actions/sequenceAction", map[string]any{
		"exec": map[string]any{"kind": "sequence", "components": []string{"/whisk.system/utils/split", "/whisk.system/utils/sort"}},
	}), 200)
	_, act = ts.invoke("sequenceAction", map[string]any{"payload": "Over-the-moon says the cow\nHey diddle diddle\nThe cat and the fiddle"})
	if got := resultOf(t, act); !reflect.DeepEqual(got["lines"], []any{"Hey diddle diddle", "Over-the-moon says the cow", "The cat and the fiddle"}) || got["length"] != 3.0 {
		t.Fatalf("split and sort: %v", got)
	}

	// The platform owns the namespace: no one else may change it.
	wantError(t, ts.do("PUT", sys+"packages/utils?overwrite=true", map[string]any{}), 403,
		"The supplied authentication is not authorized to access 'whisk.system/utils'.")
	wantError(t, ts.do("DELETE", sys+"actions/utils/echo", nil), 403,
		"The supplied authentication is not authorized to access 'whisk.system/utils/echo'.")
	r = ts.mustStatus(ts.do("GET", "/api/v1/namespaces", nil), 200)
	if string(r.body) != `["guest"]` {
		t.Fatalf("namespaces %s", r.body)
	}
}

// TestCatalogSorts checks the one utils action whose result depends on
// JavaScript's sort order.
func TestCatalogSorts(t *testing.T) {
	ts := startTestServer(t)
	r := ts.mustStatus(ts.do("POST", "/api/v1/namespaces/whisk.system/actions/utils/sort?blocking=true&result=true",
		map[string]any{"lines": []any{"b", "c", "a", 10, 9}}), 200)
	want := map[string]any{"lines": []any{10.0, 9.0, "a", "b", "c"}, "length": 5.0}
	if got := r.object(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("sort %v, want %v", got, want)
	}
}

// TestCatalogInstallIsIdempotent restarts Gust on the same data directory:
// nothing of the catalog changes unless its content did, and what was
// tampered with is put back.
func TestCatalogInstallIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	versions := func(ts *testServer) map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, pkg := range []string{"utils", "samples"} {
			r := ts.mustStatus(ts.do("GET", "/api/v1/namespaces/whisk.system/packages/"+pkg, nil), 200)
			var p whisk.PackageWithActions
			r.json(t, &p)
			out[pkg] = p.Version
			for _, a := range p.Actions {
				out[pkg+"/"+a.Name] = a.Version
			}
		}
		return out
	}
	first := startServerAt(t, dir)
	before := versions(first)
	if len(before) != 14 || before["utils/echo"] != "0.0.1" {
		t.Fatalf("first install %v", before)
	}
	if err := first.srv.shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	second := startServerAt(t, dir)
	if again := versions(second); !reflect.DeepEqual(again, before) {
		t.Fatalf("a restart changed the catalog: %v, then %v", before, again)
	}
	// Tamper: change echo's code, delete cat, add a stray action.
	ctx := context.Background()
	st := second.srv.store
	doc, err := st.GetEntity(ctx, "whisk.system/utils", "echo")
	if err != nil {
		t.Fatal(err)
	}
	var echo whisk.Action
	if err := json.Unmarshal(doc.Body, &echo); err != nil {
		t.Fatal(err)
	}
	stale := "function main() { return {stale: true} }"
	echo.Exec.Code = &stale
	doc.Body, _ = json.Marshal(echo)
	if _, err := st.PutEntity(ctx, doc, doc.Rev); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteEntity(ctx, "whisk.system/utils", "cat", 0); err != nil {
		t.Fatal(err)
	}
	stray := doc
	stray.Name = "stray"
	if _, err := st.PutEntity(ctx, stray, 0); err != nil {
		t.Fatal(err)
	}
	if err := second.srv.shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	third := startTestServer(t, func(c *serverConfig) { c.DataDir = dir })
	after := versions(third)
	want := maps(before, map[string]string{"utils/echo": "0.0.2"})
	if !reflect.DeepEqual(after, want) {
		t.Fatalf("after tampering: %v, want %v", after, want)
	}
	r := third.mustStatus(third.do("POST", "/api/v1/namespaces/whisk.system/actions/utils/echo?blocking=true&result=true", map[string]any{"a": 1}), 200)
	if string(r.body) != `{"a":1}` {
		t.Fatalf("echo after repair %s", r.body)
	}
	// The system namespace has a key of which only the hash is kept.
	ns, err := third.srv.store.GetNamespace(ctx, "whisk.system")
	if err != nil || ns.KeyHash == "" || strings.Contains(ns.KeyHash, ":") {
		t.Fatalf("whisk.system %+v: %v", ns, err)
	}
}

// startServerAt starts a server on dir that the test shuts down itself, to
// start another on the same data.
func startServerAt(t *testing.T, dir string) *testServer {
	t.Helper()
	cfg := defaultServerConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.StemCells = map[string]int{}
	cfg.StemCellsMax = 0
	cfg.ShutdownGrace = 5 * time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := startServer(context.Background(), cfg)
	if err != nil {
		t.Fatalf("starting the server: %v", err)
	}
	return &testServer{t: t, srv: srv, base: "http://" + srv.Addr(), key: srv.guestKey}
}

func maps(base, over map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}
