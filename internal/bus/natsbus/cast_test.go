package natsbus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/gustfaas/gust/internal/bus"
)

// TestCastReachesEveryListener: a broadcast goes to every listener of its
// subject, not to one of a group, and never into the stream.
func TestCastReachesEveryListener(t *testing.T) {
	cfg := testConfig(t)
	b1, b2 := mustNew(t, cfg), mustNew(t, cfg)
	got := make(chan string, 4)
	for i, b := range []*Bus{b1, b2} {
		sub, err := b.Listen("hb", func(data []byte) []byte {
			got <- fmt.Sprintf("%d:%s", i, data)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Stop()
	}
	if err := b1.Cast("hb", []byte("x")); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 2 {
		select {
		case s := <-got:
			seen[s] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("broadcast reached %v", seen)
		}
	}
	if !seen["0:x"] || !seen["1:x"] {
		t.Fatalf("broadcast reached %v, want both listeners", seen)
	}
	info, err := b1.stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Fatalf("the stream holds %d messages after a broadcast", info.State.Msgs)
	}
	if err := b1.Cast("a.*", nil); err == nil {
		t.Fatal("broadcast on a wildcard subject accepted")
	}
}

// TestGather collects the answers of the listeners, stops at want, and
// returns what came when some do not answer in time.
func TestGather(t *testing.T) {
	cfg := testConfig(t)
	b := mustNew(t, cfg)
	for i := range 3 {
		sub, err := mustNew(t, cfg).Listen("ask", func(data []byte) []byte {
			if i == 2 {
				return nil // a listener that does not answer
			}
			return append([]byte(fmt.Sprint(i)+":"), data...)
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Stop()
	}
	began := time.Now()
	answers, err := b.Gather(t.Context(), "ask", []byte("q"), 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(answers) != 2 || time.Since(began) > 4*time.Second {
		t.Fatalf("%d answers after %v, want 2 at once", len(answers), time.Since(began))
	}
	for _, a := range answers {
		if !bytes.HasSuffix(a, []byte(":q")) {
			t.Fatalf("answer %q", a)
		}
	}
	began = time.Now()
	answers, _ = b.Gather(t.Context(), "ask", []byte("q"), 3, 500*time.Millisecond)
	if len(answers) != 2 || time.Since(began) < 450*time.Millisecond {
		t.Fatalf("%d answers after %v, want the 2 that came within the wait", len(answers), time.Since(began))
	}
}

// TestCompletions routes replies sent with Reply by token.
func TestCompletions(t *testing.T) {
	cfg := testConfig(t)
	b := mustNew(t, cfg)
	type reply struct{ token, data string }
	got := make(chan reply, 2)
	sub, err := b.Completions("c-one", func(token string, data []byte) { got <- reply{token, string(data)} })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	other := mustNew(t, cfg)
	if err := other.Reply(b.CompletionSubject("c-one", "a1b2"), []byte("done")); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.token != "a1b2" || r.data != "done" {
			t.Fatalf("completion %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no completion")
	}
	if _, err := b.Completions("two.tokens", func(string, []byte) {}); err == nil {
		t.Fatal("a completion name of two tokens accepted")
	}
	if b.MaxPayload() < 1<<16 {
		t.Fatalf("MaxPayload %d", b.MaxPayload())
	}
}

// TestSubjectCountsAndDeleteConsumer: the queues holding work are listed
// by subject; deleting a subject's consumer keeps its messages for the next.
func TestSubjectCountsAndDeleteConsumer(t *testing.T) {
	cfg := testConfig(t)
	b := mustNew(t, cfg)
	ctx := t.Context()
	for i, subj := range []string{"invoke.a", "invoke.a", "invoke.b", "other"} {
		if err := b.Publish(ctx, subj, fmt.Sprint("m", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := b.SubjectCounts(ctx, "invoke")
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 2 || counts["invoke.a"] != 2 || counts["invoke.b"] != 1 {
		t.Fatalf("counts %v", counts)
	}
	sub, err := b.Consume(ctx, "invoke.b", 1, func(d bus.Delivery) {})
	if err != nil {
		t.Fatal(err)
	}
	sub.Stop()
	if err := b.DeleteConsumer(ctx, "invoke.b"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.js.Consumer(ctx, cfg.Stream, "invokers_invoke_b"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("consumer after delete: %v", err)
	}
	if err := b.DeleteConsumer(ctx, "invoke.b"); err != nil {
		t.Fatalf("deleting a missing consumer: %v", err)
	}
	got := make(chan string, 1)
	sub, err = b.Consume(ctx, "invoke.b", 1, func(d bus.Delivery) { got <- d.ID(); d.Ack() })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	select {
	case id := <-got:
		if id != "m2" {
			t.Fatalf("delivered %s", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the message of a deleted consumer was not delivered to the next")
	}
}

// TestDialLeavesTheStreamAlone: a tool's connection reads the cluster's
// stream as it is, and refuses a bus without one.
func TestDialLeavesTheStreamAlone(t *testing.T) {
	cfg := testConfig(t)
	mustNew(t, cfg)
	other := cfg
	other.Replicas = 3 // what New would try to apply
	b, err := Dial(t.Context(), other)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	info, err := b.stream.Info(t.Context())
	if err != nil || info.Config.Replicas != 1 {
		t.Fatalf("stream after Dial: %+v %v", info, err)
	}
	missing := cfg
	missing.Stream = cfg.Stream + "_NONE"
	if _, err := Dial(t.Context(), missing); err == nil {
		t.Fatal("Dial to a bus without the stream succeeded")
	}
}

// TestStopDoesNotSpendDeliveries: work that arrives for a stopping
// consumer, or that its handler hands back once the consumer stops (the
// invoker closing), is not cycled through the pull still open until its
// deliveries run out: it waits for the next consumer, which gets it.
func TestStopDoesNotSpendDeliveries(t *testing.T) {
	cfg := testConfig(t)
	cfg.PullWait = time.Second
	b := mustNew(t, cfg)
	ctx := t.Context()
	stopCalled := make(chan struct{})
	var deliveries atomic.Int32
	// Many free slots: the pull in flight when Stop comes has room for
	// many more messages.
	sub, err := b.Consume(ctx, "s", 16, func(d bus.Delivery) {
		deliveries.Add(1)
		<-stopCalled
		d.Nak(0)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := b.Publish(ctx, "s", fmt.Sprint("held-", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // delivered and held
	stopped := make(chan struct{})
	began := time.Now()
	go func() { sub.Stop(); close(stopped) }()
	time.Sleep(10 * time.Millisecond)
	close(stopCalled)
	for i := range 3 {
		if err := b.Publish(ctx, "s", fmt.Sprint("late-", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	<-stopped
	if took := time.Since(began); took > cfg.PullWait+time.Second {
		t.Errorf("Stop took %v, want at most the pull in flight (%v)", took, cfg.PullWait)
	}
	if n := deliveries.Load(); n != 3 {
		t.Fatalf("%d deliveries reached the stopping handler, want the 3 it held", n)
	}
	var mu sync.Mutex
	got := map[string]int{}
	sub2, err := b.Consume(ctx, "s", 8, func(d bus.Delivery) {
		mu.Lock()
		got[d.ID()] = d.Attempt()
		mu.Unlock()
		d.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the stop, the next consumer got %v, want the 6 messages", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for id, attempt := range got {
		if attempt > 3 {
			t.Errorf("%s came back on delivery %d: deliveries were spent while stopping", id, attempt)
		}
	}
}

// TestGatherContext ends a gather when its context does.
func TestGatherContext(t *testing.T) {
	b := mustNew(t, testConfig(t))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	answers, err := b.Gather(ctx, "nobody", nil, 1, 10*time.Second)
	if err != nil || len(answers) != 0 || time.Since(began) > 2*time.Second {
		t.Fatalf("Gather with nobody listening: %v %v after %v", answers, err, time.Since(began))
	}
}
