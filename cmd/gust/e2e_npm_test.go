package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestNPMClient runs test/compat (node:test) against a real server: the npm
// openwhisk client, as users install it, drives actions, activations,
// sequences, packages, triggers, rules, web actions and API routes, with
// assertions on every answer. The client is installed by .ci/run
// (npm ci --prefix test/compat).
func TestNPMClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the npm client's tests need Node.js 18 or later")
	}
	compat, err := filepath.Abs(filepath.Join("..", "..", "test", "compat"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(compat, "node_modules", "openwhisk", "package.json")); err != nil {
		t.Skip("the openwhisk npm client is not installed: run npm ci --prefix test/compat")
	}
	// Files, not the directory: node 20 searches a directory, later
	// versions take glob patterns.
	files, err := filepath.Glob(filepath.Join(compat, "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in %s: %v", compat, err)
	}
	ts := startTestServer(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"--test", "--test-reporter=tap"}, files...)...)
	cmd.Dir = compat
	cmd.Env = append(os.Environ(), "__OW_API_HOST="+ts.base, "__OW_API_KEY="+ts.key.String(), "__OW_NAMESPACE=", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	report := string(out)
	counts := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^# (tests|pass|fail|skipped|cancelled) (\d+)$`).FindAllStringSubmatch(report, -1) {
		counts[m[1]], _ = strconv.Atoi(m[2])
	}
	if err != nil || counts["fail"] > 0 || counts["cancelled"] > 0 || counts["pass"] == 0 {
		t.Fatalf("node --test: %v (%v)\n%s", err, counts, report)
	}
	for _, l := range strings.Split(report, "\n") {
		if strings.Contains(l, "# SKIP") {
			t.Logf("skipped: %s", strings.TrimSpace(l))
		}
	}
	t.Logf("npm client: %d passed, %d skipped", counts["pass"], counts["skipped"])
}
