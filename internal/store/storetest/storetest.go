// Package storetest is the conformance suite for the store seam. Every
// implementation of store.Store runs Run, and every store.Queue runs RunQueue,
// from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return mustOpen(t) })
//	}
//
// The suite talks only through the interfaces and makes no assumption about
// how revisions are numbered beyond "increase on every update", so a
// PostgreSQL backend can run it unchanged.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// Run checks s against the store.Store contract. open must return a new,
// empty store and arrange (with t.Cleanup) for it to be closed; it is called
// once per subtest.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Namespaces", testNamespaces},
		{"NamespaceConflicts", testNamespaceConflicts},
		{"DeleteNamespace", testDeleteNamespace},
		{"EntityCreateGet", testEntityCreateGet},
		{"EntityCreateConflict", testEntityCreateConflict},
		{"EntityUpdate", testEntityUpdate},
		{"EntityDelete", testEntityDelete},
		{"EntityList", testEntityList},
		{"ActivationPutGet", testActivationPutGet},
		{"ActivationIdempotent", testActivationIdempotent},
		{"ActivationList", testActivationList},
		{"ActivationIsolation", testActivationIsolation},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Ping", func(t *testing.T, s store.Store) { must(t, s.Ping(t.Context())) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr checks that err matches one of the contract errors.
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one matching %v (code %d)", what, err, target, whisk.CodeOf(target))
	}
}

func ptr[T any](v T) *T { return &v }

func testNamespaces(t *testing.T, s store.Store) {
	ctx := t.Context()
	guest := store.Namespace{
		Name: "guest", Subject: "guest", UUID: "23bc46b1-71f6-4ed5-8c54-816aa4f8c502", KeyHash: "hash-1",
		Limits:  whisk.NamespaceLimits{InvocationsPerMinute: ptr(0), FiresPerMinute: ptr(60)},
		Created: 1717000000000,
	}
	other := store.Namespace{Name: "other", Subject: "alice", UUID: "uuid-other", KeyHash: "hash-2", Created: 1717000000001}
	must(t, s.CreateNamespace(ctx, guest))
	must(t, s.CreateNamespace(ctx, other))

	got, err := s.GetNamespace(ctx, "guest")
	must(t, err)
	checkNamespace(t, got, guest)
	got, err = s.NamespaceByUUID(ctx, other.UUID)
	must(t, err)
	checkNamespace(t, got, other)

	_, err = s.GetNamespace(ctx, "nobody")
	wantErr(t, err, whisk.ErrNotFound, "GetNamespace of a missing namespace")
	_, err = s.NamespaceByUUID(ctx, "no-such-uuid")
	wantErr(t, err, whisk.ErrNotFound, "NamespaceByUUID of an unknown uuid")

	all, err := s.ListNamespaces(ctx)
	must(t, err)
	names := make([]string, len(all))
	for i, ns := range all {
		names[i] = ns.Name
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"guest", "other"}) {
		t.Fatalf("ListNamespaces = %v, want guest and other", names)
	}

	// A new key replaces the old one: the old uuid stops resolving.
	updated := guest
	updated.UUID, updated.KeyHash, updated.Subject = "uuid-rotated", "hash-3", "guest2"
	updated.Limits = whisk.NamespaceLimits{ConcurrentInvocations: ptr(5)}
	must(t, s.UpdateNamespace(ctx, updated))
	got, err = s.GetNamespace(ctx, "guest")
	must(t, err)
	checkNamespace(t, got, updated)
	_, err = s.NamespaceByUUID(ctx, guest.UUID)
	wantErr(t, err, whisk.ErrNotFound, "NamespaceByUUID of a rotated-out uuid")
	got, err = s.NamespaceByUUID(ctx, "uuid-rotated")
	must(t, err)
	if got.Name != "guest" {
		t.Fatalf("NamespaceByUUID(rotated) = %s, want guest", got.Name)
	}

	err = s.UpdateNamespace(ctx, store.Namespace{Name: "nobody", UUID: "u", KeyHash: "h"})
	wantErr(t, err, whisk.ErrNotFound, "UpdateNamespace of a missing namespace")
}

func checkNamespace(t *testing.T, got, want store.Namespace) {
	t.Helper()
	gl, _ := json.Marshal(got.Limits)
	wl, _ := json.Marshal(want.Limits)
	if got.Name != want.Name || got.Subject != want.Subject || got.UUID != want.UUID ||
		got.KeyHash != want.KeyHash || got.Created != want.Created || string(gl) != string(wl) {
		t.Fatalf("namespace = %+v limits %s\nwant %+v limits %s", got, gl, want, wl)
	}
}

func testNamespaceConflicts(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateNamespace(ctx, store.Namespace{Name: "a", Subject: "a", UUID: "uuid-a", KeyHash: "h"}))
	must(t, s.CreateNamespace(ctx, store.Namespace{Name: "b", Subject: "b", UUID: "uuid-b", KeyHash: "h"}))

	err := s.CreateNamespace(ctx, store.Namespace{Name: "a", Subject: "x", UUID: "uuid-new", KeyHash: "h"})
	wantErr(t, err, whisk.ErrConflict, "CreateNamespace with a taken name")
	err = s.CreateNamespace(ctx, store.Namespace{Name: "c", Subject: "c", UUID: "uuid-a", KeyHash: "h"})
	wantErr(t, err, whisk.ErrConflict, "CreateNamespace with a taken uuid")
	err = s.UpdateNamespace(ctx, store.Namespace{Name: "b", Subject: "b", UUID: "uuid-a", KeyHash: "h"})
	wantErr(t, err, whisk.ErrConflict, "UpdateNamespace to another namespace's uuid")

	// Nothing of the refused writes may show.
	if _, err := s.GetNamespace(ctx, "c"); !errors.Is(err, whisk.ErrNotFound) {
		t.Fatalf("refused CreateNamespace left namespace c behind (err %v)", err)
	}
	got, err := s.NamespaceByUUID(ctx, "uuid-b")
	must(t, err)
	if got.Name != "b" {
		t.Fatalf("uuid-b resolves to %s after a refused update, want b", got.Name)
	}
}

func testDeleteNamespace(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, ns := range []string{"gone", "kept"} {
		must(t, s.CreateNamespace(ctx, store.Namespace{Name: ns, Subject: ns, UUID: "uuid-" + ns, KeyHash: "h"}))
		putDoc(t, s, store.Packages, ns, "pkg", 1)
		putDoc(t, s, store.Actions, ns, "act", 2)
		putDoc(t, s, store.Actions, ns+"/pkg", "inner", 3)
		must(t, s.PutActivations(ctx, []*whisk.Activation{
			activation(ns, "act", 100, ns+"/act"),
			activation(ns, "inner", 200, ns+"/pkg/inner"),
		}))
	}
	must(t, s.DeleteNamespace(ctx, "gone"))

	_, err := s.GetNamespace(ctx, "gone")
	wantErr(t, err, whisk.ErrNotFound, "GetNamespace after DeleteNamespace")
	_, err = s.NamespaceByUUID(ctx, "uuid-gone")
	wantErr(t, err, whisk.ErrNotFound, "NamespaceByUUID after DeleteNamespace")
	for _, key := range [][2]string{{"gone", "pkg"}, {"gone", "act"}, {"gone/pkg", "inner"}} {
		_, err := s.GetEntity(ctx, key[0], key[1])
		wantErr(t, err, whisk.ErrNotFound, "GetEntity "+key[0]+"/"+key[1]+" after DeleteNamespace")
	}
	if n, err := s.CountActivations(ctx, store.ActivationQuery{Namespace: "gone"}); err != nil || n != 0 {
		t.Fatalf("CountActivations(gone) = %d, %v after DeleteNamespace, want 0", n, err)
	}

	for _, key := range [][2]string{{"kept", "pkg"}, {"kept", "act"}, {"kept/pkg", "inner"}} {
		_, err := s.GetEntity(ctx, key[0], key[1])
		must(t, err)
	}
	if n, err := s.CountActivations(ctx, store.ActivationQuery{Namespace: "kept"}); err != nil || n != 2 {
		t.Fatalf("CountActivations(kept) = %d, %v, want 2", n, err)
	}

	wantErr(t, s.DeleteNamespace(ctx, "gone"), whisk.ErrNotFound, "DeleteNamespace of a missing namespace")
}

// putDoc creates an entity whose body names it, updated at the given time.
func putDoc(t *testing.T, s store.Store, c store.Collection, path, name string, updated int64) store.Doc {
	t.Helper()
	return putDocPublish(t, s, c, path, name, updated, false)
}

func putDocPublish(t *testing.T, s store.Store, c store.Collection, path, name string, updated int64, publish bool) store.Doc {
	t.Helper()
	ns, _ := whisk.SplitPath(path)
	d := store.Doc{
		Collection: c, Namespace: ns, Path: path, Name: name, Updated: updated, Publish: publish,
		Body: fmt.Appendf(nil, `{"name":%q,"namespace":%q}`, name, path),
	}
	rev, err := s.PutEntity(t.Context(), d, 0)
	if err != nil {
		t.Fatalf("create %s %s/%s: %v", c, path, name, err)
	}
	if rev <= 0 {
		t.Fatalf("create %s/%s returned revision %d, want > 0", path, name, rev)
	}
	d.Rev = rev
	return d
}

func checkDoc(t *testing.T, got, want store.Doc) {
	t.Helper()
	if got.Collection != want.Collection || got.Namespace != want.Namespace || got.Path != want.Path ||
		got.Name != want.Name || got.Rev != want.Rev || got.Updated != want.Updated ||
		got.Publish != want.Publish || string(got.Body) != string(want.Body) {
		t.Fatalf("doc = %+v (body %s)\nwant %+v (body %s)", got, got.Body, want, want.Body)
	}
}

func testEntityCreateGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := putDocPublish(t, s, store.Actions, "guest/utils", "hello world", 1717000000123, true)
	got, err := s.GetEntity(ctx, "guest/utils", "hello world")
	must(t, err)
	checkDoc(t, got, want)

	_, err = s.GetEntity(ctx, "guest", "hello world")
	wantErr(t, err, whisk.ErrNotFound, "GetEntity with the right name on another path")
	_, err = s.GetEntity(ctx, "guest/utils", "hello")
	wantErr(t, err, whisk.ErrNotFound, "GetEntity of a missing name")
}

func testEntityCreateConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := putDoc(t, s, store.Actions, "guest", "thing", 10)

	again := first
	again.Body = []byte(`{"second":true}`)
	_, err := s.PutEntity(ctx, again, 0)
	wantErr(t, err, whisk.ErrConflict, "create over an existing entity")

	// Actions, packages, triggers and rules share one name space per path.
	for _, c := range []store.Collection{store.Packages, store.Triggers, store.Rules} {
		clash := store.Doc{Collection: c, Namespace: "guest", Path: "guest", Name: "thing", Updated: 11, Body: []byte(`{}`)}
		_, err := s.PutEntity(ctx, clash, 0)
		wantErr(t, err, whisk.ErrConflict, "create of a "+string(c)+" named like an existing action")
	}

	got, err := s.GetEntity(ctx, "guest", "thing")
	must(t, err)
	checkDoc(t, got, first)

	// The same name is free on another path.
	putDoc(t, s, store.Triggers, "guest/pkg", "thing", 12)
	putDoc(t, s, store.Actions, "other", "thing", 13)
}

func testEntityUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	v1 := putDoc(t, s, store.Actions, "guest", "counter", 100)

	v2 := v1
	v2.Body, v2.Updated, v2.Publish = []byte(`{"v":2}`), 200, true
	rev2, err := s.PutEntity(ctx, v2, v1.Rev)
	must(t, err)
	if rev2 <= v1.Rev {
		t.Fatalf("update returned revision %d, want more than %d", rev2, v1.Rev)
	}
	v2.Rev = rev2
	got, err := s.GetEntity(ctx, "guest", "counter")
	must(t, err)
	checkDoc(t, got, v2)

	stale := v2
	stale.Body = []byte(`{"stale":true}`)
	_, err = s.PutEntity(ctx, stale, v1.Rev)
	wantErr(t, err, whisk.ErrConflict, "update with a stale revision")
	_, err = s.PutEntity(ctx, stale, rev2+100)
	wantErr(t, err, whisk.ErrConflict, "update with a revision from the future")

	wrongKind := v2
	wrongKind.Collection = store.Packages
	_, err = s.PutEntity(ctx, wrongKind, rev2)
	wantErr(t, err, whisk.ErrConflict, "update of an action through the packages collection")

	missing := store.Doc{Collection: store.Actions, Namespace: "guest", Path: "guest", Name: "nothing", Updated: 1, Body: []byte(`{}`)}
	_, err = s.PutEntity(ctx, missing, 1)
	wantErr(t, err, whisk.ErrNotFound, "update of a missing entity")
	if _, err := s.GetEntity(ctx, "guest", "nothing"); !errors.Is(err, whisk.ErrNotFound) {
		t.Fatalf("refused update created the entity (err %v)", err)
	}

	got, err = s.GetEntity(ctx, "guest", "counter")
	must(t, err)
	checkDoc(t, got, v2)

	v3 := v2
	v3.Body, v3.Updated = []byte(`{"v":3}`), 300
	rev3, err := s.PutEntity(ctx, v3, rev2)
	must(t, err)
	if rev3 <= rev2 {
		t.Fatalf("second update returned revision %d, want more than %d", rev3, rev2)
	}
}

func testEntityDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := putDoc(t, s, store.Rules, "guest", "r", 1)

	wantErr(t, s.DeleteEntity(ctx, "guest", "r", d.Rev+1), whisk.ErrConflict, "delete with a wrong revision")
	if _, err := s.GetEntity(ctx, "guest", "r"); err != nil {
		t.Fatalf("refused delete removed the entity: %v", err)
	}
	must(t, s.DeleteEntity(ctx, "guest", "r", d.Rev))
	_, err := s.GetEntity(ctx, "guest", "r")
	wantErr(t, err, whisk.ErrNotFound, "GetEntity after delete")
	wantErr(t, s.DeleteEntity(ctx, "guest", "r", 0), whisk.ErrNotFound, "delete of a missing entity")
	wantErr(t, s.DeleteEntity(ctx, "guest", "r", d.Rev), whisk.ErrNotFound, "delete with a revision of a missing entity")

	// Revision 0 deletes whatever is stored.
	d = putDoc(t, s, store.Triggers, "guest", "r", 2)
	_, err = s.PutEntity(ctx, d, d.Rev)
	must(t, err)
	must(t, s.DeleteEntity(ctx, "guest", "r", 0))

	// A deleted name can be created again, under a revision it never had:
	// the invoker keys warm sandboxes by revision, so an old one must never
	// name the new entity.
	seen := map[int64]bool{d.Rev: true}
	for i := range 3 {
		again := putDoc(t, s, store.Actions, "guest", "r", int64(3+i))
		if seen[again.Rev] {
			t.Fatalf("re-created entity got revision %d again", again.Rev)
		}
		seen[again.Rev] = true
		must(t, s.DeleteEntity(ctx, "guest", "r", again.Rev))
	}
}

func docNames(docs []store.Doc) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.Path + "/" + d.Name
	}
	return out
}

func testEntityList(t *testing.T, s store.Store) {
	ctx := t.Context()
	putDoc(t, s, store.Actions, "ns1", "a1", 100)
	putDoc(t, s, store.Actions, "ns1", "a2", 300)
	putDocPublish(t, s, store.Actions, "ns1", "a3", 200, true)
	putDoc(t, s, store.Actions, "ns1/pkg", "p1", 250)
	putDocPublish(t, s, store.Actions, "ns1/pkg", "p2", 250, true) // same time as p1: name decides
	putDoc(t, s, store.Packages, "ns1", "pkg", 50)
	putDoc(t, s, store.Triggers, "ns1", "t1", 400)
	putDoc(t, s, store.Actions, "ns2", "a1", 500)
	putDoc(t, s, store.Actions, "ns10", "x", 600) // a namespace whose name extends ns1

	// An update moves an entity to the front.
	a1, err := s.GetEntity(ctx, "ns1", "a1")
	must(t, err)
	a1.Updated = 350
	_, err = s.PutEntity(ctx, a1, a1.Rev)
	must(t, err)

	cases := []struct {
		name string
		q    store.ListQuery
		want []string
	}{
		{"namespace", store.ListQuery{Collection: store.Actions, Namespace: "ns1"},
			[]string{"ns1/a1", "ns1/a2", "ns1/pkg/p1", "ns1/pkg/p2", "ns1/a3"}},
		{"limit", store.ListQuery{Collection: store.Actions, Namespace: "ns1", Limit: 2},
			[]string{"ns1/a1", "ns1/a2"}},
		{"skip", store.ListQuery{Collection: store.Actions, Namespace: "ns1", Skip: 3},
			[]string{"ns1/pkg/p2", "ns1/a3"}},
		{"skip and limit", store.ListQuery{Collection: store.Actions, Namespace: "ns1", Skip: 1, Limit: 2},
			[]string{"ns1/a2", "ns1/pkg/p1"}},
		{"skip past the end", store.ListQuery{Collection: store.Actions, Namespace: "ns1", Skip: 5}, nil},
		{"package path", store.ListQuery{Collection: store.Actions, Namespace: "ns1", Path: "ns1/pkg"},
			[]string{"ns1/pkg/p1", "ns1/pkg/p2"}},
		{"root path", store.ListQuery{Collection: store.Actions, Namespace: "ns1", Path: "ns1"},
			[]string{"ns1/a1", "ns1/a2", "ns1/a3"}},
		{"path of another namespace", store.ListQuery{Collection: store.Actions, Namespace: "ns2", Path: "ns1/pkg"}, nil},
		{"published", store.ListQuery{Collection: store.Actions, Namespace: "ns1", Published: true},
			[]string{"ns1/pkg/p2", "ns1/a3"}},
		{"published in a package", store.ListQuery{Collection: store.Actions, Namespace: "ns1", Path: "ns1/pkg", Published: true},
			[]string{"ns1/pkg/p2"}},
		{"packages", store.ListQuery{Collection: store.Packages, Namespace: "ns1"}, []string{"ns1/pkg"}},
		{"triggers", store.ListQuery{Collection: store.Triggers, Namespace: "ns1"}, []string{"ns1/t1"}},
		{"rules", store.ListQuery{Collection: store.Rules, Namespace: "ns1"}, nil},
		{"other namespace", store.ListQuery{Collection: store.Actions, Namespace: "ns2"}, []string{"ns2/a1"}},
		{"unknown namespace", store.ListQuery{Collection: store.Actions, Namespace: "ns"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := s.ListEntities(ctx, tc.q)
			must(t, err)
			if got := docNames(docs); !slices.Equal(got, tc.want) {
				t.Fatalf("ListEntities(%+v) = %q, want %q", tc.q, got, tc.want)
			}
			for _, d := range docs {
				if d.Collection != tc.q.Collection || d.Rev <= 0 || d.Updated == 0 || len(d.Body) == 0 {
					t.Fatalf("listed doc %s/%s lacks stored fields: %+v", d.Path, d.Name, d)
				}
			}
			// Count is what the list would hold without a limit.
			all := tc.q
			all.Limit = 0
			docs, err = s.ListEntities(ctx, all)
			must(t, err)
			n, err := s.CountEntities(ctx, tc.q)
			must(t, err)
			if n != len(docs) {
				t.Fatalf("CountEntities(%+v) = %d, want %d", tc.q, n, len(docs))
			}
		})
	}
}

// activation builds a record of ns's action name started at start, whose path
// annotation is path (none if empty).
func activation(ns, name string, start int64, path string) *whisk.Activation {
	a := &whisk.Activation{
		Namespace: ns, Name: name, Version: "0.0.1", Subject: ns,
		ActivationID: whisk.NewActivationID(), Start: start, End: start + 5, Duration: 5,
		Response: whisk.NewResponse(whisk.StatusSuccess, json.RawMessage(`{"payload":"hi"}`)),
		Logs:     []string{"2024-05-29T16:26:40.123456789Z stdout: hello"},
	}
	if path != "" {
		a.Annotations = a.Annotations.Set("path", path).Set("kind", "nodejs:20")
	}
	return a
}

func activationJSON(t *testing.T, a *whisk.Activation) string {
	t.Helper()
	b, err := json.Marshal(a)
	must(t, err)
	return string(b)
}

func testActivationPutGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := activation("guest", "hello", 1717000000123, "guest/hello")
	a.Cause = whisk.NewActivationID()
	a.Annotations = a.Annotations.Set("limits", map[string]int{"timeout": 60000, "memory": 256}).Set("initTime", 40)
	a.Response = whisk.ErrorResponse(whisk.StatusDeveloperError, "The action did not produce a valid JSON or JSON Array response.")
	a.StatusCode = int(whisk.StatusDeveloperError)
	trigger := activation("guest", "tick", 1717000000200, "")
	trigger.End, trigger.Duration, trigger.Logs = 0, 0, []string{a.ActivationID}
	must(t, s.PutActivations(ctx, []*whisk.Activation{a, trigger}))
	must(t, s.PutActivations(ctx, nil))

	for _, want := range []*whisk.Activation{a, trigger} {
		got, err := s.GetActivation(ctx, "guest", want.ActivationID)
		must(t, err)
		if g, w := activationJSON(t, got), activationJSON(t, want); g != w {
			t.Fatalf("GetActivation =\n%s\nwant\n%s", g, w)
		}
	}
	_, err := s.GetActivation(ctx, "guest", whisk.NewActivationID())
	wantErr(t, err, whisk.ErrNotFound, "GetActivation of an unknown id")
}

func testActivationIdempotent(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := activation("guest", "hello", 1000, "guest/hello")
	must(t, s.PutActivations(ctx, []*whisk.Activation{first}))

	// A redelivered invocation ran again and produced another record with the
	// same id: the first one stays, and the rest of the batch is stored.
	dup := *first
	dup.Start, dup.End = 2000, 2100
	dup.Response = whisk.ErrorResponse(whisk.StatusApplicationError, "second run")
	other := activation("guest", "hello", 3000, "guest/hello")
	must(t, s.PutActivations(ctx, []*whisk.Activation{&dup, other}))
	must(t, s.PutActivations(ctx, []*whisk.Activation{&dup}))

	got, err := s.GetActivation(ctx, "guest", first.ActivationID)
	must(t, err)
	if g, w := activationJSON(t, got), activationJSON(t, first); g != w {
		t.Fatalf("after a second put, GetActivation =\n%s\nwant the first record\n%s", g, w)
	}
	if _, err := s.GetActivation(ctx, "guest", other.ActivationID); err != nil {
		t.Fatalf("record batched with a duplicate was not stored: %v", err)
	}
	n, err := s.CountActivations(ctx, store.ActivationQuery{Namespace: "guest"})
	must(t, err)
	if n != 2 {
		t.Fatalf("CountActivations = %d after duplicate puts, want 2", n)
	}
}

func testActivationList(t *testing.T, s store.Store) {
	ctx := t.Context()
	byStart := map[int64]*whisk.Activation{}
	add := func(a *whisk.Activation) { byStart[a.Start] = a }
	add(activation("act", "hello", 1000, "act/hello"))
	add(activation("act", "hello", 2000, "act/hello"))
	add(activation("act", "hello", 3000, "act/pkg/hello"))
	add(activation("act", "other", 4000, "act/other"))
	add(activation("act", "hello", 5000, "act/hello"))
	add(activation("act", "tick", 6000, "")) // a trigger: no path
	// Through a binding: OpenWhisk files it under the binding's name, not the
	// bound package's.
	bound := activation("act", "hello", 7000, "owner/shared/hello")
	bound.Annotations = bound.Annotations.Set("binding", "act/mybind")
	add(bound)
	add(activation("act", "hello", 8000, "act/pkg/hello"))
	add(activation("act2", "hello", 1500, "act2/hello"))

	// Two batches, out of start order, to show the order comes from start.
	var batch1, batch2 []*whisk.Activation
	for start, a := range byStart {
		if start%2000 == 0 {
			batch1 = append(batch1, a)
		} else {
			batch2 = append(batch2, a)
		}
	}
	must(t, s.PutActivations(ctx, batch1))
	must(t, s.PutActivations(ctx, batch2))

	q := func(mod func(*store.ActivationQuery)) store.ActivationQuery {
		aq := store.ActivationQuery{Namespace: "act"}
		if mod != nil {
			mod(&aq)
		}
		return aq
	}
	cases := []struct {
		name string
		q    store.ActivationQuery
		want []int64 // starts
	}{
		{"all", q(nil), []int64{8000, 7000, 6000, 5000, 4000, 3000, 2000, 1000}},
		{"limit", q(func(q *store.ActivationQuery) { q.Limit = 3 }), []int64{8000, 7000, 6000}},
		{"skip", q(func(q *store.ActivationQuery) { q.Skip = 6 }), []int64{2000, 1000}},
		{"skip and limit", q(func(q *store.ActivationQuery) { q.Skip = 1; q.Limit = 2 }), []int64{7000, 6000}},
		{"skip past the end", q(func(q *store.ActivationQuery) { q.Skip = 8 }), nil},
		{"bare name", q(func(q *store.ActivationQuery) { q.Name = "hello" }), []int64{5000, 2000, 1000}},
		{"package name", q(func(q *store.ActivationQuery) { q.Name = "pkg/hello" }), []int64{8000, 3000}},
		{"binding name", q(func(q *store.ActivationQuery) { q.Name = "mybind/hello" }), []int64{7000}},
		{"bound package name", q(func(q *store.ActivationQuery) { q.Name = "shared/hello" }), nil},
		{"trigger", q(func(q *store.ActivationQuery) { q.Name = "tick" }), []int64{6000}},
		{"unknown name", q(func(q *store.ActivationQuery) { q.Name = "hell" }), nil},
		{"since", q(func(q *store.ActivationQuery) { q.Since = 6000 }), []int64{8000, 7000, 6000}},
		{"upto", q(func(q *store.ActivationQuery) { q.Upto = 2000 }), []int64{2000, 1000}},
		{"window", q(func(q *store.ActivationQuery) { q.Since = 2000; q.Upto = 5000 }), []int64{5000, 4000, 3000, 2000}},
		{"empty window", q(func(q *store.ActivationQuery) { q.Since = 2001; q.Upto = 2999 }), nil},
		{"name in window", q(func(q *store.ActivationQuery) { q.Name = "hello"; q.Since = 1500; q.Upto = 5000 }),
			[]int64{5000, 2000}},
		{"name in window, paged", q(func(q *store.ActivationQuery) {
			q.Name = "pkg/hello"
			q.Since = 1000
			q.Skip = 1
			q.Limit = 5
		}), []int64{3000}},
		{"other namespace", store.ActivationQuery{Namespace: "act2", Name: "hello"}, []int64{1500}},
		{"unknown namespace", store.ActivationQuery{Namespace: "ac"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			acts, err := s.ListActivations(ctx, tc.q)
			must(t, err)
			var got []int64
			for _, a := range acts {
				got = append(got, a.Start)
				want := byStart[a.Start]
				if a.Namespace != tc.q.Namespace || activationJSON(t, a) != activationJSON(t, want) {
					t.Fatalf("listed record differs from the stored one:\n%s\nwant\n%s", activationJSON(t, a), activationJSON(t, want))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ListActivations(%+v) starts = %v, want %v", tc.q, got, tc.want)
			}
			all := tc.q
			all.Limit = 0
			acts, err = s.ListActivations(ctx, all)
			must(t, err)
			n, err := s.CountActivations(ctx, tc.q)
			must(t, err)
			if n != len(acts) {
				t.Fatalf("CountActivations(%+v) = %d, want %d", tc.q, n, len(acts))
			}
		})
	}
}

func testActivationIsolation(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := activation("alice", "secret", 1000, "alice/secret")
	b := activation("bob", "secret", 2000, "bob/secret")
	must(t, s.PutActivations(ctx, []*whisk.Activation{a, b}))

	_, err := s.GetActivation(ctx, "bob", a.ActivationID)
	wantErr(t, err, whisk.ErrNotFound, "GetActivation of alice's record in bob's namespace")
	for _, q := range []store.ActivationQuery{
		{Namespace: "bob"}, {Namespace: "bob", Name: "secret"}, {Namespace: "bob", Since: 500, Upto: 1500},
	} {
		acts, err := s.ListActivations(ctx, q)
		must(t, err)
		for _, x := range acts {
			if x.ActivationID == a.ActivationID {
				t.Fatalf("ListActivations(%+v) shows alice's record", q)
			}
		}
		n, err := s.CountActivations(ctx, q)
		must(t, err)
		if n != len(acts) {
			t.Fatalf("CountActivations(%+v) = %d, want %d", q, n, len(acts))
		}
	}
}

// testConcurrentWriters hammers one store from several goroutines: creates,
// read-modify-write updates of one shared entity under optimistic
// concurrency, and overlapping activation batches. A lost update or a
// duplicated record breaks the invariants checked at the end.
func testConcurrentWriters(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers, increments, records = 6, 8, 24
	putDoc(t, s, store.Actions, "race", "counter", 1)
	ids := make([]string, records)
	for i := range ids {
		ids[i] = fmt.Sprintf("%032x", i+1)
	}

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- worker(ctx, s, w, increments, ids)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}

	counter, err := s.GetEntity(ctx, "race", "counter")
	must(t, err)
	var body struct{ N int }
	must(t, json.Unmarshal(counter.Body, &body))
	if body.N != workers*increments {
		t.Fatalf("counter = %d after %d optimistic increments: updates were lost", body.N, workers*increments)
	}
	n, err := s.CountEntities(ctx, store.ListQuery{Collection: store.Actions, Namespace: "race"})
	must(t, err)
	if n != 1+workers*increments {
		t.Fatalf("CountEntities = %d, want %d", n, 1+workers*increments)
	}
	n, err = s.CountActivations(ctx, store.ActivationQuery{Namespace: "race"})
	must(t, err)
	if n != records {
		t.Fatalf("CountActivations = %d after overlapping puts of %d ids, want %d", n, records, records)
	}
	for _, id := range ids {
		a, err := s.GetActivation(ctx, "race", id)
		must(t, err)
		if a.ActivationID != id {
			t.Fatalf("GetActivation(%s) returned %s", id, a.ActivationID)
		}
	}
}

func worker(ctx context.Context, s store.Store, w, increments int, ids []string) error {
	for i := range increments {
		d := store.Doc{
			Collection: store.Actions, Namespace: "race", Path: "race", Name: fmt.Sprintf("w%d-%d", w, i),
			Updated: int64(i + 1), Body: []byte(`{}`),
		}
		if _, err := s.PutEntity(ctx, d, 0); err != nil {
			return fmt.Errorf("worker %d create: %w", w, err)
		}
		if err := increment(ctx, s); err != nil {
			return fmt.Errorf("worker %d increment: %w", w, err)
		}
		// Every worker writes every id, in batches that overlap the others'.
		lo := (i * len(ids) / increments) % len(ids)
		batch := make([]*whisk.Activation, 0, 6)
		for k := range 6 {
			a := activation("race", "hammer", int64(w*1000+i), "race/hammer")
			a.ActivationID = ids[(lo+k+w)%len(ids)]
			batch = append(batch, a)
		}
		if err := s.PutActivations(ctx, batch); err != nil {
			return fmt.Errorf("worker %d put activations: %w", w, err)
		}
	}
	return nil
}

func increment(ctx context.Context, s store.Store) error {
	for {
		d, err := s.GetEntity(ctx, "race", "counter")
		if err != nil {
			return err
		}
		var body struct{ N int }
		if err := json.Unmarshal(d.Body, &body); err != nil {
			return err
		}
		body.N++
		d.Body, _ = json.Marshal(body)
		d.Updated++
		_, err = s.PutEntity(ctx, d, d.Rev)
		if errors.Is(err, whisk.ErrConflict) {
			continue
		}
		return err
	}
}

// Clock is a settable clock for queue tests, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time; pass it as the queue's time source.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
