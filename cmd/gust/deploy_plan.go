package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"

	"github.com/gustfaas/gust/internal/client"
	"github.com/gustfaas/gust/internal/whisk"
)

// Plan operations.
const (
	opCreate    = "create"
	opUpdate    = "update"
	opDelete    = "delete"
	opUnchanged = "unchanged"
)

// planItem is what a deploy does to one entity.
type planItem struct {
	Op      string   `json:"op"`
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Changes []string `json:"changes,omitempty"` // what differs, for an update

	want      *desiredEntity
	curAction *whisk.Action
	curFeed   string // the feed the existing trigger was made with
	curFeedOK bool   // the existing feed and its inputs are the wanted ones
	curRule   *whisk.Rule
	curAPI    client.APIOptions // an API operation to delete
}

// deployPlan is the plan of a deploy or undeploy.
type deployPlan struct {
	Project string      `json:"project"`
	Items   []*planItem `json:"changes"`
}

func (p *deployPlan) count(op string) int {
	n := 0
	for _, it := range p.Items {
		if it.Op == op {
			n++
		}
	}
	return n
}

// planner compares a manifest with what the server has.
type planner struct {
	c     *client.Client
	ns    string            // the key's namespace, resolved ("_" is not comparable)
	kinds map[string]string // runtime family → its default kind
}

func newPlanner(ctx context.Context, c *client.Client) (*planner, error) {
	p := &planner{c: c, ns: c.Namespace(), kinds: map[string]string{}}
	if p.ns == client.DefaultNamespace {
		nss, err := c.ListNamespaces(ctx)
		if err != nil {
			return nil, failed(err, nil, "unable to read the key's namespace")
		}
		if len(nss) > 0 {
			p.ns = nss[0]
		}
	}
	m, err := c.Manifest(ctx)
	if err != nil {
		return nil, failed(err, nil, "unable to read the server's runtimes")
	}
	for family, rts := range m.Runtimes {
		for _, rt := range rts {
			if rt.Default {
				p.kinds[family] = rt.Kind
			}
		}
	}
	return p, nil
}

// fqn is a name fully qualified with the resolved namespace.
func (p *planner) fqn(name string) string {
	n, err := p.c.ParseName(name)
	if err != nil {
		return name
	}
	if n.Namespace == client.DefaultNamespace {
		n.Namespace = p.ns
	}
	return n.String()
}

// kind resolves "family:default" (and a bare family) as the server stores it.
func (p *planner) kind(k string) string {
	family, version, _ := strings.Cut(k, ":")
	if version == "" || version == "default" {
		if d, ok := p.kinds[family]; ok {
			return d
		}
	}
	return k
}

// plan compares the deployment with the server. With undeploy every entity
// the project owns is deleted.
func (p *planner) plan(ctx context.Context, d *deployment, undeploy bool) (*deployPlan, error) {
	plan := &deployPlan{Project: d.project}
	wanted := map[string]bool{}
	projectActions := map[string]bool{}
	if !undeploy {
		for _, e := range d.entities {
			it, err := p.diff(ctx, e)
			if err != nil {
				return nil, err
			}
			plan.Items = append(plan.Items, it)
			wanted[e.kind+" "+p.key(e.kind, e.name)] = true
			if e.kind == entAction || e.kind == entSequence {
				projectActions[p.fqn(e.name)] = true
			}
		}
	}
	owned, err := p.owned(ctx, d.project)
	if err != nil {
		return nil, err
	}
	for _, it := range owned {
		if it.Kind == entAction || it.Kind == entSequence {
			projectActions[p.fqn(it.Name)] = true
		}
		// A sequence that became an action (or the reverse) is updated in place.
		if wanted[it.Kind+" "+p.key(it.Kind, it.Name)] || wanted[entAction+" "+p.fqn(it.Name)] || wanted[entSequence+" "+p.fqn(it.Name)] {
			continue
		}
		plan.Items = append(plan.Items, it)
	}
	// APIs carry no annotations: the project's are those calling its actions.
	apis, err := p.c.GetAPIs(ctx, "", client.ListOptions{})
	if err != nil && client.StatusCodeOf(err) != http.StatusNotFound {
		return nil, failed(err, nil, "unable to list the APIs")
	}
	for _, api := range apis {
		if api.Swagger == nil {
			continue
		}
		for _, op := range operations(&api, "", "") {
			if op.x == nil || !projectActions[p.fqn(op.x.ActionName())] {
				continue
			}
			name := strings.TrimSuffix(api.Swagger.BasePath, "/") + op.path + " " + strings.ToUpper(op.verb)
			if wanted[entAPI+" "+name] {
				continue
			}
			plan.Items = append(plan.Items, &planItem{Op: opDelete, Kind: entAPI, Name: name,
				curAPI: client.APIOptions{BasePath: api.Swagger.BasePath, RelPath: op.path, Operation: strings.ToUpper(op.verb)}})
		}
	}
	return plan, nil
}

func (p *planner) key(kind, name string) string {
	switch kind {
	case entAction, entSequence:
		return p.fqn(name)
	}
	return name
}

// owned lists the entities whose managed annotation names the project.
func (p *planner) owned(ctx context.Context, project string) ([]*planItem, error) {
	var out []*planItem
	mine := func(kv whisk.KeyValues) bool {
		var m struct {
			ProjectName string `json:"projectName"`
		}
		return json.Unmarshal(kv.Get(annotManaged), &m) == nil && m.ProjectName == project
	}
	pkgs, err := pages(func(o client.ListOptions) ([]whisk.Package, error) { return p.c.ListPackages(ctx, "", o) })
	if err != nil {
		return nil, failed(err, nil, "unable to list the packages")
	}
	for _, pk := range pkgs {
		if mine(pk.Annotations) {
			out = append(out, &planItem{Op: opDelete, Kind: entPackage, Name: pk.Name})
		}
	}
	// The namespace's list holds the actions of its packages too.
	{
		acts, err := pages(func(o client.ListOptions) ([]whisk.Action, error) { return p.c.ListActions(ctx, "", o) })
		if err != nil {
			return nil, failed(err, nil, "unable to list the actions")
		}
		for _, a := range acts {
			if !mine(a.Annotations) {
				continue
			}
			name := a.Name
			if fqn := a.FQN(); fqn.Package != "" {
				name = fqn.Package + "/" + a.Name
			}
			kind := entAction
			if a.Exec.Kind == whisk.KindSequence || execAnnotation(a.Annotations) == whisk.KindSequence {
				kind = entSequence
			}
			out = append(out, &planItem{Op: opDelete, Kind: kind, Name: name})
		}
	}
	trigs, err := pages(func(o client.ListOptions) ([]whisk.Trigger, error) { return p.c.ListTriggers(ctx, "", o) })
	if err != nil {
		return nil, failed(err, nil, "unable to list the triggers")
	}
	for _, t := range trigs {
		if mine(t.Annotations) {
			out = append(out, &planItem{Op: opDelete, Kind: entTrigger, Name: t.Name, curFeed: client.FeedAnnotation(&t)})
		}
	}
	rules, err := pages(func(o client.ListOptions) ([]whisk.Rule, error) { return p.c.ListRules(ctx, "", o) })
	if err != nil {
		return nil, failed(err, nil, "unable to list the rules")
	}
	for _, r := range rules {
		if mine(r.Annotations) {
			out = append(out, &planItem{Op: opDelete, Kind: entRule, Name: r.Name})
		}
	}
	return out, nil
}

func execAnnotation(kv whisk.KeyValues) string { s, _ := kv.GetString("exec"); return s }

// pages reads a whole collection, 200 at a time.
func pages[T any](list func(client.ListOptions) ([]T, error)) ([]T, error) {
	var all []T
	for skip := 0; ; {
		page, err := list(client.ListOptions{Skip: skip, Limit: 200})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < 200 {
			return all, nil
		}
		skip += len(page)
	}
}

// diff classifies one wanted entity.
func (p *planner) diff(ctx context.Context, e *desiredEntity) (*planItem, error) {
	it := &planItem{Kind: e.kind, Name: e.name, want: e}
	var ch []string
	notFound := func(err error) bool { return client.StatusCodeOf(err) == http.StatusNotFound }
	switch e.kind {
	case entPackage:
		cur, err := p.c.GetPackage(ctx, e.name)
		if notFound(err) {
			it.Op = opCreate
			return it, nil
		} else if err != nil {
			return nil, failed(err, nil, "unable to get package %q", e.name)
		}
		if !cur.Binding.IsZero() {
			ch = append(ch, "binding")
		}
		ch = append(ch, diffKV("parameters", e.params, cur.Parameters, true)...)
		ch = append(ch, diffAnnotations(e.annotations, cur.Annotations, false)...)
	case entAction, entSequence:
		cur, err := p.c.GetAction(ctx, e.name, true)
		if notFound(err) {
			it.Op = opCreate
			return it, nil
		} else if err != nil {
			return nil, failed(err, nil, "unable to get action %q", e.name)
		}
		it.curAction = cur
		if p.kind(e.exec.Kind) != cur.Exec.Kind {
			ch = append(ch, "kind")
		}
		if e.exec.Kind == whisk.KindSequence {
			var want, have []string
			for _, c := range e.exec.Components {
				want = append(want, p.fqn(c))
			}
			for _, c := range cur.Exec.Components {
				have = append(have, p.fqn(c))
			}
			if !reflect.DeepEqual(want, have) {
				ch = append(ch, "components")
			}
		} else {
			if e.exec.CodeString() != cur.Exec.CodeString() {
				ch = append(ch, "code")
			}
			if e.exec.Main != cur.Exec.Main {
				ch = append(ch, "main")
			}
			if e.exec.Image != cur.Exec.Image {
				ch = append(ch, "image")
			}
		}
		want := e.params
		if n, err := p.c.ParseName(e.name); err == nil && n.Package != "" {
			// An action of a package is read with the package's parameters.
			if pkg, err := p.c.GetPackage(ctx, n.Package); err == nil {
				want = pkg.Parameters.Merge(e.params)
			}
		}
		if e.exec.Kind != whisk.KindSequence { // a sequence's parameters (_actions) are the server's
			ch = append(ch, diffKV("parameters", want, cur.Parameters, true)...)
		}
		if e.limits != cur.Limits {
			ch = append(ch, "limits")
		}
		ch = append(ch, diffAnnotations(e.annotations, cur.Annotations, e.webSecret)...)
	case entTrigger:
		cur, err := p.c.GetTrigger(ctx, e.name)
		if notFound(err) {
			it.Op = opCreate
			return it, nil
		} else if err != nil {
			return nil, failed(err, nil, "unable to get trigger %q", e.name)
		}
		it.curFeed = client.FeedAnnotation(cur)
		want := e.annotations
		if e.feed != "" {
			want = want.Set(whisk.AnnoFeed, p.fqn(e.feed))
		} else {
			ch = append(ch, diffKV("parameters", e.params, cur.Parameters, true)...)
		}
		if p.fqn(e.feed) != p.fqn(it.curFeed) && !(e.feed == "" && it.curFeed == "") {
			ch = append(ch, "feed")
		}
		ann := diffAnnotations(want, cur.Annotations, false)
		ch = append(ch, ann...)
		// The feed inputs' fingerprint lives in the managed annotation.
		it.curFeedOK = !contains(ch, "feed") && !contains(ann, "annotations")
	case entRule:
		cur, err := p.c.GetRule(ctx, e.name)
		if notFound(err) {
			it.Op = opCreate
			return it, nil
		} else if err != nil {
			return nil, failed(err, nil, "unable to get rule %q", e.name)
		}
		it.curRule = cur
		if t, _ := p.c.ParseTriggerName(e.trigger); p.fqn("/"+cur.Trigger.Path+"/"+cur.Trigger.Name) != p.fqn(t.String()) {
			ch = append(ch, "trigger")
		}
		if p.fqn("/"+cur.Action.Path+"/"+cur.Action.Name) != p.fqn(e.action) {
			ch = append(ch, "action")
		}
		if cur.Status != "" && cur.Status != whisk.RuleActive {
			ch = append(ch, "status")
		}
		ch = append(ch, diffAnnotations(e.annotations, cur.Annotations, false)...)
	case entAPI:
		apis, err := p.c.GetAPIs(ctx, e.basePath, client.ListOptions{})
		if err != nil && !notFound(err) {
			return nil, failed(err, nil, "unable to get the API %s", e.basePath)
		}
		it.Op = opCreate
		for _, api := range apis {
			for _, op := range operations(&api, e.relPath, e.verb) {
				it.Op = opUpdate
				if op.x == nil || p.fqn(op.x.ActionName()) != p.fqn(e.action) {
					ch = append(ch, "action")
				}
				if op.x == nil || !strings.HasSuffix(op.x.URL, "."+e.response) {
					ch = append(ch, "response")
				}
			}
		}
		if it.Op == opCreate {
			return it, nil
		}
	}
	it.Op, it.Changes = opUnchanged, ch
	if len(ch) > 0 {
		it.Op = opUpdate
	}
	return it, nil
}

// diffKV compares key-value lists by value (JSON-equal), in any order.
// exact also reports keys that are there but not wanted.
func diffKV(what string, want, have whisk.KeyValues, exact bool) []string {
	for _, w := range want {
		if !jsonEqual(w.Value, have.Get(w.Key)) {
			return []string{what}
		}
	}
	if exact {
		for _, h := range have {
			if !want.Has(h.Key) {
				return []string{what}
			}
		}
	}
	return nil
}

// diffAnnotations compares the annotations a deploy sets, and ignores those
// the server adds (exec, provide-api-key, ...). The managed annotation is
// compared without its file, which depends on how the manifest was named.
func diffAnnotations(want, have whisk.KeyValues, webSecret bool) []string {
	for _, w := range want {
		hv := have.Get(w.Key)
		switch {
		case w.Key == annotManaged:
			var a, b map[string]any
			if json.Unmarshal(w.Value, &a) != nil || json.Unmarshal(hv, &b) != nil {
				return []string{"annotations"}
			}
			delete(a, "file")
			delete(b, "file")
			if !reflect.DeepEqual(a, b) {
				return []string{"annotations"}
			}
		case w.Key == annotWebSecure && webSecret:
			var n json.Number
			if json.Unmarshal(hv, &n) != nil {
				return []string{"annotations"}
			}
		case !jsonEqual(w.Value, hv):
			return []string{"annotations"}
		}
	}
	return nil
}

func jsonEqual(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// apply carries the plan out: deletes first, the dependents before what
// they depend on, then creates and updates, dependencies first.
func (a *app) applyPlan(ctx context.Context, c *client.Client, p *planner, plan *deployPlan) error {
	var dels, puts []*planItem
	for _, it := range plan.Items {
		switch it.Op {
		case opDelete:
			dels = append(dels, it)
		case opCreate, opUpdate:
			puts = append(puts, it)
		}
	}
	sort.SliceStable(dels, func(i, j int) bool { return entityOrder[dels[i].Kind] > entityOrder[dels[j].Kind] })
	sort.SliceStable(puts, func(i, j int) bool { return entityOrder[puts[i].Kind] < entityOrder[puts[j].Kind] })
	for _, it := range dels {
		if err := a.deleteEntity(ctx, c, it); err != nil {
			return err
		}
	}
	for _, it := range puts {
		if err := a.putEntity(ctx, c, p, it); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) deleteEntity(ctx context.Context, c *client.Client, it *planItem) error {
	var err error
	switch it.Kind {
	case entAPI:
		err = c.DeleteAPI(ctx, it.curAPI)
	case entRule:
		_, err = c.DeleteRule(ctx, it.Name)
	case entTrigger:
		if it.curFeed != "" {
			if inv, ferr := c.InvokeFeed(ctx, it.curFeed, client.FeedDelete, it.Name, nil); ferr != nil {
				fmt.Fprintf(a.stderr, "warning: %v\n", feedFailure(it.curFeed, ferr))
				a.printFeedAnswer(inv)
			}
		}
		_, err = c.DeleteTrigger(ctx, it.Name)
	case entAction, entSequence:
		_, err = c.DeleteAction(ctx, it.Name)
	case entPackage:
		_, err = c.DeletePackage(ctx, it.Name, false)
		if client.StatusCodeOf(err) == http.StatusConflict {
			fmt.Fprintf(a.stderr, "warning: package %s was kept: it holds actions the project did not deploy\n", it.Name)
			err = nil
		}
	}
	if client.StatusCodeOf(err) == http.StatusNotFound {
		err = nil // gone already: what a delete wants
	}
	if err != nil {
		return failed(err, nil, "unable to delete %s %q", it.Kind, it.Name)
	}
	return nil
}

// entityPut sends a whole entity. Bodies are maps, not the client's put
// types, so that empty parameters are sent: they replace the old ones.
func entityPut(ctx context.Context, c *client.Client, collection, name string, overwrite bool, body map[string]any) error {
	var n client.Name
	var err error
	if collection == "actions" {
		n, err = c.ParseName(name)
	} else {
		n, err = c.ParseTriggerName(name)
	}
	if err != nil {
		return err
	}
	segs := []string{n.Name}
	if n.Package != "" {
		segs = []string{n.Package, n.Name}
	}
	_, err = c.Do(ctx, http.MethodPut, client.NamespacePath(n.Namespace, collection, segs...),
		url.Values{"overwrite": {fmt.Sprint(overwrite)}}, body)
	return err
}

func (a *app) putEntity(ctx context.Context, c *client.Client, p *planner, it *planItem) error {
	e, update := it.want, it.Op == opUpdate
	var err error
	switch e.kind {
	case entPackage:
		err = entityPut(ctx, c, "packages", e.name, update, map[string]any{"parameters": e.params, "annotations": e.annotations})
	case entAction, entSequence:
		annots := append(whisk.KeyValues(nil), e.annotations...)
		if e.webSecret {
			var secret any
			var n json.Number
			if it.curAction != nil && json.Unmarshal(it.curAction.Annotations.Get(annotWebSecure), &n) == nil {
				secret = n // keep the secret clients already use
			} else {
				var b [8]byte
				if _, err := rand.Read(b[:]); err != nil {
					return err
				}
				secret = binary.BigEndian.Uint64(b[:]) & maxJSInt
			}
			annots = annots.Set(annotWebSecure, secret)
		}
		ex := *e.exec
		if ex.Kind == whisk.KindSequence {
			// The server reads components as fully qualified names.
			ex.Components = nil
			for _, comp := range e.exec.Components {
				n, err := c.ParseName(comp)
				if err != nil {
					return failed(err, nil, "sequence %q", e.name)
				}
				ex.Components = append(ex.Components, n.String())
			}
		}
		l := e.limits
		body := map[string]any{"exec": &ex, "parameters": e.params, "annotations": annots,
			"limits": whisk.LimitsPut{Timeout: &l.Timeout, Memory: &l.Memory, Logs: &l.Logs, Concurrency: &l.Concurrency}}
		err = entityPut(ctx, c, "actions", e.name, update, body)
	case entTrigger:
		err = a.putTrigger(ctx, c, p, it)
	case entRule:
		spec := client.RuleSpec{Trigger: e.trigger, Action: e.action, Annotations: e.annotations}
		if _, err = c.PutRule(ctx, e.name, spec, update); err == nil && update && it.curRule != nil &&
			it.curRule.Status != "" && it.curRule.Status != whisk.RuleActive {
			err = c.SetRuleStatus(ctx, e.name, whisk.RuleActive)
		}
	case entAPI:
		err = a.putAPI(ctx, c, e)
	}
	if err != nil {
		return failed(err, nil, "unable to %s %s %q", it.Op, e.kind, e.name)
	}
	return nil
}

// putTrigger makes or changes a trigger, through its feed when it has one: a
// feed whose inputs changed is told DELETE then CREATE, around an update of
// the trigger that keeps its rules.
func (a *app) putTrigger(ctx context.Context, c *client.Client, p *planner, it *planItem) error {
	e, update := it.want, it.Op == opUpdate
	refeed := !update || !it.curFeedOK
	if update && refeed && it.curFeed != "" {
		if inv, err := c.InvokeFeed(ctx, it.curFeed, client.FeedDelete, e.name, nil); err != nil {
			fmt.Fprintf(a.stderr, "warning: %v\n", feedFailure(it.curFeed, err))
			a.printFeedAnswer(inv)
		}
	}
	annots := e.annotations
	var params whisk.KeyValues
	if e.feed != "" {
		annots = annots.Set(whisk.AnnoFeed, p.fqn(e.feed))
	} else {
		params = e.params
	}
	if err := entityPut(ctx, c, "triggers", e.name, update, map[string]any{"parameters": params, "annotations": annots}); err != nil {
		return err
	}
	if e.feed != "" && refeed {
		inv, err := c.InvokeFeed(ctx, p.fqn(e.feed), client.FeedCreate, e.name, e.params)
		if err != nil {
			a.printFeedAnswer(inv)
			if !update {
				if _, derr := c.DeleteTrigger(context.WithoutCancel(ctx), e.name); derr != nil {
					fmt.Fprintf(a.stderr, "warning: the trigger %s could not be deleted after its feed failed: %v\n", e.name, derr)
				}
			}
			return feedFailure(e.feed, err)
		}
	}
	return nil
}

// putAPI adds one operation to an API, as `gust api create` does.
func (a *app) putAPI(ctx context.Context, c *client.Client, e *desiredEntity) error {
	name, err := c.ParseName(e.action)
	if err != nil {
		return err
	}
	act, err := c.GetAction(ctx, e.action, false)
	if err != nil {
		return err
	}
	entity := name.Name
	if name.Package != "" {
		entity = name.Package + "/" + name.Name
	}
	doc := &client.APIDoc{
		Namespace: c.Namespace(), APIName: e.apiName,
		GatewayBasePath: e.basePath, GatewayRelPath: e.relPath, GatewayMethod: e.verb,
		Action: &client.APIAction{Name: entity, Namespace: name.Namespace, BackendMethod: e.verb,
			BackendURL: c.WebActionURL(name, "http")},
		PathParameters: client.PathParameters(e.relPath),
		ID:             "API:" + c.Namespace() + ":" + e.basePath,
	}
	var secret any
	if raw := act.Annotations.Get(annotWebSecure); raw != nil && json.Unmarshal(raw, &secret) == nil {
		if b, isBool := secret.(bool); !isBool || b {
			doc.Action.SecureKey = secret
		}
	}
	_, err = c.CreateAPI(ctx, doc, e.response)
	return err
}
