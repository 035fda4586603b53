package main

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

const (
	triggersPath = "/api/v1/namespaces/_/triggers/"
	rulesPath    = "/api/v1/namespaces/_/rules/"
	// echoPy returns its arguments: what a rule passed to its action.
	echoPy = "def main(args):\n    return args\n"
)

// trigTenant makes another namespace in the running server and returns its key.
func trigTenant(t *testing.T, ts *testServer, name string, limits whisk.NamespaceLimits) string {
	t.Helper()
	key := whisk.NewAuthKey()
	err := ts.srv.store.CreateNamespace(context.Background(), store.Namespace{
		Name: name, Subject: name, UUID: key.UUID, KeyHash: whisk.HashSecret(key.Secret),
		Limits: limits, Created: time.Now().UnixMilli(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return key.String()
}

// wantWhiskError checks status, OpenWhisk's exact message and a non-empty code.
func wantWhiskError(t *testing.T, r response, status int, message string) {
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

func kvs(pairs ...any) []map[string]any {
	var out []map[string]any
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, map[string]any{"key": pairs[i], "value": pairs[i+1]})
	}
	return out
}

func (ts *testServer) putTrigger(name string, body any) whisk.Trigger {
	ts.t.Helper()
	var tr whisk.Trigger
	ts.mustStatus(ts.do("PUT", triggersPath+name, body), 200).json(ts.t, &tr)
	return tr
}

func (ts *testServer) putRule(name, trigger, action string) whisk.Rule {
	ts.t.Helper()
	var r whisk.Rule
	ts.mustStatus(ts.do("PUT", rulesPath+name, map[string]string{"trigger": trigger, "action": action}), 200).json(ts.t, &r)
	return r
}

// fire fires a trigger and returns the id of its activation ("" for 204).
func (ts *testServer) fire(name string, payload any) string {
	ts.t.Helper()
	r := ts.do("POST", triggersPath+name, payload)
	switch r.status {
	case 204:
		if len(r.body) != 0 {
			ts.t.Fatalf("204 with a body: %q", r.body)
		}
		return ""
	case 202:
		var b struct{ ActivationID string }
		r.json(ts.t, &b)
		if b.ActivationID == "" || r.header.Get("x-openwhisk-activation-id") != b.ActivationID {
			ts.t.Fatalf("202 body %s, header %q", r.body, r.header.Get("x-openwhisk-activation-id"))
		}
		return b.ActivationID
	}
	ts.t.Fatalf("fire %s: status %d: %s", name, r.status, r.body)
	return ""
}

// ruleLog is one line of a trigger activation's logs.
type ruleLog struct {
	StatusCode   int    `json:"statusCode"`
	Success      bool   `json:"success"`
	ActivationID string `json:"activationId"`
	Error        string `json:"error"`
	Rule         string `json:"rule"`
	Action       string `json:"action"`
}

func ruleLogs(t *testing.T, act whisk.Activation) []ruleLog {
	t.Helper()
	out := make([]ruleLog, len(act.Logs))
	for i, l := range act.Logs {
		// Each line is a JSON object in a string, as OpenWhisk writes it.
		if err := json.Unmarshal([]byte(l), &out[i]); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rule < out[j].Rule })
	return out
}

func TestTriggerCRUD(t *testing.T) {
	ts := startTestServer(t)
	tr := ts.putTrigger("t", map[string]any{
		"parameters": kvs("place", "Kansas", "n", 1), "name": "ignored", "namespace": "ignored", "limits": map[string]any{},
	})
	if tr.Namespace != "guest" || tr.Name != "t" || tr.Version != "0.0.1" || tr.Publish || tr.Updated == 0 ||
		len(tr.Parameters) != 2 || tr.Rules != nil {
		t.Fatalf("created %+v", tr)
	}
	raw := ts.mustStatus(ts.do("GET", triggersPath+"t", nil), 200).object(t)
	for _, k := range []string{"namespace", "name", "version", "publish", "annotations", "parameters", "limits", "updated"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("GET lacks %q: %v", k, raw)
		}
	}
	if lim, _ := raw["limits"].(map[string]any); lim == nil || len(lim) != 0 {
		t.Errorf("limits %v, want {}", raw["limits"])
	}

	wantWhiskError(t, ts.do("PUT", triggersPath+"t", map[string]any{}), 409, whisk.MsgExists)
	up := ts.putTrigger("t?overwrite=true", map[string]any{"annotations": kvs("description", "ticks")})
	if up.Version != "0.0.2" || len(up.Parameters) != 2 || len(up.Annotations) != 1 {
		t.Fatalf("update keeps parameters, replaces annotations, bumps the version: %+v", up)
	}
	up = ts.putTrigger("t?overwrite=true", map[string]any{"parameters": kvs("only", true), "version": "2.1"})
	if up.Version != "2.1.0" || len(up.Parameters) != 1 || up.Parameters[0].Key != "only" || len(up.Annotations) != 1 {
		t.Fatalf("parameters are replaced, not merged: %+v", up)
	}

	// The feed annotation must name an entity; it need not exist.
	wantWhiskError(t, ts.do("PUT", triggersPath+"f1", map[string]any{"annotations": kvs("feed", "")}), 400, "Feed name is not valid")
	wantWhiskError(t, ts.do("PUT", triggersPath+"f1", map[string]any{"annotations": kvs("feed", "/a b!/c")}), 400, "Feed name is not valid")
	wantWhiskError(t, ts.do("PUT", triggersPath+"f1", map[string]any{"annotations": kvs("feed", 42)}), 400, "Feed name is not valid")
	ts.putTrigger("f1", map[string]any{"annotations": kvs("feed", "/whisk.system/nothing/here")})
	wantWhiskError(t, ts.do("PUT", triggersPath+"f2", `{"parameters":`), 400, "The request content was malformed:\nUnexpected end-of-input, expected JSON Value")
	wantWhiskError(t, ts.do("PUT", triggersPath+"bad!name", map[string]any{}), 400, whisk.MsgIllegalName)

	// Triggers share the name space of actions.
	ts.putAction("act", "python:3.11", echoPy, nil)
	wantWhiskError(t, ts.do("PUT", triggersPath+"act", map[string]any{}), 409, "Resource by this name exists but is not in this collection.")
	wantWhiskError(t, ts.do("GET", triggersPath+"act", nil), 409, "Resource by this name exists but is not in this collection.")

	var list []map[string]any
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/triggers", nil), 200).json(t, &list)
	if len(list) != 2 || list[0]["name"] != "f1" || list[1]["name"] != "t" {
		t.Fatalf("list, newest first: %v", list)
	}
	for _, item := range list {
		if _, ok := item["parameters"]; ok {
			t.Errorf("a list item is a summary, without parameters: %v", item)
		}
	}
	if c := ts.mustStatus(ts.do("GET", "/api/v1/namespaces/guest/triggers?count=true&skip=1", nil), 200).object(t); c["triggers"] != 1.0 {
		t.Fatalf("count %v", c)
	}
	wantWhiskError(t, ts.do("GET", "/api/v1/namespaces/_/triggers?limit=201", nil), 400,
		"The query parameter 'limit' was malformed:\nThe value '201' is not in the range of 0 to 200 for triggers.")

	alice := trigTenant(t, ts, "alice", whisk.NamespaceLimits{})
	wantWhiskError(t, ts.do("GET", "/api/v1/namespaces/guest/triggers/t", nil, alice), 403,
		"The supplied authentication is not authorized to access 'guest/t'.")
	wantWhiskError(t, ts.do("POST", "/api/v1/namespaces/guest/triggers/t", nil, alice), 403,
		"The supplied authentication is not authorized to access 'guest/t'.")

	var del whisk.Trigger
	ts.mustStatus(ts.do("DELETE", triggersPath+"t", nil), 200).json(t, &del)
	if del.Name != "t" || del.Version != "2.1.0" {
		t.Fatalf("delete answers with the deleted trigger: %+v", del)
	}
	wantWhiskError(t, ts.do("GET", triggersPath+"t", nil), 404, whisk.MsgNotFound)
	wantWhiskError(t, ts.do("DELETE", triggersPath+"t", nil), 404, whisk.MsgNotFound)
	wantWhiskError(t, ts.do("POST", triggersPath+"t", nil), 404, whisk.MsgNotFound)
}

func TestRuleCRUD(t *testing.T) {
	ts := startTestServer(t)
	ts.putAction("hello", "python:3.11", echoPy, nil)
	ts.putTrigger("t1", map[string]any{})
	ts.putTrigger("t2", map[string]any{})

	wantWhiskError(t, ts.do("PUT", rulesPath+"r", map[string]string{"trigger": "/_/nope", "action": "/_/hello"}), 400,
		"trigger /guest/nope does not exist")
	wantWhiskError(t, ts.do("PUT", rulesPath+"r", map[string]string{"trigger": "/_/t1", "action": "/_/nope"}), 400,
		"action /guest/nope does not exist")
	wantWhiskError(t, ts.do("PUT", rulesPath+"r", map[string]string{"trigger": "/_/t1", "action": "/_/nopkg/x"}), 400,
		"action /guest/nopkg/x does not exist")
	wantWhiskError(t, ts.do("PUT", rulesPath+"r", map[string]string{"trigger": "/_/t1"}), 400,
		"rule requires a valid trigger and a valid action")
	wantWhiskError(t, ts.do("PUT", rulesPath+"r", map[string]string{"trigger": "t1", "action": "/_/hello"}), 400,
		"The request content was malformed:\nrequirement failed: The fully qualified name of the entity must contain at least the namespace and the name of the entity.")
	wantWhiskError(t, ts.do("PUT", rulesPath+"r", map[string]string{"trigger": "/alice/t", "action": "/_/hello"}), 403,
		"The supplied authentication is not authorized to access 'alice/t'.")
	wantWhiskError(t, ts.do("PUT", rulesPath+"r", map[string]string{"trigger": "/_/t1", "action": "/alice/hello"}), 403,
		"The supplied authentication is not authorized to access 'alice/hello'.")
	wantWhiskError(t, ts.do("GET", rulesPath+"r", nil), 404, whisk.MsgNotFound)

	// The npm client's form: names without the leading slash, a status that is ignored.
	r := ts.putRule("r", "guest/t1", "/guest/hello")
	if r.Status != "active" || r.Trigger != (whisk.EntityRef{Path: "guest", Name: "t1"}) ||
		r.Action != (whisk.EntityRef{Path: "guest", Name: "hello"}) || r.Version != "0.0.1" || r.Namespace != "guest" {
		t.Fatalf("created %+v", r)
	}
	var t1 whisk.Trigger
	ts.mustStatus(ts.do("GET", triggersPath+"t1", nil), 200).json(t, &t1)
	if got := t1.Rules["guest/r"]; got != (whisk.ReducedRule{Action: whisk.EntityRef{Path: "guest", Name: "hello"}, Status: "active"}) || len(t1.Rules) != 1 {
		t.Fatalf("trigger's rules %+v", t1.Rules)
	}
	if t1.Version != "0.0.1" {
		t.Errorf("linking a rule changed the trigger's version: %s", t1.Version)
	}
	wantWhiskError(t, ts.do("PUT", rulesPath+"r", map[string]string{"trigger": "/_/t1", "action": "/_/hello"}), 409, whisk.MsgExists)

	// Disable, disable again, bad statuses.
	ts.mustStatus(ts.do("POST", rulesPath+"r", map[string]string{"status": "inactive"}), 200)
	ts.mustStatus(ts.do("POST", rulesPath+"r", map[string]string{"status": "inactive"}), 200)
	wantWhiskError(t, ts.do("POST", rulesPath+"r", map[string]string{"status": "paused"}), 400,
		"The request content was malformed:\nrequirement failed: paused is not a recognized rule state")
	wantWhiskError(t, ts.do("POST", rulesPath+"r", map[string]string{}), 400, "The request content was malformed:\nkey not found: status")
	wantWhiskError(t, ts.do("POST", rulesPath+"nope", map[string]string{"status": "active"}), 404, whisk.MsgNotFound)
	ts.mustStatus(ts.do("GET", rulesPath+"r", nil), 200).json(t, &r)
	if r.Status != "inactive" {
		t.Fatalf("after disable: %+v", r)
	}

	// Update moves the link to the new trigger and keeps the status.
	var upd whisk.Rule
	ts.mustStatus(ts.do("PUT", rulesPath+"r?overwrite=true", map[string]string{"trigger": "/_/t2"}), 200).json(t, &upd)
	if upd.Status != "inactive" || upd.Trigger.Name != "t2" || upd.Action.Name != "hello" || upd.Version != "0.0.2" {
		t.Fatalf("updated %+v", upd)
	}
	var t1after, t2 whisk.Trigger
	ts.mustStatus(ts.do("GET", triggersPath+"t1", nil), 200).json(t, &t1after)
	ts.mustStatus(ts.do("GET", triggersPath+"t2", nil), 200).json(t, &t2)
	t1 = t1after
	if len(t1.Rules) != 0 || t2.Rules["guest/r"].Status != "inactive" {
		t.Fatalf("after moving: t1 %+v, t2 %+v", t1.Rules, t2.Rules)
	}
	ts.mustStatus(ts.do("POST", rulesPath+"r", map[string]string{"status": "active"}), 200)

	// Lists carry no status.
	ts.putRule("r2", "/_/t1", "/_/hello")
	var list []map[string]any
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/rules?limit=0", nil), 200).json(t, &list)
	if len(list) != 2 || list[0]["name"] != "r2" {
		t.Fatalf("list %v", list)
	}
	for _, item := range list {
		if _, ok := item["status"]; ok {
			t.Errorf("a list item has a status: %v", item)
		}
		if item["trigger"] == nil || item["action"] == nil {
			t.Errorf("a list item is the whole rule: %v", item)
		}
	}
	if c := ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/rules?count=true", nil), 200).object(t); c["rules"] != 2.0 {
		t.Fatalf("count %v", c)
	}

	// Delete unlinks (whatever the status) and answers the rule, inactive.
	var del whisk.Rule
	ts.mustStatus(ts.do("DELETE", rulesPath+"r", nil), 200).json(t, &del)
	if del.Status != "inactive" || del.Name != "r" {
		t.Fatalf("deleted %+v", del)
	}
	var t2after whisk.Trigger
	ts.mustStatus(ts.do("GET", triggersPath+"t2", nil), 200).json(t, &t2after)
	if t2 = t2after; len(t2.Rules) != 0 {
		t.Fatalf("the deleted rule is still linked: %+v", t2.Rules)
	}

	// A rule outlives its trigger, inactive, and cannot be enabled.
	ts.mustStatus(ts.do("DELETE", triggersPath+"t1", nil), 200)
	var orphan whisk.Rule
	ts.mustStatus(ts.do("GET", rulesPath+"r2", nil), 200).json(t, &orphan)
	if orphan.Status != "inactive" {
		t.Fatalf("rule of a deleted trigger: %+v", orphan)
	}
	wantWhiskError(t, ts.do("POST", rulesPath+"r2", map[string]string{"status": "active"}), 404,
		"Only rules with existing triggers can be activated")
	ts.mustStatus(ts.do("POST", rulesPath+"r2", map[string]string{"status": "inactive"}), 200)
	ts.mustStatus(ts.do("DELETE", rulesPath+"r2", nil), 200)
}

func TestTriggerFire(t *testing.T) {
	ts := startTestServer(t)
	ts.putAction("echo", "python:3.11", echoPy, map[string]any{"parameters": kvs("fromAction", "a", "place", "action")})
	ts.putTrigger("t", map[string]any{"parameters": kvs("place", "Kansas", "fromTrigger", true)})

	// No rule, no activation.
	if id := ts.fire("t", map[string]any{"x": 1}); id != "" {
		t.Fatalf("a trigger without rules answered %s", id)
	}
	ts.putRule("r1", "/_/t", "/_/echo")
	ts.mustStatus(ts.do("POST", rulesPath+"r1", map[string]string{"status": "inactive"}), 200)
	if id := ts.fire("t", nil); id != "" {
		t.Fatalf("a trigger whose rules are all inactive answered %s", id)
	}
	if n := ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/activations?count=true", nil), 200).object(t)["activations"]; n != 0.0 {
		t.Fatalf("fires without active rules recorded %v activations", n)
	}
	ts.mustStatus(ts.do("POST", rulesPath+"r1", map[string]string{"status": "active"}), 200)

	id := ts.fire("t", `{"place":"Oz", "extra":[1,2]}`)
	act := ts.waitActivation(id, 10*time.Second)
	if act.Namespace != "guest" || act.Name != "t" || act.Subject != "guest" || act.Version != "0.0.1" ||
		!act.Response.Success || act.Response.Status != "success" || act.End != 0 || act.Duration != 0 {
		t.Fatalf("trigger activation %+v", act)
	}
	if got := string(act.Response.Result); got != `{"place":"Oz", "extra":[1,2]}` {
		t.Errorf("the trigger activation's result is the payload as sent: %s", got)
	}
	rawAct := ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/activations/"+id, nil), 200).object(t)
	if _, ok := rawAct["end"]; ok {
		t.Errorf("a trigger activation has no end: %v", rawAct)
	}
	if _, ok := rawAct["duration"]; ok {
		t.Errorf("a trigger activation has no duration: %v", rawAct)
	}
	logs := ruleLogs(t, act)
	if len(logs) != 1 || !logs[0].Success || logs[0].StatusCode != 0 || logs[0].Rule != "guest/r1" ||
		logs[0].Action != "guest/echo" || !whisk.ValidActivationID(logs[0].ActivationID) {
		t.Fatalf("logs %q", act.Logs)
	}
	if !strings.HasPrefix(act.Logs[0], `{"statusCode":0,"success":true,"activationId":"`) {
		t.Errorf("log line %s", act.Logs[0])
	}
	ran := ts.waitActivation(logs[0].ActivationID, 30*time.Second)
	got := resultOf(t, ran)
	// Action defaults < trigger parameters < payload.
	if got["place"] != "Oz" || got["fromTrigger"] != true || got["fromAction"] != "a" || got["extra"] == nil {
		t.Fatalf("the action got %v", got)
	}
	headers, _ := got["__ow_headers"].(map[string]any)
	if headers == nil || headers["content-type"] != "application/json" || headers["authorization"] != nil {
		t.Errorf("__ow_headers %v", got["__ow_headers"])
	}
	if ran.Cause != "" {
		t.Errorf("a rule's activation has no cause: %q", ran.Cause)
	}
	if annotation(ran, "path") != "guest/echo" {
		t.Errorf("rule activation annotations %v", ran.Annotations)
	}

	// Bodies that are not objects are refused.
	wantWhiskError(t, ts.do("POST", triggersPath+"t", `[1]`), 400, "The request content was malformed:\nJSON object expected")
	if r := ts.do("POST", triggersPath+"t", `{"a":`); r.status != 400 {
		t.Fatalf("truncated body: %d %s", r.status, r.body)
	}
}

func TestTriggerManyRules(t *testing.T) {
	ts := startTestServer(t)
	ts.putAction("a1", "python:3.11", "def main(args):\n    return {'by': 'a1', 'n': args.get('n')}\n", nil)
	ts.putAction("a2", "python:3.11", "def main(args):\n    return {'by': 'a2', 'n': args.get('n')}\n", nil)
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/packages/pkg", map[string]any{}), 200)
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/actions/pkg/a3?overwrite=true", map[string]any{
		"exec": map[string]any{"kind": "python:3.11", "code": "def main(args):\n    return {'by': 'pkg/a3', 'n': args.get('n'), 'p': args.get('p')}\n"},
	}), 200)
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/packages/pkg?overwrite=true", map[string]any{"parameters": kvs("p", "pkg")}), 200)
	ts.putTrigger("t", map[string]any{})
	ts.putTrigger("other", map[string]any{})
	ts.putRule("ra", "/_/t", "/_/a1")
	ts.putRule("rb", "/_/t", "/_/a2")
	ts.putRule("rc", "/_/t", "/_/pkg/a3")
	ts.putRule("rd", "/_/t", "/_/a1") // two rules, one action
	ts.putRule("re", "/_/other", "/_/a1")
	ts.mustStatus(ts.do("POST", rulesPath+"rb", map[string]string{"status": "inactive"}), 200)

	act := ts.waitActivation(ts.fire("t", map[string]any{"n": 7}), 10*time.Second)
	logs := ruleLogs(t, act)
	if len(logs) != 4 {
		t.Fatalf("one log line per rule of the trigger, inactive ones too: %q", act.Logs)
	}
	wantInactive := ruleLog{StatusCode: 1, Error: "Rule 'guest/rb' is inactive, action 'guest/a2' was not activated.", Rule: "guest/rb", Action: "guest/a2"}
	if logs[1] != wantInactive {
		t.Errorf("inactive rule: %+v", logs[1])
	}
	want := map[string]string{"guest/ra": "a1", "guest/rc": "pkg/a3", "guest/rd": "a1"}
	ids := map[string]bool{}
	for _, l := range []ruleLog{logs[0], logs[2], logs[3]} {
		if !l.Success || ids[l.ActivationID] {
			t.Fatalf("rule result %+v", l)
		}
		ids[l.ActivationID] = true
		ran := ts.waitActivation(l.ActivationID, 30*time.Second)
		res := resultOf(t, ran)
		if res["by"] != want[l.Rule] || res["n"] != 7.0 {
			t.Errorf("rule %s ran %v", l.Rule, res)
		}
		if l.Rule == "guest/rc" && (l.Action != "guest/pkg/a3" || res["p"] != "pkg") {
			t.Errorf("packaged action: log %+v, result %v", l, res)
		}
	}
	// The disabled rule's action did not run, nor did the other trigger's rule.
	var a2 []whisk.Activation
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/activations?name=a2", nil), 200).json(t, &a2)
	if len(a2) != 0 {
		t.Fatalf("a2 ran %d times", len(a2))
	}

	// A rule whose action was deleted fails at fire time, as an application error.
	ts.mustStatus(ts.do("DELETE", "/api/v1/namespaces/_/actions/a1", nil), 200)
	logs = ruleLogs(t, ts.waitActivation(ts.fire("other", nil), 10*time.Second))
	if len(logs) != 1 || logs[0].Success || logs[0].StatusCode != 1 || logs[0].Error != whisk.MsgNotFound ||
		logs[0].ActivationID != "" || logs[0].Action != "guest/a1" {
		t.Fatalf("rule of a deleted action: %+v", logs)
	}
}

func TestTriggerRulesAcrossNamespaces(t *testing.T) {
	ts := startTestServer(t)
	// The catalog's /whisk.system/utils/echo is shared with everyone.
	ts.putTrigger("t", map[string]any{"parameters": kvs("payload", "from the trigger")})
	ts.putRule("shared", "/_/t", "/whisk.system/utils/echo")
	logs := ruleLogs(t, ts.waitActivation(ts.fire("t", nil), 10*time.Second))
	if len(logs) != 1 || !logs[0].Success || logs[0].Action != "whisk.system/utils/echo" {
		t.Fatalf("logs %+v", logs)
	}
	ran := ts.waitActivation(logs[0].ActivationID, 60*time.Second)
	if resultOf(t, ran)["payload"] != "from the trigger" || ran.Namespace != "guest" {
		t.Fatalf("shared action ran %+v: %s", ran, ran.Response.Result)
	}

	// Another namespace's private package is not readable.
	alice := trigTenant(t, ts, "alice", whisk.NamespaceLimits{})
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/packages/private", map[string]any{}, alice), 200)
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/actions/private/x", map[string]any{
		"exec": map[string]any{"kind": "python:3.11", "code": echoPy}}, alice), 200)
	wantWhiskError(t, ts.do("PUT", rulesPath+"r2", map[string]string{"trigger": "/_/t", "action": "/alice/private/x"}), 403,
		"The supplied authentication is not authorized to access 'alice/private'.")
}

func TestTriggerRuleToSequence(t *testing.T) {
	ts := startTestServer(t)
	ts.putAction("inc", "python:3.11", "def main(args):\n    return {'n': args.get('n', 0) + 1}\n", nil)
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/actions/twice?overwrite=true", map[string]any{
		"exec": map[string]any{"kind": "sequence", "components": []string{"/_/inc", "/_/inc"}},
	}), 200)
	ts.putTrigger("t", map[string]any{})
	ts.putRule("r", "/_/t", "/_/twice")
	logs := ruleLogs(t, ts.waitActivation(ts.fire("t", map[string]any{"n": 40}), 10*time.Second))
	if len(logs) != 1 || !logs[0].Success {
		t.Fatalf("logs %+v", logs)
	}
	seq := ts.waitActivation(logs[0].ActivationID, 60*time.Second)
	if resultOf(t, seq)["n"] != 42.0 || annotation(seq, "kind") != "sequence" {
		t.Fatalf("sequence run by a rule: %s %v", seq.Response.Result, seq.Annotations)
	}
}

func TestTriggerFiresPerMinute(t *testing.T) {
	ts := startTestServer(t, func(cfg *serverConfig) { cfg.Controller.FiresPerMinute = 2 })
	ts.putTrigger("t", map[string]any{})
	bob := trigTenant(t, ts, "bob", whisk.NamespaceLimits{FiresPerMinute: ptrInt(1)})
	ts.mustStatus(ts.do("PUT", triggersPath+"t", map[string]any{}, bob), 200)

	// Fires are counted per calendar minute: start well inside one.
	if sec := time.Now().Second(); sec >= 50 {
		time.Sleep(time.Duration(61-sec) * time.Second)
	}
	var statuses []int
	for range 3 {
		statuses = append(statuses, ts.do("POST", triggersPath+"t", nil).status)
	}
	if !slices.Equal(statuses, []int{204, 204, 429}) {
		t.Fatalf("statuses %v, want 204 204 429", statuses)
	}
	// Refused fires count too, as OpenWhisk counts them.
	wantWhiskError(t, ts.do("POST", triggersPath+"t", nil), 429, "Too many requests in the last minute (count: 4, allowed: 2).")
	// The namespace's own limit overrides the server's.
	if r := ts.do("POST", triggersPath+"t", nil, bob); r.status != 204 {
		t.Fatalf("bob's first fire: %d %s", r.status, r.body)
	}
	wantWhiskError(t, ts.do("POST", triggersPath+"t", nil, bob), 429, "Too many requests in the last minute (count: 2, allowed: 1).")
	var limits map[string]any
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/limits", nil, bob), 200).json(t, &limits)
	if limits["firesPerMinute"] != 1.0 {
		t.Fatalf("limits %v", limits)
	}
}

func ptrInt(n int) *int { return &n }
