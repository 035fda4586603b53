package client

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gustfaas/gust/internal/whisk"
)

// parsePackageName reads a package name: "pkg" (in the client's namespace)
// or "/ns/pkg".
func (c *Client) parsePackageName(s string) (ns, pkg string, err error) {
	explicit := strings.HasPrefix(s, "/")
	parts := strings.Split(strings.TrimPrefix(s, "/"), "/")
	for _, p := range parts {
		if p == "" {
			return "", "", fmt.Errorf("%w %q: empty segment", ErrInvalidName, s)
		}
	}
	switch {
	case explicit && len(parts) == 2:
		return parts[0], parts[1], nil
	case !explicit && len(parts) == 1:
		return c.namespace, parts[0], nil
	}
	return "", "", fmt.Errorf("%w %q: use PACKAGE or /NAMESPACE/PACKAGE", ErrInvalidName, s)
}

// ParseBinding reads the package a binding refers to, as wsk reads it:
// "/ns/pkg", or "pkg" in the client's namespace.
func (c *Client) ParseBinding(s string) (whisk.Binding, error) {
	ns, pkg, err := c.parsePackageName(s)
	if err != nil {
		return whisk.Binding{}, err
	}
	return whisk.Binding{Namespace: ns, Name: pkg}, nil
}

// packagesPath is the collection of a namespace: "" (the client's) or
// "/ns".
func (c *Client) packagesPath(in string) (string, error) {
	ns := c.namespace
	if in != "" {
		t := strings.Trim(in, "/")
		if t == "" || strings.Contains(t, "/") {
			return "", fmt.Errorf("%w %q: use /NAMESPACE", ErrInvalidName, in)
		}
		ns = t
	}
	return NamespacePath(ns, "packages"), nil
}

// ListPackages lists the packages and bindings of a namespace ("" = the
// client's, or "/ns"; another namespace shows its published packages only),
// newest first. Items are summaries: no parameters, and a binding's Binding
// names the package it refers to.
func (c *Client) ListPackages(ctx context.Context, in string, opts ListOptions) ([]whisk.Package, error) {
	path, err := c.packagesPath(in)
	if err != nil {
		return nil, err
	}
	var out []whisk.Package
	if err := c.get(ctx, path, opts.query(), &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CountPackages counts the packages ListPackages would list.
func (c *Client) CountPackages(ctx context.Context, in string) (int, error) {
	path, err := c.packagesPath(in)
	if err != nil {
		return 0, err
	}
	var out map[string]int
	if err := c.get(ctx, path, url.Values{"count": {"true"}}, &out); err != nil {
		return 0, err
	}
	return out["packages"], nil
}

// GetPackage fetches a package ("pkg" or "/ns/pkg") with its actions and
// feeds; a binding comes with the bound package's actions and parameters.
func (c *Client) GetPackage(ctx context.Context, name string) (*whisk.PackageWithActions, error) {
	ns, pkg, err := c.parsePackageName(name)
	if err != nil {
		return nil, err
	}
	var p whisk.PackageWithActions
	if err := c.get(ctx, NamespacePath(ns, "packages", pkg), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// PutPackage creates a package or binding or, with overwrite, updates it:
// fields left nil in body keep their stored values. It returns the stored
// package.
func (c *Client) PutPackage(ctx context.Context, name string, body *whisk.PackagePut, overwrite bool) (*whisk.Package, error) {
	ns, pkg, err := c.parsePackageName(name)
	if err != nil {
		return nil, err
	}
	if body == nil {
		body = &whisk.PackagePut{}
	}
	resp, err := c.Do(ctx, http.MethodPut, NamespacePath(ns, "packages", pkg),
		url.Values{"overwrite": {strconv.FormatBool(overwrite)}}, body)
	if err != nil {
		return nil, err
	}
	var p whisk.Package
	if err := decode(resp, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// DeletePackage deletes a package or binding and returns what was deleted.
// A package that holds actions is refused (409) unless force is set, which
// deletes its actions too.
func (c *Client) DeletePackage(ctx context.Context, name string, force bool) (*whisk.Package, error) {
	ns, pkg, err := c.parsePackageName(name)
	if err != nil {
		return nil, err
	}
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	resp, err := c.Do(ctx, http.MethodDelete, NamespacePath(ns, "packages", pkg), q, nil)
	if err != nil {
		return nil, err
	}
	var p whisk.Package
	if len(bytes.TrimSpace(resp.Body)) > 0 {
		if err := decode(resp, &p); err != nil {
			return nil, err
		}
	}
	return &p, nil
}
