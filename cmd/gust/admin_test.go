package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gustfaas/gust/internal/store/sqlite"
	"github.com/gustfaas/gust/internal/whisk"
)

func TestAdminNamespaceLifecycle(t *testing.T) {
	t.Setenv("GUST_DATA", "")
	t.Setenv("GUST_CONFIG", "")
	dir := t.TempDir()
	admin := func(args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, append(append([]string{"admin"}, args...), "--data", dir)...)
	}

	if _, errOut, code := admin("namespace", "list"); code != exitFailed || !strings.Contains(errOut, "no Gust store in "+dir) {
		t.Fatalf("list before any store: exit %d %q", code, errOut)
	}

	out, errOut, code := admin("namespace", "create", "alice", "--invocations-per-minute", "0", "--concurrent-invocations", "7")
	if code != 0 {
		t.Fatalf("create: exit %d %s", code, errOut)
	}
	key, err := whisk.ParseAuthKey(strings.TrimSpace(out))
	if err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("create printed %q, want the key alone: %v", out, err)
	}
	if !strings.Contains(errOut, "ok: created namespace alice; the key above is shown only once") {
		t.Fatalf("stderr %q", errOut)
	}

	// The store holds the key's uuid and a hash of its secret, never the secret.
	st, err := sqlite.Open(storePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	ns, err := st.GetNamespace(context.Background(), "alice")
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if ns.UUID != key.UUID || !whisk.SecretMatches(key.Secret, ns.KeyHash) || ns.KeyHash == key.Secret || ns.Subject != "alice" {
		t.Fatalf("stored %+v", ns)
	}
	if *ns.Limits.InvocationsPerMinute != 0 || *ns.Limits.ConcurrentInvocations != 7 || ns.Limits.FiresPerMinute != nil {
		t.Fatalf("limits %+v", ns.Limits)
	}

	if _, errOut, code = admin("namespace", "create", "alice"); code != exitFailed || !strings.Contains(errOut, `namespace "alice" (or the key's uuid) exists already`) {
		t.Fatalf("duplicate: exit %d %q", code, errOut)
	}
	if _, errOut, code = admin("namespace", "create", "_"); code != exitUsage {
		t.Fatalf("bad name: exit %d %q", code, errOut)
	}

	out, _, code = admin("namespace", "update", "alice", "--concurrent-invocations", "default", "--fires-per-minute", "5", "-o", "json")
	var view nsView
	if code != 0 || json.Unmarshal([]byte(out), &view) != nil {
		t.Fatalf("update: exit %d %q", code, out)
	}
	if view.Limits.ConcurrentInvocations != nil || *view.Limits.FiresPerMinute != 5 || *view.Limits.InvocationsPerMinute != 0 {
		t.Fatalf("after update %+v", view.Limits)
	}
	if _, errOut, code = admin("namespace", "update", "alice"); code != exitUsage || !strings.Contains(errOut, "nothing to change") {
		t.Fatalf("empty update: exit %d %q", code, errOut)
	}
	if _, errOut, code = admin("namespace", "update", "alice", "--fires-per-minute", "-1"); code != exitUsage {
		t.Fatalf("negative limit: exit %d %q", code, errOut)
	}

	out, _, code = admin("namespace", "get", "alice")
	if code != 0 || !strings.Contains(out, "invocations per minute    unlimited\n") || !strings.Contains(out, "concurrent invocations    default\n") ||
		!strings.Contains(out, "key uuid                  "+key.UUID+"\n") {
		t.Fatalf("get:\n%s", out)
	}

	out, _, code = admin("key", "rotate", "alice")
	newKey, err := whisk.ParseAuthKey(strings.TrimSpace(out))
	if code != 0 || err != nil || newKey.UUID == key.UUID {
		t.Fatalf("rotate: exit %d %q", code, out)
	}
	st, _ = sqlite.Open(storePath(dir))
	ns, _ = st.GetNamespace(context.Background(), "alice")
	st.Close()
	if ns.UUID != newKey.UUID || whisk.SecretMatches(key.Secret, ns.KeyHash) || !whisk.SecretMatches(newKey.Secret, ns.KeyHash) {
		t.Fatal("the rotated key is not the stored one, or the old one still matches")
	}

	out, _, code = admin("namespace", "list")
	if code != 0 || !strings.HasPrefix(out, "NAME   SUBJECT  KEY UUID") || !strings.Contains(out, "alice  alice    "+newKey.UUID+"  unlimited") {
		t.Fatalf("list:\n%s", out)
	}

	if out, _, code = admin("namespace", "delete", "alice"); code != 0 || out != "ok: deleted namespace alice with its entities and activations\n" {
		t.Fatalf("delete: exit %d %q", code, out)
	}
	if _, errOut, code = admin("namespace", "get", "alice"); code != exitFailed || !strings.Contains(errOut, `namespace "alice" does not exist`) {
		t.Fatalf("get after delete: exit %d %q", code, errOut)
	}
}

func TestAdminCreateWithKnownKey(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := runCLI(t, "admin", "namespace", "create", "guest", "--key", cliTestKey, "--data", dir, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d %s", code, errOut)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil || got["key"] != cliTestKey || got["namespace"] != "guest" {
		t.Fatalf("output %q", out)
	}
	if _, errOut, code = runCLI(t, "admin", "namespace", "create", "x", "--key", "short:k", "--data", dir); code != exitUsage {
		t.Fatalf("bad key: exit %d %q", code, errOut)
	}
}

func TestAdminDataFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("GUST_DATA", dir)
	if _, errOut, code := runCLI(t, "admin", "namespace", "create", "bob"); code != 0 {
		t.Fatalf("exit %d %s", code, errOut)
	}
	if out, _, code := runCLI(t, "admin", "namespace", "list", "-o", "json"); code != 0 || !strings.Contains(out, `"name": "bob"`) {
		t.Fatalf("exit %d %q", code, out)
	}
}
