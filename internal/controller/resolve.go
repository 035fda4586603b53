package controller

import (
	"context"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// resolvedAction is an action found through its name, with what it inherits
// from its package and, when addressed through one, a binding.
type resolvedAction struct {
	entry     *cachedEntity
	fqn       whisk.FQN       // where the action document lives (binding resolved)
	binding   string          // "ns/pkg" of the binding it was addressed through, or ""
	inherited whisk.KeyValues // package parameters overlaid by binding parameters
}

// resolvedPackage is a package, or the package a binding refers to.
type resolvedPackage struct {
	ns, name string          // the real package
	binding  string          // "ns/pkg" of the binding, or ""
	params   whisk.KeyValues // the package's parameters overlaid by the binding's
	doc      *whisk.Package  // the entity addressed: the package, or the binding (shared: never modify)
}

// resolvePackage finds the package ns/name for the caller, following a
// binding to the package it refers to, with OpenWhisk's READ entitlement
// (PackageCollection): a package is readable by its owner and, once
// published, by everyone; a binding only by its owner, and only while the
// package it refers to is readable by the binding's namespace. Whatever
// fails in another namespace is a 403, so that nothing is told about what
// exists there.
func (c *Controller) resolvePackage(ctx context.Context, id whisk.Identity, ns, name string) (resolvedPackage, error) {
	owner := ns == id.Namespace
	e, err := c.loadEntity(ctx, ns, name)
	switch {
	case whisk.CodeOf(err) == whisk.CodeNotFound && !owner:
		return resolvedPackage{}, whisk.Forbidden(resourceName(ns, name))
	case err != nil:
		return resolvedPackage{}, err
	case e.coll != store.Packages && !owner:
		return resolvedPackage{}, whisk.Forbidden(resourceName(ns, name))
	case e.coll != store.Packages:
		return resolvedPackage{}, conformance()
	}
	p := e.pkg
	if p.Binding.IsZero() {
		if !owner && !e.publish {
			return resolvedPackage{}, whisk.Forbidden(resourceName(ns, name))
		}
		return resolvedPackage{ns: ns, name: name, params: p.Parameters, doc: p}, nil
	}
	if !owner {
		return resolvedPackage{}, whisk.Forbidden(resourceName(ns, name))
	}
	bns := p.Binding.Namespace
	if bns == "" || bns == whisk.SelfNamespace {
		bns = ns
	}
	boundOwner := bns == ns
	deny := whisk.Forbidden(resourceName(bns, p.Binding.Name))
	bound, err := c.loadEntity(ctx, bns, p.Binding.Name)
	switch {
	case whisk.CodeOf(err) == whisk.CodeNotFound && !boundOwner:
		return resolvedPackage{}, deny
	case err != nil:
		return resolvedPackage{}, err
	case (bound.coll != store.Packages || !bound.pkg.Binding.IsZero()) && !boundOwner:
		return resolvedPackage{}, deny
	case bound.coll != store.Packages || !bound.pkg.Binding.IsZero():
		return resolvedPackage{}, conformance()
	case !boundOwner && !bound.publish:
		return resolvedPackage{}, deny
	}
	return resolvedPackage{
		ns: bns, name: p.Binding.Name, binding: ns + "/" + name,
		params: bound.pkg.Parameters.Merge(p.Parameters), doc: p,
	}, nil
}

// resolveAction finds the action named by fqn for the caller: directly, in a
// package, or in the package a binding refers to.
func (c *Controller) resolveAction(ctx context.Context, id whisk.Identity, fqn whisk.FQN) (resolvedAction, error) {
	if fqn.Package == "" {
		if err := entitled(id, fqn.Namespace, fqn.PathName()); err != nil {
			return resolvedAction{}, err
		}
		e, err := c.loadEntity(ctx, fqn.Namespace, fqn.Name)
		if err != nil {
			return resolvedAction{}, err
		}
		if e.coll != store.Actions {
			return resolvedAction{}, conformance()
		}
		return resolvedAction{entry: e, fqn: fqn}, nil
	}
	p, err := c.resolvePackage(ctx, id, fqn.Namespace, fqn.Package)
	if err != nil {
		return resolvedAction{}, err
	}
	real := whisk.FQN{Namespace: p.ns, Package: p.name, Name: fqn.Name}
	e, err := c.loadEntity(ctx, real.Path(), real.Name)
	if err != nil {
		return resolvedAction{}, err
	}
	if e.coll != store.Actions {
		return resolvedAction{}, conformance()
	}
	return resolvedAction{entry: e, fqn: real, binding: p.binding, inherited: p.params}, nil
}

// checkWritablePackage is what OpenWhisk requires before an action is
// created, updated or deleted inside a package: the package exists, belongs to
// the caller and is not a binding.
func (c *Controller) checkWritablePackage(ctx context.Context, id whisk.Identity, fqn whisk.FQN) error {
	if fqn.Package == "" {
		return nil
	}
	e, err := c.loadEntity(ctx, fqn.Namespace, fqn.Package)
	if err != nil {
		return err
	}
	if e.coll != store.Packages {
		return conformance()
	}
	if !e.pkg.Binding.IsZero() {
		return whisk.BadRequest("%s", whisk.MsgNotPermittedOnBinding)
	}
	return nil
}
