package runtimes_test

import (
	"testing"
)

// TestPerActivationEnvDoesNotGrow runs 40,000 activations in one warm
// sandbox of each launcher runtime and compares the process's resident
// memory before and after: setting __OW_ACTIVATION_ID and its kind through
// libc's setenv kept every value ever set (~95 bytes an activation, 3.8 MB
// here), until a busy warm sandbox ran out of memory.
func TestPerActivationEnvDoesNotGrow(t *testing.T) {
	if testing.Short() {
		t.Skip("40,000 activations per runtime")
	}
	for family, code := range map[string]string{
		"nodejs": "function main() { return { rss: process.memoryUsage().rss, id: process.env.__OW_ACTIVATION_ID } }",
		"python": "import os, resource\ndef main(args):\n    return {'rss': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, 'id': os.environ['__OW_ACTIVATION_ID']}\n",
	} {
		t.Run(family, func(t *testing.T) {
			rt := lookup(t, family)
			a := start(t, newDriver(t), rt, sourceExec(rt.Kind(), code), startOpts{})
			mustInit(t, a)
			rss := func() float64 {
				m := result(t, a.run(t, `{}`))
				if id, _ := m["id"].(string); len(id) != 32 {
					t.Fatalf("__OW_ACTIVATION_ID = %v", m["id"])
				}
				return m["rss"].(float64)
			}
			for range 2000 { // let the runtime settle: JIT, caches, heap sizing
				rss()
			}
			before := rss()
			for range 40000 {
				rss()
			}
			after := rss()
			if grown := after - before; grown > 2<<20 {
				t.Errorf("resident memory grew %.1f MB over 40,000 activations (%.1f → %.1f MB)",
					grown/(1<<20), before/(1<<20), after/(1<<20))
			}
		})
	}
}
