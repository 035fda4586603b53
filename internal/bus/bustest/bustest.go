// Package bustest is the conformance suite of the bus seam.
package bustest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/bus"
)

// Options describe what a backend needs from the suite.
type Options struct {
	// Lease is the backend's redelivery delay for a delivery that is neither
	// acked nor nakked; the suite waits about this long.
	Lease time.Duration
}

// Run checks the bus contract. open returns a fresh bus on fresh storage;
// reopen returns a second bus over the same storage (a restarted process).
func Run(t *testing.T, opts Options, open func(t *testing.T) (b bus.Bus, reopen func() bus.Bus)) {
	t.Run("PublishConsumeAck", func(t *testing.T) {
		b, _ := open(t)
		got := consumeN(t, b, "s", 10, func(d bus.Delivery) { _ = d.Ack() }, func() {
			for i := range 10 {
				if err := b.Publish(context.Background(), "s", fmt.Sprintf("id-%02d", i), []byte(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
		})
		if len(got) != 10 {
			t.Fatalf("delivered %d distinct messages, want 10", len(got))
		}
		for id, d := range got {
			if d.attempt != 1 {
				t.Errorf("%s delivered on attempt %d, want 1", id, d.attempt)
			}
		}
	})

	t.Run("DuplicateIDIsDeduplicated", func(t *testing.T) {
		b, _ := open(t)
		ctx := context.Background()
		for range 3 {
			if err := b.Publish(ctx, "s", "same", []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		n := 0
		sub, err := b.Consume(ctx, "s", 4, func(d bus.Delivery) {
			mu.Lock()
			n++
			mu.Unlock()
			_ = d.Ack()
		})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		sub.Stop()
		if n != 1 {
			t.Fatalf("a message published three times with one id was delivered %d times", n)
		}
	})

	t.Run("NakRedelivers", func(t *testing.T) {
		b, _ := open(t)
		ctx := context.Background()
		if err := b.Publish(ctx, "s", "nak", []byte("x")); err != nil {
			t.Fatal(err)
		}
		attempts := make(chan int, 10)
		sub, err := b.Consume(ctx, "s", 1, func(d bus.Delivery) {
			attempts <- d.Attempt()
			if d.Attempt() < 3 {
				_ = d.Nak(0)
				return
			}
			_ = d.Ack()
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Stop()
		for want := 1; want <= 3; want++ {
			select {
			case a := <-attempts:
				if a != want {
					t.Fatalf("attempt %d, want %d", a, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no delivery %d after a nak", want)
			}
		}
	})

	t.Run("UnackedWorkSurvivesRestart", func(t *testing.T) {
		b, reopen := open(t)
		ctx := context.Background()
		if err := b.Publish(ctx, "s", "held", []byte("payload")); err != nil {
			t.Fatal(err)
		}
		taken := make(chan struct{})
		sub, err := b.Consume(ctx, "s", 1, func(d bus.Delivery) { close(taken) }) // neither ack nor nak: the process "dies"
		if err != nil {
			t.Fatal(err)
		}
		<-taken
		sub.Stop()
		_ = b.Close()

		b2 := reopen()
		got := make(chan bus.Delivery, 1)
		sub2, err := b2.Consume(ctx, "s", 1, func(d bus.Delivery) { got <- d; _ = d.Ack() })
		if err != nil {
			t.Fatal(err)
		}
		defer sub2.Stop()
		select {
		case d := <-got:
			if string(d.Data()) != "payload" || d.Attempt() != 2 {
				t.Fatalf("redelivered %q on attempt %d, want payload on attempt 2", d.Data(), d.Attempt())
			}
		case <-time.After(opts.Lease + 10*time.Second):
			t.Fatal("held work was not redelivered after a restart")
		}
	})

	t.Run("ConcurrencyIsBounded", func(t *testing.T) {
		b, _ := open(t)
		ctx := context.Background()
		for i := range 20 {
			if err := b.Publish(ctx, "s", fmt.Sprintf("c-%d", i), nil); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		running, peak, done := 0, 0, 0
		all := make(chan struct{})
		sub, err := b.Consume(ctx, "s", 3, func(d bus.Delivery) {
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			running--
			done++
			if done == 20 {
				close(all)
			}
			mu.Unlock()
			_ = d.Ack()
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Stop()
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			t.Fatal("not all messages were delivered")
		}
		if peak > 3 {
			t.Fatalf("%d handlers ran at once, limit 3", peak)
		}
	})
}

type seen struct{ attempt int }

func consumeN(t *testing.T, b bus.Bus, subject string, n int, handle func(bus.Delivery), publish func()) map[string]seen {
	t.Helper()
	var mu sync.Mutex
	got := map[string]seen{}
	done := make(chan struct{})
	sub, err := b.Consume(context.Background(), subject, 4, func(d bus.Delivery) {
		mu.Lock()
		if _, dup := got[d.ID()]; !dup {
			got[d.ID()] = seen{d.Attempt()}
			if len(got) == n {
				close(done)
			}
		}
		mu.Unlock()
		handle(d)
	})
	if err != nil {
		t.Fatal(err)
	}
	publish()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("delivered %d of %d messages", len(got), n)
	}
	sub.Stop()
	return got
}
