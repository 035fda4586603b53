package whisk

import (
	"bytes"
	"encoding/json"
)

// UnmarshalJSON reads a binding in every form OpenWhisk writes one: an object
// ({} for a plain package), or false, as package list summaries say "not a
// binding".
func (b *Binding) UnmarshalJSON(data []byte) error {
	t := bytes.TrimSpace(data)
	if bytes.Equal(t, []byte("false")) || bytes.Equal(t, []byte("null")) {
		*b = Binding{}
		return nil
	}
	type plain Binding
	var p plain
	if err := json.Unmarshal(t, &p); err != nil {
		return err
	}
	*b = Binding(p)
	return nil
}

// String is the bound package's fully qualified name, "/ns/pkg".
func (b Binding) String() string { return "/" + b.Namespace + "/" + b.Name }

// PackageAction is an action as the GET of its package lists it.
type PackageAction struct {
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Annotations KeyValues `json:"annotations"`
}

// PackageWithActions is the answer to GET of a package: the package (for a
// binding, its own document with the bound package's parameters under its
// own) and the actions and feeds it offers. A feed is an action annotated
// "feed".
type PackageWithActions struct {
	Package
	Actions []PackageAction `json:"actions"`
	Feeds   []PackageAction `json:"feeds"`
}
