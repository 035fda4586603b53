package invoker_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/bus"
	"github.com/gustfaas/gust/internal/bus/inproc"
	"github.com/gustfaas/gust/internal/invoker"
	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/sandbox/process"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/store/sqlite"
	"github.com/gustfaas/gust/internal/whisk"
)

// flakyStore is the real store with a switch that makes the consumer's
// reads fail as if the database were unreachable, and counters of them.
type flakyStore struct {
	store.Store
	down            atomic.Bool
	entityReads     atomic.Int32
	activationReads atomic.Int32
}

var errUnreachable = errors.New("connection refused")

func (s *flakyStore) GetEntity(ctx context.Context, path, name string) (store.Doc, error) {
	s.entityReads.Add(1)
	if s.down.Load() {
		return store.Doc{}, errUnreachable
	}
	return s.Store.GetEntity(ctx, path, name)
}

func (s *flakyStore) GetActivation(ctx context.Context, ns, id string) (*whisk.Activation, error) {
	s.activationReads.Add(1)
	if s.down.Load() {
		return nil, errUnreachable
	}
	return s.Store.GetActivation(ctx, ns, id)
}

// countingBus counts the deliveries its consumers receive.
type countingBus struct {
	bus.Bus
	deliveries atomic.Int32
}

func (b *countingBus) Consume(ctx context.Context, subject string, max int, h func(bus.Delivery)) (bus.Subscription, error) {
	return b.Bus.Consume(ctx, subject, max, func(d bus.Delivery) {
		b.deliveries.Add(1)
		h(d)
	})
}

type consumerEnv struct {
	t        *testing.T
	st       *sqlite.Store
	flaky    *flakyStore
	bus      *countingBus
	consumer *invoker.Consumer
	inv      *invoker.Invoker
	drv      *process.Driver

	mu        sync.Mutex
	completed []*whisk.Activation
	stored    []bool // whether each record was readable when it was announced
}

func newConsumerEnv(t *testing.T) *consumerEnv {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "gust.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ce := &consumerEnv{t: t, st: st, flaky: &flakyStore{Store: st}}
	drv, err := process.New(process.Config{WorkRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })
	reg, err := runtimes.NewRegistry(runtimes.Config{CacheDir: filepath.Join(os.TempDir(), "gust-runtimes-test")})
	if err != nil {
		t.Fatal(err)
	}
	rec := invoker.NewRecorder(invoker.DefaultRecorderConfig(), st, nil)
	t.Cleanup(rec.Close)
	inv, err := invoker.New(invoker.Config{UserMemoryMB: 1024, WorkDir: t.TempDir()},
		invoker.Deps{Driver: drv, Runtimes: reg, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inv.Close(context.Background()) })
	ce.inv, ce.drv = inv, drv
	b := inproc.New(inproc.Config{Owner: "t", Poll: 20 * time.Millisecond}, st, nil)
	t.Cleanup(func() { b.Close() })
	ce.bus = &countingBus{Bus: b}
	ce.consumer = invoker.NewConsumer(invoker.DefaultConsumerConfig(), ce.bus, ce.flaky, inv, rec, nil)
	ce.consumer.SetCompleted(func(msg *whisk.ActivationMessage, act *whisk.Activation) {
		_, err := st.GetActivation(context.Background(), act.Namespace, act.ActivationID)
		ce.mu.Lock()
		ce.completed = append(ce.completed, act)
		ce.stored = append(ce.stored, err == nil)
		ce.mu.Unlock()
	})
	if err := ce.consumer.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ce.consumer.Stop)
	return ce
}

// put stores a native action and returns it as the store has it.
func (ce *consumerEnv) put(a *whisk.Action, rev int64) (*whisk.Action, int64) {
	ce.t.Helper()
	a.Updated = time.Now().UnixMilli()
	body, _ := json.Marshal(a)
	rev, err := ce.st.PutEntity(context.Background(), store.Doc{Collection: store.Actions, Namespace: "guest",
		Path: "guest", Name: a.Name, Updated: a.Updated, Body: body}, rev)
	if err != nil {
		ce.t.Fatal(err)
	}
	return a, rev
}

// accept publishes msg as the controller's Acceptor does.
func (ce *consumerEnv) accept(msg *whisk.ActivationMessage) {
	ce.t.Helper()
	if err := (invoker.Acceptor{Bus: ce.bus}).Accept(context.Background(), msg); err != nil {
		ce.t.Fatal(err)
	}
}

func (ce *consumerEnv) waitCompleted(n int) []*whisk.Activation {
	ce.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ce.mu.Lock()
		got := append([]*whisk.Activation(nil), ce.completed...)
		stored := append([]bool(nil), ce.stored...)
		ce.mu.Unlock()
		if len(got) >= n {
			for i, ok := range stored {
				if !ok {
					ce.t.Fatalf("completion %d announced before its record was readable", i)
				}
			}
			return got
		}
		if time.Now().After(deadline) {
			ce.t.Fatalf("%d completions, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsumerAnnouncesCommittedRecords: work with a ReplyTo is announced
// once its record is committed, and only then.
func TestConsumerAnnouncesCommittedRecords(t *testing.T) {
	ce := newConsumerEnv(t)
	a, rev := ce.put(nativeAction("counted", 128), 0)
	for range 3 {
		msg := message(a, `{}`)
		msg.ActionRev, msg.ReplyTo = rev, "gust-reply.c-test.x"
		ce.accept(msg)
	}
	silent := message(a, `{}`) // no ReplyTo: nobody is told
	silent.ActionRev = rev
	ce.accept(silent)
	acts := ce.waitCompleted(3)
	time.Sleep(300 * time.Millisecond) // the silent one is done by now too
	ce.mu.Lock()
	n := len(ce.completed)
	ce.mu.Unlock()
	if n != 3 {
		t.Fatalf("%d completions, want the 3 with a reply subject", n)
	}
	for _, act := range acts {
		if !act.Response.Success {
			t.Fatalf("record %+v", act)
		}
	}
}

// TestConsumerHoldsWorkWhileTheStoreIsDown: a store that cannot answer is
// waited for with the delivery in hand, not by handing the work back (which
// would spend its deliveries within seconds of an outage); once the store
// answers, the work runs once.
func TestConsumerHoldsWorkWhileTheStoreIsDown(t *testing.T) {
	ce := newConsumerEnv(t)
	a, rev := ce.put(nativeAction("patient", 128), 0)
	ce.flaky.down.Store(true)
	msg := message(a, `{}`)
	msg.ActionRev, msg.ReplyTo = rev, "gust-reply.c-test.x"
	ce.accept(msg)
	time.Sleep(2 * time.Second)
	if n := ce.flaky.activationReads.Load() + ce.flaky.entityReads.Load(); n < 3 {
		t.Fatalf("the store was read %d times in 2 s of outage, want retries", n)
	}
	ce.flaky.down.Store(false)
	ce.waitCompleted(1)
	if n := ce.bus.deliveries.Load(); n != 1 {
		t.Fatalf("%d deliveries across the outage, want 1", n)
	}
}

// TestConsumerKeepsTheActionVersionItLoaded: work naming the version the
// consumer holds does not read the store; work naming another does, and
// runs that version.
func TestConsumerKeepsTheActionVersionItLoaded(t *testing.T) {
	ce := newConsumerEnv(t)
	a, rev := ce.put(nativeAction("versioned", 128), 0)
	for i := range 3 {
		msg := message(a, `{}`)
		msg.ActionRev, msg.ReplyTo = rev, "gust-reply.c-test.x"
		ce.accept(msg)
		ce.waitCompleted(i + 1)
	}
	if n := ce.flaky.entityReads.Load(); n != 1 {
		t.Fatalf("the action was read %d times for 3 activations of one version, want 1", n)
	}
	code := "#!/bin/sh\nwhile read -r line; do echo '{\"version\":2}' >&3; done\n"
	a2 := nativeAction("versioned", 128)
	a2.Exec.Code = &code
	a2, rev2 := ce.put(a2, rev)
	msg := message(a2, `{}`)
	msg.ActionRev, msg.ReplyTo = rev2, "gust-reply.c-test.x"
	ce.accept(msg)
	acts := ce.waitCompleted(4)
	if got := string(acts[3].Response.Result); got != `{"version":2}` {
		t.Fatalf("after an update the consumer ran %s", got)
	}
	if n := ce.flaky.entityReads.Load(); n != 2 {
		t.Fatalf("the action was read %d times, want once more for the new version", n)
	}
}

// TestShutdownHandsBackUnfinishedWork: accepted work that a shutdown cuts
// off once its grace has run out is not recorded as the action's failure
// and acknowledged, but handed back to the queue to run after the restart.
func TestShutdownHandsBackUnfinishedWork(t *testing.T) {
	ce := newConsumerEnv(t)
	a, rev := ce.put(nativeAction("slow", 128), 0)
	msg := message(a, `{"sleep":true}`)
	msg.ActionRev = rev
	ce.accept(msg)
	deadline := time.Now().Add(10 * time.Second)
	for ce.inv.Stats().Busy == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the activation did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The server's shutdown: the consumer stops taking work (and returns
	// once the deliveries in hand are done) while the invoker is closed.
	stopped := make(chan struct{})
	go func() { ce.consumer.Stop(); close(stopped) }()
	grace, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := ce.inv.Close(grace); err == nil {
		t.Fatal("Close waited for an activation that sleeps longer than its grace")
	}
	ce.drv.Close() // what the server does next: the running sandbox is killed
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the consumer did not finish the delivery it held")
	}
	time.Sleep(200 * time.Millisecond) // a record, if one were made, would be committed by now
	if _, err := ce.st.GetActivation(context.Background(), "guest", msg.ActivationID); !errors.Is(err, whisk.ErrNotFound) {
		t.Fatalf("a record of the cut-off activation was stored (err %v)", err)
	}
	items, err := ce.st.Claim(context.Background(), "restarted", 10, time.Minute)
	if err != nil || len(items) != 1 || items[0].ID != msg.ActivationID {
		t.Fatalf("claimable after the shutdown: %+v (err %v), want the cut-off activation", items, err)
	}
}
