package whisk

import "strings"

// MaxNameLength is OpenWhisk's entity name limit.
const MaxNameLength = 256

// DefaultPackage is the reserved package segment meaning "no package" in web
// action URLs; no package may be named so.
const DefaultPackage = "default"

// SelfNamespace is the path segment that stands for the caller's own namespace.
const SelfNamespace = "_"

// ValidName reports whether s is a legal entity or namespace name: OpenWhisk's
// \A([\w]|[\w][\w@ .&-]{0,254}[\w@.&-])\z with ASCII \w, checked by hand
// because every request checks a name or two and the regexp was 1.5% of the
// CPU of a warm invoke. names_test.go holds the regexp as the reference.
func ValidName(s string) bool {
	n := len(s)
	if n == 0 || n > MaxNameLength || !isWordByte(s[0]) {
		return false
	}
	for i := 1; i < n; i++ {
		c := s[i]
		switch {
		case isWordByte(c), c == '@', c == '.', c == '&', c == '-':
		case c == ' ' && i < n-1:
		default:
			return false
		}
	}
	return true
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// CheckName returns OpenWhisk's 400 for an illegal name.
func CheckName(s string) error {
	if !ValidName(s) {
		return BadRequest(MsgIllegalName)
	}
	return nil
}

// FQN names an entity: /namespace[/package]/name. Package is empty for an
// entity at the top of a namespace.
type FQN struct {
	Namespace string
	Package   string
	Name      string
}

// Path is the entity's path: "ns" or "ns/pkg", as stored in its namespace field.
func (f FQN) Path() string {
	if f.Package == "" {
		return f.Namespace
	}
	return f.Namespace + "/" + f.Package
}

// String is the fully qualified name with a leading slash: "/ns/pkg/name".
func (f FQN) String() string { return "/" + f.Path() + "/" + f.Name }

// PathName is the FQN without the leading slash: "ns/pkg/name" (the `path` annotation).
func (f FQN) PathName() string { return f.Path() + "/" + f.Name }

// PackageFQN names the package holding f.
func (f FQN) PackageFQN() FQN { return FQN{Namespace: f.Namespace, Name: f.Package} }

// ResolveNamespace replaces the "_" namespace with self.
func (f FQN) ResolveNamespace(self string) FQN {
	if f.Namespace == SelfNamespace || f.Namespace == "" {
		f.Namespace = self
	}
	return f
}

// ParseFQN parses "/ns/name", "/ns/pkg/name" (the server-side forms, where the
// namespace is explicit) and, leniently, "ns/name"-style forms without the
// leading slash as the npm client sends them in rule bodies. A bare "name" or
// "pkg/name" without a leading slash is taken relative to defaultNS.
func ParseFQN(s, defaultNS string) (FQN, error) {
	if s == "" {
		return FQN{}, BadRequest(MsgIllegalName)
	}
	explicit := strings.HasPrefix(s, "/")
	parts := strings.Split(strings.TrimPrefix(s, "/"), "/")
	var f FQN
	switch {
	case explicit && len(parts) == 2:
		f = FQN{Namespace: parts[0], Name: parts[1]}
	case explicit && len(parts) == 3:
		f = FQN{Namespace: parts[0], Package: parts[1], Name: parts[2]}
	case !explicit && len(parts) == 1:
		f = FQN{Namespace: defaultNS, Name: parts[0]}
	case !explicit && len(parts) == 2:
		f = FQN{Namespace: defaultNS, Package: parts[0], Name: parts[1]}
	case !explicit && len(parts) == 3:
		f = FQN{Namespace: parts[0], Package: parts[1], Name: parts[2]}
	default:
		return FQN{}, BadRequest(MsgIllegalName)
	}
	if f.Namespace != SelfNamespace && !ValidName(f.Namespace) || !ValidName(f.Name) ||
		f.Package != "" && !ValidName(f.Package) {
		return FQN{}, BadRequest(MsgIllegalName)
	}
	return f, nil
}

// SplitPath splits an entity path "ns" or "ns/pkg".
func SplitPath(path string) (ns, pkg string) {
	ns, pkg, _ = strings.Cut(path, "/")
	return ns, pkg
}
