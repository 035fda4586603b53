package natsbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gustfaas/gust/internal/bus"
	"github.com/gustfaas/gust/internal/bus/bustest"
	"github.com/gustfaas/gust/internal/testenv"
)

// testConfig returns a configuration on a stream and subject prefix of the
// test's own, scaled down so that redeliveries take a second, and deletes
// the stream when the test ends.
func testConfig(t *testing.T) Config {
	t.Helper()
	url := testenv.MustHaveNATS(t)
	var b [5]byte
	rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	cfg := Config{
		URL:          url,
		Name:         "gust-test-" + t.Name(),
		Stream:       "GUST_TEST_" + strings.ToUpper(suffix),
		Prefix:       "gusttest" + suffix,
		AckWait:      time.Second,
		BackOff:      []time.Duration{time.Second, time.Second, 2 * time.Second, 2 * time.Second},
		PublishRetry: 2 * time.Second,
		PullWait:     300 * time.Millisecond,
	}
	t.Cleanup(func() {
		nc, err := nats.Connect(url)
		if err != nil {
			t.Errorf("delete stream %s: %v", cfg.Stream, err)
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, cfg.Stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("delete stream %s: %v", cfg.Stream, err)
		}
	})
	return cfg
}

func mustNew(t *testing.T, cfg Config) *Bus {
	t.Helper()
	b, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestConformance runs the bus suite; a restarted bus is a new connection
// to the same stream and consumer.
func TestConformance(t *testing.T) {
	// An unsettled delivery comes back after the first BackOff entry, which
	// replaces AckWait.
	bustest.Run(t, bustest.Options{Lease: time.Second}, func(t *testing.T) (bus.Bus, func() bus.Bus) {
		cfg := testConfig(t)
		return mustNew(t, cfg), func() bus.Bus { return mustNew(t, cfg) }
	})
}

// TestSettings checks that the stream and the consumer carry the settings
// RELIABILITY.md asks for, as the server reports them.
func TestSettings(t *testing.T) {
	cfg := testConfig(t)
	cfg.AckWait, cfg.BackOff = 0, nil // the defaults
	b := mustNew(t, cfg)
	ctx := t.Context()
	info, err := b.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sc := info.Config
	if !slices.Equal(sc.Subjects, []string{cfg.Prefix + ".>"}) || sc.Storage != jetstream.FileStorage ||
		sc.Retention != jetstream.WorkQueuePolicy || sc.Replicas != 1 || sc.Discard != jetstream.DiscardNew ||
		sc.Duplicates != 2*time.Minute || sc.MaxAge != 24*time.Hour || !sc.DenyDelete || !sc.DenyPurge {
		t.Fatalf("stream config %+v", sc)
	}

	sub, err := b.Consume(ctx, "invoke", 7, func(d bus.Delivery) { d.Ack() })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	c, err := b.js.Consumer(ctx, cfg.Stream, "invokers_invoke")
	if err != nil {
		t.Fatal(err)
	}
	cc := c.CachedInfo().Config
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute}
	if cc.Durable != "invokers_invoke" || cc.FilterSubject != cfg.Prefix+".invoke" ||
		cc.AckPolicy != jetstream.AckExplicitPolicy || cc.AckWait != 30*time.Second || cc.MaxDeliver != 5 ||
		!slices.Equal(cc.BackOff, want) || cc.MaxAckPending != 7 {
		t.Fatalf("consumer config %+v", cc)
	}

	// A second process with fewer slots shares the consumer without
	// lowering the cap that the first one's slots need.
	b2 := mustNew(t, cfg)
	sub2, err := b2.Consume(ctx, cfg.Prefix+".invoke", 3, func(d bus.Delivery) { d.Ack() })
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Stop()
	info2, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info2.Config.MaxAckPending != 7 {
		t.Fatalf("MaxAckPending = %d after a consumer with 3 slots joined, want 7", info2.Config.MaxAckPending)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"backoff shorter than ack wait", func(c *Config) { c.BackOff = []time.Duration{time.Second} },
			"natsbus: the first BackOff entry (1s) replaces AckWait (30s) and must not be shorter"},
		{"backoff too long", func(c *Config) { c.MaxDeliver = 4 },
			"natsbus: 4 BackOff entries need MaxDeliver above 4, not 4"},
		{"wildcard prefix", func(c *Config) { c.Prefix = "gust.*" },
			`natsbus: prefix "gust.*" is not a subject of plain tokens`},
		{"dotted stream", func(c *Config) { c.Stream = "GUST.INVOKE" },
			`natsbus: stream "GUST.INVOKE" and group "invokers" must be names without '.', '*', '>', '/', '\' or spaces`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mod(&cfg)
			_, err := New(t.Context(), cfg)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("New: %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestLongWorkIsRenewed holds deliveries for several AckWaits, one inside
// its handler and one after its handler has returned (acked when its record
// commits, as the invoker does): neither may be redelivered meanwhile.
func TestLongWorkIsRenewed(t *testing.T) {
	cfg := testConfig(t)
	// Renewals every 667 ms leave a loaded machine 1.3 s of slack.
	cfg.AckWait = 2 * time.Second
	cfg.BackOff = []time.Duration{2 * time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	b := mustNew(t, cfg)
	ctx := t.Context()
	var mu sync.Mutex
	deliveries := map[string]int{}
	later := make(chan bus.Delivery, 1)
	sub, err := b.Consume(ctx, "s", 4, func(d bus.Delivery) {
		mu.Lock()
		deliveries[d.ID()]++
		mu.Unlock()
		if d.ID() == "inside" {
			time.Sleep(5 * time.Second)
			d.Ack()
			return
		}
		later <- d
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"inside", "after"} {
		if err := b.Publish(ctx, "s", id, nil); err != nil {
			t.Fatal(err)
		}
	}
	d := <-later
	time.Sleep(5 * time.Second)
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // a redelivery of either would show by now
	sub.Stop()
	if deliveries["inside"] != 1 || deliveries["after"] != 1 {
		t.Fatalf("deliveries %v over 2.5 AckWaits, want one each", deliveries)
	}
}

// TestSharedConsumer consumes one subject from two processes: every message
// goes to exactly one of them.
func TestSharedConsumer(t *testing.T) {
	cfg := testConfig(t)
	b1, b2 := mustNew(t, cfg), mustNew(t, cfg)
	ctx := t.Context()
	const n = 60
	var mu sync.Mutex
	got := map[string][]int{}
	all := make(chan struct{})
	handler := func(which int) func(bus.Delivery) {
		return func(d bus.Delivery) {
			mu.Lock()
			got[d.ID()] = append(got[d.ID()], which)
			if len(got) == n {
				close(all)
			}
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
			if err := d.Ack(); err != nil {
				t.Error(err)
			}
		}
	}
	s1, err := b1.Consume(ctx, "work", 3, handler(1))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := b2.Consume(ctx, "work", 3, handler(2))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := b1.Publish(ctx, "work", fmt.Sprintf("w-%02d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		t.Fatalf("%d of %d delivered", len(got), n)
	}
	time.Sleep(200 * time.Millisecond)
	s1.Stop()
	s2.Stop()
	per := map[int]int{}
	for id, who := range got {
		if len(who) != 1 {
			t.Errorf("%s delivered to %v", id, who)
		}
		per[who[0]]++
	}
	t.Logf("deliveries per process: %v", per)
}

// TestMaxDeliver: a message nakked every time is delivered MaxDeliver times,
// then no more.
func TestMaxDeliver(t *testing.T) {
	cfg := testConfig(t)
	b := mustNew(t, cfg)
	ctx := t.Context()
	var n atomic.Int32
	sub, err := b.Consume(ctx, "s", 1, func(d bus.Delivery) {
		n.Add(1)
		d.Nak(0)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "s", "poison", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	sub.Stop()
	if got := n.Load(); got != 5 {
		t.Fatalf("delivered %d times, want MaxDeliver = 5", got)
	}
}

// TestNakDelay: a nak with a delay is redelivered once the delay has passed,
// not at once, and not later by the BackOff's growth (see nakSkew): the
// later naks here are past the first, second and last BackOff entries.
func TestNakDelay(t *testing.T) {
	cfg := testConfig(t)
	cfg.AckWait = 2 * time.Second
	cfg.BackOff = []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second}
	b := mustNew(t, cfg)
	ctx := t.Context()
	times := make(chan time.Time, 8)
	sub, err := b.Consume(ctx, "s", 1, func(d bus.Delivery) {
		times <- time.Now()
		if d.Attempt() < 4 {
			d.Nak(500 * time.Millisecond)
			return
		}
		d.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	if err := b.Publish(ctx, "s", "later", nil); err != nil {
		t.Fatal(err)
	}
	prev := <-times
	for i := range 3 {
		select {
		case at := <-times:
			if gap := at.Sub(prev); gap < 450*time.Millisecond || gap > 1500*time.Millisecond {
				t.Errorf("redelivery %d came %v after the nak, want about 500ms", i+1, gap)
			}
			prev = at
		case <-time.After(10 * time.Second):
			t.Fatal("no redelivery after a delayed nak")
		}
	}
}

// TestPublishGivesUp publishes with no stream to take the message: Publish
// retries for PublishRetry, then fails.
func TestPublishGivesUp(t *testing.T) {
	cfg := testConfig(t)
	b := mustNew(t, cfg)
	ctx := t.Context()
	if err := b.js.DeleteStream(ctx, cfg.Stream); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	err := b.Publish(ctx, "s", "nowhere", []byte("x"))
	took := time.Since(began)
	if err == nil {
		t.Fatal("Publish without a stream succeeded")
	}
	if !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Errorf("Publish error %v, want it to wrap %v", err, jetstream.ErrNoStreamResponse)
	}
	if took < cfg.PublishRetry-time.Second || took > cfg.PublishRetry+2*time.Second {
		t.Errorf("Publish gave up after %v, want about PublishRetry (%v)", took, cfg.PublishRetry)
	}
	if err := b.Ping(ctx); err == nil {
		t.Error("Ping succeeded with the stream gone")
	}
}

// TestPublishRetriesUntilBack: a publish that starts while the stream is
// unavailable succeeds once it is back, and its retries store one message.
func TestPublishRetriesUntilBack(t *testing.T) {
	cfg := testConfig(t)
	cfg.PublishRetry = 10 * time.Second
	b := mustNew(t, cfg)
	ctx := t.Context()
	if err := b.js.DeleteStream(ctx, cfg.Stream); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Publish(ctx, "s", "patient", []byte("x")) }()
	time.Sleep(700 * time.Millisecond)
	if _, err := b.js.CreateStream(ctx, streamConfig(b.cfg)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Publish across the outage: %v", err)
	}
	info, err := b.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages after one publish, want 1", info.State.Msgs)
	}
}

func TestPingAndClose(t *testing.T) {
	b := mustNew(t, testConfig(t))
	if err := b.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(t.Context()); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
	if err := b.Publish(t.Context(), "s", "x", nil); err == nil {
		t.Fatal("Publish after Close succeeded")
	}
}

func TestSubjects(t *testing.T) {
	b := &Bus{cfg: DefaultConfig()}
	for _, tc := range []struct{ in, want, consumer, rpc string }{
		{"invoke", "gust.invoke", "invokers_invoke", "gust-rpc.invoke"},
		{"gust.invoke", "gust.invoke", "invokers_invoke", "gust-rpc.invoke"},
		{"a.b", "gust.a.b", "invokers_a_b", "gust-rpc.a.b"},
	} {
		got, err := b.subject(tc.in)
		if err != nil || got != tc.want || b.consumerName(got) != tc.consumer {
			t.Errorf("subject(%q) = %q, %v, consumer %q; want %q, consumer %q", tc.in, got, err, b.consumerName(got), tc.want, tc.consumer)
		}
		if rpc, err := b.rpcSubject(tc.in); err != nil || rpc != tc.rpc {
			t.Errorf("rpcSubject(%q) = %q, %v; want %q", tc.in, rpc, err, tc.rpc)
		}
	}
	for _, bad := range []string{"", "a.*", "a.>", "a..b", "gust.", "has space"} {
		if got, err := b.subject(bad); err == nil {
			t.Errorf("subject(%q) = %q, want an error", bad, got)
		}
	}
}

// TestConsumerRecreated deletes the consumer under a live subscription:
// the subscription puts it back and work published afterwards is delivered.
func TestConsumerRecreated(t *testing.T) {
	cfg := testConfig(t)
	b := mustNew(t, cfg)
	ctx := t.Context()
	got := make(chan string, 4)
	sub, err := b.Consume(ctx, "s", 2, func(d bus.Delivery) {
		got <- d.ID()
		d.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	if err := b.js.DeleteConsumer(ctx, cfg.Stream, "invokers_s"); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "s", "after-delete", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-got:
		if id != "after-delete" {
			t.Fatalf("delivered %s", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered after the consumer was deleted")
	}
}

func TestOlderThan(t *testing.T) {
	want := [3]int{2, 12, 3}
	for v, older := range map[string]bool{
		"2.9.10": true, "2.12.2": true, "1.99.99": true, "2.12.3": false, "2.12.10": false,
		"2.13.0-beta.1": false, "3.0.0": false, "": false, "dev": false,
	} {
		if got := olderThan(v, want); got != older {
			t.Errorf("olderThan(%q) = %v, want %v", v, got, older)
		}
	}
}

// TestStopKeepsRenewingRunningWork stops a subscription while its handler
// is still running an action for longer than AckWait: the delivery is not
// handed to the other process meanwhile, and Stop returns once the handler
// has.
func TestStopKeepsRenewingRunningWork(t *testing.T) {
	cfg := testConfig(t)
	b1, b2 := mustNew(t, cfg), mustNew(t, cfg)
	ctx := t.Context()
	started := make(chan struct{})
	sub1, err := b1.Consume(ctx, "s", 1, func(d bus.Delivery) {
		close(started)
		time.Sleep(3 * time.Second)
		d.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b1.Publish(ctx, "s", "long", nil); err != nil {
		t.Fatal(err)
	}
	<-started
	var elsewhere atomic.Int32
	sub2, err := b2.Consume(ctx, "s", 1, func(d bus.Delivery) {
		elsewhere.Add(1)
		d.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Stop()
	began := time.Now()
	sub1.Stop()
	if took := time.Since(began); took < 2*time.Second {
		t.Fatalf("Stop returned after %v, before its handler", took)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("a delivery still running in a stopping process was redelivered %d times", n)
	}
}
