package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// The alarm tests drive the provider's clock: a fake clock, and Tick called
// by the test instead of the provider's timer. One test, at the end, proves
// the timer on the real clock.

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// startAlarmServer starts a server on dir whose alarms follow clock and fire
// only when the test ticks them. stop shuts it down (also at cleanup).
func startAlarmServer(t *testing.T, dir string, clock *testClock) (*testServer, func()) {
	t.Helper()
	cfg := defaultServerConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.StemCells = map[string]int{}
	cfg.StemCellsMax = 0
	cfg.ShutdownGrace = 5 * time.Second
	cfg.Controller.InvocationsPerMinute = 0
	cfg.Controller.ConcurrentInvocations = 0
	cfg.Controller.FiresPerMinute = 0
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.AlarmClock = clock.Now
	cfg.AlarmTicks = make(chan time.Time) // never ticks by itself
	srv, err := startServer(context.Background(), cfg)
	if err != nil {
		t.Fatalf("starting the server: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			if err := srv.shutdown(context.Background()); err != nil {
				t.Logf("shutdown: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &testServer{t: t, srv: srv, base: "http://" + srv.Addr(), key: srv.guestKey}, stop
}

// tick fires what is due by the provider's clock and checks how many fired.
func (ts *testServer) tick(want int) {
	ts.t.Helper()
	n, err := ts.srv.alarms.Tick(context.Background())
	if err != nil || n != want {
		ts.t.Fatalf("tick fired %d (%v), want %d", n, err, want)
	}
}

const feedPath = "/api/v1/namespaces/whisk.system/actions/alarms/"

// feed sends a lifecycle event to a feed action exactly as wsk does: a
// blocking invocation (result=false) with lifecycleEvent, triggerName and
// authKey added to the parameters. It returns the HTTP status and the
// activation.
func (ts *testServer) feed(action, event, trigger string, params map[string]any) (int, whisk.Activation) {
	ts.t.Helper()
	body := map[string]any{"lifecycleEvent": event, "triggerName": "/_/" + trigger, "authKey": ts.key.String()}
	for k, v := range params {
		body[k] = v
	}
	r := ts.do("POST", feedPath+action+"?blocking=true&result=false", body)
	var act whisk.Activation
	if r.status != 200 && r.status != 502 {
		ts.t.Fatalf("feed %s %s: status %d: %s", action, event, r.status, r.body)
	}
	r.json(ts.t, &act)
	return r.status, act
}

// feedOK sends an event the feed must accept and returns its result.
func (ts *testServer) feedOK(action, event, trigger string, params map[string]any) map[string]any {
	ts.t.Helper()
	status, act := ts.feed(action, event, trigger, params)
	if status != 200 || !act.Response.Success {
		ts.t.Fatalf("feed %s %s %v: %d %s", action, event, params, status, act.Response.Result)
	}
	return resultOf(ts.t, act)
}

// feedFails sends an event the feed must refuse with message.
func (ts *testServer) feedFails(action, event, trigger string, params map[string]any, message string) {
	ts.t.Helper()
	status, act := ts.feed(action, event, trigger, params)
	res := resultOf(ts.t, act)
	if status != 502 || act.Response.Status != "application error" || res["error"] != message {
		ts.t.Fatalf("feed %s %s %v: %d %s, want the application error %q", action, event, params, status, act.Response.Result, message)
	}
}

// feedTrigger creates a trigger through a feed as `wsk trigger create
// --feed` does: the trigger with a feed annotation, then the feed's CREATE.
func (ts *testServer) feedTrigger(name, action string, params map[string]any) {
	ts.t.Helper()
	ts.mustStatus(ts.do("PUT", triggersPath+name+"?overwrite=false", map[string]any{
		"name": name, "annotations": kvs("feed", "/whisk.system/alarms/"+action),
	}), 200)
	ts.feedOK(action, "CREATE", name, params)
}

// triggerActivations lists the activations of a trigger, newest first.
func (ts *testServer) triggerActivations(name string) []whisk.Activation {
	ts.t.Helper()
	var acts []whisk.Activation
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/_/activations?docs=true&limit=200&name="+name, nil), 200).json(ts.t, &acts)
	return acts
}

// waitFires waits until a trigger has n activations and returns them.
func (ts *testServer) waitFires(name string, n int) []whisk.Activation {
	ts.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		acts := ts.triggerActivations(name)
		if len(acts) >= n {
			if len(acts) > n {
				ts.t.Fatalf("%s fired %d times, want %d", name, len(acts), n)
			}
			return acts
		}
		if time.Now().After(deadline) {
			ts.t.Fatalf("%s fired %d times, want %d", name, len(acts), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAlarmsPackage(t *testing.T) {
	ts := startTestServer(t)
	var pkg whisk.PackageWithActions
	ts.mustStatus(ts.do("GET", "/api/v1/namespaces/whisk.system/packages/alarms", nil), 200).json(t, &pkg)
	// Feed actions are listed as the package's feeds, as OpenWhisk lists them.
	if !pkg.Publish || len(pkg.Feeds) != 3 || len(pkg.Actions) != 0 {
		t.Fatalf("package %s", mustJSON(pkg))
	}
	if p := paramsObject(pkg.Parameters); p["trigger_payload"] != "" || p["apihost"] != ts.base {
		t.Errorf("package parameters %v", p)
	}
	for _, name := range []string{"alarm", "once", "interval"} {
		var a whisk.Action
		ts.mustStatus(ts.do("GET", feedPath+name, nil), 200).json(t, &a)
		if a.Exec.Kind != "builtin" || !a.Annotations.IsTruthy("feed") || !a.Publish {
			t.Errorf("%s: %+v", name, a)
		}
	}
	// Built-in is no runtime: it is neither listed nor accepted from clients.
	root := ts.mustStatus(ts.do("GET", "/", nil, "-"), 200)
	if strings.Contains(string(root.body), "builtin") {
		t.Errorf("GET / lists the builtin kind")
	}
	r := ts.do("PUT", "/api/v1/namespaces/_/actions/mine", map[string]any{"exec": map[string]any{"kind": "builtin"}})
	if r.status != 400 || !strings.Contains(string(r.body), "The specified runtime 'builtin' is not supported by this platform.") {
		t.Fatalf("a client made a builtin action: %d %s", r.status, r.body)
	}
}

func paramsObject(kv whisk.KeyValues) map[string]any {
	out := map[string]any{}
	for _, e := range kv {
		var v any
		_ = json.Unmarshal(e.Value, &v)
		out[e.Key] = v
	}
	return out
}

// TestAlarmFeedLifecycle goes through CREATE, READ, UPDATE, PAUSE, UNPAUSE
// and DELETE over the HTTP API exactly as wsk sends them, and fires on the
// schedule in between.
func TestAlarmFeedLifecycle(t *testing.T) {
	clock := &testClock{now: mustTime("2030-01-01T10:00:30Z")}
	ts, _ := startAlarmServer(t, t.TempDir(), clock)
	ts.putAction("echo", "python:3.11", echoPy, nil)

	ts.mustStatus(ts.do("PUT", triggersPath+"everyMinute?overwrite=false", map[string]any{
		"name": "everyMinute", "annotations": kvs("feed", "/whisk.system/alarms/alarm"),
	}), 200)
	status, created := ts.feed("alarm", "CREATE", "everyMinute", map[string]any{
		"cron": "*/1 * * * *", "trigger_payload": map[string]any{"name": "Odin", "place": "Asgard"},
	})
	if status != 200 || string(created.Response.Result) != `{"status":"success"}` {
		t.Fatalf("CREATE: %d %s", status, created.Response.Result)
	}
	if created.Namespace != "guest" || created.Name != "alarm" || annotation(created, "kind") != "builtin" ||
		annotation(created, "path") != "whisk.system/alarms/alarm" || created.End == 0 {
		t.Fatalf("the feed's activation %+v", created)
	}
	if rec := ts.waitActivation(created.ActivationID, 10*time.Second); rec.ActivationID != created.ActivationID {
		t.Fatalf("the feed's activation is not readable: %+v", rec)
	}
	ts.feedFails("alarm", "CREATE", "everyMinute", map[string]any{"cron": "* * * * *"}, "error creating alarm trigger.")

	read := ts.feedOK("alarm", "READ", "everyMinute", nil)
	cfg, _ := read["config"].(map[string]any)
	st, _ := read["status"].(map[string]any)
	if cfg["name"] != "everyMinute" || cfg["namespace"] != "guest" || cfg["cron"] != "*/1 * * * *" ||
		mustJSON(cfg["payload"]) != `{"name":"Odin","place":"Asgard"}` {
		t.Fatalf("READ config %v", cfg)
	}
	if st["active"] != true || st["dateChanged"] != float64(clock.Now().UnixMilli()) || st["dateChangedISO"] != "2030-01-01T10:00:30Z" {
		t.Fatalf("READ status %v", st)
	}

	// Nothing is due before 10:01; at 10:01 the trigger fires once.
	ts.putRule("log", "/_/everyMinute", "/_/echo")
	ts.tick(0)
	clock.Set(mustTime("2030-01-01T10:01:00Z"))
	ts.tick(1)
	ts.tick(0)
	fires := ts.waitFires("everyMinute", 1)
	if got := string(fires[0].Response.Result); got != `{"name":"Odin","place":"Asgard"}` {
		t.Fatalf("fired with %s", got)
	}
	logs := ruleLogs(t, fires[0])
	if len(logs) != 1 || !logs[0].Success {
		t.Fatalf("rule results %q", fires[0].Logs)
	}
	ran := resultOf(t, ts.waitActivation(logs[0].ActivationID, 30*time.Second))
	if ran["name"] != "Odin" || ran["place"] != "Asgard" || ran["__ow_headers"] != nil {
		t.Fatalf("the rule's action got %v", ran)
	}

	// UPDATE changes the schedule and the payload (a string becomes {payload}).
	ts.feedFails("alarm", "UPDATE", "everyMinute", nil, "no updatable parameters were specified")
	ts.feedFails("alarm", "UPDATE", "everyMinute", map[string]any{"cron": "every day"}, "cron pattern 'every day' is not valid")
	ts.feedOK("alarm", "UPDATE", "everyMinute", map[string]any{"cron": "0 * * * *", "trigger_payload": "hi"})
	cfg = ts.feedOK("alarm", "READ", "everyMinute", nil)["config"].(map[string]any)
	if cfg["cron"] != "0 * * * *" || mustJSON(cfg["payload"]) != `{"payload":"hi"}` {
		t.Fatalf("after UPDATE: %v", cfg)
	}
	clock.Set(mustTime("2030-01-01T10:30:00Z"))
	ts.tick(0)
	clock.Set(mustTime("2030-01-01T11:00:00Z"))
	ts.tick(1)
	if got := string(ts.waitFires("everyMinute", 2)[0].Response.Result); got != `{"payload":"hi"}` {
		t.Fatalf("fired with %s", got)
	}

	// PAUSE keeps the schedule but does not fire; UNPAUSE resumes from now.
	ts.feedOK("alarm", "PAUSE", "everyMinute", nil)
	st = ts.feedOK("alarm", "READ", "everyMinute", nil)["status"].(map[string]any)
	if st["active"] != false || mustJSON(st["reason"]) != `{"kind":"USER","message":"Paused by the trigger's owner"}` {
		t.Fatalf("paused status %v", st)
	}
	clock.Set(mustTime("2030-01-01T13:00:00Z"))
	ts.tick(0)
	ts.feedOK("alarm", "UNPAUSE", "everyMinute", nil)
	ts.tick(0) // 13:00 was missed while paused: not replayed
	clock.Set(mustTime("2030-01-01T14:00:00Z"))
	ts.tick(1)
	ts.waitFires("everyMinute", 3)

	// DELETE forgets the schedule; then wsk deletes the trigger.
	ts.feedOK("alarm", "DELETE", "everyMinute", nil)
	ts.feedFails("alarm", "READ", "everyMinute", nil, "could not find trigger /guest/everyMinute in the database")
	ts.feedFails("alarm", "DELETE", "everyMinute", nil, "could not find trigger /guest/everyMinute in the database")
	clock.Set(mustTime("2030-01-01T15:00:00Z"))
	ts.tick(0)
	ts.mustStatus(ts.do("DELETE", triggersPath+"everyMinute", nil), 200)
}

func TestAlarmFeedRefusals(t *testing.T) {
	clock := &testClock{now: mustTime("2030-01-01T10:00:30Z")}
	ts, _ := startAlarmServer(t, t.TempDir(), clock)
	ts.putTrigger("t", map[string]any{"annotations": kvs("feed", "/whisk.system/alarms/alarm")})
	tests := []struct {
		action string
		params map[string]any
		msg    string
	}{
		{"alarm", nil, "alarms trigger feed is missing the cron parameter"},
		{"alarm", map[string]any{"cron": "61 * * * *"}, "cron pattern '61 * * * *' is not valid"},
		{"alarm", map[string]any{"cron": "* * * * *", "timezone": "Mars/Olympus"}, "Invalid timezone."},
		{"alarm", map[string]any{"cron": "* * * * *", "startDate": "yesterday"}, "startDate parameter 'yesterday' is not a valid Date"},
		{"alarm", map[string]any{"cron": "* * * * *", "startDate": "2029-01-01T00:00:00Z"}, "startDate parameter '2029-01-01T00:00:00Z' must be in the future"},
		{"alarm", map[string]any{"cron": "* * * * *", "startDate": "2030-01-02T00:00:00Z", "stopDate": "2030-01-01T12:00:00Z"},
			"stopDate parameter '2030-01-01T12:00:00Z' must be greater than the startDate parameter '2030-01-02T00:00:00Z'"},
		{"alarm", map[string]any{"cron": "0 0 1 6 *", "stopDate": "2030-01-01T12:00:00Z"}, "the first scheduled trigger fire is not until after the stop date"},
		{"once", nil, "alarms once trigger feed is missing the date parameter"},
		{"once", map[string]any{"date": 1893456000000}, "date parameter '1893456000000' must be in the future"},
		{"once", map[string]any{"date": "2030-02-01T00:00:00Z", "deleteAfterFire": "maybe"}, "deleteAfterFire parameter must be one of [false, true, rules]."},
		{"interval", nil, "interval trigger feed is missing the minutes parameter"},
		{"interval", map[string]any{"minutes": 1.5}, "the minutes parameter must be an integer"},
		{"interval", map[string]any{"minutes": -2}, "the minutes parameter must be an integer greater than zero"},
	}
	for _, tc := range tests {
		ts.feedFails(tc.action, "CREATE", "t", tc.params, tc.msg)
	}
	ts.feedFails("alarm", "RESTART", "t", nil, "unsupported lifecycleEvent")
	ts.feedFails("alarm", "CREATE", "nope", map[string]any{"cron": "* * * * *"}, "Trigger authentication request failed.")
	r := ts.do("POST", feedPath+"alarm?blocking=true", map[string]any{"lifecycleEvent": "CREATE", "cron": "* * * * *"})
	if r.status != 502 || !strings.Contains(string(r.body), "no trigger name parameter was provided") {
		t.Fatalf("without triggerName: %d %s", r.status, r.body)
	}
	// A key of another namespace does not stand for the trigger's owner.
	alice := trigTenant(t, ts, "alice", whisk.NamespaceLimits{})
	r = ts.do("POST", feedPath+"alarm?blocking=true", map[string]any{
		"lifecycleEvent": "CREATE", "triggerName": "/_/t", "authKey": alice, "cron": "* * * * *"})
	if r.status != 502 || !strings.Contains(string(r.body), "Trigger authentication request failed.") {
		t.Fatalf("with another namespace's key: %d %s", r.status, r.body)
	}
	// Nothing was stored by the refusals.
	if list, err := ts.srv.store.ListSchedules(context.Background(), ""); err != nil || len(list) != 0 {
		t.Fatalf("schedules after refusals: %v %v", list, err)
	}
}

// TestAlarmCatchUpAfterRestart stops the server for three hours of an
// hourly alarm: on start-up the alarm fires once, not three times, and then
// keeps its schedule. The schedule lives in the store.
func TestAlarmCatchUpAfterRestart(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{now: mustTime("2030-01-01T10:00:30Z")}
	ts, stop := startAlarmServer(t, dir, clock)
	ts.putAction("echo", "python:3.11", echoPy, nil)
	ts.feedTrigger("hourly", "alarm", map[string]any{"cron": "0 * * * *", "trigger_payload": map[string]any{"n": 1}})
	ts.putRule("r", "/_/hourly", "/_/echo")
	clock.Set(mustTime("2030-01-01T11:00:00Z"))
	ts.tick(1)
	ts.waitFires("hourly", 1)
	stop()

	clock.Set(mustTime("2030-01-01T14:20:00Z")) // 12:00, 13:00 and 14:00 were missed
	ts, _ = startAlarmServer(t, dir, clock)
	fires := ts.waitFires("hourly", 2) // fired once while starting
	if fires[0].Start < fires[1].Start {
		t.Fatalf("order %v", fires)
	}
	ts.tick(0)
	clock.Set(mustTime("2030-01-01T14:59:59Z"))
	ts.tick(0)
	clock.Set(mustTime("2030-01-01T15:00:00Z"))
	ts.tick(1)
	fires = ts.waitFires("hourly", 3)
	logs := ruleLogs(t, fires[0])
	if len(logs) != 1 || !logs[0].Success {
		t.Fatalf("rule results after the restart %q", fires[0].Logs)
	}
	if res := resultOf(t, ts.waitActivation(logs[0].ActivationID, 30*time.Second)); res["n"] != 1.0 {
		t.Fatalf("the action after the restart got %v", res)
	}
}

func TestAlarmStopDate(t *testing.T) {
	clock := &testClock{now: mustTime("2030-01-01T10:00:30Z")}
	ts, _ := startAlarmServer(t, t.TempDir(), clock)
	ts.putAction("echo", "python:3.11", echoPy, nil)
	ts.feedTrigger("bounded", "alarm", map[string]any{
		"cron": "* * * * *", "startDate": "2030-01-01T10:02:00.000Z", "stopDate": "2030-01-01T10:03:00.000Z",
	})
	ts.putRule("r", "/_/bounded", "/_/echo")
	clock.Set(mustTime("2030-01-01T10:01:00Z"))
	ts.tick(0) // before the start date
	clock.Set(mustTime("2030-01-01T10:02:00Z"))
	ts.tick(1)
	clock.Set(mustTime("2030-01-01T10:03:00Z"))
	ts.tick(1) // the last tick: at the stop date
	st := ts.feedOK("alarm", "READ", "bounded", nil)["status"].(map[string]any)
	if st["active"] != false || mustJSON(st["reason"]) != `{"kind":"AUTO","message":"Automatically disabled after firing last scheduled cron trigger"}` {
		t.Fatalf("after the stop date: %v", st)
	}
	clock.Set(mustTime("2030-01-01T10:04:00Z"))
	ts.tick(0)
	ts.waitFires("bounded", 2)

	// An interval without a start date fires 30 s after it was made, then
	// every interval, until its stop date.
	ts.feedTrigger("every2", "interval", map[string]any{"minutes": 2, "stopDate": "2030-01-01T10:09:00Z"})
	ts.putRule("r2", "/_/every2", "/_/echo")
	clock.Set(mustTime("2030-01-01T10:04:29Z"))
	ts.tick(0)
	clock.Set(mustTime("2030-01-01T10:04:30Z"))
	ts.tick(1)
	clock.Set(mustTime("2030-01-01T10:06:30Z"))
	ts.tick(1)
	clock.Set(mustTime("2030-01-01T10:08:30Z"))
	ts.tick(1)
	clock.Set(mustTime("2030-01-01T10:20:00Z"))
	ts.tick(0)
	ts.waitFires("every2", 3)
	cfg := ts.feedOK("interval", "READ", "every2", nil)["config"].(map[string]any)
	if cfg["minutes"] != 2.0 || cfg["startDate"] != float64(mustTime("2030-01-01T10:04:30Z").UnixMilli()) {
		t.Fatalf("interval config %v", cfg)
	}
}

func TestAlarmOnce(t *testing.T) {
	clock := &testClock{now: mustTime("2030-01-01T10:00:00Z")}
	ts, _ := startAlarmServer(t, t.TempDir(), clock)
	ts.putAction("echo", "python:3.11", echoPy, nil)
	for _, name := range []string{"keep", "dropTrigger", "dropRules"} {
		after := map[string]string{"keep": "false", "dropTrigger": "true", "dropRules": "rules"}[name]
		ts.feedTrigger(name, "once", map[string]any{"date": "2030-01-01T12:00:00.000Z", "deleteAfterFire": after, "trigger_payload": name})
		ts.putRule("r-"+name, "/_/"+name, "/_/echo")
	}
	cfg := ts.feedOK("once", "READ", "dropRules", nil)["config"].(map[string]any)
	if cfg["date"] != "2030-01-01T12:00:00.000Z" || cfg["deleteAfterFire"] != "rules" {
		t.Fatalf("once config %v", cfg)
	}
	clock.Set(mustTime("2030-01-01T11:59:59Z"))
	ts.tick(0)
	clock.Set(mustTime("2030-01-01T12:00:00Z"))
	ts.tick(3)
	clock.Set(mustTime("2031-01-01T12:00:00Z"))
	ts.tick(0)
	for _, name := range []string{"keep", "dropTrigger", "dropRules"} {
		if got := string(ts.waitFires(name, 1)[0].Response.Result); got != `{"payload":"`+name+`"}` {
			t.Errorf("%s fired with %s", name, got)
		}
	}
	// false: the trigger stays, its alarm disabled.
	st := ts.feedOK("once", "READ", "keep", nil)["status"].(map[string]any)
	if st["active"] != false || mustJSON(st["reason"]) != `{"kind":"AUTO","message":"Automatically disabled after firing once"}` {
		t.Fatalf("keep: %v", st)
	}
	ts.mustStatus(ts.do("GET", triggersPath+"keep", nil), 200)
	// true: the trigger is gone, its rule stays (inactive).
	wantWhiskError(t, ts.do("GET", triggersPath+"dropTrigger", nil), 404, whisk.MsgNotFound)
	var r whisk.Rule
	ts.mustStatus(ts.do("GET", rulesPath+"r-dropTrigger", nil), 200).json(t, &r)
	if r.Status != "inactive" {
		t.Fatalf("rule of a deleted trigger: %+v", r)
	}
	// rules: the trigger and its rules are gone.
	wantWhiskError(t, ts.do("GET", triggersPath+"dropRules", nil), 404, whisk.MsgNotFound)
	wantWhiskError(t, ts.do("GET", rulesPath+"r-dropRules", nil), 404, whisk.MsgNotFound)
	if list, _ := ts.srv.store.ListSchedules(context.Background(), "guest"); len(list) != 1 || list[0].Trigger != "keep" {
		t.Fatalf("schedules left %v", list)
	}
}

// TestAlarmStopsWithItsTrigger deletes a trigger without telling its feed
// (not as wsk would): the server stops the alarm anyway.
func TestAlarmStopsWithItsTrigger(t *testing.T) {
	clock := &testClock{now: mustTime("2030-01-01T10:00:30Z")}
	ts, _ := startAlarmServer(t, t.TempDir(), clock)
	ts.feedTrigger("t", "alarm", map[string]any{"cron": "* * * * *"})
	ts.mustStatus(ts.do("DELETE", triggersPath+"t", nil), 200)
	if _, err := ts.srv.store.GetSchedule(context.Background(), "guest", "t"); whisk.CodeOf(err) != whisk.CodeNotFound {
		t.Fatalf("the schedule outlived its trigger: %v", err)
	}
	clock.Set(mustTime("2030-01-01T10:05:00Z"))
	ts.tick(0)
	// A new trigger of the same name starts without the old alarm.
	ts.putTrigger("t", map[string]any{})
	ts.tick(0)
}

// TestAlarmEverySecondRealTime runs the provider on the real clock: a
// 6-field cron line that fires every second fires, second after second.
func TestAlarmEverySecondRealTime(t *testing.T) {
	ts := startTestServer(t)
	ts.putAction("echo", "python:3.11", echoPy, nil)
	ts.feedTrigger("everySecond", "alarm", map[string]any{"cron": "* * * * * *"})
	ts.putRule("r", "/_/everySecond", "/_/echo")
	deadline := time.Now().Add(20 * time.Second)
	for {
		acts := ts.triggerActivations("everySecond")
		if len(acts) >= 3 {
			seconds := map[int64]bool{}
			for _, a := range acts {
				seconds[a.Start/1000] = true
			}
			if len(seconds) != len(acts) {
				t.Fatalf("two fires in one second: %v", seconds)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fired %d times in 20 s", len(acts))
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.mustStatus(ts.do("DELETE", triggersPath+"everySecond", nil), 200)
}

// TestAlarmCLI creates, reads and deletes an alarm trigger with the gust
// CLI as one would with wsk.
func TestAlarmCLI(t *testing.T) {
	clock := &testClock{now: mustTime("2030-01-01T10:00:30Z")}
	ts, _ := startAlarmServer(t, t.TempDir(), clock)
	clearClientEnv(t)
	t.Setenv("WSK_CONFIG_FILE", filepath.Join(t.TempDir(), "wskprops"))
	t.Setenv("GUST_APIHOST", ts.base)
	t.Setenv("GUST_AUTH", ts.key.String())
	t.Setenv("NO_COLOR", "1")
	ts.putAction("echo", "python:3.11", echoPy, nil)

	steps := []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{args: []string{"trigger", "create", "everyMinute", "--feed", "/whisk.system/alarms/alarm", "-p", "cron", "*/1 * * * *", "-p", "trigger_payload", `{"who":"cli"}`},
			stdout: "ok: created trigger everyMinute\n"},
		{args: []string{"rule", "create", "r", "everyMinute", "echo"}, stdout: "ok: created rule r\n"},
		{args: []string{"trigger", "get", "everyMinute"}, stdout: `"cron": "*/1 * * * *"`},
		{args: []string{"trigger", "list"}, stdout: "/guest/everyMinute  private  feed /whisk.system/alarms/alarm"},
		{args: []string{"trigger", "create", "broken", "--feed", "/whisk.system/alarms/alarm", "-p", "cron", "nonsense"},
			code: exitFailed, stderr: "unable to configure feed '/whisk.system/alarms/alarm': the action failed (application error): cron pattern 'nonsense' is not valid"},
		{args: []string{"trigger", "get", "broken"}, code: exitFailed, stderr: "The requested resource does not exist."},
		{args: []string{"trigger", "update", "everyMinute", "-p", "cron", "0 * * * *"}, stdout: "ok: updated trigger everyMinute\n"},
	}
	for _, s := range steps {
		out, errOut, code := runCLI(t, s.args...)
		if code != s.code || !strings.Contains(out, s.stdout) || !strings.Contains(errOut, s.stderr) {
			t.Fatalf("gust %s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout containing %q and stderr containing %q",
				strings.Join(s.args, " "), code, s.code, out, errOut, s.stdout, s.stderr)
		}
	}
	clock.Set(mustTime("2030-01-01T11:00:00Z"))
	ts.tick(1)
	if got := string(ts.waitFires("everyMinute", 1)[0].Response.Result); got != `{"who":"cli"}` {
		t.Fatalf("fired with %s", got)
	}
	if out, errOut, code := runCLI(t, "trigger", "delete", "everyMinute"); code != 0 || out != "ok: deleted trigger everyMinute\n" {
		t.Fatalf("delete: %d %q %q", code, out, errOut)
	}
	if list, _ := ts.srv.store.ListSchedules(context.Background(), ""); len(list) != 0 {
		t.Fatalf("schedules after delete %v", list)
	}
}
