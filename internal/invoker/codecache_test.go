package invoker

import (
	"testing"

	"github.com/gustfaas/gust/internal/whisk"
)

// TestCodeHashByRevision checks that the code of a revision is hashed once,
// and that code without a revision is always hashed.
func TestCodeHashByRevision(t *testing.T) {
	c, err := newCodeCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	one, two := "print(1)", "print(2)"
	a := &whisk.Exec{Kind: "python:3.11", Code: &one}
	b := &whisk.Exec{Kind: "python:3.11", Code: &two}
	ha := c.hash("python:3.11", a, 7)
	if ha != codeHash("python:3.11", a) {
		t.Fatal("first hash of a revision is not the code's hash")
	}
	if got := c.hash("python:3.11", b, 7); got != ha {
		t.Fatal("revision 7 was hashed again") // a revision names one version: its code cannot change
	}
	if c.hash("python:3.11", b, 8) == ha || c.hash("python:3.11", b, 0) == ha {
		t.Fatal("other code got the same hash")
	}
}
