package scheduler

import (
	"fmt"
	"testing"
)

func healthy(free ...int) []Invoker {
	out := make([]Invoker, len(free))
	for i, f := range free {
		out[i] = Invoker{ID: fmt.Sprint(i), Healthy: true, FreeMB: f}
	}
	return out
}

func TestHomeInvokerIsStable(t *testing.T) {
	invs := healthy(1024, 1024, 1024)
	first, ok := Place(invs, "guest", "hello", 256)
	if !ok {
		t.Fatal("no placement")
	}
	for range 10 {
		if got, _ := Place(invs, "guest", "hello", 256); got != first {
			t.Fatalf("home moved from %d to %d", first, got)
		}
	}
}

func TestActionsSpreadOverInvokers(t *testing.T) {
	invs := healthy(1024, 1024, 1024, 1024)
	seen := map[int]int{}
	for i := range 400 {
		idx, _ := Place(invs, "guest", fmt.Sprintf("action-%d", i), 256)
		seen[idx]++
	}
	for i := range invs {
		if seen[i] < 50 {
			t.Fatalf("invoker %d got %d of 400 actions: %v", i, seen[i], seen)
		}
	}
}

func TestFullOrUnhealthyHomeOverflows(t *testing.T) {
	invs := healthy(1024, 1024, 1024)
	home, _ := Place(invs, "guest", "hello", 256)
	invs[home].FreeMB = 0
	next, ok := Place(invs, "guest", "hello", 256)
	if !ok || next == home {
		t.Fatalf("full home %d: placed on %d", home, next)
	}
	invs[home].FreeMB = 1024
	invs[home].Healthy = false
	if got, _ := Place(invs, "guest", "hello", 256); got == home {
		t.Fatal("placed on an unhealthy invoker")
	}
}

func TestEveryInvokerIsProbed(t *testing.T) {
	for n := 1; n <= 12; n++ {
		for i := range n {
			invs := healthy(make([]int, n)...)
			invs[i].FreeMB = 512 // only invoker i has room
			if got, ok := Place(invs, "ns", fmt.Sprintf("a%d", n*31+i), 256); !ok || got != i {
				t.Fatalf("n=%d: the only free invoker %d was not found (got %d)", n, i, got)
			}
		}
	}
}

func TestNoHealthyInvoker(t *testing.T) {
	invs := healthy(1024, 1024)
	invs[0].Healthy, invs[1].Healthy = false, false
	if _, ok := Place(invs, "guest", "hello", 256); ok {
		t.Fatal("placed with no healthy invoker")
	}
	if _, ok := Place(nil, "guest", "hello", 256); ok {
		t.Fatal("placed with no invoker")
	}
}

func TestOverloadGoesToAHealthyInvoker(t *testing.T) {
	invs := healthy(0, 0, 0)
	invs[1].Healthy = false
	idx, ok := Place(invs, "guest", "hello", 256)
	if !ok || idx == 1 {
		t.Fatalf("overload placed on %d", idx)
	}
}

func BenchmarkPlace(b *testing.B) {
	invs := healthy(0, 0, 0, 0, 0, 0, 0, 1024)
	for b.Loop() {
		Place(invs, "guest", "hello", 256)
	}
}
