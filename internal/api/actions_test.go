package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

const actionsPath = "/api/v1/namespaces/_/actions/"

func TestActionLifecycle(t *testing.T) {
	e := newEnv(t)

	// Create, as `wsk action create hello hello.js -p place Kansas -a a 1` sends it.
	create := `{"namespace":"_","name":"hello","exec":{"kind":"nodejs:default","code":"function main(a){return a}"},
		"parameters":[{"key":"place","value":"Kansas"},{"key":"secret","value":"s","init":true}],
		"annotations":[{"key":"a","value":1},{"key":"exec","value":"bogus"}]}`
	r := e.do(&guestKey, "PUT", actionsPath+"hello?overwrite=false", create)
	expectStatus(t, r, http.StatusOK)
	golden(t, "action_create.json", r.body)

	r = e.do(&guestKey, "PUT", actionsPath+"hello?overwrite=false", create)
	expectError(t, r, http.StatusConflict, "resource already exists")

	r = e.do(&guestKey, "GET", actionsPath+"hello?code=false", nil)
	expectStatus(t, r, http.StatusOK)
	golden(t, "action_get_nocode.json", r.body)

	// Update: annotations merge (new wins), delAnnotations removes, limits
	// keep what is not given, parameters are replaced, the version goes up.
	r = e.do(&guestKey, "PUT", actionsPath+"hello?overwrite=true", `{
		"annotations":[{"key":"b","value":true},{"key":"a","value":2}],
		"delAnnotations":["provide-api-key"],
		"limits":{"memory":512},
		"parameters":[{"key":"place","value":"Oz"}]}`)
	expectStatus(t, r, http.StatusOK)
	golden(t, "action_update.json", r.body)

	// A new exec replaces the kind and its annotation; a zip is binary.
	r = e.do(&guestKey, "PUT", actionsPath+"hello?overwrite=true",
		`{"exec":{"kind":"python:3.11","code":"UEsDBAo=","main":"handler","binary":false}}`)
	expectStatus(t, r, http.StatusOK)
	var a whisk.Action
	r.json(t, &a)
	if a.Version != "0.0.3" || a.Exec.Kind != "python:3.11" || !a.Exec.Binary || a.Exec.Main != "handler" ||
		string(a.Annotations.Get("exec")) != `"python:3.11"` || a.Limits.Memory != 512 || !a.Parameters.Has("place") {
		t.Errorf("after exec update: %s", r.body)
	}

	// A supplied version wins over the bump.
	r = e.do(&guestKey, "PUT", actionsPath+"hello?overwrite=true", `{"version":"2.1"}`)
	r.json(t, &a)
	if a.Version != "2.1.0" {
		t.Errorf("version %q, want 2.1.0", a.Version)
	}

	r = e.do(&guestKey, "DELETE", actionsPath+"hello", nil)
	expectStatus(t, r, http.StatusOK)
	r.json(t, &a)
	if a.Name != "hello" || a.Namespace != "guest" {
		t.Errorf("delete answered %s", r.body)
	}
	expectError(t, e.do(&guestKey, "GET", actionsPath+"hello", nil), http.StatusNotFound, whisk.MsgNotFound)
	expectError(t, e.do(&guestKey, "DELETE", actionsPath+"hello", nil), http.StatusNotFound, whisk.MsgNotFound)
}

func TestActionNamesWithSpaces(t *testing.T) {
	e := newEnv(t)
	r := e.do(&guestKey, "PUT", actionsPath+"my%20action", `{"exec":{"kind":"nodejs:20","code":"x"}}`)
	expectStatus(t, r, http.StatusOK)
	var a whisk.Action
	r.json(t, &a)
	if a.Name != "my action" {
		t.Fatalf("name %q", a.Name)
	}
	expectStatus(t, e.do(&guestKey, "GET", "/api/v1/namespaces/guest/actions/my%20action", nil), http.StatusOK)
}

func TestActionPutErrors(t *testing.T) {
	e := newEnv(t, func(cfg *controller.Config, _ *controller.Deps) {
		cfg.MaxCodeBytes = 100
		cfg.MaxParameterBytes = 50
	})
	ctx := context.Background()
	// An entity of another collection under the name "taken".
	if _, err := e.store.PutEntity(ctx, store.Doc{Collection: store.Packages, Namespace: "guest", Path: "guest", Name: "taken",
		Body: []byte(`{"namespace":"guest","name":"taken","version":"0.0.1","publish":false,"annotations":[],"parameters":[],"binding":{},"updated":1}`)}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.PutEntity(ctx, store.Doc{Collection: store.Packages, Namespace: "guest", Path: "guest", Name: "bound",
		Body: []byte(`{"namespace":"guest","name":"bound","version":"0.0.1","publish":false,"annotations":[],"parameters":[],"binding":{"namespace":"guest","name":"taken"},"updated":1}`)}, 0); err != nil {
		t.Fatal(err)
	}
	code := `{"exec":{"kind":"nodejs:20","code":"x"}}`
	long := strings.Repeat("a", 257)
	for _, tc := range []struct {
		name, path, body string
		status           int
		message          string
	}{
		{"UnknownKind", "a", `{"exec":{"kind":"cobol:1","code":"x"}}`, 400,
			"The request content was malformed:\nThe specified runtime 'cobol:1' is not supported by this platform. Valid values are: 'blackbox', 'java:8', 'nodejs:14', 'nodejs:20', 'python:3.11', 'sequence'."},
		{"NoKind", "a", `{"exec":{"code":"x"}}`, 400, "The request content was malformed:\n'kind' must be a string defined in 'exec'"},
		{"NoCode", "a", `{"exec":{"kind":"nodejs:20"}}`, 400, "The request content was malformed:\n'code' must be a string defined in 'exec' for 'nodejs:20' actions"},
		{"NoMain", "a", `{"exec":{"kind":"java:8","code":"UEsDBAo="}}`, 400, "The request content was malformed:\n'main' must be a string defined in 'exec' for 'java:8' actions"},
		{"NoImage", "a", `{"exec":{"kind":"blackbox"}}`, 400, "The request content was malformed:\n'image' must be a string defined in 'exec' for 'blackbox' actions"},
		{"NoExecOnCreate", "a", `{}`, 400, "exec undefined"},
		{"Deprecated", "a", `{"exec":{"kind":"nodejs:14","code":"x"}}`, 400,
			"The 'nodejs:14' runtime is no longer supported. You may read and delete but not update or invoke this action."},
		{"MemoryTooBig", "a", `{"exec":{"kind":"nodejs:20","code":"x"},"limits":{"memory":1024}}`, 400,
			"The request content was malformed:\nrequirement failed: memory 1024 MB exceeds allowed threshold of 536870912 B"},
		{"MemoryTooSmall", "a", `{"exec":{"kind":"nodejs:20","code":"x"},"limits":{"memory":64}}`, 400,
			"The request content was malformed:\nrequirement failed: memory 64 MB below allowed threshold of 134217728 B"},
		{"TimeoutTooBig", "a", `{"exec":{"kind":"nodejs:20","code":"x"},"limits":{"timeout":300001}}`, 400,
			"The request content was malformed:\nrequirement failed: duration 300001 milliseconds exceeds allowed threshold of 300000 milliseconds"},
		{"LogsTooBig", "a", `{"exec":{"kind":"nodejs:20","code":"x"},"limits":{"logs":11}}`, 400,
			"The request content was malformed:\nrequirement failed: log size 11 MB exceeds allowed threshold of 10485760 B"},
		{"Concurrency", "a", `{"exec":{"kind":"nodejs:20","code":"x"},"limits":{"concurrency":2}}`, 400,
			"The request content was malformed:\nrequirement failed: concurrency 2 exceeds allowed threshold of 1"},
		{"CodeTooBig", "a", `{"exec":{"kind":"nodejs:20","code":"` + strings.Repeat("x", 101) + `"}}`, 413,
			"exec larger than allowed: 101 > 100 bytes."},
		{"ParametersTooBig", "a", `{"exec":{"kind":"nodejs:20","code":"x"},"parameters":[{"key":"k","value":"` + strings.Repeat("x", 60) + `"}]}`, 413,
			"parameters larger than allowed: 63 > 50 bytes."},
		{"BadJSON", "a", `{"exec":`, 400, "The request content was malformed:\nUnexpected end-of-input, expected JSON Value"},
		{"WrongType", "a", `{"exec":{"kind":"nodejs:20","code":42}}`, 400,
			"The request content was malformed:\nExpected string for 'exec.code' but got JSON number"},
		{"BadVersion", "a", `{"exec":{"kind":"nodejs:20","code":"x"},"version":"one"}`, 400,
			"The request content was malformed:\nbad semantic version one"},
		{"IllegalName", "a%2Fb", code, 400, whisk.MsgIllegalName},
		{"IllegalName2", "-a", code, 400, whisk.MsgIllegalName},
		{"NameTooLong", long, code, 400, "Name segement longer than allowed: 257 > 256."},
		{"OtherCollection", "taken", code, 409, "Resource by this name exists but is not in this collection."},
		{"MissingPackage", "nopkg/a", code, 404, whisk.MsgNotFound},
		{"IntoBinding", "bound/a", code, 400, whisk.MsgNotPermittedOnBinding},
		{"SequenceEmpty", "s", `{"exec":{"kind":"sequence","components":[]}}`, 400, "No component specified for the sequence."},
		{"SequenceMissing", "s", `{"exec":{"kind":"sequence","components":["/_/nothing"]}}`, 400, "Sequence component does not exist."},
		{"SequenceNoComponents", "s", `{"exec":{"kind":"sequence"}}`, 400, "The request content was malformed:\n'components' must be defined for sequence kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, e.do(&guestKey, "PUT", actionsPath+tc.path, tc.body), tc.status, tc.message)
		})
	}
	t.Run("OtherNamespace", func(t *testing.T) {
		r := e.do(&guestKey, "PUT", "/api/v1/namespaces/other/actions/a", code)
		expectError(t, r, http.StatusForbidden, "The supplied authentication is not authorized to access 'other/a'.")
		r = e.do(&guestKey, "GET", "/api/v1/namespaces/other/actions", nil)
		expectError(t, r, http.StatusForbidden, "The supplied authentication is not authorized to access 'other'.")
	})
	t.Run("BodyTooLarge", func(t *testing.T) {
		r := e.do(&guestKey, "PUT", actionsPath+"big", strings.Repeat(" ", 50<<20+1))
		expectError(t, r, http.StatusRequestEntityTooLarge, "Request larger than allowed: 52428801 > 52428800 bytes.")
	})
}

func TestActionsInPackage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.store.PutEntity(ctx, store.Doc{Collection: store.Packages, Namespace: "guest", Path: "guest", Name: "pkg",
		Body: []byte(`{"namespace":"guest","name":"pkg","version":"0.0.1","publish":false,"annotations":[],"parameters":[{"key":"p","value":"pkg"},{"key":"q","value":"pkg"}],"binding":{},"updated":1}`)}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.PutEntity(ctx, store.Doc{Collection: store.Packages, Namespace: "guest", Path: "guest", Name: "bnd",
		Body: []byte(`{"namespace":"guest","name":"bnd","version":"0.0.1","publish":false,"annotations":[],"parameters":[{"key":"q","value":"binding"}],"binding":{"namespace":"guest","name":"pkg"},"updated":1}`)}, 0); err != nil {
		t.Fatal(err)
	}
	r := e.do(&guestKey, "PUT", actionsPath+"pkg/a", `{"exec":{"kind":"nodejs:20","code":"x"},"parameters":[{"key":"a","value":1}]}`)
	expectStatus(t, r, http.StatusOK)
	var a whisk.Action
	r.json(t, &a)
	if a.Namespace != "guest/pkg" {
		t.Errorf("namespace %q", a.Namespace)
	}
	e.do(&guestKey, "PUT", actionsPath+"top", `{"exec":{"kind":"nodejs:20","code":"x"}}`)

	// Through the binding: the package's action, parameters package < binding < action.
	r = e.do(&guestKey, "GET", actionsPath+"bnd/a", nil)
	expectStatus(t, r, http.StatusOK)
	r.json(t, &a)
	want := `[{"key":"p","value":"pkg"},{"key":"q","value":"binding"},{"key":"a","value":1}]`
	if got, _ := json.Marshal(a.Parameters); string(got) != want || a.Namespace != "guest/pkg" {
		t.Errorf("through binding: namespace %q parameters %s, want %s", a.Namespace, got, want)
	}

	var list []controller.ActionSummary
	e.do(&guestKey, "GET", actionsPath+"pkg/", nil).json(t, &list)
	if len(list) != 1 || list[0].Name != "a" {
		t.Errorf("package list %+v", list)
	}
	e.do(&guestKey, "GET", actionsPath+"bnd/?limit=0&skip=0", nil).json(t, &list)
	if len(list) != 1 || list[0].Namespace != "guest/pkg" {
		t.Errorf("binding list %+v", list)
	}
	e.do(&guestKey, "GET", "/api/v1/namespaces/_/actions", nil).json(t, &list)
	if len(list) != 2 {
		t.Errorf("namespace list has %d actions, want the packaged one too", len(list))
	}
	expectError(t, e.do(&guestKey, "DELETE", actionsPath+"bnd/a", nil), http.StatusBadRequest, whisk.MsgNotPermittedOnBinding)
	expectStatus(t, e.do(&guestKey, "DELETE", actionsPath+"pkg/a", nil), http.StatusOK)
	expectError(t, e.do(&guestKey, "GET", actionsPath+"nopkg/", nil), http.StatusNotFound, whisk.MsgNotFound)
}

func TestActionList(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		r := e.do(&guestKey, "PUT", fmt.Sprintf("%sa%d", actionsPath, i), `{"exec":{"kind":"nodejs:20","code":"x"},"annotations":[{"key":"web-export","value":true}]}`)
		expectStatus(t, r, http.StatusOK)
	}
	names := func(path string) string {
		var list []controller.ActionSummary
		r := e.do(&guestKey, "GET", path, nil)
		expectStatus(t, r, http.StatusOK)
		r.json(t, &list)
		var out []string
		for _, s := range list {
			out = append(out, s.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct{ query, want string }{
		{"", "a4,a3,a2,a1,a0"},
		{"?limit=2", "a4,a3"},
		{"?limit=2&skip=1", "a3,a2"},
		{"?limit=0&skip=3", "a1,a0"},
		{"?skip=9", ""},
	} {
		if got := names("/api/v1/namespaces/_/actions" + tc.query); got != tc.want {
			t.Errorf("list%s = %q, want %q", tc.query, got, tc.want)
		}
	}
	r := e.do(&guestKey, "GET", "/api/v1/namespaces/_/actions?limit=1", nil)
	golden(t, "action_list.json", r.body)

	r = e.do(&guestKey, "GET", "/api/v1/namespaces/_/actions?count=true&skip=1", nil)
	expectStatus(t, r, http.StatusOK)
	if string(r.body) != `{"actions":4}` {
		t.Errorf("count: %s", r.body)
	}
	for _, tc := range []struct{ query, message string }{
		{"limit=201", "The query parameter 'limit' was malformed:\nThe value '201' is not in the range of 0 to 200 for actions."},
		{"limit=x", "The query parameter 'limit' was malformed:\nThe value 'x' is not an integer for actions."},
		{"skip=-1", "The query parameter 'skip' was malformed:\nThe value '-1' is not greater than or equal to 0 for actions."},
		{"count=maybe", "The query parameter 'count' was malformed:\n'maybe' is not a valid Boolean value"},
	} {
		expectError(t, e.do(&guestKey, "GET", "/api/v1/namespaces/_/actions?"+tc.query, nil), http.StatusBadRequest, tc.message)
	}
}

func TestSequenceCreate(t *testing.T) {
	e := newEnv(t)
	e.do(&guestKey, "PUT", actionsPath+"a", `{"exec":{"kind":"nodejs:20","code":"x"}}`)
	r := e.do(&guestKey, "PUT", actionsPath+"s", `{"exec":{"kind":"sequence","components":["/_/a","/guest/a"]}}`)
	expectStatus(t, r, http.StatusOK)
	golden(t, "sequence_create.json", r.body)
	// s2 → s: fine; then s → s2 would be a cycle.
	expectStatus(t, e.do(&guestKey, "PUT", actionsPath+"s2", `{"exec":{"kind":"sequence","components":["/_/s"]}}`), http.StatusOK)
	expectError(t, e.do(&guestKey, "PUT", actionsPath+"s?overwrite=true", `{"exec":{"kind":"sequence","components":["/_/s2"]}}`),
		http.StatusBadRequest, "Sequence may not refer to itself.")
	// Updating a sequence keeps its _actions whatever parameters are sent.
	r = e.do(&guestKey, "PUT", actionsPath+"s?overwrite=true", `{"parameters":[{"key":"x","value":1}]}`)
	var a whisk.Action
	r.json(t, &a)
	if !a.Parameters.Has("_actions") || a.Parameters.Has("x") {
		t.Errorf("sequence parameters after update: %s", r.body)
	}
	// Without an invoker the first component cannot start: OpenWhisk records
	// the sequence as a whisk internal error.
	r = e.do(&guestKey, "POST", actionsPath+"s?blocking=true", nil)
	expectStatus(t, r, http.StatusInternalServerError)
	if !strings.Contains(string(r.body), controller.MsgSequenceFailed) {
		t.Errorf("sequence without an invoker: %s", r.body)
	}
}
