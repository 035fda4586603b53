package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gustfaas/gust/internal/bus"
	"github.com/gustfaas/gust/internal/bus/natsbus"
	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/scheduler"
	"github.com/gustfaas/gust/internal/store/sqlite"
	"github.com/gustfaas/gust/internal/testenv"
	"github.com/gustfaas/gust/internal/whisk"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testBus returns a function that connects a process to the test's own
// stream and subject prefix on GUST_TEST_NATS.
func testBus(t *testing.T) func() *natsbus.Bus {
	t.Helper()
	url := testenv.MustHaveNATS(t)
	var b [4]byte
	rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	cfg := natsbus.DefaultConfig()
	cfg.URL, cfg.Prefix, cfg.Stream = url, "clt"+suffix, "CLT_"+strings.ToUpper(suffix)
	cfg.PublishRetry, cfg.PullWait, cfg.Log = time.Second, 300*time.Millisecond, quiet
	t.Cleanup(func() {
		nc, err := nats.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		js.DeleteStream(context.Background(), cfg.Stream)
	})
	return func() *natsbus.Bus {
		b, err := natsbus.New(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
}

func TestMembersStates(t *testing.T) {
	now := time.Unix(1000, 0)
	ms := NewMembers(10*time.Second, time.Hour, func() time.Time { return now })
	ms.Observe(Heartbeat{Role: RoleInvoker, ID: "b", UserMB: 1024})
	ms.Observe(Heartbeat{Role: RoleInvoker, ID: "a", UserMB: 2048})
	ms.Observe(Heartbeat{Role: RoleController, ID: "c", Watchers: 1})
	ms.Observe(Heartbeat{Role: RoleInvoker, ID: "bad id"}) // not a subject token: ignored
	if got := ms.List(RoleInvoker); len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" || got[0].State != StateHealthy {
		t.Fatalf("invokers %+v", got)
	}
	if !ms.Watched() || ms.Count(RoleController) != 1 {
		t.Fatal("a healthy controller with a watcher is not seen")
	}
	now = now.Add(5 * time.Second)
	ms.Observe(Heartbeat{Role: RoleInvoker, ID: "a", Stopping: true})
	now = now.Add(6 * time.Second) // b and c silent for 11 s
	for _, m := range ms.List("") {
		want := StateOffline
		if m.ID == "a" {
			want = StateStopping
		}
		if m.State != want {
			t.Errorf("%s/%s is %s, want %s", m.Role, m.ID, m.State, want)
		}
		if m.ID == "b" && m.Age != 11*time.Second {
			t.Errorf("age of b %v", m.Age)
		}
	}
	if ms.Healthy(RoleInvoker, "a") || ms.Count(RoleInvoker) != 0 || ms.Watched() {
		t.Fatal("a stopping or offline member counted as healthy")
	}
	now = now.Add(2 * time.Hour)
	if got := ms.List(""); len(got) != 0 {
		t.Fatalf("members silent for 2 h are still listed: %+v", got)
	}
}

// invokerNode heartbeats as an invoker with the given memory.
func invokerNode(t *testing.T, b *natsbus.Bus, id string, userMB int) *Node {
	t.Helper()
	n, err := StartNode(NodeConfig{Role: RoleInvoker, ID: id, Log: quiet}, b, func(hb *Heartbeat) { hb.UserMB = userMB })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n
}

func waitHealthy(t *testing.T, ms *Members, role string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ms.Count(role) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d healthy %ss, want %d: %+v", ms.Count(role), role, n, ms.List(""))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testMessage(ns, action string, memMB int) *whisk.ActivationMessage {
	return &whisk.ActivationMessage{
		ActivationID: whisk.NewActivationID(),
		Identity:     whisk.Identity{Namespace: ns, Subject: ns},
		ActionFQN:    whisk.FQN{Namespace: ns, Name: action},
		Action:       &whisk.Action{Limits: whisk.Limits{Memory: memMB, Timeout: 1000}},
		Received:     time.Now(),
	}
}

// TestPlacement: each activation goes to its action's home invoker while
// this controller's share of its memory lasts, then to the next; a
// completion frees the share; no healthy invoker is a 503.
func TestPlacement(t *testing.T) {
	connect := testBus(t)
	ctlBus := connect()
	ctlNode, err := StartNode(NodeConfig{Role: RoleController, ID: "ctl", Log: quiet}, ctlBus, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ctlNode.Stop()
	members := ctlNode.Members()
	st, err := sqlite.Open(t.TempDir() + "/gust.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := NewClient(ClientConfig{Role: RoleController, ID: "ctl", FirstHeartbeat: 300 * time.Millisecond, Log: quiet},
		ctlBus, members, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	msg := testMessage("guest", "hello", 256)
	start := time.Now()
	if err := c.Accept(t.Context(), msg); whisk.CodeOf(err) != whisk.CodeUnavailable {
		t.Fatalf("Accept with no invoker: %v, want a 503", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("refused after %v: a new client waits for the first heartbeats", waited)
	}
	start = time.Now()
	if err := c.Accept(t.Context(), msg); whisk.CodeOf(err) != whisk.CodeUnavailable || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("Accept with no invoker once started: %v after %v, want a 503 at once", err, time.Since(start))
	}

	invBus := connect()
	invokerNode(t, invBus, "inv-a", 512)
	invokerNode(t, invBus, "inv-b", 512)
	waitHealthy(t, members, RoleInvoker, 2)

	// Where the scheduler puts "hello" with both invokers free.
	snap := []scheduler.Invoker{{ID: "inv-a", Healthy: true, FreeMB: 512}, {ID: "inv-b", Healthy: true, FreeMB: 512}}
	idx, _ := scheduler.Place(snap, "guest", msg.ActionFQN.String(), 256)
	home, other := snap[idx].ID, snap[1-idx].ID

	var mu sync.Mutex
	queued := map[string][]string{} // invoker → activation ids
	for _, id := range []string{"inv-a", "inv-b"} {
		sub, err := invBus.Consume(t.Context(), InvokeSubject(id), 8, func(d bus.Delivery) {
			mu.Lock()
			queued[id] = append(queued[id], d.ID())
			mu.Unlock()
			d.Ack()
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Stop()
	}
	var msgs []*whisk.ActivationMessage
	for range 5 {
		m := testMessage("guest", "hello", 256)
		if err := c.Accept(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(queued[home]) + len(queued[other])
		mu.Unlock()
		if n == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queued %v", queued)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// 512 MB ÷ one controller = 2 × 256 MB per invoker, then overload on
	// the home invoker.
	if len(queued[home]) != 3 || len(queued[other]) != 2 {
		t.Fatalf("home %s got %d, the other %d; want 2+1 overflowing to home, 2", home, len(queued[home]), len(queued[other]))
	}
	if got := c.InFlight(); got[home] != 3*256 || got[other] != 2*256 {
		t.Fatalf("in flight %v", got)
	}
	// The invoker's completion frees the memory.
	act := &whisk.Activation{ActivationID: msgs[0].ActivationID, Namespace: "guest"}
	if err := invBus.Reply(msgs[0].ReplyTo, EncodeCompletion(act, invBus.MaxPayload())); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for c.InFlight()[home] == 3*256 {
		if time.Now().After(deadline) {
			t.Fatalf("in flight after a completion: %v", c.InFlight())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFirstHeartbeat: a client that has just started holds a request that
// finds no invoker until one is heard from, instead of refusing it.
func TestFirstHeartbeat(t *testing.T) {
	connect := testBus(t)
	ctlBus := connect()
	members := NewMembers(10*time.Second, time.Hour, nil)
	st, err := sqlite.Open(t.TempDir() + "/gust.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := NewClient(ClientConfig{Role: RoleController, ID: "ctl", FirstHeartbeat: 5 * time.Second, Log: quiet},
		ctlBus, members, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		time.Sleep(300 * time.Millisecond)
		members.Observe(Heartbeat{Role: RoleInvoker, ID: "inv-a", UserMB: 512})
	}()
	if err := c.Accept(t.Context(), testMessage("guest", "hello", 256)); err != nil {
		t.Fatalf("Accept before the first heartbeat: %v, want it placed once the invoker is heard", err)
	}
	if got := c.InFlight()["inv-a"]; got != 256 {
		t.Fatalf("in flight on inv-a: %d MB, want 256", got)
	}
}

// TestBlockingCompletion: Start's channel receives the record the invoker
// sends; when none comes, the record the store holds.
func TestBlockingCompletion(t *testing.T) {
	connect := testBus(t)
	b := connect()
	node, err := StartNode(NodeConfig{Role: RoleController, ID: "ctl", Log: quiet}, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Stop()
	invokerNode(t, connect(), "inv", 1024)
	waitHealthy(t, node.Members(), RoleInvoker, 1)
	st, err := sqlite.Open(t.TempDir() + "/gust.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := NewClient(ClientConfig{Role: RoleController, ID: "ctl", ReplyMargin: 200 * time.Millisecond, Log: quiet},
		b, node.Members(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	replied := testMessage("guest", "a", 128)
	ch, err := c.Start(replied)
	if err != nil {
		t.Fatal(err)
	}
	rec := &whisk.Activation{ActivationID: replied.ActivationID, Namespace: "guest", Name: "a",
		Response: whisk.Response{Status: "success", Result: json.RawMessage(`{"ok":true}`)}}
	if err := b.Reply(replied.ReplyTo, EncodeCompletion(rec, b.MaxPayload())); err != nil {
		t.Fatal(err)
	}
	select {
	case act := <-ch:
		if string(act.Response.Result) != `{"ok":true}` {
			t.Fatalf("record %+v", act)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no record from the completion")
	}

	// No completion: the record is read from the store once the action's
	// timeout and the margin have passed.
	silent := testMessage("guest", "b", 128)
	ch, err = c.Start(silent)
	if err != nil {
		t.Fatal(err)
	}
	stored := &whisk.Activation{ActivationID: silent.ActivationID, Namespace: "guest", Name: "b",
		Response: whisk.Response{Status: "success", Result: json.RawMessage(`{"from":"store"}`)}, Logs: []string{}}
	if err := st.PutActivations(t.Context(), []*whisk.Activation{stored}); err != nil {
		t.Fatal(err)
	}
	select {
	case act := <-ch:
		if string(act.Response.Result) != `{"from":"store"}` {
			t.Fatalf("record %+v", act)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the store was not read when no completion came")
	}
	if len(c.InFlight()) != 0 {
		t.Fatalf("in flight after both completed: %v", c.InFlight())
	}

	// A record too large for one message is announced without it and read
	// from the store.
	large := &whisk.Activation{ActivationID: "x", Logs: []string{strings.Repeat("y", b.MaxPayload())}}
	if data := EncodeCompletion(large, b.MaxPayload()); string(data) != "{}" {
		t.Fatalf("a large completion is %d bytes", len(data))
	}
}

type forgetting struct {
	mu     sync.Mutex
	forgot []string
	all    int
}

func (f *forgetting) Forget(path, name string) {
	f.mu.Lock()
	f.forgot = append(f.forgot, path+"/"+name)
	f.mu.Unlock()
}

func (f *forgetting) ForgetNamespace(ns string) {
	f.mu.Lock()
	f.forgot = append(f.forgot, "namespace:"+ns)
	f.mu.Unlock()
}

func (f *forgetting) ForgetAll() {
	f.mu.Lock()
	f.all++
	f.mu.Unlock()
}

// TestCachesWaitForTheOthers: Changed returns once every other healthy
// controller has forgotten the entity, not before.
func TestCachesWaitForTheOthers(t *testing.T) {
	connect := testBus(t)
	var caches []*Caches
	var seen []*forgetting
	var nodes []*Node
	for _, id := range []string{"c1", "c2", "c3"} {
		b := connect()
		n, err := StartNode(NodeConfig{Role: RoleController, ID: id, Log: quiet}, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Stop()
		f := &forgetting{}
		c, err := StartCaches(b, n.Members(), id, f, 3*time.Second, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Stop()
		caches, seen, nodes = append(caches, c), append(seen, f), append(nodes, n)
	}
	for _, n := range nodes {
		waitHealthy(t, n.Members(), RoleController, 3)
	}
	began := time.Now()
	caches[0].Changed("guest", "hello")
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("Changed took %v with every controller answering", took)
	}
	for i, f := range seen {
		f.mu.Lock()
		got := strings.Join(f.forgot, ",")
		f.mu.Unlock()
		if want := map[bool]string{true: "", false: "guest/hello"}[i == 0]; got != want {
			t.Errorf("controller %d forgot %q when Changed returned, want %q", i+1, got, want)
		}
	}
	// A controller that is gone without a word is waited for until the
	// bounded wait, no longer.
	caches[2].Stop()
	began = time.Now()
	caches[0].Changed("guest", "other")
	if took := time.Since(began); took < 2500*time.Millisecond || took > 5*time.Second {
		t.Fatalf("Changed took %v with one controller not answering, want the wait (3 s)", took)
	}
}

// TestAdopter: the healthy invoker with the smallest id consumes the queue
// of an invoker that is not healthy, and lets go when it is back.
func TestAdopter(t *testing.T) {
	connect := testBus(t)
	b := connect()
	node := invokerNode(t, b, "a-first", 1024)
	other := invokerNode(t, connect(), "z-last", 1024)
	// Both must see both: an adopter that does not yet see a-first takes
	// itself for the smallest healthy id.
	waitHealthy(t, node.Members(), RoleInvoker, 2)
	waitHealthy(t, other.Members(), RoleInvoker, 2)
	for i := range 3 {
		if err := b.Publish(t.Context(), InvokeSubject("dead"), "w"+string(rune('0'+i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan string, 8)
	consume := func(self string) func(string) (func(), error) {
		return func(subject string) (func(), error) {
			sub, err := b.Consume(context.Background(), subject, 4, func(d bus.Delivery) {
				got <- self + ":" + d.ID()
				d.Ack()
			})
			if err != nil {
				return nil, err
			}
			return sub.Stop, nil
		}
	}
	cfg := AdopterConfig{Self: "a-first", Every: 100 * time.Millisecond, Grace: time.Millisecond, Log: quiet}
	first := NewAdopter(cfg, b, node.Members(), consume("a-first"))
	cfg.Self = "z-last"
	last := NewAdopter(cfg, b, other.Members(), consume("z-last"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go first.Run(ctx)
	go last.Run(ctx)
	for range 3 {
		select {
		case s := <-got:
			if !strings.HasPrefix(s, "a-first:") {
				t.Fatalf("%s: adopted by the invoker with the larger id", s)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the queue of a dead invoker was not adopted")
		}
	}
	if a := first.Adopted(); len(a) != 1 || a[0] != InvokeSubject("dead") {
		t.Fatalf("adopted %v", a)
	}
	// The owner comes back: its queue is its own again.
	invokerNode(t, connect(), "dead", 1024)
	deadline := time.Now().Add(5 * time.Second)
	for len(first.Adopted()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still adopted after the owner came back: %v", first.Adopted())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUnavailableStore: a store that cannot be reached answers 503; the
// contract errors of one that can pass as they are.
func TestUnavailableStore(t *testing.T) {
	st, err := sqlite.Open(t.TempDir() + "/gust.db")
	if err != nil {
		t.Fatal(err)
	}
	u := Unavailable(st)
	if _, err := u.GetEntity(t.Context(), "guest", "none"); !errors.Is(err, whisk.ErrNotFound) {
		t.Fatalf("missing entity: %v", err)
	}
	st.Close()
	_, err = u.GetEntity(t.Context(), "guest", "none")
	var werr *whisk.Error
	if !errors.As(err, &werr) || werr.Code != whisk.CodeUnavailable || werr.Message != controller.MsgUnavailable {
		t.Fatalf("closed store: %v, want a 503", err)
	}
}

func TestIDs(t *testing.T) {
	for in, want := range map[string]string{"host-1": "host-1", "pod.ns.svc": "pod-ns-svc", "a b*c>": "a-b-c-"} {
		if got := SanitizeID(in); got != want || !ValidID(got) {
			t.Errorf("SanitizeID(%q) = %q, want %q", in, got, want)
		}
	}
	if ValidID("") || ValidID("a.b") || ValidID(strings.Repeat("x", 129)) {
		t.Error("an invalid id accepted")
	}
}
