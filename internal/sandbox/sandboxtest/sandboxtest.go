// Package sandboxtest is the conformance suite every sandbox driver passes.
// It drives small /bin/sh programs that speak the action loop, so it needs
// nothing but a POSIX shell and coreutils.
package sandboxtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/sandbox"
)

// loop is the test runtime. Each request line selects a behaviour by its
// "op"; every exchange but the crash ends with the sentinels, like a launcher.
const loop = `
S=XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX
if [ -n "$ACK" ]; then echo "starting"; echo '{"ok":true}' >&3; fi
while IFS= read -r line; do
  case "$line" in
  *'"op":"crash"'*) echo "crashing" >&2; exit 3 ;;
  *'"op":"hang"'*) echo "hanging"; sleep 1000 ;;
  *'"op":"garbage"'*) echo 'this is not json' >&3 ;;
  *'"op":"tabbed"'*) printf 'abc\tdef\n' >&3 ;;
  *'"op":"prefixed"'*) printf 'a1b2-c3\t{"prefixed":true}\n' >&3 ;;
  *'"op":"flood"'*)
    i=0
    while [ $i -lt 3000 ]; do
      echo "flood line $i, padded to be a little longer than a usual log line ........"
      i=$((i+1))
    done
    echo '{"flooded":true}' >&3 ;;
  *'"op":"longline"'*) head -c 3000000 /dev/zero | tr '\0' a; echo; echo '{"long":true}' >&3 ;;
  *'"op":"partial"'*) printf 'no newline'; echo '{"partial":true}' >&3 ;;
  *'"op":"env"'*) tr '\0' '\n' < /proc/$$/environ; echo '{"env":true}' >&3 ;;
  *'"op":"exit"'*) echo '{"bye":true}' >&3; exit 0 ;;
  *'"op":"daemon"'*)
    rm -f cpid gpid
    sh -c 'sleep 1000 & echo $! > gpid; wait' &
    echo $! > cpid
    while [ ! -s gpid ]; do sleep 0.01; done
    echo "{\"child\":$(cat cpid),\"grandchild\":$(cat gpid)}" >&3 ;;
  *) echo "out: $line"; echo "err: $line" >&2; echo '{"ok":1}' >&3 ;;
  esac
  echo "$S"; echo "$S" >&2
done
`

// quiet speaks the loop without sentinels, like an OpenWhisk native action.
const quiet = `
while IFS= read -r line; do
  case "$line" in
  *'"op":"crash"'*) echo "crashing" >&2; exit 3 ;;
  esac
  echo "out: $line"; echo "err: $line" >&2; echo '{"ok":1}' >&3
done
`

// pair reads two requests and answers them in reverse order, prefixed with
// their activation ids, as a concurrent runtime does.
const pair = `
S=XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX
while IFS= read -r a && IFS= read -r b; do
  ida=$(echo "$a" | sed 's/.*"activation_id":"\([^"]*\)".*/\1/')
  idb=$(echo "$b" | sed 's/.*"activation_id":"\([^"]*\)".*/\1/')
  printf '%s\t{"id":"%s"}\n' "$idb" "$idb" >&3
  printf '%s\t{"id":"%s"}\n' "$ida" "$ida" >&3
  echo "$S"; echo "$S" >&2; echo "$S"; echo "$S" >&2
done
`

var testEnv = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "GUST_TEST=a b=c"}

type suite struct {
	d   sandbox.Driver
	dir string
	n   int
	mu  sync.Mutex
}

// Run runs the conformance suite against d. The caller closes d.
func Run(t *testing.T, d sandbox.Driver) {
	for _, sh := range []string{"/bin/sh", "/usr/bin/head", "/usr/bin/tr", "/bin/sleep", "/usr/bin/sed"} {
		if _, err := os.Stat(sh); err != nil {
			t.Skipf("sandboxtest needs %s: %v", sh, err)
		}
	}
	s := &suite{d: d, dir: t.TempDir()}
	for name, body := range map[string]string{"loop.sh": loop, "quiet.sh": quiet, "pair.sh": pair} {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("ReplyLogsSentinels", s.testReply)
	t.Run("Ack", s.testAck)
	t.Run("WarmReuse", s.testWarm)
	t.Run("PartialLineBeforeSentinel", s.testPartial)
	t.Run("LogLimit", s.testLogLimit)
	t.Run("LongLine", s.testLongLine)
	t.Run("Timeout", s.testTimeout)
	t.Run("CrashBeforeReply", s.testCrash)
	t.Run("ExitAfterReply", s.testExitAfterReply)
	t.Run("GarbageReply", s.testGarbage)
	t.Run("Env", s.testEnv)
	t.Run("DestroyKillsDescendants", s.testDestroyKills)
	t.Run("DestroyConcurrentWithCall", s.testDestroyConcurrent)
	t.Run("NoSentinels", s.testNoSentinels)
	t.Run("Concurrent", s.testConcurrent)
	t.Run("StartFailure", s.testStartFailure)
	t.Run("NoLeaks", s.testNoLeaks)
}

func (s *suite) spec(script string, env ...string) sandbox.Spec {
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	return sandbox.Spec{
		ID:            fmt.Sprintf("sandboxtest-%d", n),
		Argv:          []string{"/bin/sh", filepath.Join(s.dir, script)},
		Env:           append(slices.Clone(testEnv), env...),
		MemoryMB:      128,
		ReadOnlyPaths: []string{"/bin", "/usr", "/lib", "/lib64", s.dir},
		Network:       "none",
	}
}

func (s *suite) start(t *testing.T, spec sandbox.Spec) sandbox.Sandbox {
	t.Helper()
	sb, err := s.d.Start(context.Background(), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := sb.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	return sb
}

func call(t *testing.T, sb sandbox.Sandbox, timeout time.Duration, line string, limit int) sandbox.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var b []byte
	if line != "" {
		b = []byte(line)
	}
	r, err := sb.Call(ctx, b, limit)
	if err != nil {
		t.Fatalf("Call(%s): %v", line, err)
	}
	return r
}

func texts(logs []sandbox.LogLine, stream string) []string {
	var out []string
	for _, l := range logs {
		if stream == "" || l.Stream == stream {
			out = append(out, l.Text)
		}
	}
	return out
}

func checkNoSentinel(t *testing.T, logs []sandbox.LogLine) {
	t.Helper()
	for _, l := range logs {
		if strings.Contains(l.Text, sandbox.Sentinel) {
			t.Errorf("sentinel left in logs: %q", l.Text)
		}
	}
}

func (s *suite) testReply(t *testing.T) {
	sb := s.start(t, s.spec("loop.sh"))
	line := `{"value":{"x":1},"activation_id":"a1"}`
	r := call(t, sb, 5*time.Second, line, 1<<20)
	if string(r.Line) != `{"ok":1}` || r.Exited || r.TimedOut || r.Truncated || r.OOM {
		t.Fatalf("reply = %+v", r)
	}
	if got := texts(r.Logs, "stdout"); !slices.Equal(got, []string{"out: " + line}) {
		t.Errorf("stdout = %q", got)
	}
	if got := texts(r.Logs, "stderr"); !slices.Equal(got, []string{"err: " + line}) {
		t.Errorf("stderr = %q", got)
	}
	for _, l := range r.Logs {
		if l.Time.IsZero() {
			t.Errorf("log line without time: %+v", l)
		}
	}
	if r.Elapsed <= 0 || r.Elapsed > 5*time.Second {
		t.Errorf("Elapsed = %v", r.Elapsed)
	}
	if sb.ID() == "" {
		t.Error("empty ID")
	}
}

func (s *suite) testAck(t *testing.T) {
	sb := s.start(t, s.spec("loop.sh", "ACK=1"))
	// Let the ack arrive before anyone waits for it: it must not be lost.
	time.Sleep(50 * time.Millisecond)
	r := call(t, sb, 5*time.Second, "", 0)
	if string(r.Line) != `{"ok":true}` || r.Exited || r.TimedOut {
		t.Fatalf("ack = %+v", r)
	}
	r = call(t, sb, 5*time.Second, `{"value":{}}`, 1<<20)
	if string(r.Line) != `{"ok":1}` {
		t.Fatalf("reply after ack = %+v", r)
	}
	// Start-up output belongs to the first activation.
	if got := texts(r.Logs, "stdout"); len(got) == 0 || got[0] != "starting" {
		t.Errorf("stdout = %q, want the start-up line first", got)
	}
}

func (s *suite) testWarm(t *testing.T) {
	sb := s.start(t, s.spec("loop.sh"))
	for i := range 20 {
		line := fmt.Sprintf(`{"value":{"i":%d}}`, i)
		r := call(t, sb, 5*time.Second, line, 1<<20)
		if string(r.Line) != `{"ok":1}` {
			t.Fatalf("call %d: %+v", i, r)
		}
		if got := texts(r.Logs, ""); len(got) != 2 || got[0] != "out: "+line && got[1] != "out: "+line {
			t.Fatalf("call %d: logs %q", i, got)
		}
	}
}

func (s *suite) testPartial(t *testing.T) {
	sb := s.start(t, s.spec("loop.sh"))
	r := call(t, sb, 5*time.Second, `{"op":"partial"}`, 1<<20)
	if string(r.Line) != `{"partial":true}` {
		t.Fatalf("reply = %+v", r)
	}
	if got := texts(r.Logs, "stdout"); !slices.Equal(got, []string{"no newline"}) {
		t.Errorf("stdout = %q", got)
	}
	checkNoSentinel(t, r.Logs)
}

func (s *suite) testLogLimit(t *testing.T) {
	sb := s.start(t, s.spec("loop.sh"))
	const limit = 10 << 10
	r := call(t, sb, 20*time.Second, `{"op":"flood"}`, limit)
	if string(r.Line) != `{"flooded":true}` || !r.Truncated {
		t.Fatalf("reply = %s truncated=%v exited=%v timedout=%v", r.Line, r.Truncated, r.Exited, r.TimedOut)
	}
	n := 0
	for _, l := range r.Logs {
		n += len(l.Text)
	}
	if n > limit || n < limit/2 {
		t.Errorf("kept %d bytes of logs with a limit of %d", n, limit)
	}
	checkNoSentinel(t, r.Logs)
	// The flood was drained: the next call is clean.
	r = call(t, sb, 5*time.Second, `{"value":{}}`, limit)
	if string(r.Line) != `{"ok":1}` || r.Truncated || len(r.Logs) != 2 {
		t.Fatalf("call after flood = %s truncated=%v logs=%q", r.Line, r.Truncated, texts(r.Logs, ""))
	}
	// A zero limit keeps nothing.
	r = call(t, sb, 5*time.Second, `{"value":{}}`, 0)
	if string(r.Line) != `{"ok":1}` || !r.Truncated || len(r.Logs) != 0 {
		t.Fatalf("zero limit: %s truncated=%v logs=%q", r.Line, r.Truncated, texts(r.Logs, ""))
	}
}

func (s *suite) testLongLine(t *testing.T) {
	sb := s.start(t, s.spec("loop.sh"))
	r := call(t, sb, 20*time.Second, `{"op":"longline"}`, 10<<20)
	if string(r.Line) != `{"long":true}` || !r.Truncated {
		t.Fatalf("reply = %s truncated=%v", r.Line, r.Truncated)
	}
	for _, l := range r.Logs {
		if len(l.Text) > sandbox.MaxLogLine {
			t.Errorf("kept a %d-byte line", len(l.Text))
		}
	}
	r = call(t, sb, 5*time.Second, `{"value":{}}`, 1<<20)
	if string(r.Line) != `{"ok":1}` || r.Truncated {
		t.Fatalf("call after long line = %+v", r)
	}
}

func (s *suite) testTimeout(t *testing.T) {
	sb := s.start(t, s.spec("loop.sh"))
	start := time.Now()
	r := call(t, sb, 300*time.Millisecond, `{"op":"hang"}`, 1<<20)
	if !r.TimedOut || r.Line != nil {
		t.Fatalf("reply = %+v", r)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timed-out call took %v", d)
	}
	if got := texts(r.Logs, "stdout"); !slices.Equal(got, []string{"hanging"}) {
		t.Errorf("stdout = %q, want what it printed before the timeout", got)
	}
	select {
	case <-sb.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("process still running after a timeout")
	}
	r = call(t, sb, 5*time.Second, `{"value":{}}`, 1<<20)
	if !r.Exited || r.Line != nil {
		t.Fatalf("call after timeout = %+v", r)
	}
}

func (s *suite) testCrash(t *testing.T) {
	sb := s.start(t, s.spec("loop.sh"))
	r := call(t, sb, 5*time.Second, `{"op":"crash"}`, 1<<20)
	if !r.Exited || r.TimedOut || r.Line != nil {
		t.Fatalf("reply = %+v", r)
	}
	if got := texts(r.Logs, "stderr"); !slices.Equal(got, []string{"crashing"}) {
		t.Errorf("stderr = %q", got)
	}
	r = call(t, sb, 5*time.Second, `{"value":{}}`, 1<<20)
	if !r.Exited {
		t.Fatalf("call after crash = %+v", r)
	}
}

func (s *suite) testExitAfterReply(t *testing.T) {
	sb := s.start(t, s.spec("loop.sh"))
	r := call(t, sb, 5*time.Second, `{"op":"exit"}`, 1<<20)
	if string(r.Line) != `{"bye":true}` || r.Exited || r.TimedOut {
		t.Fatalf("reply = %+v", r)
	}
	select {
	case <-sb.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("Exited not closed")
	}
	if r := call(t, sb, 5*time.Second, `{"value":{}}`, 1<<20); !r.Exited {
		t.Fatalf("call after exit = %+v", r)
	}
}

func (s *suite) testGarbage(t *testing.T) {
	sb := s.start(t, s.spec("loop.sh"))
	for op, want := range map[string]string{
		"garbage": "this is not json",
		"tabbed":  "abc\tdef",
		// A runtime that prefixes its replies for concurrency is understood
		// by a serialized sandbox too.
		"prefixed": `{"prefixed":true}`,
	} {
		r := call(t, sb, 5*time.Second, `{"op":"`+op+`"}`, 1<<20)
		if string(r.Line) != want || r.Exited {
			t.Errorf("%s: reply = %q, want %q", op, r.Line, want)
		}
	}
}

func (s *suite) testEnv(t *testing.T) {
	sb := s.start(t, s.spec("loop.sh"))
	r := call(t, sb, 5*time.Second, `{"op":"env"}`, 1<<20)
	got := texts(r.Logs, "stdout")
	slices.Sort(got)
	want := slices.Clone(testEnv)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("environment = %q, want exactly %q", got, want)
	}
}

func (s *suite) testDestroyKills(t *testing.T) {
	// Descendants are found by an environment marker they inherit, not by
	// the pids the script reports: in a PID namespace those are not the
	// host's.
	mark := fmt.Sprintf("SANDBOXTEST_MARK=%d-%d", os.Getpid(), time.Now().UnixNano())
	sb := s.start(t, s.spec("loop.sh", mark))
	call(t, sb, 10*time.Second, `{"op":"daemon"}`, 1<<20)
	if pids := marked(mark); len(pids) < 3 {
		t.Fatalf("found %d processes of the sandbox before Destroy (%v), want the loop, a child and a grandchild", len(pids), pids)
	}
	if err := sb.Destroy(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for pids := marked(mark); len(pids) > 0; pids = marked(mark) {
		if time.Now().After(deadline) {
			t.Fatalf("processes %v survived Destroy", pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := sb.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if r := call(t, sb, time.Second, `{"value":{}}`, 1<<20); !r.Exited {
		t.Errorf("call after Destroy = %+v", r)
	}
}

// marked lists the live processes whose environment holds mark.
func marked(mark string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !alive(pid) {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if kv == mark {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// alive reports whether pid runs: a zombie (waiting for a parent that does
// not reap) is dead.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

func (s *suite) testDestroyConcurrent(t *testing.T) {
	sb := s.start(t, s.spec("loop.sh"))
	done := make(chan sandbox.Reply, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r, err := sb.Call(ctx, []byte(`{"op":"hang"}`), 1<<20)
		if err != nil {
			t.Errorf("Call: %v", err)
		}
		done <- r
	}()
	time.Sleep(100 * time.Millisecond)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sb.Destroy(); err != nil {
				t.Errorf("Destroy: %v", err)
			}
		}()
	}
	wg.Wait()
	select {
	case r := <-done:
		if !r.Exited || r.TimedOut || r.Line != nil {
			t.Errorf("call during Destroy = %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Call still blocked after Destroy")
	}
}

func (s *suite) testNoSentinels(t *testing.T) {
	spec := s.spec("quiet.sh")
	spec.NoSentinels = true
	sb := s.start(t, spec)
	for i := range 3 {
		line := fmt.Sprintf(`{"value":{"i":%d}}`, i)
		start := time.Now()
		r := call(t, sb, 10*time.Second, line, 1<<20)
		if string(r.Line) != `{"ok":1}` || r.Truncated {
			t.Fatalf("reply = %+v", r)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("call took %v: the sentinels were not supplied", d)
		}
		if got := texts(r.Logs, "stdout"); !slices.Equal(got, []string{"out: " + line}) {
			t.Errorf("stdout = %q", got)
		}
		if got := texts(r.Logs, "stderr"); !slices.Equal(got, []string{"err: " + line}) {
			t.Errorf("stderr = %q", got)
		}
	}
	r := call(t, sb, 5*time.Second, `{"op":"crash"}`, 1<<20)
	if !r.Exited || !slices.Equal(texts(r.Logs, "stderr"), []string{"crashing"}) {
		t.Errorf("crash = %+v", r)
	}
}

func (s *suite) testConcurrent(t *testing.T) {
	spec := s.spec("pair.sh")
	spec.Concurrent = true
	sb := s.start(t, spec)
	ids := []string{"aaaa1111", "bbbb2222"}
	got := make([]string, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := sb.Call(ctx, []byte(`{"value":{},"activation_id":"`+id+`"}`), 1<<20)
			if err != nil {
				t.Errorf("Call: %v", err)
			}
			got[i] = string(r.Line)
		}()
		// The script pairs lines in arrival order; keep the order stable.
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	for i, id := range ids {
		if want := `{"id":"` + id + `"}`; got[i] != want {
			t.Errorf("call %s got %q, want %q", id, got[i], want)
		}
	}
}

func (s *suite) testStartFailure(t *testing.T) {
	spec := s.spec("loop.sh")
	spec.Argv = []string{filepath.Join(s.dir, "does-not-exist")}
	if sb, err := s.d.Start(context.Background(), spec); err == nil {
		sb.Destroy()
		t.Fatal("Start of a missing program succeeded")
	}
	spec.Argv = []string{"sh"}
	if sb, err := s.d.Start(context.Background(), spec); err == nil {
		sb.Destroy()
		t.Fatal("Start with a relative argv[0] succeeded")
	}
}

func (s *suite) testNoLeaks(t *testing.T) {
	settle := func() (int, int) {
		runtime.GC()
		return runtime.NumGoroutine(), countFDs(t)
	}
	// One sandbox first, then a pause: a driver that keeps sandboxes ready
	// refills its pool in the background, and the pool must be full when
	// the baseline is taken, as it will be at the end.
	warm, err := s.d.Start(context.Background(), s.spec("loop.sh"))
	if err != nil {
		t.Fatal(err)
	}
	call(t, warm, 5*time.Second, `{"value":{}}`, 1<<20)
	warm.Destroy()
	time.Sleep(500 * time.Millisecond)
	g0, f0 := settle()
	for range 10 {
		sb, err := s.d.Start(context.Background(), s.spec("loop.sh"))
		if err != nil {
			t.Fatal(err)
		}
		call(t, sb, 5*time.Second, `{"value":{}}`, 1<<20)
		if err := sb.Destroy(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		g, f := settle()
		if g <= g0+1 && f <= f0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 sandboxes: goroutines %d → %d, fds %d → %d", g0, g, f0, f)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count fds: %v", err)
	}
	return len(entries)
}
