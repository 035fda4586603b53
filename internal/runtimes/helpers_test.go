package runtimes_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/sandbox"
	"github.com/gustfaas/gust/internal/sandbox/process"
	"github.com/gustfaas/gust/internal/whisk"
)

var (
	regOnce sync.Once
	reg     *runtimes.Registry
	regErr  error
)

// registry is shared by the tests, with a build cache that survives test
// runs: a cold Go build cache costs tens of seconds on this machine.
func registry(t testing.TB) *runtimes.Registry {
	t.Helper()
	regOnce.Do(func() {
		reg, regErr = runtimes.NewRegistry(runtimes.Config{CacheDir: filepath.Join(os.TempDir(), "gust-runtimes-test")})
	})
	if regErr != nil {
		t.Fatal(regErr)
	}
	return reg
}

func lookup(t testing.TB, family string) runtimes.Runtime {
	t.Helper()
	rt, ok := registry(t).Lookup(family + ":default")
	if !ok {
		t.Skipf("no %s runtime on this machine (kinds: %v)", family, registry(t).Kinds())
	}
	return rt
}

func newDriver(t testing.TB) *process.Driver {
	t.Helper()
	d, err := process.New(process.Config{WorkRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var sandboxes atomic.Int64

// specOf is what the invoker does with a Command.
func specOf(c runtimes.Command, concurrent bool) sandbox.Spec {
	return sandbox.Spec{
		ID:            fmt.Sprintf("rt-%d", sandboxes.Add(1)),
		Argv:          c.Argv,
		Env:           c.Env,
		Dir:           c.Dir,
		MemoryMB:      256,
		ReadOnlyPaths: c.ReadOnlyPaths,
		Network:       "egress",
		Concurrent:    concurrent,
		NoSentinels:   c.NoSentinels,
	}
}

func sourceExec(kind, code string) *whisk.Exec {
	return &whisk.Exec{Kind: kind, Code: &code}
}

func zipExec(t testing.TB, kind string, files map[string]string) *whisk.Exec {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		mode := os.FileMode(0o644)
		if name == "exec" || strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	code := base64.StdEncoding.EncodeToString(buf.Bytes())
	return &whisk.Exec{Kind: kind, Code: &code, Binary: true}
}

const logLimit = 1 << 20

// action is a started, initialized action.
type action struct {
	sb   sandbox.Sandbox
	init sandbox.Reply // the init line's (stem cells) or the ack's reply
}

type startOpts struct {
	initEnv    map[string]string
	concurrent bool
	prepared   string // reuse a prepared directory
}

// start does what the invoker does for a cold start: prepare (non-stem
// runtimes), start, then init (stem cells) or wait for the ack.
func start(t testing.TB, d sandbox.Driver, rt runtimes.Runtime, e *whisk.Exec, o startOpts) *action {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prepared := o.prepared
	if !rt.StemCell() && prepared == "" {
		prepared = t.TempDir()
		if err := rt.Prepare(ctx, e, prepared); err != nil {
			t.Fatalf("Prepare: %v", err)
		}
	}
	cmd := rt.Command(prepared, o.initEnv)
	sb, err := d.Start(ctx, specOf(cmd, o.concurrent))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { sb.Destroy() })
	a := &action{sb: sb}
	if cmd.WaitAck {
		a.init, err = sb.Call(ctx, nil, logLimit)
		if err != nil || string(a.init.Line) != `{"ok":true}` {
			t.Fatalf("ack = %+v, %v", a.init, err)
		}
	}
	if rt.StemCell() {
		if a.init, err = sb.Call(ctx, rt.InitLine(e, "hello", o.initEnv), logLimit); err != nil {
			t.Fatalf("init: %v", err)
		}
	}
	return a
}

func mustInit(t testing.TB, a *action) {
	t.Helper()
	if a.init.Exited || a.init.TimedOut || (a.init.Line != nil && !bytes.Equal(a.init.Line, []byte(`{"ok":true}`))) {
		t.Fatalf("init failed: %s exited=%v logs=%v", a.init.Line, a.init.Exited, a.init.Logs)
	}
}

var activations atomic.Int64

// runLine is OpenWhisk's /run body.
func runLine(value string) (string, []byte) {
	id := fmt.Sprintf("%032x", activations.Add(1))
	line := fmt.Sprintf(`{"value":%s,"namespace":"guest","action_name":"/guest/hello","action_version":"0.0.1",`+
		`"activation_id":"%s","transaction_id":"tx1","deadline":"%d","api_key":"uuid:key"}`,
		value, id, time.Now().Add(time.Minute).UnixMilli())
	return id, []byte(line)
}

func (a *action) run(t testing.TB, value string) sandbox.Reply {
	t.Helper()
	return a.runTimeout(t, value, 30*time.Second)
}

func (a *action) runTimeout(t testing.TB, value string, timeout time.Duration) sandbox.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, line := runLine(value)
	r, err := a.sb.Call(ctx, line, logLimit)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	return r
}

// result decodes a reply line into a map, failing on anything else.
func result(t testing.TB, r sandbox.Reply) map[string]any {
	t.Helper()
	if r.Exited || r.TimedOut {
		t.Fatalf("no result: exited=%v timedout=%v logs=%v", r.Exited, r.TimedOut, r.Logs)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Line, &m); err != nil {
		t.Fatalf("reply %q: %v (logs %v)", r.Line, err, r.Logs)
	}
	return m
}

func wantJSON(t testing.TB, r sandbox.Reply, want string) {
	t.Helper()
	var got, exp any
	if err := json.Unmarshal(r.Line, &got); err != nil {
		t.Fatalf("reply %q: %v (logs %v)", r.Line, err, r.Logs)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(exp)
	if !bytes.Equal(g, w) {
		t.Fatalf("reply = %s, want %s (logs %v)", r.Line, want, r.Logs)
	}
}

func logTexts(r sandbox.Reply, stream string) []string {
	var out []string
	for _, l := range r.Logs {
		if l.Stream == stream {
			out = append(out, l.Text)
		}
	}
	return out
}

func hasLog(r sandbox.Reply, stream, substr string) bool {
	for _, l := range logTexts(r, stream) {
		if strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

func errorOf(t testing.TB, r sandbox.Reply) string {
	t.Helper()
	m := result(t, r)
	s, ok := m["error"].(string)
	if !ok {
		t.Fatalf("reply %s has no string error", r.Line)
	}
	return s
}

// benchWarm measures one activation on a warm process: the request line
// out, the reply and both sentinels back.
func benchWarm(b *testing.B, a *action) {
	_, line := runLine(`{"name":"bench"}`)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r, err := a.sb.Call(ctx, line, logLimit)
		if err != nil || r.Line == nil {
			b.Fatalf("call: %v %+v", err, r)
		}
	}
}

// benchStemCell measures a stem cell's life up to an initialized action:
// process start and interpreter boot (up to the ack; hidden by a stem-cell
// pool), then the init line alone (what a cold start from a stem cell pays).
func benchStemCell(b *testing.B, family, code string) {
	rt := lookup(b, family)
	d := newDriver(b)
	e := sourceExec(rt.Kind(), code)
	ctx := context.Background()
	var boot, init time.Duration
	for range b.N {
		t0 := time.Now()
		cmd := rt.Command("", nil)
		cmd.Env = append(cmd.Env, "__OW_WAIT_FOR_ACK=true")
		sb, err := d.Start(ctx, specOf(cmd, false))
		if err != nil {
			b.Fatal(err)
		}
		if r, err := sb.Call(ctx, nil, logLimit); err != nil || string(r.Line) != `{"ok":true}` {
			b.Fatalf("ack: %v %+v", err, r)
		}
		t1 := time.Now()
		r, err := sb.Call(ctx, rt.InitLine(e, "bench", nil), logLimit)
		t2 := time.Now()
		if err != nil || string(r.Line) != `{"ok":true}` {
			b.Fatalf("init: %v %+v", err, r)
		}
		boot += t1.Sub(t0)
		init += t2.Sub(t1)
		b.StopTimer()
		sb.Destroy()
		b.StartTimer()
	}
	b.ReportMetric(float64(boot.Microseconds())/1000/float64(b.N), "boot-ms/op")
	b.ReportMetric(float64(init.Microseconds())/1000/float64(b.N), "init-ms/op")
}

// benchColdStart measures a cold start of a prepared action without a stem
// cell: process start, ack when the runtime sends one, and a first run.
func benchColdStart(b *testing.B, rt runtimes.Runtime, prepared string) {
	d := newDriver(b)
	ctx := context.Background()
	_, line := runLine(`{"name":"bench"}`)
	b.ResetTimer()
	for range b.N {
		cmd := rt.Command(prepared, nil)
		sb, err := d.Start(ctx, specOf(cmd, false))
		if err != nil {
			b.Fatal(err)
		}
		if cmd.WaitAck {
			if r, err := sb.Call(ctx, nil, logLimit); err != nil || r.Line == nil {
				b.Fatalf("ack: %v %+v", err, r)
			}
		}
		if r, err := sb.Call(ctx, line, logLimit); err != nil || r.Line == nil {
			b.Fatalf("run: %v %+v", err, r)
		}
		b.StopTimer()
		sb.Destroy()
		b.StartTimer()
	}
}
