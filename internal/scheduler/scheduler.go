// Package scheduler places activations on invokers, as OpenWhisk's sharding
// container pool balancer does (spec §13): each action has a home invoker,
// picked by a hash of its namespace and name, so that its warm sandboxes are
// found again cluster-wide; when the home invoker is full the search steps
// through the others by a step size coprime to their number, so every
// invoker is probed once and different actions overflow to different places.
//
// Place is a pure function of a snapshot; the caller owns the snapshot and
// the bookkeeping of what it placed.
package scheduler

import (
	"hash/fnv"
)

// Invoker is what placement knows of one invoker.
type Invoker struct {
	ID      string
	Healthy bool
	// FreeMB is the memory the caller may still place there: the invoker's
	// user memory minus what is in flight.
	FreeMB int
}

// Place returns the index in invokers where an activation needing memMB
// should run, and false when no invoker is healthy. When every healthy
// invoker is full, it returns the home invoker's nearest healthy one anyway
// (overload): invokers queue work rather than refuse it.
func Place(invokers []Invoker, namespace, action string, memMB int) (int, bool) {
	n := len(invokers)
	if n == 0 {
		return 0, false
	}
	h := hash(namespace, action)
	home := int(h % uint32(n))
	steps := coprimes(n)
	step := steps[int(h%uint32(len(steps)))]
	firstHealthy := -1
	for i, idx := 0, home; i < n; i, idx = i+1, (idx+step)%n {
		inv := invokers[idx]
		if !inv.Healthy {
			continue
		}
		if firstHealthy < 0 {
			firstHealthy = idx
		}
		if inv.FreeMB >= memMB {
			return idx, true
		}
	}
	if firstHealthy < 0 {
		return 0, false
	}
	return firstHealthy, true
}

// hash mixes namespace and action as OpenWhisk does (|h(ns) XOR h(action)|),
// with FNV-1a, which is stable across processes and versions.
func hash(namespace, action string) uint32 {
	a, b := fnv.New32a(), fnv.New32a()
	a.Write([]byte(namespace))
	b.Write([]byte(action))
	return a.Sum32() ^ b.Sum32()
}

// coprimes lists the step sizes in [1, n] coprime to n; each visits every
// invoker exactly once when stepping modulo n.
func coprimes(n int) []int {
	var out []int
	for s := 1; s <= n; s++ {
		if gcd(s, n) == 1 {
			out = append(out, s)
		}
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
