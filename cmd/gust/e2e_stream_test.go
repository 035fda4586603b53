package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// greeter logs a line and answers; other actions in these tests share it.
const greeter = "def main(a):\n    print('hello ' + a.get('name', '?'))\n    return {'greeting': 'hi ' + a.get('name', '?')}\n"

// sseEvent is one Server-Sent Event, or a comment (comment != "").
type sseEvent struct {
	event, id, data, comment string
}

// sseStream reads a stream opened by openStream on a goroutine, so that a
// test can wait for an event with a deadline.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	events chan sseEvent
	cancel context.CancelFunc
}

func (ts *testServer) openStream(t *testing.T, query string, header http.Header) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", ts.base+"/api/v1/namespaces/_/activations/stream"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(ts.key.String())))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("stream: status %d: %s", resp.StatusCode, body)
	}
	s := &sseStream{t: t, resp: resp, events: make(chan sseEvent, 64), cancel: cancel}
	t.Cleanup(s.close)
	go func() {
		defer close(s.events)
		r := bufio.NewReader(resp.Body)
		var ev sseEvent
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				s.events <- sseEvent{comment: strings.TrimSpace(line[1:])}
			default:
				k, v, _ := strings.Cut(line, ":")
				v = strings.TrimPrefix(v, " ")
				switch k {
				case "event":
					ev.event = v
				case "id":
					ev.id = v
				case "data":
					ev.data += v
				case "retry":
				default:
					s.events <- sseEvent{comment: "unknown field " + k}
				}
			}
		}
	}()
	return s
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next activation event, skipping comments.
func (s *sseStream) next(within time.Duration) (sseEvent, whisk.Activation) {
	s.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatal("the stream ended")
			}
			if ev.comment != "" {
				continue
			}
			var act whisk.Activation
			if err := json.Unmarshal([]byte(ev.data), &act); err != nil {
				s.t.Fatalf("event data is not an activation: %v\n%s", err, ev.data)
			}
			return ev, act
		case <-deadline:
			s.t.Fatalf("no activation event within %v", within)
		}
	}
}

// quiet checks that no activation event arrives for a while.
func (s *sseStream) quiet(d time.Duration) {
	s.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-s.events:
			if ok && ev.comment == "" {
				s.t.Fatalf("unexpected event %s: %s", ev.id, ev.data)
			}
			if !ok {
				return
			}
		case <-deadline:
			return
		}
	}
}

func TestActivationStream(t *testing.T) {
	ts := startTestServer(t)
	ts.putAction("hello", "python:3.11", greeter, nil)
	ts.putAction("other", "python:3.11", greeter, nil)
	_, before := ts.invoke("hello", map[string]any{"name": "early"})
	ts.waitListed(before.ActivationID) // stored before the stream opens: not live

	s := ts.openStream(t, "?name=hello&keepalive=1", nil)
	if ct := s.resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	if s.resp.Header.Get("X-Request-ID") == "" || s.resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("headers %v", s.resp.Header)
	}
	select {
	case ev := <-s.events:
		if ev.comment != "activations of guest" {
			t.Fatalf("first event %+v, want the opening comment", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not open with a comment")
	}

	ts.invoke("other", map[string]any{"name": "nobody"})
	_, live := ts.invoke("hello", map[string]any{"name": "Ada"})
	ev, act := s.next(10 * time.Second)
	if ev.event != "activation" || ev.id != live.ActivationID || act.ActivationID != live.ActivationID {
		t.Fatalf("event %q id %q record %s, want the activation %s", ev.event, ev.id, act.ActivationID, live.ActivationID)
	}
	if act.Name != "hello" || act.Namespace != "guest" || !act.Response.Success ||
		len(act.Logs) != 1 || !strings.HasSuffix(act.Logs[0], "stdout: hello Ada") ||
		string(act.Response.Result) != `{"greeting":"hi Ada"}` {
		t.Fatalf("record %s", ev.data)
	}
	// A streamed record is stored: the list and get agree.
	r := ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/activations/"+act.ActivationID, nil), 200)
	var stored whisk.Activation
	r.json(t, &stored)
	if stored.End != act.End || len(stored.Logs) != 1 {
		t.Fatalf("stored %s, streamed %s", r.body, ev.data)
	}

	// Keepalive comments come every second as asked.
	deadline := time.After(5 * time.Second)
	for got := false; !got; {
		select {
		case ev := <-s.events:
			got = ev.comment == "keepalive"
		case <-deadline:
			t.Fatal("no keepalive within 5 s at keepalive=1")
		}
	}
	s.quiet(200 * time.Millisecond) // "other" was filtered out

	// since replays the stored records, oldest first, then goes live.
	all := ts.openStream(t, "?since="+itoa64(before.Start), nil)
	want := []string{before.ActivationID, "", live.ActivationID} // "" = the other action's
	for i, w := range want {
		ev, act := all.next(10 * time.Second)
		if w != "" && ev.id != w || w == "" && act.Name != "other" {
			t.Fatalf("replayed #%d: %s (%s), want %q", i, ev.id, act.Name, w)
		}
	}
	_, third := ts.invoke("hello", map[string]any{"name": "Bob"})
	if ev, _ := all.next(10 * time.Second); ev.id != third.ActivationID {
		t.Fatalf("live after the replay: %s, want %s", ev.id, third.ActivationID)
	}
	all.quiet(200 * time.Millisecond) // nothing twice

	// A packaged action is selected as pkg/name, as in the list.
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/packages/tools", map[string]any{}), 200)
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/actions/tools/hello",
		map[string]any{"exec": map[string]any{"kind": "python:3.11", "code": greeter}}), 200)
	packaged := ts.openStream(t, "?name=tools/hello", nil)
	ts.invoke("hello", map[string]any{"name": "outside"})
	r = ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/actions/tools/hello?blocking=true", map[string]any{"name": "inside"}), 200)
	var inPkg whisk.Activation
	r.json(t, &inPkg)
	if ev, act := packaged.next(10 * time.Second); ev.id != inPkg.ActivationID || act.Name != "hello" {
		t.Fatalf("packaged stream: %s %s, want %s", ev.id, ev.data, inPkg.ActivationID)
	}
	packaged.quiet(200 * time.Millisecond)

	// Last-Event-ID (an EventSource reconnecting) resumes after that record.
	resumed := ts.openStream(t, "?name=hello", http.Header{"Last-Event-Id": {live.ActivationID}})
	for _, want := range []string{third.ActivationID, ""} { // "" = the one "outside" the package
		ev, act := resumed.next(10 * time.Second)
		if want != "" && ev.id != want || want == "" && !strings.HasSuffix(act.Logs[0], "hello outside") {
			t.Fatalf("resumed with %s (%s), want %q", ev.id, ev.data, want)
		}
	}
	resumed.quiet(200 * time.Millisecond)
}

// waitListed waits until the list shows the record: it is then stored, no
// longer waiting in the record writer's batch.
func (ts *testServer) waitListed(id string) {
	ts.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var acts []whisk.Activation
		ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/activations?limit=200", nil), 200).json(ts.t, &acts)
		for _, a := range acts {
			if a.ActivationID == id {
				return
			}
		}
		if time.Now().After(deadline) {
			ts.t.Fatalf("activation %s not listed after 10 s", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func itoa64(n int64) string { return strings.TrimSpace(mustJSON(n)) }

func TestActivationStreamErrors(t *testing.T) {
	ts := startTestServer(t)
	alice := ts.createNamespace("alice")
	cases := []struct {
		path, auth string
		status     int
		msg        string
	}{
		{"/api/v1/namespaces/_/activations/stream?name=a/b/c", "", 400, "The query parameter 'name' was malformed"},
		{"/api/v1/namespaces/_/activations/stream?since=yesterday", "", 400, "The query parameter 'since' was malformed"},
		{"/api/v1/namespaces/_/activations/stream?keepalive=0", "", 400, "Keepalive must be a number of seconds from 1 to 300."},
		{"/api/v1/namespaces/_/activations/stream", "-", 401, "The resource requires authentication"},
		{"/api/v1/namespaces/guest/activations/stream", alice, 403, "not authorized to access"},
		{"/api/v1/namespaces/_/activations/stream/", "", 400, "Activation id length is 6 but must be 32."},
	}
	for _, c := range cases {
		var r response
		if c.auth == "" {
			r = ts.do("GET", c.path, nil)
		} else {
			r = ts.do("GET", c.path, nil, c.auth)
		}
		body := r.object(t)
		msg, _ := body["error"].(string)
		if r.status != c.status || !strings.Contains(msg, c.msg) || body["code"] == nil {
			t.Errorf("GET %s: %d %s, want %d %q", c.path, r.status, r.body, c.status, c.msg)
		}
	}
	if r := ts.do("POST", "/api/v1/namespaces/_/activations/stream", nil); r.status != 405 {
		t.Errorf("POST: %d %s", r.status, r.body)
	}
}

// TestActivationStreamEndsAtShutdown: an open stream does not hold the
// server's shutdown for its grace period.
func TestActivationStreamEndsAtShutdown(t *testing.T) {
	ts := startTestServer(t, func(c *serverConfig) { c.ShutdownGrace = 20 * time.Second })
	s := ts.openStream(t, "", nil)
	<-s.events // the opening comment
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ts.srv.http.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v with a stream open", d)
	}
	for ev := range s.events {
		if ev.comment == "" {
			t.Fatalf("event after shutdown: %+v", ev)
		}
	}
}

// lockedBuffer is a bytes.Buffer a command writes to while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// background runs a command line in-process until it ends or ctx is done,
// as an interrupt would end it.
type background struct {
	stdout, stderr lockedBuffer
	code           chan int
}

func runBackground(ctx context.Context, args ...string) *background {
	b := &background{code: make(chan int, 1)}
	go func() {
		args, err := expandKeyValueFlags(args)
		if err != nil {
			b.code <- report(&b.stderr, err)
			return
		}
		root := newRootCmd(&b.stdout, &b.stderr)
		root.SetArgs(args)
		b.code <- report(&b.stderr, root.ExecuteContext(ctx))
	}()
	return b
}

// waitOutput waits until stdout contains every fragment.
func (b *background) waitOutput(t *testing.T, within time.Duration, fragments ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out := b.stdout.String()
		missing := ""
		for _, f := range fragments {
			if !strings.Contains(out, f) {
				missing = f
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stdout lacks %q after %v:\n%s\nstderr:\n%s", missing, within, out, b.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *background) waitStderr(t *testing.T, within time.Duration, fragment string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(b.stderr.String(), fragment) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr lacks %q after %v:\n%s", fragment, within, b.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (b *background) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case code := <-b.code:
		return code
	case <-time.After(within):
		t.Fatalf("the command did not end within %v:\n%s\nstderr:\n%s", within, b.stdout.String(), b.stderr.String())
	}
	return -1
}

func useServer(t *testing.T, base string, key string) {
	clearClientEnv(t)
	t.Setenv("WSK_CONFIG_FILE", filepath.Join(t.TempDir(), "wskprops"))
	t.Setenv("GUST_APIHOST", base)
	t.Setenv("GUST_AUTH", key)
	t.Setenv("NO_COLOR", "1")
}

func TestActivationPollCLI(t *testing.T) {
	ts := startTestServer(t)
	useServer(t, ts.base, ts.key.String())
	ts.putAction("hello", "python:3.11", greeter, nil)
	ts.putAction("other", "python:3.11", greeter, nil)
	_, first := ts.invoke("hello", map[string]any{"name": "first"})

	p := runBackground(context.Background(), "activation", "poll", "hello", "--since-seconds", "60", "--exit", "4")
	p.waitOutput(t, 10*time.Second, "\nActivation: 'hello' ("+first.ActivationID+")\n", "stdout: hello first\n")
	ts.invoke("other", map[string]any{"name": "nobody"})
	_, second := ts.invoke("hello", map[string]any{"name": "second"})
	p.waitOutput(t, 10*time.Second, "\nActivation: 'hello' ("+second.ActivationID+")\n", "stdout: hello second\n")
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("poll --exit 4: exit %d\n%s", code, p.stderr.String())
	}
	out := p.stdout.String()
	if strings.Contains(out, "nobody") || strings.Count(out, "Activation:") != 2 {
		t.Fatalf("poll printed:\n%s", out)
	}

	// -o json: one record per line, for scripts; an interrupt ends it with 130.
	ctx, cancel := context.WithCancel(context.Background())
	j := runBackground(ctx, "activation", "poll", "-o", "json")
	j.waitStderr(t, 10*time.Second, "Polling for activation logs") // no replay without --since: wait for the subscription
	_, third := ts.invoke("other", map[string]any{"name": "json"})
	j.waitOutput(t, 10*time.Second, third.ActivationID)
	cancel()
	if code := j.wait(t, 10*time.Second); code != exitInterrupted {
		t.Fatalf("interrupted poll: exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(j.stdout.String()), "\n")
	var rec whisk.Activation
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &rec) != nil || rec.ActivationID != third.ActivationID || rec.Name != "other" {
		t.Fatalf("poll -o json printed:\n%s", j.stdout.String())
	}
}

// TestActivationPollWithoutStream: against a server that has no stream, as
// OpenWhisk, poll and logs --follow poll the list instead. The server is the
// real one behind a proxy that answers the stream's path as OpenWhisk does.
func TestActivationPollWithoutStream(t *testing.T) {
	ts := startTestServer(t)
	target, _ := url.Parse(ts.base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	ow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/activations/stream") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"The activation id is not valid: stream","code":"owtid"}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer ow.Close()
	useServer(t, ow.URL, ts.key.String())
	saved := pollInterval
	pollInterval = 200 * time.Millisecond
	defer func() { pollInterval = saved }()
	ts.putAction("hello", "python:3.11", greeter, nil)
	_, first := ts.invoke("hello", map[string]any{"name": "first"})

	p := runBackground(context.Background(), "activation", "poll", "--since-seconds", "60", "--exit", "3")
	p.waitOutput(t, 10*time.Second, "Activation: 'hello' ("+first.ActivationID+")", "stdout: hello first")
	_, second := ts.invoke("hello", map[string]any{"name": "second"})
	p.waitOutput(t, 10*time.Second, "Activation: 'hello' ("+second.ActivationID+")", "stdout: hello second")
	if code := p.wait(t, 10*time.Second); code != 0 || strings.Count(p.stdout.String(), "Activation:") != 2 {
		t.Fatalf("exit %d:\n%s\n%s", code, p.stdout.String(), p.stderr.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := runBackground(ctx, "activation", "logs", "--last", "--follow", "--strip")
	f.waitOutput(t, 10*time.Second, "hello second\n")
	ts.invoke("hello", map[string]any{"name": "third"})
	f.waitOutput(t, 10*time.Second, "hello second\nhello third\n")
	cancel()
	f.wait(t, 10*time.Second)
}

func TestActivationLogsFollow(t *testing.T) {
	ts := startTestServer(t)
	useServer(t, ts.base, ts.key.String())
	ts.putAction("hello", "python:3.11", greeter, nil)
	ts.putAction("other", "python:3.11", greeter, nil)
	ts.invoke("hello", map[string]any{"name": "one"})
	ts.invoke("other", map[string]any{"name": "nobody"}) // the newest overall, not hello's

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := runBackground(ctx, "activation", "logs", "--last", "hello", "--follow", "--strip")
	f.waitOutput(t, 10*time.Second, "hello one\n")
	ts.invoke("other", map[string]any{"name": "nobody"})
	ts.invoke("hello", map[string]any{"name": "two"})
	// Non-blocking: the record is streamed once the queue has run it.
	ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/actions/hello", map[string]any{"name": "three"}), 202)
	f.waitOutput(t, 15*time.Second, "hello one\nhello two\nhello three\n")
	cancel()
	if code := f.wait(t, 10*time.Second); code != exitInterrupted {
		t.Fatalf("exit %d", code)
	}
	if out := f.stdout.String(); strings.Contains(out, "nobody") || strings.Contains(out, "Z stdout:") {
		t.Fatalf("follow printed:\n%s", out)
	}

	if _, errOut, code := runCLI(t, "activation", "logs", "--last", "nothing"); code != exitFailed || !strings.Contains(errOut, "nothing has no activations yet") {
		t.Fatalf("--last of an action never run: exit %d %s", code, errOut)
	}
}

// TestActivationStreamMultilineRecord: a record whose JSON holds newlines
// (a trigger's result is the fire body as posted) is sent as one data line.
func TestActivationStreamMultilineRecord(t *testing.T) {
	ts := startTestServer(t)
	ts.putAction("hello", "python:3.11", greeter, nil)
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/triggers/ring", map[string]any{}), 200)
	ts.mustStatus(ts.do("PUT", "/api/v1/namespaces/_/rules/ringing", map[string]any{"trigger": "/_/ring", "action": "/_/hello"}), 200)
	s := ts.openStream(t, "?name=ring", nil)
	r := ts.mustStatus(ts.do("POST", "/api/v1/namespaces/_/triggers/ring", "{\n  \"name\": \"multi\"\n}\n"), 202)
	id, _ := r.object(t)["activationId"].(string)
	ev, act := s.next(10 * time.Second)
	if ev.id != id || act.Name != "ring" || strings.ContainsAny(ev.data, "\r\n") {
		t.Fatalf("event %s: %q", ev.id, ev.data)
	}
	var result map[string]any
	if err := json.Unmarshal(act.Response.Result, &result); err != nil || result["name"] != "multi" {
		t.Fatalf("trigger result %s: %v", act.Response.Result, err)
	}
	// Let the rule's activation finish before the server stops.
	var ruled struct {
		ActivationID string `json:"activationId"`
	}
	if len(act.Logs) != 1 || json.Unmarshal([]byte(act.Logs[0]), &ruled) != nil || ruled.ActivationID == "" {
		t.Fatalf("trigger logs %q", act.Logs)
	}
	ts.waitActivation(ruled.ActivationID, 10*time.Second)
}

// TestActivationPollReconnects: when the server ends the stream, poll
// reconnects where it left off, and shows every record once.
func TestActivationPollReconnects(t *testing.T) {
	ts := startTestServer(t)
	useServer(t, ts.base, ts.key.String())
	savedMax := watchRetryMax
	watchRetryMax = time.Second
	defer func() { watchRetryMax = savedMax }()
	ts.putAction("hello", "python:3.11", greeter, nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := runBackground(ctx, "activation", "poll", "hello")
	p.waitStderr(t, 10*time.Second, "Polling for activation logs")
	_, one := ts.invoke("hello", map[string]any{"name": "one"})
	p.waitOutput(t, 10*time.Second, one.ActivationID)

	// Every stream ends now, and each new one right after its replay.
	ts.srv.http.Handler.(interface{ CloseStreams() }).CloseStreams()
	_, two := ts.invoke("hello", map[string]any{"name": "two"})
	_, three := ts.invoke("hello", map[string]any{"name": "three"})
	p.waitOutput(t, 15*time.Second, two.ActivationID, three.ActivationID)
	cancel()
	p.wait(t, 10*time.Second)
	out := p.stdout.String()
	for _, id := range []string{one.ActivationID, two.ActivationID, three.ActivationID} {
		if n := strings.Count(out, id); n != 1 {
			t.Fatalf("%s shown %d times:\n%s", id, n, out)
		}
	}
	if !strings.Contains(p.stderr.String(), "reconnecting") {
		t.Fatalf("no reconnection reported:\n%s", p.stderr.String())
	}
}
