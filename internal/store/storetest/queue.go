package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/store"
)

// RunQueue checks q against the store.Queue contract. open must return a new,
// empty queue that reads the time from now (for leases and release delays)
// and arrange (with t.Cleanup) for it to be closed; it is called once per
// subtest. The suite moves the clock itself, so no subtest sleeps.
func RunQueue(t *testing.T, open func(t *testing.T, now func() time.Time) store.Queue) {
	tests := []struct {
		name string
		fn   func(t *testing.T, q store.Queue, c *Clock)
	}{
		{"ClaimOldestFirst", testClaimOrder},
		{"EnqueueIdempotent", testEnqueueIdempotent},
		{"LeaseExpiry", testLeaseExpiry},
		{"Renew", testRenew},
		{"Release", testRelease},
		{"Ack", testAck},
		{"ConcurrentClaims", testConcurrentClaims},
		{"Recover", testRecover},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClock(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
			tc.fn(t, open(t, c.Now), c)
		})
	}
}

const lease = 30 * time.Second

// enqueue adds ids in order, a millisecond apart, with bodies "body-<id>".
func enqueue(t *testing.T, q store.Queue, c *Clock, ids ...string) {
	t.Helper()
	for _, id := range ids {
		must(t, q.Enqueue(t.Context(), id, []byte("body-"+id)))
		c.Add(time.Millisecond)
	}
}

// claim claims for owner and checks the ids and attempt counts it gets.
func claim(t *testing.T, q store.Queue, owner string, max int, want []string, attempts ...int) []store.QueueItem {
	t.Helper()
	items, err := q.Claim(t.Context(), owner, max, lease)
	must(t, err)
	var got []string
	for i, it := range items {
		got = append(got, it.ID)
		if string(it.Body) != "body-"+it.ID {
			t.Fatalf("claimed %s with body %q, want %q", it.ID, it.Body, "body-"+it.ID)
		}
		if i < len(attempts) && it.Attempts != attempts[i] {
			t.Fatalf("claimed %s with %d attempts, want %d", it.ID, it.Attempts, attempts[i])
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s claimed %q, want %q", owner, got, want)
	}
	return items
}

func testClaimOrder(t *testing.T, q store.Queue, c *Clock) {
	enqueue(t, q, c, "a", "b", "c")
	claim(t, q, "inv1", 2, []string{"a", "b"}, 1, 1)
	claim(t, q, "inv2", 10, []string{"c"}, 1)
	claim(t, q, "inv3", 10, nil)

	// Items enqueued in the same millisecond still come out in order.
	for _, id := range []string{"d", "e", "f"} {
		must(t, q.Enqueue(t.Context(), id, []byte("body-"+id)))
	}
	claim(t, q, "inv1", 10, []string{"d", "e", "f"}, 1, 1, 1)
}

func testEnqueueIdempotent(t *testing.T, q store.Queue, c *Clock) {
	enqueue(t, q, c, "a")
	// A retried accept of the same activation id must not run it twice.
	must(t, q.Enqueue(t.Context(), "a", []byte("another body")))
	enqueue(t, q, c, "b")
	claim(t, q, "inv1", 10, []string{"a", "b"}, 1, 1)

	// Enqueueing a claimed id again neither duplicates nor unleases it.
	must(t, q.Enqueue(t.Context(), "a", []byte("body-a")))
	claim(t, q, "inv2", 10, nil)
}

func testLeaseExpiry(t *testing.T, q store.Queue, c *Clock) {
	enqueue(t, q, c, "a", "b")
	claim(t, q, "inv1", 1, []string{"a"}, 1)

	c.Add(lease - time.Second)
	claim(t, q, "inv2", 10, []string{"b"}, 1) // a is still leased to inv1

	// inv1 died: once its lease runs out, a goes to someone else, and the
	// attempt count tells them this is a redelivery.
	c.Add(2 * time.Second)
	claim(t, q, "inv3", 1, []string{"a"}, 2)
	claim(t, q, "inv4", 10, nil) // b is leased until later

	c.Add(lease + time.Second)
	claim(t, q, "inv4", 10, []string{"a", "b"}, 3, 2)
}

func testRenew(t *testing.T, q store.Queue, c *Clock) {
	ctx := t.Context()
	enqueue(t, q, c, "a", "b")
	claim(t, q, "inv1", 10, []string{"a", "b"}, 1, 1)

	c.Add(20 * time.Second)
	must(t, q.Renew(ctx, "inv1", []string{"a"}, lease))
	// Renewing for another owner does not extend inv1's lease of b.
	must(t, q.Renew(ctx, "intruder", []string{"b"}, time.Hour))
	must(t, q.Renew(ctx, "inv1", nil, lease))
	must(t, q.Renew(ctx, "inv1", []string{"unknown"}, lease))

	c.Add(20 * time.Second) // 40 s after the claim, 20 s after the renewal
	claim(t, q, "inv2", 10, []string{"b"}, 2)

	c.Add(11 * time.Second) // the renewed lease of a has run out too
	claim(t, q, "inv3", 10, []string{"a"}, 2)

	// inv1 lost a to inv3: renewing it must not take it back.
	must(t, q.Renew(ctx, "inv1", []string{"a"}, time.Hour))
	c.Add(lease + time.Second)
	claim(t, q, "inv4", 10, []string{"a", "b"}, 3, 3)
}

func testRelease(t *testing.T, q store.Queue, c *Clock) {
	ctx := t.Context()
	enqueue(t, q, c, "a", "b")
	claim(t, q, "inv1", 10, []string{"a", "b"}, 1, 1)

	must(t, q.Release(ctx, []string{"a"}, 10*time.Second))
	must(t, q.Release(ctx, []string{"b"}, 0))
	must(t, q.Release(ctx, nil, 0))
	claim(t, q, "inv2", 10, []string{"b"}, 2) // a waits out its delay

	c.Add(9 * time.Second)
	claim(t, q, "inv2", 10, nil)
	c.Add(2 * time.Second)
	claim(t, q, "inv3", 10, []string{"a"}, 2)
}

func testAck(t *testing.T, q store.Queue, c *Clock) {
	ctx := t.Context()
	enqueue(t, q, c, "a", "b", "c")
	claim(t, q, "inv1", 2, []string{"a", "b"}, 1, 1)

	must(t, q.Ack(ctx, []string{"a"}))
	must(t, q.Ack(ctx, []string{"a", "unknown"}))
	must(t, q.Ack(ctx, nil))
	must(t, q.Ack(ctx, []string{"c"})) // unclaimed items can be acknowledged too

	c.Add(lease + time.Second)
	claim(t, q, "inv2", 10, []string{"b"}, 2)
	must(t, q.Ack(ctx, []string{"b"}))
	c.Add(lease + time.Second)
	claim(t, q, "inv3", 10, nil)

	// An acknowledged id may be enqueued again: it is new work.
	enqueue(t, q, c, "a")
	claim(t, q, "inv3", 10, []string{"a"}, 1)
}

// testConcurrentClaims races claimers over one queue: every item must be
// handed out exactly once while leases hold.
func testConcurrentClaims(t *testing.T, q store.Queue, c *Clock) {
	const items, claimers = 40, 4
	ids := make([]string, items)
	for i := range ids {
		ids[i] = fmt.Sprintf("item-%02d", i)
	}
	enqueue(t, q, c, ids...)

	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	errs := make(chan error, claimers)
	for w := range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("inv%d", w)
			for {
				got, err := q.Claim(t.Context(), owner, 3, time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, it := range got {
					if prev, dup := seen[it.ID]; dup {
						mu.Unlock()
						errs <- fmt.Errorf("%s claimed by %s and %s", it.ID, prev, owner)
						return
					}
					seen[it.ID] = owner
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	if len(seen) != items {
		t.Fatalf("claimed %d distinct items, want %d", len(seen), items)
	}
}

// testRecover: a restarted owner takes back what it held at once, and only that.
func testRecover(t *testing.T, q store.Queue, c *Clock) {
	enqueue(t, q, c, "a", "b", "c")
	claim(t, q, "me", 2, []string{"a", "b"}, 1, 1)
	claim(t, q, "other", 1, []string{"c"}, 1)
	n, err := q.Recover(t.Context(), "me")
	must(t, err)
	if n != 2 {
		t.Fatalf("Recover took back %d items, want 2", n)
	}
	claim(t, q, "me", 10, []string{"a", "b"}, 2, 2)
}
