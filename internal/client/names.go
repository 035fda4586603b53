package client

import (
	"fmt"
	"net/url"
	"strings"
)

const apiPath = "/api/v1"

// Name is an entity name split into the parts a path needs.
type Name struct {
	Namespace string // never empty: the client's namespace when the name has none
	Package   string // "" for an entity outside packages
	Name      string
}

// String is the fully qualified form "/namespace[/package]/name".
func (n Name) String() string {
	if n.Package == "" {
		return "/" + n.Namespace + "/" + n.Name
	}
	return "/" + n.Namespace + "/" + n.Package + "/" + n.Name
}

// ParseName reads the forms wsk accepts: "name", "pkg/name" (in the client's
// namespace), "/ns/name" and "/ns/pkg/name". Characters are not checked here;
// the server owns the naming rules and says which one was broken.
func (c *Client) ParseName(s string) (Name, error) {
	explicit := strings.HasPrefix(s, "/")
	parts := strings.Split(strings.TrimPrefix(s, "/"), "/")
	for _, p := range parts {
		if p == "" {
			return Name{}, fmt.Errorf("%w %q: empty segment", ErrInvalidName, s)
		}
	}
	switch {
	case explicit && len(parts) == 2:
		return Name{Namespace: parts[0], Name: parts[1]}, nil
	case explicit && len(parts) == 3:
		return Name{Namespace: parts[0], Package: parts[1], Name: parts[2]}, nil
	case !explicit && len(parts) == 1:
		return Name{Namespace: c.namespace, Name: parts[0]}, nil
	case !explicit && len(parts) == 2:
		return Name{Namespace: c.namespace, Package: parts[0], Name: parts[1]}, nil
	}
	return Name{}, fmt.Errorf("%w %q: use NAME, PACKAGE/NAME, /NAMESPACE/NAME or /NAMESPACE/PACKAGE/NAME", ErrInvalidName, s)
}

// parseCollection reads the argument of a list: "" (the client's namespace),
// "pkg", "/ns" or "/ns/pkg".
func (c *Client) parseCollection(s string) (ns, pkg string, err error) {
	if s == "" {
		return c.namespace, "", nil
	}
	explicit := strings.HasPrefix(s, "/")
	parts := strings.Split(strings.Trim(s, "/"), "/")
	for _, p := range parts {
		if p == "" {
			return "", "", fmt.Errorf("%w %q: empty segment", ErrInvalidName, s)
		}
	}
	switch {
	case explicit && len(parts) == 1:
		return parts[0], "", nil
	case explicit && len(parts) == 2:
		return parts[0], parts[1], nil
	case !explicit && len(parts) == 1:
		return c.namespace, parts[0], nil
	}
	return "", "", fmt.Errorf("%w %q: use PACKAGE, /NAMESPACE or /NAMESPACE/PACKAGE", ErrInvalidName, s)
}

// NamespacePath is the escaped path of a namespace's collection,
// "/api/v1/namespaces/{ns}/{collection}"; further segments are escaped and
// appended one by one, so a name with a space, "?" or "#" stays one segment.
func NamespacePath(namespace, collection string, segments ...string) string {
	var b strings.Builder
	b.WriteString(apiPath + "/namespaces/")
	b.WriteString(url.PathEscape(namespace))
	if collection != "" {
		b.WriteString("/" + collection)
	}
	for _, s := range segments {
		b.WriteString("/")
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// path is an entity's path in a collection.
func (n Name) path(collection string) string {
	if n.Package == "" {
		return NamespacePath(n.Namespace, collection, n.Name)
	}
	return NamespacePath(n.Namespace, collection, n.Package, n.Name)
}
