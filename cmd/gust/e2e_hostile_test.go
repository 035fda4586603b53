package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/sandbox/linux"
	"github.com/gustfaas/gust/internal/testenv"
	"github.com/gustfaas/gust/internal/whisk"
)

// hostile is the shared state of TestHostileFunctions: one server under the
// linux driver, and a token that marks every process the attacks leave
// behind on purpose, so that the host can be searched for survivors.
type hostile struct {
	*testServer
	token   string
	dataDir string
}

// marker names the processes of one attack: it goes in their argv, where the
// host sees it in /proc/<pid>/cmdline.
func (h *hostile) marker(attack string) string { return "gust-hostile-" + h.token + "-" + attack }

// native is a blackbox action whose loop runs in `sh -c` with the attack's
// marker as $0: every process the shell forks carries the marker.
func (h *hostile) native(name, attack, body string, limits map[string]any) {
	h.t.Helper()
	if strings.Contains(body, "'") {
		h.t.Fatalf("the body of %s must not contain single quotes", name)
	}
	code := "#!/bin/sh\nexec /bin/sh -c '" + body + "' " + h.marker(attack) + "\n"
	h.mustStatus(h.do("PUT", "/api/v1/namespaces/_/actions/"+name+"?overwrite=true", map[string]any{
		"exec":   map[string]any{"kind": "blackbox", "image": "openwhisk/dockerskeleton", "code": code},
		"limits": limits,
	}), 200)
}

// developerError asserts an activation failed with OpenWhisk's developer
// error and exactly message msg.
func developerError(t *testing.T, status int, act whisk.Activation, msg string) {
	t.Helper()
	if status != 502 || act.Response.Status != "action developer error" {
		t.Fatalf("HTTP %d, status %q, want 502 action developer error: %s\nlogs %q", status, act.Response.Status, act.Response.Result, lastLogs(act.Logs))
	}
	if got, _ := resultOf(t, act)["error"].(string); got != msg {
		t.Fatalf("error %q, want %q\nlogs %q", got, msg, lastLogs(act.Logs))
	}
}

// succeeded asserts a successful activation and returns its result.
func succeeded(t *testing.T, status int, act whisk.Activation) map[string]any {
	t.Helper()
	if status != 200 || !act.Response.Success {
		t.Fatalf("HTTP %d, %+v\nlogs %q", status, act.Response, lastLogs(act.Logs))
	}
	return resultOf(t, act)
}

// ok invokes an action that must succeed and returns its result.
func (h *hostile) ok(t *testing.T, name string, params any) map[string]any {
	t.Helper()
	status, act := h.invoke(name, params)
	return succeeded(t, status, act)
}

func lastLogs(logs []string) []string { return logs[max(0, len(logs)-5):] }

// healthy asserts that, after an attack, an ordinary action still runs at
// once in its warm sandbox: the platform neither died nor stalled, and the
// attack did not reach the other sandbox.
func (h *hostile) healthy(t *testing.T) {
	t.Helper()
	start := time.Now()
	status, act := h.invoke("canary", map[string]any{"n": 1})
	if status != 200 || resultOf(t, act)["n"] != 1.0 {
		t.Fatalf("after the attack the canary answered %d %s", status, act.Response.Result)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("after the attack the canary took %v", d)
	}
	if annotation(act, "initTime") != nil {
		t.Fatalf("after the attack the canary's warm sandbox was gone: %s", mustJSON(act.Annotations))
	}
}

// markedProcs lists the host's processes whose command line contains s.
func markedProcs(s string) []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmd, []byte(s)) {
			found = append(found, e.Name()+": "+strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
	return found
}

// gone waits until no host process carries the marker.
func gone(t *testing.T, marker string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		left := markedProcs(marker)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d processes of the attack outlived it by %v: %q", len(left), within, left[:min(len(left), 5)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHostileFunctions runs functions that try to break out of their
// sandbox or break the platform, under the linux driver: each must be
// contained, get OpenWhisk's status and message, and leave the platform
// serving the next invocation.
func TestHostileFunctions(t *testing.T) {
	testenv.MustBeRoot(t)
	if err := linux.Available(); err != nil {
		t.Skipf("the linux sandbox driver cannot run here: %v", err)
	}
	if testing.Short() {
		t.Skip("runs a server with real sandboxes")
	}
	tok := make([]byte, 8)
	rand.Read(tok)
	h := &hostile{token: hex.EncodeToString(tok)}
	envSecret := "env-secret-" + h.token
	t.Setenv("GUST_HOSTILE_SECRET", envSecret)
	// Registered before the server, so it runs after the server's shutdown:
	// destroying the sandboxes must have taken every process with them.
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for len(markedProcs(h.token)) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if left := markedProcs(h.token); len(left) > 0 {
			t.Errorf("processes of sandboxes outlived the server: %q", left)
		}
	})
	ts := startTestServer(t, func(c *serverConfig) {
		c.Sandbox = "linux"
		// On every address, so that reaching it through the host's own
		// addresses is a real possibility a sandbox must be denied.
		c.Addr = "0.0.0.0:0"
		c.UserMemoryMB = 4096 // no eviction of the canary's warm sandbox
	})
	_, port, _ := net.SplitHostPort(ts.srv.Addr())
	ts.base = "http://127.0.0.1:" + port
	h.testServer = ts
	h.dataDir = ts.srv.cfg.DataDir
	if name := ts.srv.driver.Name(); name != "linux" {
		t.Fatalf("driver %q, want linux", name)
	}

	ts.putAction("canary", "nodejs:20", `function main(p) { return p }`, nil)
	if status, _ := ts.invoke("canary", map[string]any{"n": 0}); status != 200 {
		t.Fatalf("canary: %d", status)
	}
	limits := func(timeoutMS int) map[string]any {
		return map[string]any{"timeout": timeoutMS, "memory": 128}
	}

	t.Run("fork bomb", func(t *testing.T) {
		h.native("forkbomb", "forkbomb", `while read -r l; do b() { b | b & }; b; done`, limits(3000))
		status, act := ts.invoke("forkbomb", nil)
		developerError(t, status, act, "The action exceeded its time limits of 3000 milliseconds.")
		gone(t, h.marker("forkbomb"), 5*time.Second)
		h.healthy(t)
	})

	t.Run("fork until refused", func(t *testing.T) {
		code := `import os, signal
def main(p):
    n = 0
    while n < 10000:
        try:
            pid = os.fork()
        except OSError as e:
            return {"forks": n, "errno": e.errno}
        if pid == 0:
            signal.pause()
            os._exit(0)
        n += 1
    return {"forks": n}
`
		ts.putAction("forks", "python:3.11", code, map[string]any{"limits": limits(5000)})
		r := h.ok(t, "forks", nil)
		// The pids limit (64 by default) counts threads as well.
		if r["errno"] != 11.0 || r["forks"].(float64) >= 64 {
			t.Fatalf("forks %v errno %v, want fewer than 64 and EAGAIN", r["forks"], r["errno"])
		}
		h.healthy(t)
	})

	for _, c := range []struct{ kind, code string }{
		{"python:3.11", "def main(p):\n    hog = []\n    while True:\n        hog.append(b'x' * (16 << 20))\n"},
		{"nodejs:20", "function main() { const hog = []; for (;;) hog.push(Buffer.alloc(16 << 20, 1)) }"},
	} {
		t.Run("allocate past the memory limit/"+c.kind, func(t *testing.T) {
			name := "hog-" + strings.Split(c.kind, ":")[0]
			ts.putAction(name, c.kind, c.code, map[string]any{"limits": limits(5000)})
			status, act := ts.invoke(name, nil)
			developerError(t, status, act, "The action exhausted its memory and was aborted.")
			h.healthy(t)
		})
	}

	t.Run("fill /tmp", func(t *testing.T) {
		file := "/tmp/" + h.marker("fill")
		h.native("filltmp", "filltmp", `while read -r l; do
dd if=/dev/zero of=`+file+` bs=1M count=512 2>/dev/null; rc=$?
echo "{\"rc\":$rc,\"size\":$(stat -c %s `+file+`)}" >&3; done`, limits(5000))
		r := h.ok(t, "filltmp", nil)
		// The sandbox's /tmp is a private tmpfs of 64 MB.
		if r["rc"] == 0.0 || r["size"].(float64) > 64<<20 {
			t.Fatalf("dd wrote %v bytes, exit %v: /tmp is not bounded", r["size"], r["rc"])
		}
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			t.Fatalf("the sandbox's /tmp is the host's: %v", err)
		}
		h.healthy(t)
	})

	t.Run("write to /, /usr, the code and the data directory", func(t *testing.T) {
		code := `import os
def main(p):
    out = {}
    for path in p["paths"]:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write("planted")
            out[path] = "written"
        except OSError as e:
            out[path] = e.strerror
    return out
`
		name := h.marker("planted")
		system := []string{"/" + name, "/usr/" + name, "/usr/bin/" + name, "/etc/" + name}
		// The data directory is under the host's /tmp here: inside, the
		// path leads into the sandbox's private /tmp, which may be written.
		data := []string{filepath.Join(h.dataDir, name), filepath.Join(h.dataDir, "invoker", "code", name)}
		ts.putAction("writer", "python:3.11", code, map[string]any{"limits": limits(3000)})
		r := h.ok(t, "writer", map[string]any{"paths": append(system, data...)})
		for _, path := range system {
			if r[path] != "Read-only file system" {
				t.Errorf("writing %s: %v, want EROFS", path, r[path])
			}
		}
		// A native action runs in its prepared code directory, shared by
		// all its sandboxes: read-only.
		h.native("codewriter", "codewriter", `while read -r l; do
out=$(echo planted 2>&1 >"$PWD/`+name+`"); echo "{\"rc\":$?,\"dir\":\"$PWD\"}" >&3; done`, limits(3000))
		cw := h.ok(t, "codewriter", nil)
		if cw["rc"] == 0.0 {
			t.Errorf("the function wrote into its code directory %v", cw["dir"])
		}
		for _, path := range append(append(system, data...), filepath.Join(cw["dir"].(string), name)) {
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("%s exists on the host: %v", path, err)
			}
		}
		h.healthy(t)
	})

	t.Run("read /etc/shadow, the database, the code cache", func(t *testing.T) {
		code := `import os
def main(p):
    out = {}
    for path in p["paths"]:
        try:
            if os.path.isdir(path):
                out[path] = "listed: " + " ".join(os.listdir(path))
            else:
                with open(path, "rb") as f:
                    out[path] = "read: " + f.read(256).decode("latin1")
        except OSError as e:
            out[path] = "refused: " + e.strerror
    return out
`
		paths := []string{"/etc/shadow", "/etc/gshadow", "/proc/1/root/etc/shadow", storePath(h.dataDir),
			h.dataDir, filepath.Join(h.dataDir, "invoker", "code"), filepath.Join(h.dataDir, "guest.key"),
			"/proc/kcore", "/sys/kernel"}
		ts.putAction("reader", "python:3.11", code, map[string]any{"limits": limits(3000)})
		r := h.ok(t, "reader", map[string]any{"paths": paths})
		shadow, _ := os.ReadFile("/etc/shadow")
		for path, what := range r {
			s := what.(string)
			if !strings.HasPrefix(s, "refused: ") && !(path == "/proc/kcore" && s == "read: ") {
				t.Errorf("%s: %s", path, s)
			}
			if len(shadow) > 16 && strings.Contains(s, string(shadow[:16])) || strings.Contains(s, "SQLite format") {
				t.Errorf("%s leaked: %s", path, s)
			}
		}
		h.healthy(t)
	})

	t.Run("read another action's code", func(t *testing.T) {
		secret := "GUST-SECRET-" + h.token
		ts.putAction("keeper", "nodejs:20", `const secret = "`+secret+`"; function main() { return {ok: true} }`, nil)
		h.ok(t, "keeper", nil) // its code is prepared and its sandbox warm
		// The pattern does not match itself: "[" follows the prefix.
		h.native("snoop", "snoop", `while read -r l; do
hits=$(grep -rlsE "GUST-SECRET-[0-9a-f]{16}" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr 2>/dev/null | tr "\n" " ")
procs=$(grep -lsE "GUST-SECRET-[0-9a-f]{16}" /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr "\n" " ")
cache=$(ls "$(dirname "$PWD")" 2>&1 | tr "\n" " ")
echo "{\"hits\":\"$hits\",\"procs\":\"$procs\",\"siblings\":\"$cache\"}" >&3; done`, limits(5000))
		r := h.ok(t, "snoop", nil)
		if r["hits"] != "" || r["procs"] != "" {
			t.Fatalf("the other action's code was found: %v", r)
		}
		// The code directory's parent is the invoker's cache on the host:
		// inside, it holds the sandbox's own code directory and nothing else.
		if sib := strings.Fields(r["siblings"].(string)); len(sib) != 1 {
			t.Fatalf("beside its own code the function sees %q", r["siblings"])
		}
		h.healthy(t)
	})

	t.Run("read the host's environment", func(t *testing.T) {
		py := `import os
def main(p):
    dump = repr(dict(os.environ))
    for path in ("/proc/1/environ", "/proc/self/environ"):
        try:
            dump += open(path, "rb").read().decode("latin1")
        except OSError as e:
            dump += e.strerror
    return {"dump": dump}
`
		js := `function main() { const fs = require("fs"); let dump = JSON.stringify(process.env);
  try { dump += fs.readFileSync("/proc/1/environ", "latin1") } catch (e) { dump += e.message }
  return {dump} }`
		ts.putAction("env-py", "python:3.11", py, map[string]any{"limits": limits(3000)})
		ts.putAction("env-js", "nodejs:20", js, map[string]any{"limits": limits(3000)})
		for _, name := range []string{"env-py", "env-js"} {
			dump := h.ok(t, name, nil)["dump"].(string)
			if strings.Contains(dump, envSecret) || strings.Contains(dump, "GUST_HOSTILE_SECRET") {
				t.Fatalf("%s read the server's environment: %s", name, dump)
			}
			if !strings.Contains(dump, "__OW_") {
				t.Fatalf("%s saw no environment at all, the check proves nothing: %s", name, dump)
			}
		}
		h.healthy(t)
	})

	t.Run("list and signal other processes", func(t *testing.T) {
		code := `import os, signal
def main(p):
    procs = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                procs[pid] = open("/proc/%s/cmdline" % pid, "rb").read().decode("latin1").replace("\0", " ")
            except OSError as e:
                procs[pid] = e.strerror
    signals = {}
    for pid in (p["server"], -1):
        try:
            os.kill(pid, signal.SIGKILL)
            signals[str(pid)] = "sent"
        except OSError as e:
            signals[str(pid)] = e.strerror
    return {"procs": procs, "signals": signals, "uid": os.getuid()}
`
		ts.putAction("killer", "python:3.11", code, map[string]any{"limits": limits(3000)})
		server := os.Getpid()
		r := h.ok(t, "killer", map[string]any{"server": server})
		procs := r["procs"].(map[string]any)
		// Its own PID namespace: the runtime is PID 1 and alone.
		if _, ok := procs["1"]; !ok || len(procs) > 2 {
			t.Fatalf("the function sees processes not its own: %v", procs)
		}
		for pid, cmd := range procs {
			if strings.Contains(cmd.(string), ".test") || pid == strconv.Itoa(server) {
				t.Fatalf("the function sees the server: %s %v", pid, cmd)
			}
		}
		if s := r["signals"].(map[string]any)[strconv.Itoa(server)]; s != "No such process" {
			t.Fatalf("signalling the server's pid %d: %v", server, s)
		}
		if r["uid"] == 0.0 {
			t.Fatal("the function runs as root")
		}
		// kill(-1) reached nobody outside: the canary, another sandbox of
		// the same uid, is still warm.
		h.healthy(t)
	})

	t.Run("connect to the server and a host database", func(t *testing.T) {
		// Another server on the same host comes and goes first: closing its
		// driver must not take this one's firewall with it.
		other := defaultServerConfig()
		other.Addr, other.DataDir, other.Sandbox = "127.0.0.1:0", t.TempDir(), "linux"
		other.StemCells, other.Logger = map[string]int{}, slog.New(slog.NewTextHandler(io.Discard, nil))
		osrv, err := startServer(context.Background(), other)
		if err != nil {
			t.Fatal(err)
		}
		if err := osrv.shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		var accepted atomic.Int32
		ln, err := net.Listen("tcp", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				c.Close()
			}
		}()
		_, lport, _ := net.SplitHostPort(ln.Addr().String())
		hosts := []string{"127.0.0.1"}
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && len(hosts) < 4 {
				hosts = append(hosts, ipn.IP.String())
			}
		}
		targets := []string{"127.0.0.1:5432"}
		for _, host := range hosts {
			targets = append(targets, net.JoinHostPort(host, port), net.JoinHostPort(host, lport))
		}
		code := `import socket
def main(p):
    targets = list(p["targets"])
    try:
        for line in open("/proc/net/route").read().splitlines()[1:]:
            f = line.split()
            if f[1] == "00000000":
                gw = socket.inet_ntoa(bytes.fromhex(f[2])[::-1])
                targets += [gw + ":" + port for port in p["ports"]]
    except OSError:
        pass
    out = {}
    for t in targets:
        host, port = t.rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=0.3).close()
            out[t] = "connected"
        except OSError as e:
            out[t] = str(e)
    return out
`
		ts.putAction("dialer", "python:3.11", code, map[string]any{"limits": limits(5000)})
		r := h.ok(t, "dialer", map[string]any{"targets": targets, "ports": []string{port, lport}})
		if len(r) < len(targets) {
			t.Fatalf("not every target was tried: %v", r)
		}
		for target, what := range r {
			if what == "connected" {
				t.Errorf("the function connected to %s", target)
			}
		}
		if n := accepted.Load(); n != 0 {
			t.Errorf("the host's listener accepted %d connections from the sandbox", n)
		}
		t.Logf("%v", r)
		h.healthy(t)
	})

	t.Run("ignore SIGTERM and spin", func(t *testing.T) {
		code := `import os, signal, sys
def main(p):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if os.fork() == 0:
        os.execv(sys.executable, [p["marker"], "-c", "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: pass"])
    while True:
        pass
`
		ts.putAction("spinner", "python:3.11", code, map[string]any{"limits": limits(2000)})
		status, act := ts.invoke("spinner", map[string]any{"marker": h.marker("spin")})
		developerError(t, status, act, "The action exceeded its time limits of 2000 milliseconds.")
		gone(t, h.marker("spin"), 5*time.Second)
		h.healthy(t)
	})

	t.Run("print gigabytes to stdout", func(t *testing.T) {
		// A generous limit: the point is that a flood is read, cut at the
		// log limit and survived, not how fast (the race detector slows
		// reading several times).
		h.native("flood", "flood", `line=$(head -c 1023 /dev/zero | tr "\0" x)
while read -r l; do yes "$line" | head -c 536870912; echo "{\"done\":true}" >&3; done`,
			map[string]any{"timeout": 60000, "memory": 128, "logs": 1})
		start := time.Now()
		status, act := ts.invoke("flood", nil)
		if r := succeeded(t, status, act); r["done"] != true {
			t.Fatalf("result %v", r)
		}
		size := 0
		for _, l := range act.Logs {
			size += len(l)
		}
		last := act.Logs[len(act.Logs)-1]
		if !strings.Contains(last, "Logs were truncated because the total bytes size exceeds the limit of 1048576 bytes.") || size > 2<<20 {
			t.Fatalf("%d bytes of logs in %d lines, last %q", size, len(act.Logs), last)
		}
		t.Logf("512 MiB printed in %v", time.Since(start))
		h.healthy(t)
	})

	t.Run("write garbage to the reply pipe", func(t *testing.T) {
		h.native("garbage", "garbage", `while read -r l; do head -c 4096 /dev/urandom | tr -d "\n"; echo; done >&3`, limits(3000))
		status, act := ts.invoke("garbage", nil)
		developerError(t, status, act, "The action did not produce a valid JSON or JSON Array response.")
		h.healthy(t)
	})

	t.Run("close the protocol pipes", func(t *testing.T) {
		// Alive but unable to answer: a developer error either way, and the
		// sandbox is destroyed. When the request was written before the
		// process closed its stdin it waits out its time limit, as with
		// OpenWhisk's proxy; when the process was first, the write fails
		// and the sandbox is ended at once.
		h.native("closer", "closer", `exec 3>&- 0<&-; while :; do sleep 1; done`, limits(3000))
		status, act := ts.invoke("closer", nil)
		if got, _ := resultOf(t, act)["error"].(string); got == whisk.MsgExitedUnexpect {
			developerError(t, status, act, whisk.MsgExitedUnexpect)
		} else {
			developerError(t, status, act, "The action exceeded its time limits of 3000 milliseconds.")
		}
		gone(t, h.marker("closer"), 5*time.Second)
		h.healthy(t)
	})

	t.Run("spawn a daemon, then exit mid-activation", func(t *testing.T) {
		code := `import os, sys
def main(p):
    if p.get("exit"):
        print("going away mid-activation", flush=True)
        os._exit(3)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [p["marker"], "-c", "import time\nwhile True: time.sleep(1)"])
        os._exit(0)
    os.wait()
    return {"spawned": True}
`
		marker := h.marker("daemon")
		ts.putAction("daemon", "python:3.11", code, map[string]any{"limits": limits(3000)})
		h.ok(t, "daemon", map[string]any{"marker": marker})
		// The daemon lives on in the warm sandbox, as OpenWhisk's would in
		// its container...
		deadline := time.Now().Add(3 * time.Second)
		for len(markedProcs(marker)) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // the grandchild is not waited for
		}
		if len(markedProcs(marker)) != 1 {
			t.Fatalf("the daemon is not running: %q", markedProcs(marker))
		}
		// ...until the sandbox is destroyed, here because its runtime exits
		// in the middle of an activation.
		status, act := ts.invoke("daemon", map[string]any{"exit": true})
		developerError(t, status, act, "The action did not produce a valid response and exited unexpectedly.")
		if !strings.Contains(strings.Join(act.Logs, "\n"), "going away mid-activation") {
			t.Errorf("logs before the exit are lost: %q", act.Logs)
		}
		gone(t, marker, 5*time.Second)
		// The next activation gets a fresh sandbox.
		_, again := ts.invoke("daemon", map[string]any{"marker": marker})
		if annotation(again, "initTime") == nil {
			t.Errorf("the dead sandbox was reused: %s", mustJSON(again.Annotations))
		}
		h.healthy(t)
	})

	t.Run("load a kernel module, make namespaces", func(t *testing.T) {
		code := `import ctypes, os, platform
def main(p):
    libc = ctypes.CDLL(None, use_errno=True)
    nr = {"x86_64": (175, 313), "aarch64": (105, 273)}[platform.machine()]
    def errno(rc):
        return ctypes.get_errno() if rc != 0 else 0
    out = {}
    out["init_module"] = errno(libc.syscall(nr[0], None, ctypes.c_ulong(0), b""))
    fd = os.open("/dev/null", os.O_RDONLY)
    out["finit_module"] = errno(libc.syscall(nr[1], fd, b"", 0))
    out["unshare user"] = errno(libc.unshare(0x10000000))
    out["unshare user+mount"] = errno(libc.unshare(0x10000000 | 0x00020000))
    out["unshare net"] = errno(libc.unshare(0x40000000))
    out["mount"] = errno(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
    return out
`
		ts.putAction("kernel", "python:3.11", code, map[string]any{"limits": limits(3000)})
		r := h.ok(t, "kernel", nil)
		for call, errno := range r {
			if errno != 1.0 { // EPERM
				t.Errorf("%s: errno %v, want EPERM", call, errno)
			}
		}
		// And the tool a script would use.
		h.native("unshare", "unshare", `while read -r l; do out=$(unshare -U -r id 2>&1); echo "{\"rc\":$?,\"out\":\"$out\"}" >&3; done`, limits(3000))
		r = h.ok(t, "unshare", nil)
		if r["rc"] == 0.0 {
			t.Errorf("unshare -U succeeded: %v", r)
		}
		h.healthy(t)
	})

	if r := ts.do("GET", "/readyz", nil, "-"); r.status != 200 {
		t.Fatalf("/readyz after the attacks: %d %s", r.status, r.body)
	}
}
