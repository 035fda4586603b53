package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// record makes an activation record as the invoker writes them; name may be
// "pkg/action".
func record(ns, name string, n int, code whisk.StatusCode, result string) *whisk.Activation {
	start := int64(1717000000000 + n*1000)
	path := ns + "/" + name
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	return &whisk.Activation{
		Namespace: ns, Name: name, Version: "0.0.1", Subject: ns,
		ActivationID: fmt.Sprintf("%032x", n+1),
		Start:        start, End: start + 8, Duration: 8,
		StatusCode: int(code),
		Response:   whisk.NewResponse(code, json.RawMessage(result)),
		Logs:       []string{"2024-05-29T16:26:40.123456789Z stdout: hello \"quoted\"\ttab"},
		Annotations: whisk.KeyValues{}.Set("path", path).Set("kind", "nodejs:20").
			Set("limits", whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1}).Set("waitTime", 3),
	}
}

func TestActivations(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var acts []*whisk.Activation
	for i := range 4 {
		name := "hello"
		if i%2 == 1 {
			name = "pkg/hi"
		}
		acts = append(acts, record("guest", name, i, whisk.StatusSuccess, `{"payload":"hi"}`))
	}
	acts = append(acts, record("guest", "hello", 4, whisk.StatusApplicationError, `{"error":"boom"}`))
	acts = append(acts, record("other", "hello", 5, whisk.StatusSuccess, `{}`))
	if err := e.store.PutActivations(ctx, acts); err != nil {
		t.Fatal(err)
	}
	ids := func(path string) string {
		t.Helper()
		var list []map[string]any
		r := e.do(&guestKey, "GET", path, nil)
		expectStatus(t, r, http.StatusOK)
		r.json(t, &list)
		var out []string
		for _, a := range list {
			id := a["activationId"].(string)
			out = append(out, strings.TrimLeft(id, "0"))
		}
		return strings.Join(out, ",")
	}
	base := "/api/v1/namespaces/_/activations"
	for _, tc := range []struct{ query, want string }{
		{"", "5,4,3,2,1"},
		{"?limit=2&skip=1", "4,3"},
		{"?name=hello", "5,3,1"},
		{"?name=pkg/hi", "4,2"},
		{"?since=1717000001000&upto=1717000003000", "4,3,2"},
		{"?docs=true&limit=1", "5"},
	} {
		if got := ids(base + tc.query); got != tc.want {
			t.Errorf("list%s = %s, want %s", tc.query, got, tc.want)
		}
	}
	golden(t, "activation_list.json", e.do(&guestKey, "GET", base+"?limit=1", nil).body)
	golden(t, "activation_list_docs.json", e.do(&guestKey, "GET", base+"?limit=1&docs=true", nil).body)

	r := e.do(&guestKey, "GET", base+"?count=true&name=hello", nil)
	if string(r.body) != `{"activations":3}` {
		t.Errorf("count: %s", r.body)
	}
	for _, tc := range []struct{ query, message string }{
		{"count=true&docs=true", "The parameter 'docs' is not permitted with 'count'."},
		{"name=a/b/c", "The query parameter 'name' was malformed:\nParameter may be a 'simple' name or 'package-name/simple' name: a/b/c"},
		{"since=yesterday", "The query parameter 'since' was malformed:\nParameter is not a valid value for epoch seconds: yesterday"},
		{"limit=500", "The query parameter 'limit' was malformed:\nThe value '500' is not in the range of 0 to 200 for activations."},
	} {
		expectError(t, e.do(&guestKey, "GET", base+"?"+tc.query, nil), http.StatusBadRequest, tc.message)
	}

	id := acts[4].ActivationID
	r = e.do(&guestKey, "GET", base+"/"+id, nil)
	expectStatus(t, r, http.StatusOK)
	golden(t, "activation.json", r.body)
	r = e.do(&guestKey, "GET", base+"/"+id+"/result", nil)
	expectStatus(t, r, http.StatusOK)
	if string(r.body) != `{"status":"application error","success":false,"result":{"error":"boom"},"size":16}` {
		t.Errorf("result: %s", r.body)
	}
	r = e.do(&guestKey, "GET", base+"/"+id+"/logs", nil)
	if string(r.body) != `{"logs":["2024-05-29T16:26:40.123456789Z stdout: hello \"quoted\"\ttab"]}` {
		t.Errorf("logs: %s", r.body)
	}
	expectError(t, e.do(&guestKey, "GET", base+"/abc", nil), http.StatusBadRequest, "Activation id length is 3 but must be 32.")
	expectError(t, e.do(&guestKey, "GET", base+"/"+strings.Repeat("g", 32), nil), http.StatusBadRequest, "The activation id is not valid.")
	// Another namespace's record is not found in ours, and theirs is forbidden.
	expectError(t, e.do(&guestKey, "GET", base+"/"+acts[5].ActivationID, nil), http.StatusNotFound, whisk.MsgNotFound)
	expectError(t, e.do(&guestKey, "GET", "/api/v1/namespaces/other/activations/"+acts[5].ActivationID, nil), http.StatusForbidden,
		"The supplied authentication is not authorized to access 'other/"+acts[5].ActivationID+"'.")
}

// TestPendingActivation checks that a record handed to the record writer is
// readable before its batch is written.
func TestPendingActivation(t *testing.T) {
	e := newEnv(t)
	act := record("guest", "hello", 7, whisk.StatusSuccess, `{"ok":true}`)
	e.rec.Record(act)
	r := e.do(&guestKey, "GET", "/api/v1/namespaces/_/activations/"+act.ActivationID, nil)
	expectStatus(t, r, http.StatusOK)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := e.store.GetActivation(context.Background(), "guest", act.ActivationID); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the record never reached the store")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWriteActivation(t *testing.T) {
	for _, tc := range []struct {
		name       string
		code       whisk.StatusCode
		result     string
		resultOnly bool
		status     int
		body       string // prefix
	}{
		{"Success", whisk.StatusSuccess, `{"a":1}`, false, 200, `{"namespace":"guest"`},
		{"SuccessResult", whisk.StatusSuccess, `{"a":1}`, true, 200, `{"a":1}`},
		{"Array", whisk.StatusSuccess, ` [1,2]`, false, 200, `[1,2]`},
		{"ApplicationError", whisk.StatusApplicationError, `{"error":"x"}`, false, 502, `{"namespace":"guest"`},
		{"DeveloperErrorResult", whisk.StatusDeveloperError, `{"error":"x"}`, true, 502, `{"error":"x"}`},
		{"InternalError", whisk.StatusInternalError, `{"error":"x"}`, false, 500, `{"namespace":"guest"`},
		{"NoResult", whisk.StatusSuccess, ``, true, 200, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeActivation(rec, record("guest", "a", 1, tc.code, tc.result), tc.resultOnly)
			if rec.Code != tc.status || !strings.HasPrefix(rec.Body.String(), tc.body) {
				t.Errorf("%d %s, want %d %s…", rec.Code, rec.Body, tc.status, tc.body)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Errorf("not JSON: %s", rec.Body)
			}
		})
	}
}
