package runtimes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// findProgram returns the first executable among the preferred paths, then
// on PATH. Version-manager shims (pyenv, asdf, nodenv) are skipped: they are
// slow scripts that pick an interpreter per directory, not per sandbox.
func findProgram(name string, preferred ...string) string {
	for _, p := range preferred {
		if isExecutable(p) {
			return p
		}
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" || !filepath.IsAbs(dir) || slices.Contains(strings.Split(dir, string(filepath.Separator)), "shims") {
			continue
		}
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p
		}
	}
	return ""
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// programOutput runs a program briefly, for version probes.
func programOutput(path string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = baseEnv
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// majorMinor extracts "20" (parts=1) or "3.11" (parts=2) from a version
// string such as "v20.1.0", "Python 3.11.2" or "go1.26.8".
func majorMinor(version string, parts int) string {
	i := strings.IndexAny(version, "0123456789")
	if i < 0 {
		return ""
	}
	fields := strings.FieldsFunc(version[i:], func(r rune) bool { return r == '.' || r == ' ' || r == '-' || r == '+' })
	if len(fields) < parts {
		return ""
	}
	return strings.Join(fields[:parts], ".")
}

// baseEnv is what every runtime process gets; nothing of the invoker's own
// environment leaks into a sandbox.
var baseEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8"}

// stemEnvKeys are the init-environment keys a stem cell may get at start:
// they are the platform's, not the action's (OpenWhisk sets __OW_API_HOST
// when it starts a container).
var stemEnvKeys = []string{"__OW_API_HOST"}

// buildEnv returns base overlaid by extra (sorted, so that a process's
// environment does not depend on map order). Keys that cannot be environment
// variables are dropped.
func buildEnv(base []string, extra map[string]string) []string {
	env := slices.Clone(base)
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if k != "" && !strings.ContainsAny(k, "=\x00") && !strings.Contains(extra[k], "\x00") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		kv := k + "=" + extra[k]
		if i := slices.IndexFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") }); i >= 0 {
			env[i] = kv
		} else {
			env = append(env, kv)
		}
	}
	return env
}

// hostPaths are read by almost every program: TLS roots, time zones, name
// resolution, and the shared libraries.
var hostPaths = []string{
	"/lib", "/lib64", "/usr/lib", "/usr/lib64",
	"/etc/ssl", "/etc/ca-certificates", "/usr/share/ca-certificates", "/usr/share/zoneinfo",
	"/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/localtime",
}

// readOnlyPaths returns the existing paths among hostPaths and extra, with
// symlinks resolved so that a driver building a private root mounts the
// files themselves.
func readOnlyPaths(extra ...string) []string {
	var out []string
	for _, p := range append(slices.Clone(hostPaths), extra...) {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
		if real, err := filepath.EvalSymlinks(p); err == nil && real != p && !slices.Contains(out, real) {
			out = append(out, real)
		}
	}
	return out
}

// writeLauncher writes an embedded launcher under dir, named by its content so
// that two Gust versions sharing a cache never run each other's launcher.
func writeLauncher(dir, name string, content []byte) (string, error) {
	sum := sha256.Sum256(content)
	p := filepath.Join(dir, hex.EncodeToString(sum[:8]), name)
	if b, err := os.ReadFile(p); err == nil && string(b) == string(content) {
		return p, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), name+".*")
	if err != nil {
		return "", err
	}
	_, err = tmp.Write(content)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("write launcher %s: %w", name, err)
	}
	return p, nil
}
