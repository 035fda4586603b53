package runtimes

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRemoveStaleWarmUps: the warm-up directories a killed process left are
// removed; one in use (recent) and other files are not.
func TestRemoveStaleWarmUps(t *testing.T) {
	parent := t.TempDir()
	old, recent, other := filepath.Join(parent, "warmup-1"), filepath.Join(parent, "warmup-2"), filepath.Join(parent, "go-build")
	for _, d := range []string{old, recent, other} {
		if err := os.MkdirAll(filepath.Join(d, "src"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-time.Hour)
	for _, d := range []string{old, other} {
		if err := os.Chtimes(d, past, past); err != nil {
			t.Fatal(err)
		}
	}
	removeStaleWarmUps(parent, time.Now().Add(-staleWarmUp))
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("stale warm-up directory kept: %v", err)
	}
	for _, d := range []string{recent, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s removed: %v", d, err)
		}
	}
}
