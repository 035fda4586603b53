package whisk

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzParseFQN checks that parsed names are valid and round-trip through
// their string form.
func FuzzParseFQN(f *testing.F) {
	for _, s := range []string{"/guest/hello", "/guest/pkg/hello", "pkg/hello", "hello", "/_/a b", "ns/pkg/a", "//x", "/a/b/c/d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fqn, err := ParseFQN(s, "guest")
		if err != nil {
			return
		}
		if fqn.Namespace != SelfNamespace && !ValidName(fqn.Namespace) || !ValidName(fqn.Name) ||
			fqn.Package != "" && !ValidName(fqn.Package) {
			t.Fatalf("ParseFQN(%q) accepted invalid parts %+v", s, fqn)
		}
		again, err := ParseFQN(fqn.String(), "other")
		if err != nil || again != fqn {
			t.Fatalf("ParseFQN(%q) = %+v; its string %q parses to %+v, %v", s, fqn, fqn.String(), again, err)
		}
	})
}

// openWhiskNameRE is OpenWhisk's entity name pattern (EntityName.REGEX), the
// reference for the hand-written ValidName.
var openWhiskNameRE = regexp.MustCompile(`\A([\w]|[\w][\w@ .&-]{0,254}[\w@.&-])\z`)

// FuzzValidName checks the invariants that paths and document keys rely on.
func FuzzValidName(f *testing.F) {
	for _, s := range []string{"hello", "my action", "a@b.c-d&e", " lead", "trail ", "a/b", strings.Repeat("x", 257), "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		valid := ValidName(s)
		if want := len(s) <= MaxNameLength && openWhiskNameRE.MatchString(s); valid != want {
			t.Fatalf("ValidName(%q) = %v, OpenWhisk's pattern says %v", s, valid, want)
		}
		if !valid {
			return
		}
		if len(s) > MaxNameLength || strings.ContainsAny(s, "/\n\x00") || strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
			t.Fatalf("ValidName accepted %q", s)
		}
	})
}
