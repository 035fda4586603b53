package store

import (
	"context"
	"time"
)

// Schedule is the persisted state of one alarm feed: which trigger it fires
// and when it is next due. Config and Status are the alarms provider's JSON,
// opaque to the store.
type Schedule struct {
	Namespace string // the trigger's namespace
	Trigger   string // the trigger's name
	Config    []byte
	Status    []byte
	// NextFire is when the schedule is next due, epoch ms; 0 means never
	// (a paused, expired or auto-disabled schedule).
	NextFire int64
	// Rev increases on every write; a completion names the revision it
	// claimed, so that one racing with an update or delete is refused.
	Rev     int64
	Updated int64 // epoch ms
}

// Schedules is the optional store ability that keeps alarm schedules. A
// store that has it lets every process of a cluster run the alarms provider:
// ClaimDueSchedules hands each due schedule to exactly one of them.
//
// Contract (checked by storetest.RunSchedules):
//   - GetSchedule, DeleteSchedule and CompleteSchedule report a missing
//     schedule as an error matching whisk.ErrNotFound.
//   - PutSchedule creates or replaces a schedule whole and drops any lease
//     on it: an updated schedule is due by its new NextFire, and a fire in
//     progress under the old revision cannot complete over it.
//   - ClaimDueSchedules leases, in one atomic statement, up to max
//     schedules whose NextFire is set and not after now and which nobody
//     holds (no lease, or an expired one). Two concurrent claims never
//     return the same schedule while its lease runs.
//   - CompleteSchedule writes the state after a fire (next due time, status)
//     and releases the lease, but only if owner still holds the lease on
//     revision s.Rev; otherwise it fails with an error matching
//     whisk.ErrConflict and writes nothing.
//   - ReleaseSchedules drops every lease held by owner: a process that
//     restarts under its old name takes back at once what it held.
type Schedules interface {
	PutSchedule(ctx context.Context, s Schedule) error
	GetSchedule(ctx context.Context, namespace, trigger string) (Schedule, error)
	DeleteSchedule(ctx context.Context, namespace, trigger string) error
	// ListSchedules lists the schedules of a namespace ("" = all), by trigger name.
	ListSchedules(ctx context.Context, namespace string) ([]Schedule, error)
	ClaimDueSchedules(ctx context.Context, owner string, now time.Time, lease time.Duration, max int) ([]Schedule, error)
	CompleteSchedule(ctx context.Context, owner string, s Schedule) error
	ReleaseSchedules(ctx context.Context, owner string) (int, error)
	// NextScheduleDue returns the earliest NextFire of all schedules, held
	// or not, and false when no schedule is due ever.
	NextScheduleDue(ctx context.Context) (int64, bool, error)
}
