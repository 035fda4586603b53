package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDevLoop runs gust dev on a directory with one function and no server:
// it starts one, deploys, invokes, tails the logs, and redeploys when the
// file changes.
func TestDevLoop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	clearClientEnv(t)
	t.Setenv("WSK_CONFIG_FILE", filepath.Join(t.TempDir(), "wskprops"))
	t.Setenv("GUST_APIHOST", "http://"+addr)
	t.Setenv("NO_COLOR", "1")

	dir := filepath.Join(t.TempDir(), "hellodev")
	writeFiles(t, dir, map[string]string{
		"hello.js": "function main(p) { console.log('run one'); return { v: 1, name: p.name } }\n",
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := runBackground(ctx, "dev", dir, "--invoke", `{"name":"Ada"}`)
	b.waitOutput(t, 60*time.Second, "started one on http://"+addr, "API key: ", "create  action  hellodev",
		`"v": 1`, `"name": "Ada"`, "[hellodev] ", "run one")

	if err := os.WriteFile(filepath.Join(dir, "hello.js"),
		[]byte("function main(p) { console.log('run two'); return { v: 2, name: p.name } }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.waitOutput(t, 30*time.Second, "change in "+dir+": redeploying", "update  action  hellodev  code", `"v": 2`, "run two")

	// A second dev loop finds the running server and uses it.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	t.Setenv("GUST_AUTH", strings.TrimSpace(strings.SplitN(strings.SplitN(b.stdout.String(), "API key: ", 2)[1], "\n", 2)[0]))
	b2 := runBackground(ctx2, "dev", dir, "--invoke", "{}", "--logs=false")
	b2.waitOutput(t, 30*time.Second, "unchanged  action  hellodev", `"v": 2`)
	if strings.Contains(b2.stdout.String(), "started one") {
		t.Fatalf("the second loop started a server:\n%s", b2.stdout.String())
	}
	cancel2()
	if code := <-b2.code; code != 0 {
		t.Fatalf("second dev loop: exit %d: %s", code, b2.stderr.String())
	}

	cancel()
	select {
	case code := <-b.code:
		if code != 0 {
			t.Fatalf("gust dev: exit %d\n%s", code, b.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("gust dev did not stop")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the server is still listening after gust dev stopped")
	}
}
