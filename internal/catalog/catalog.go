// Package catalog installs the system packages every OpenWhisk installation
// offers in the /whisk.system namespace (spec §6): utils and samples, whose
// actions tutorials and sequences are built on, and any other package a
// component brings along (the alarms feeds) through the same Install.
//
// Install is idempotent: it writes an entity only when its content differs
// from what is stored, so that restarts do not bump versions, and it removes
// actions a package no longer has. It writes through the controller, so the
// catalog obeys the same validation and entity caches as any client's
// entities.
package catalog

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// Namespace is where the platform keeps its system packages. It has a key
// like any namespace, random and never shown: the platform owns it.
const Namespace = "whisk.system"

// DefaultKind is the kind of catalog actions that name none: the machine's
// Node.js, as OpenWhisk installs its catalog with nodejs:default.
const DefaultKind = "nodejs:default"

// Action is one action of a catalog package.
type Action struct {
	Name string
	// Kind is the runtime ("" = DefaultKind); blackbox actions set Image.
	Kind  string
	Code  string
	Main  string
	Image string
	// Parameters are the action's default parameters.
	Parameters whisk.KeyValues
	// Annotations describe the action (description, parameters,
	// sampleInput, ...); a feed action carries "feed".
	Annotations whisk.KeyValues
	// Limits left nil take the platform's defaults.
	Limits *whisk.LimitsPut
}

// Package is a catalog package and its actions. Its actions are published
// when it is.
type Package struct {
	Name        string
	Publish     bool
	Parameters  whisk.KeyValues
	Annotations whisk.KeyValues
	Actions     []Action
}

// Deps are what Install writes through.
type Deps struct {
	Store      store.Store
	Controller *controller.Controller
	Logger     *slog.Logger // defaults to slog.Default()
	Now        func() time.Time
}

// Install makes sure the whisk.system namespace exists and that each of pkgs
// is stored as given. A package whose actions' runtime this machine lacks is
// installed without those actions (a warning says which).
func Install(ctx context.Context, deps Deps, pkgs ...Package) error {
	if deps.Store == nil || deps.Controller == nil {
		return errors.New("catalog: Store and Controller are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	id, err := ensureNamespace(ctx, deps)
	if err != nil {
		return err
	}
	in := &installer{deps: deps, id: id}
	for _, p := range pkgs {
		if err := in.pkg(ctx, p); err != nil {
			return fmt.Errorf("catalog: installing /%s/%s: %w", Namespace, p.Name, err)
		}
	}
	return nil
}

// ensureNamespace creates whisk.system with a random key of which only the
// hash is kept: nobody needs to act as the platform through the API.
func ensureNamespace(ctx context.Context, deps Deps) (whisk.Identity, error) {
	ns, err := deps.Store.GetNamespace(ctx, Namespace)
	if errors.Is(err, whisk.ErrNotFound) {
		key := whisk.NewAuthKey()
		ns = store.Namespace{
			Name: Namespace, Subject: Namespace, UUID: key.UUID,
			KeyHash: whisk.HashSecret(key.Secret), Created: deps.Now().UnixMilli(),
		}
		err = deps.Store.CreateNamespace(ctx, ns)
		if errors.Is(err, whisk.ErrConflict) {
			// Another process created it first (controllers start together).
			ns, err = deps.Store.GetNamespace(ctx, Namespace)
		}
	}
	if err != nil {
		return whisk.Identity{}, fmt.Errorf("catalog: namespace %s: %w", Namespace, err)
	}
	return whisk.Identity{Subject: Namespace, Namespace: Namespace, UUID: ns.UUID, Limits: ns.Limits}, nil
}

type installer struct {
	deps Deps
	id   whisk.Identity
}

func (in *installer) pkg(ctx context.Context, p Package) error {
	ctl := in.deps.Controller
	// Writes retry once on a conflict: another process installing the same
	// catalog at the same moment is not an error.
	err := retry(func() error {
		doc, err := in.deps.Store.GetEntity(ctx, Namespace, p.Name)
		if err == nil {
			var cur whisk.Package
			if doc.Collection == store.Packages && json.Unmarshal(doc.Body, &cur) == nil && samePackage(&cur, p) {
				return nil
			}
		} else if !errors.Is(err, whisk.ErrNotFound) {
			return err
		}
		publish := p.Publish
		_, err = ctl.PutPackage(ctx, in.id, Namespace, p.Name, &whisk.PackagePut{
			Binding:     &whisk.Binding{},
			Parameters:  nonNil(p.Parameters),
			Annotations: nonNil(p.Annotations),
			Publish:     &publish,
		}, true)
		return err
	})
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, a := range p.Actions {
		want[a.Name] = true
		if err := in.action(ctx, p, a); err != nil {
			return fmt.Errorf("action %s: %w", a.Name, err)
		}
	}
	path := Namespace + "/" + p.Name
	stored, err := in.deps.Store.ListEntities(ctx, store.ListQuery{Collection: store.Actions, Namespace: Namespace, Path: path})
	if err != nil {
		return err
	}
	for _, d := range stored {
		if want[d.Name] {
			continue
		}
		_, err := ctl.DeleteAction(ctx, in.id, whisk.FQN{Namespace: Namespace, Package: p.Name, Name: d.Name})
		if err != nil && whisk.CodeOf(err) != whisk.CodeNotFound {
			return fmt.Errorf("removing action %s: %w", d.Name, err)
		}
		in.deps.Logger.Info("catalog action removed", "action", "/"+path+"/"+d.Name)
	}
	return nil
}

func (in *installer) action(ctx context.Context, p Package, a Action) error {
	fqn := whisk.FQN{Namespace: Namespace, Package: p.Name, Name: a.Name}
	exec := whisk.Exec{Kind: a.Kind, Main: a.Main, Image: a.Image}
	if exec.Kind == "" {
		exec.Kind = DefaultKind
	}
	if exec.Kind != whisk.KindBlackbox && exec.Kind != whisk.KindSequence {
		kind, ok := in.deps.Controller.RuntimeKind(exec.Kind)
		if !ok {
			in.deps.Logger.Warn("catalog action not installed: this machine has no runtime for it",
				"action", fqn.String(), "kind", exec.Kind)
			return nil
		}
		exec.Kind = kind
	}
	if a.Code != "" || exec.Kind != whisk.KindBlackbox {
		code := a.Code
		exec.Code = &code
	}
	want := expectedAnnotations(a.Annotations, exec.Kind)
	return retry(func() error {
		var cur *whisk.Action
		doc, err := in.deps.Store.GetEntity(ctx, fqn.Path(), fqn.Name)
		switch {
		case err == nil && doc.Collection == store.Actions:
			cur = new(whisk.Action)
			if json.Unmarshal(doc.Body, cur) != nil {
				cur = nil
			}
		case err != nil && !errors.Is(err, whisk.ErrNotFound):
			return err
		}
		if cur != nil && sameAction(cur, &exec, a, want, p.Publish) {
			return nil
		}
		publish := p.Publish
		put := &whisk.ActionPut{
			Exec:        &exec,
			Parameters:  nonNil(a.Parameters),
			Annotations: nonNil(a.Annotations),
			Publish:     &publish,
			Limits:      a.Limits,
		}
		if cur != nil {
			for _, kv := range cur.Annotations {
				if !want.Has(kv.Key) {
					put.DelAnnotations = append(put.DelAnnotations, kv.Key)
				}
			}
		}
		_, err = in.deps.Controller.PutAction(ctx, in.id, fqn, put, true)
		return err
	})
}

// expectedAnnotations are the annotations the controller stores for an
// action created with given: its own, provide-api-key false unless it says
// otherwise, and exec.
func expectedAnnotations(given whisk.KeyValues, kind string) whisk.KeyValues {
	out := append(whisk.KeyValues{}, given...).Without("exec")
	if !out.Has("provide-api-key") {
		out = out.Set("provide-api-key", false)
	}
	return out.Set("exec", kind)
}

func samePackage(cur *whisk.Package, p Package) bool {
	return cur.Binding.IsZero() && cur.Publish == p.Publish &&
		sameKeyValues(cur.Parameters, p.Parameters) && sameKeyValues(cur.Annotations, p.Annotations)
}

func sameAction(cur *whisk.Action, exec *whisk.Exec, a Action, annotations whisk.KeyValues, publish bool) bool {
	ce := cur.Exec
	if ce.Kind != exec.Kind || ce.CodeString() != exec.CodeString() || ce.Main != exec.Main || ce.Image != exec.Image {
		return false
	}
	if cur.Publish != publish || !sameKeyValues(cur.Parameters, a.Parameters) || !sameKeyValues(cur.Annotations, annotations) {
		return false
	}
	if l := a.Limits; l != nil {
		differs := func(want *int, have int) bool { return want != nil && *want != have }
		if differs(l.Timeout, cur.Limits.Timeout) || differs(l.Memory, cur.Limits.Memory) ||
			differs(l.Logs, cur.Limits.Logs) || differs(l.Concurrency, cur.Limits.Concurrency) {
			return false
		}
	}
	return true
}

// sameKeyValues compares as sets of key, JSON value and init flag: order and
// formatting are not content.
func sameKeyValues(a, b whisk.KeyValues) bool {
	norm := func(kv whisk.KeyValues) []string {
		out := make([]string, 0, len(kv))
		for _, e := range kv {
			var buf bytes.Buffer
			v := []byte(e.Value)
			if len(v) == 0 {
				v = []byte("null")
			}
			if json.Compact(&buf, v) != nil {
				buf.Reset()
				buf.Write(v)
			}
			out = append(out, fmt.Sprintf("%q=%s init=%t", e.Key, buf.String(), e.Init))
		}
		sort.Strings(out)
		return out
	}
	na, nb := norm(a), norm(b)
	if len(na) != len(nb) {
		return false
	}
	for i := range na {
		if na[i] != nb[i] {
			return false
		}
	}
	return true
}

func nonNil(kv whisk.KeyValues) whisk.KeyValues {
	if kv == nil {
		return whisk.KeyValues{}
	}
	return kv
}

func retry(f func() error) error {
	err := f()
	if err != nil && whisk.CodeOf(err) == whisk.CodeConflict {
		err = f()
	}
	return err
}

//go:embed actions
var sources embed.FS

func source(path string) string {
	b, err := sources.ReadFile("actions/" + path)
	if err != nil {
		panic("catalog: missing embedded source " + path) // a build defect, caught by any test
	}
	return string(b)
}
