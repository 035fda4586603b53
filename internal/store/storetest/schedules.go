package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// RunSchedules checks s against the store.Schedules contract. open must
// return a new, empty store and arrange for it to be closed; it is called
// once per subtest. Time is passed explicitly, so no subtest sleeps.
func RunSchedules(t *testing.T, open func(t *testing.T) store.Schedules) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Schedules)
	}{
		{"PutGetDelete", testSchedulePutGetDelete},
		{"ClaimDue", testScheduleClaimDue},
		{"LeaseExpiry", testScheduleLeaseExpiry},
		{"CompleteNeedsTheLease", testScheduleComplete},
		{"PutDropsTheLease", testSchedulePutDropsLease},
		{"Release", testScheduleRelease},
		{"ConcurrentClaims", testScheduleConcurrentClaims},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var schedEpoch = time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)

func sched(ns, trigger string, next time.Time) store.Schedule {
	sc := store.Schedule{Namespace: ns, Trigger: trigger, Config: []byte(`{"cron":"* * * * *"}`),
		Status: []byte(`{"active":true}`), Updated: schedEpoch.UnixMilli()}
	if !next.IsZero() {
		sc.NextFire = next.UnixMilli()
	}
	return sc
}

func claimNames(t *testing.T, s store.Schedules, owner string, now time.Time, max int) []string {
	t.Helper()
	got, err := s.ClaimDueSchedules(t.Context(), owner, now, 30*time.Second, max)
	must(t, err)
	var names []string
	for _, sc := range got {
		names = append(names, sc.Namespace+"/"+sc.Trigger)
	}
	return names
}

func testSchedulePutGetDelete(t *testing.T, s store.Schedules) {
	ctx := t.Context()
	_, err := s.GetSchedule(ctx, "guest", "t")
	wantErr(t, err, whisk.ErrNotFound, "get of a missing schedule")
	wantErr(t, s.DeleteSchedule(ctx, "guest", "t"), whisk.ErrNotFound, "delete of a missing schedule")

	must(t, s.PutSchedule(ctx, sched("guest", "t", schedEpoch)))
	must(t, s.PutSchedule(ctx, sched("other", "t", time.Time{})))
	got, err := s.GetSchedule(ctx, "guest", "t")
	must(t, err)
	if string(got.Config) != `{"cron":"* * * * *"}` || string(got.Status) != `{"active":true}` ||
		got.NextFire != schedEpoch.UnixMilli() || got.Rev <= 0 {
		t.Fatalf("got %+v", got)
	}
	first := got.Rev

	replaced := sched("guest", "t", schedEpoch.Add(time.Hour))
	replaced.Config = []byte(`{"minutes":5}`)
	must(t, s.PutSchedule(ctx, replaced))
	got, err = s.GetSchedule(ctx, "guest", "t")
	must(t, err)
	if string(got.Config) != `{"minutes":5}` || got.NextFire != schedEpoch.Add(time.Hour).UnixMilli() || got.Rev <= first {
		t.Fatalf("after replace: %+v (first rev %d)", got, first)
	}

	list, err := s.ListSchedules(ctx, "")
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("list all: %d schedules", len(list))
	}
	list, err = s.ListSchedules(ctx, "other")
	must(t, err)
	if len(list) != 1 || list[0].Namespace != "other" || list[0].NextFire != 0 {
		t.Fatalf("list other: %+v", list)
	}

	next, ok, err := s.NextScheduleDue(ctx)
	must(t, err)
	if !ok || next != schedEpoch.Add(time.Hour).UnixMilli() {
		t.Fatalf("next due %d %v", next, ok)
	}
	must(t, s.DeleteSchedule(ctx, "guest", "t"))
	_, err = s.GetSchedule(ctx, "guest", "t")
	wantErr(t, err, whisk.ErrNotFound, "get after delete")
	if _, ok, err := s.NextScheduleDue(ctx); err != nil || ok {
		t.Fatalf("next due with only a never-due schedule: %v %v", ok, err)
	}
}

func testScheduleClaimDue(t *testing.T, s store.Schedules) {
	ctx := t.Context()
	must(t, s.PutSchedule(ctx, sched("guest", "late", schedEpoch.Add(10*time.Second))))
	must(t, s.PutSchedule(ctx, sched("guest", "early", schedEpoch)))
	must(t, s.PutSchedule(ctx, sched("guest", "never", time.Time{})))

	if got := claimNames(t, s, "a", schedEpoch.Add(-time.Second), 10); len(got) != 0 {
		t.Fatalf("claimed before due: %v", got)
	}
	// Due exactly at now counts.
	if got := claimNames(t, s, "a", schedEpoch, 10); !slices.Equal(got, []string{"guest/early"}) {
		t.Fatalf("claim at due time: %v", got)
	}
	if got := claimNames(t, s, "b", schedEpoch.Add(20*time.Second), 10); !slices.Equal(got, []string{"guest/late"}) {
		t.Fatalf("a held schedule was claimed again, or the due one missed: %v", got)
	}
	if got := claimNames(t, s, "c", schedEpoch.Add(time.Hour), 0); len(got) != 0 {
		t.Fatalf("max 0 claimed %v", got)
	}
}

func testScheduleLeaseExpiry(t *testing.T, s store.Schedules) {
	ctx := t.Context()
	must(t, s.PutSchedule(ctx, sched("guest", "t", schedEpoch)))
	if got := claimNames(t, s, "a", schedEpoch, 1); len(got) != 1 {
		t.Fatalf("first claim: %v", got)
	}
	if got := claimNames(t, s, "b", schedEpoch.Add(29*time.Second), 1); len(got) != 0 {
		t.Fatalf("claimed during the lease: %v", got)
	}
	// The holder died: after the lease another process fires it, late but once.
	if got := claimNames(t, s, "b", schedEpoch.Add(31*time.Second), 1); len(got) != 1 {
		t.Fatalf("not claimable after the lease: %v", got)
	}
}

func testScheduleComplete(t *testing.T, s store.Schedules) {
	ctx := t.Context()
	must(t, s.PutSchedule(ctx, sched("guest", "t", schedEpoch)))
	claimed, err := s.ClaimDueSchedules(ctx, "a", schedEpoch, 30*time.Second, 1)
	must(t, err)
	if len(claimed) != 1 {
		t.Fatalf("claimed %d", len(claimed))
	}
	done := claimed[0]
	done.NextFire = schedEpoch.Add(time.Minute).UnixMilli()
	done.Status = []byte(`{"active":true,"fired":1}`)

	wantErr(t, s.CompleteSchedule(ctx, "b", done), whisk.ErrConflict, "completion by a process without the lease")
	must(t, s.CompleteSchedule(ctx, "a", done))
	wantErr(t, s.CompleteSchedule(ctx, "a", done), whisk.ErrConflict, "second completion of one claim")

	got, err := s.GetSchedule(ctx, "guest", "t")
	must(t, err)
	if got.NextFire != done.NextFire || string(got.Status) != `{"active":true,"fired":1}` {
		t.Fatalf("after completion: %+v", got)
	}
	// Released: due again at its new time, for anyone.
	if names := claimNames(t, s, "b", schedEpoch.Add(time.Minute), 1); len(names) != 1 {
		t.Fatalf("not claimable at its next time: %v", names)
	}

	missing := done
	missing.Trigger = "gone"
	wantErr(t, s.CompleteSchedule(ctx, "a", missing), whisk.ErrNotFound, "completion of a deleted schedule")
}

func testSchedulePutDropsLease(t *testing.T, s store.Schedules) {
	ctx := t.Context()
	must(t, s.PutSchedule(ctx, sched("guest", "t", schedEpoch)))
	claimed, err := s.ClaimDueSchedules(ctx, "a", schedEpoch, 30*time.Second, 1)
	must(t, err)
	// The feed is updated while the fire is in progress: the update wins.
	must(t, s.PutSchedule(ctx, sched("guest", "t", schedEpoch.Add(time.Hour))))
	stale := claimed[0]
	stale.NextFire = schedEpoch.Add(time.Minute).UnixMilli()
	wantErr(t, s.CompleteSchedule(ctx, "a", stale), whisk.ErrConflict, "completion over an update")
	got, err := s.GetSchedule(ctx, "guest", "t")
	must(t, err)
	if got.NextFire != schedEpoch.Add(time.Hour).UnixMilli() {
		t.Fatalf("the stale completion overwrote the update: %+v", got)
	}
	if names := claimNames(t, s, "b", schedEpoch.Add(time.Hour), 1); len(names) != 1 {
		t.Fatalf("the updated schedule is still held: %v", names)
	}
}

func testScheduleRelease(t *testing.T, s store.Schedules) {
	ctx := t.Context()
	must(t, s.PutSchedule(ctx, sched("guest", "a", schedEpoch)))
	must(t, s.PutSchedule(ctx, sched("guest", "b", schedEpoch)))
	if names := claimNames(t, s, "dead", schedEpoch, 10); len(names) != 2 {
		t.Fatalf("claimed %v", names)
	}
	n, err := s.ReleaseSchedules(ctx, "dead")
	must(t, err)
	if n != 2 {
		t.Fatalf("released %d", n)
	}
	if names := claimNames(t, s, "dead", schedEpoch, 10); len(names) != 2 {
		t.Fatalf("not claimable after release: %v", names)
	}
}

func testScheduleConcurrentClaims(t *testing.T, s store.Schedules) {
	ctx := t.Context()
	const n = 40
	for i := range n {
		must(t, s.PutSchedule(ctx, sched("guest", fmt.Sprintf("t%02d", i), schedEpoch)))
	}
	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("w%d", w)
			for {
				got, err := s.ClaimDueSchedules(ctx, owner, schedEpoch, 30*time.Second, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, sc := range got {
					if prev, dup := seen[sc.Trigger]; dup {
						t.Errorf("%s claimed by %s and %s", sc.Trigger, prev, owner)
					}
					seen[sc.Trigger] = owner
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("claimed %d of %d", len(seen), n)
	}
}
