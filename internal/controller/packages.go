package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// OpenWhisk's package messages (Messages.scala), verbatim.
const (
	MsgBindingDoesNotExist           = "Binding references a package that does not exist."
	MsgPackageCannotBecomeBinding    = "Resource is a package and cannot be converted into a binding."
	MsgBindingCannotReferenceBinding = "Cannot bind to another package binding."
	MsgBindingNotAPackage            = "Cannot bind to a resource that is not a package."
)

// annoFeed marks an action as a feed: a package GET lists it under feeds.
const annoFeed = "feed"

// PackageNameReserved rejects a package named like a reserved name.
func PackageNameReserved(name string) string {
	return fmt.Sprintf("Package name '%s' is reserved.", name)
}

// PackageNotEmpty rejects deleting a package that still holds actions.
func PackageNotEmpty(n int) string {
	noun := "entities"
	if n == 1 {
		noun = "entity"
	}
	return fmt.Sprintf("Package not empty (contains %d %s). Set force param or delete package contents.", n, noun)
}

// PackageSummary is an item of a package list: binding is false for a
// package and {namespace, name} for a binding (OpenWhisk's list view).
type PackageSummary struct {
	Namespace   string          `json:"namespace"`
	Name        string          `json:"name"`
	Version     string          `json:"version"`
	Publish     bool            `json:"publish"`
	Annotations whisk.KeyValues `json:"annotations"`
	Updated     int64           `json:"updated"`
	Binding     any             `json:"binding"`
}

// PutPackage creates the package or binding ns/name, or updates it when
// overwrite is set (spec §6): parameters, annotations and publish replace the
// stored ones when given, a binding may move to another package but a
// package cannot become a binding.
func (c *Controller) PutPackage(ctx context.Context, id whisk.Identity, ns, name string, put *whisk.PackagePut, overwrite bool) (*whisk.Package, error) {
	if err := entitled(id, ns, resourceName(ns, name)); err != nil {
		return nil, err
	}
	if name == whisk.DefaultPackage {
		return nil, whisk.BadRequest("%s", PackageNameReserved(name))
	}
	if err := c.checkPackagePut(put); err != nil {
		return nil, err
	}
	var binding *whisk.Binding
	if put.Binding != nil && !put.Binding.IsZero() {
		b := *put.Binding
		if b.Namespace == "" || b.Namespace == whisk.SelfNamespace {
			b.Namespace = ns
		}
		if err := c.checkBindingTarget(ctx, id, b); err != nil {
			return nil, err
		}
		binding = &b
	}
	var stored *whisk.Package
	_, err := c.putEntity(ctx, store.Packages, ns, ns, name, overwrite,
		func(old *store.Doc, updated int64) ([]byte, bool, error) {
			var p *whisk.Package
			if old == nil {
				p = makePackage(ns, name, put, binding)
			} else {
				prev := new(whisk.Package)
				if err := json.Unmarshal(old.Body, prev); err != nil {
					return nil, false, internal(fmt.Errorf("decode package %s/%s: %w", ns, name, err))
				}
				var err error
				if p, err = updatePackage(prev, put, binding); err != nil {
					return nil, false, err
				}
			}
			p.Updated = updated
			body, err := json.Marshal(p)
			stored = p
			return body, sharedPackage(p), internal(err)
		}, nil)
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// sharedPackage is the store's publish flag of a package: whether other
// namespaces may see it. A binding is private to its namespace whatever its
// own publish field says (OpenWhisk's entitlement never grants another
// namespace a binding), so that listing published packages needs no body.
func sharedPackage(p *whisk.Package) bool { return p.Publish && p.Binding.IsZero() }

func (c *Controller) checkPackagePut(put *whisk.PackagePut) error {
	if n := keyValuesSize(put.Parameters); n > c.cfg.MaxParameterBytes {
		return TooLarge("parameters", n, c.cfg.MaxParameterBytes)
	}
	if n := keyValuesSize(put.Annotations); n > c.cfg.MaxAnnotationBytes {
		return TooLarge("annotations", n, c.cfg.MaxAnnotationBytes)
	}
	if put.Version != nil {
		v, ok := normalizeVersion(*put.Version)
		if !ok {
			return Malformed("bad semantic version " + *put.Version)
		}
		put.Version = &v
	}
	for _, kv := range [][]whisk.KeyValue{put.Parameters, put.Annotations} {
		for _, e := range kv {
			if e.Key == "" {
				return Malformed("parameter name may not be empty")
			}
		}
	}
	if b := put.Binding; b != nil {
		if b.Name == "" && b.Namespace != "" {
			return Malformed("Object is missing required member 'name'")
		}
		if b.Name != "" && !whisk.ValidName(b.Name) ||
			b.Namespace != "" && b.Namespace != whisk.SelfNamespace && !whisk.ValidName(b.Namespace) {
			return whisk.BadRequest(whisk.MsgIllegalName)
		}
	}
	return nil
}

// checkBindingTarget is OpenWhisk's READ entitlement on the package a binding
// refers to, with the rewrites Packages.scala applies to its failures: a
// package the caller owns must exist (else 400), be a package (else 409) and
// not be a binding (else 400); one of another namespace must be published,
// and any failure there is a 403 that tells nothing about what exists.
func (c *Controller) checkBindingTarget(ctx context.Context, id whisk.Identity, b whisk.Binding) error {
	owner := b.Namespace == id.Namespace
	deny := whisk.Forbidden(resourceName(b.Namespace, b.Name))
	e, err := c.loadEntity(ctx, b.Namespace, b.Name)
	switch {
	case whisk.CodeOf(err) == whisk.CodeNotFound && owner:
		return whisk.BadRequest(MsgBindingDoesNotExist)
	case whisk.CodeOf(err) == whisk.CodeNotFound:
		return deny
	case err != nil:
		return err
	case e.coll != store.Packages && owner:
		return whisk.Errorf(whisk.CodeConflict, "%s", MsgBindingNotAPackage)
	case e.coll != store.Packages:
		return deny
	case !e.pkg.Binding.IsZero() && owner:
		return whisk.BadRequest(MsgBindingCannotReferenceBinding)
	case !owner && !e.publish:
		return deny
	}
	return nil
}

func makePackage(ns, name string, put *whisk.PackagePut, binding *whisk.Binding) *whisk.Package {
	p := &whisk.Package{
		Namespace:  ns,
		Name:       name,
		Version:    whisk.DefaultVersion,
		Parameters: normalizeKeyValues(put.Parameters),
	}
	if binding != nil {
		p.Binding = *binding
	}
	if put.Version != nil {
		p.Version = *put.Version
	}
	if put.Publish != nil {
		p.Publish = *put.Publish
	}
	p.Annotations = bindingAnnotation(normalizeKeyValues(put.Annotations), p.Binding)
	return p
}

func updatePackage(old *whisk.Package, put *whisk.PackagePut, binding *whisk.Binding) (*whisk.Package, error) {
	p := *old
	if binding != nil {
		if old.Binding.IsZero() {
			return nil, whisk.Errorf(whisk.CodeConflict, "%s", MsgPackageCannotBecomeBinding)
		}
		p.Binding = *binding
	}
	if put.Parameters != nil {
		p.Parameters = normalizeKeyValues(put.Parameters)
	}
	p.Version = whisk.BumpVersion(old.Version)
	if put.Version != nil {
		p.Version = *put.Version
	}
	if put.Publish != nil {
		p.Publish = *put.Publish
	}
	annotations := old.Annotations
	if put.Annotations != nil {
		annotations = normalizeKeyValues(put.Annotations)
	}
	p.Annotations = bindingAnnotation(annotations, p.Binding)
	return &p, nil
}

// bindingAnnotation is what OpenWhisk keeps in a binding's annotations so
// that clients that only see list summaries can tell bindings apart: the
// controller alone writes it.
func bindingAnnotation(annotations whisk.KeyValues, b whisk.Binding) whisk.KeyValues {
	out := annotations.Without(annoBinding)
	if !b.IsZero() {
		out = out.Set(annoBinding, b)
	}
	return out
}

// GetPackage returns the package ns/name with its actions and feeds. A
// binding shows its own document with the bound package's parameters under
// its own, and the bound package's actions. Other namespaces see published
// packages only.
func (c *Controller) GetPackage(ctx context.Context, id whisk.Identity, ns, name string) (*whisk.PackageWithActions, error) {
	r, err := c.resolvePackage(ctx, id, ns, name)
	if err != nil {
		return nil, err
	}
	out := &whisk.PackageWithActions{Package: *r.doc, Actions: []whisk.PackageAction{}, Feeds: []whisk.PackageAction{}}
	if r.binding != "" {
		out.Parameters = r.params
	}
	docs, err := c.listDocs(ctx, store.Actions, r.ns, r.ns+"/"+r.name, Page{})
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		var a whisk.PackageAction
		if err := json.Unmarshal(d.Body, &a); err != nil {
			c.log.Error("unreadable action skipped in package", "path", d.Path, "name", d.Name, "err", err)
			continue
		}
		if a.Annotations == nil {
			a.Annotations = whisk.KeyValues{}
		}
		if a.Annotations.Has(annoFeed) {
			out.Feeds = append(out.Feeds, a)
		} else {
			out.Actions = append(out.Actions, a)
		}
	}
	return out, nil
}

// DeletePackage deletes the package or binding ns/name and returns it. A
// package that holds actions is deleted only with force, which deletes the
// actions first.
func (c *Controller) DeletePackage(ctx context.Context, id whisk.Identity, ns, name string, force bool) (*whisk.Package, error) {
	if err := entitled(id, ns, resourceName(ns, name)); err != nil {
		return nil, err
	}
	doc, err := c.getDoc(ctx, store.Packages, ns, name)
	if err != nil {
		return nil, err
	}
	p := new(whisk.Package)
	if err := json.Unmarshal(doc.Body, p); err != nil {
		return nil, &whisk.Error{Code: whisk.CodeInternal, Message: "Resource is corrupted and cannot be read.",
			Err: fmt.Errorf("decode package %s/%s: %w", ns, name, err)}
	}
	if p.Binding.IsZero() {
		path := ns + "/" + name
		actions, err := c.listDocs(ctx, store.Actions, ns, path, Page{})
		if err != nil {
			return nil, err
		}
		if len(actions) > 0 && !force {
			return nil, whisk.Errorf(whisk.CodeConflict, "%s", PackageNotEmpty(len(actions)))
		}
		for _, a := range actions {
			err := c.store.DeleteEntity(ctx, a.Path, a.Name, 0)
			c.Invalidate(a.Path, a.Name)
			if err != nil && !errors.Is(err, whisk.ErrNotFound) {
				return nil, internal(err)
			}
		}
	}
	err = c.store.DeleteEntity(ctx, ns, name, doc.Rev)
	c.Invalidate(ns, name)
	switch {
	case errors.Is(err, whisk.ErrNotFound):
		return nil, whisk.NotFound()
	case errors.Is(err, whisk.ErrConflict):
		return nil, concurrentUpdate()
	case err != nil:
		return nil, internal(err)
	}
	return p, nil
}

// ListPackages lists the packages and bindings of namespace ns, newest
// first; another namespace shows only its published packages (never its
// bindings), and one that does not exist shows none.
func (c *Controller) ListPackages(ctx context.Context, id whisk.Identity, ns string, page Page) ([]PackageSummary, error) {
	docs, err := c.store.ListEntities(ctx, packageListQuery(id, ns, page))
	if err != nil {
		return nil, internal(err)
	}
	out := make([]PackageSummary, 0, len(docs))
	for _, d := range docs {
		var p whisk.Package
		if err := json.Unmarshal(d.Body, &p); err != nil {
			c.log.Error("unreadable package skipped in list", "path", d.Path, "name", d.Name, "err", err)
			continue
		}
		s := PackageSummary{
			Namespace: p.Namespace, Name: p.Name, Version: p.Version, Publish: p.Publish,
			Annotations: p.Annotations, Updated: p.Updated, Binding: false,
		}
		if s.Annotations == nil {
			s.Annotations = whisk.KeyValues{}
		}
		if !p.Binding.IsZero() {
			s.Binding = p.Binding
		}
		out = append(out, s)
	}
	return out, nil
}

// CountPackages counts what ListPackages would list from skip on.
func (c *Controller) CountPackages(ctx context.Context, id whisk.Identity, ns string, skip int) (int, error) {
	q := packageListQuery(id, ns, Page{})
	n, err := c.store.CountEntities(ctx, q)
	if err != nil {
		return 0, internal(err)
	}
	return max(0, n-skip), nil
}

func packageListQuery(id whisk.Identity, ns string, page Page) store.ListQuery {
	return store.ListQuery{
		Collection: store.Packages, Namespace: ns, Skip: page.Skip, Limit: page.Limit,
		Published: ns != id.Namespace,
	}
}

// RuntimeKind resolves kind as an action's exec would be stored
// ("nodejs:default" → the family's default kind); false when this platform
// cannot run it.
func (c *Controller) RuntimeKind(kind string) (string, bool) {
	if kind == KindBuiltin {
		return kind, true // runs in the controller itself
	}
	rt, ok := c.kinds.Lookup(kind)
	if !ok {
		return "", false
	}
	return rt.Kind(), true
}
