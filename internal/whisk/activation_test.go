package whisk

import (
	"testing"
	"time"
)

func TestNewActivationIDForm(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := NewActivationID()
		if !ValidActivationID(id) {
			t.Fatalf("%q is not 32 lowercase hex characters", id)
		}
		if seen[id] {
			t.Fatalf("%q generated twice", id)
		}
		seen[id] = true
	}
}

// The stores' id index relies on ids made later sorting after earlier ones.
func TestNewActivationIDGrowsWithTime(t *testing.T) {
	first := NewActivationID()
	time.Sleep(2 * time.Millisecond)
	second := NewActivationID()
	if second <= first {
		t.Fatalf("id made 2 ms later sorts first: %s <= %s", second, first)
	}
	if first[12:] == second[12:] {
		t.Fatalf("random parts repeat: %s, %s", first, second)
	}
}
