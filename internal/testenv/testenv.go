// Package testenv lets tests that need something from outside Go — a real
// PostgreSQL, NATS, root privileges, an interpreter — skip with a message that
// says what to provide, instead of failing or faking it.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// MustHaveEnv returns the value of the environment variable name or skips.
func MustHaveEnv(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Skipf("needs %s: set %s (for example in .ci/run)", what, name)
	}
	return v
}

// MustHavePostgres returns the PostgreSQL URL from GUST_TEST_POSTGRES or skips.
func MustHavePostgres(t testing.TB) string {
	return MustHaveEnv(t, "GUST_TEST_POSTGRES", "a PostgreSQL server (postgres://user@host:5432/db)")
}

// MustHaveNATS returns the NATS URL from GUST_TEST_NATS or skips.
func MustHaveNATS(t testing.TB) string {
	return MustHaveEnv(t, "GUST_TEST_NATS", "a NATS server with JetStream (nats://host:4222)")
}

// MustBeRoot skips unless the test runs as root.
func MustBeRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: run the tests as root to cover Linux namespaces and cgroups")
	}
}

// MustHaveExecutable returns the absolute path of an executable or skips.
func MustHaveExecutable(t testing.TB, path string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err != nil {
		t.Skipf("needs %s installed", path)
	}
	return p
}
