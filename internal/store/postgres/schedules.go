package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

var _ store.Schedules = (*Store)(nil)

const scheduleColumns = `namespace, trigger_name, config, status, next_fire, rev, updated`

// claimSchedulesSQL leases the due schedules nobody holds. FOR UPDATE SKIP
// LOCKED lets the controllers of a cluster claim at once: a row another one
// is claiming is skipped, and one it has claimed and committed fails the
// lease condition when the UPDATE re-checks it. So each due schedule fires
// in exactly one process.
const claimSchedulesSQL = `UPDATE schedules SET owner = $1, lease_until = $2
	WHERE (namespace, trigger_name) IN (
		SELECT namespace, trigger_name FROM schedules
		WHERE next_fire > 0 AND next_fire <= $3 AND (owner IS NULL OR lease_until < $3)
		ORDER BY next_fire
		LIMIT $4
		FOR UPDATE SKIP LOCKED)
	RETURNING ` + scheduleColumns

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// PutSchedule creates or replaces a schedule and drops its lease.
func (s *Store) PutSchedule(ctx context.Context, sc store.Schedule) error {
	if sc.Namespace == "" || sc.Trigger == "" {
		return errors.New("postgres: schedule needs a namespace and a trigger")
	}
	if sc.Updated == 0 {
		sc.Updated = s.nowMs()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO schedules
		(namespace, trigger_name, config, status, next_fire, rev, owner, lease_until, updated)
		VALUES ($1, $2, $3, $4, $5, 1, NULL, NULL, $6)
		ON CONFLICT (namespace, trigger_name) DO UPDATE SET
			config = excluded.config, status = excluded.status, next_fire = excluded.next_fire,
			rev = schedules.rev + 1, owner = NULL, lease_until = NULL, updated = excluded.updated`,
		sc.Namespace, sc.Trigger, nonNil(sc.Config), nonNil(sc.Status), max(sc.NextFire, 0), sc.Updated)
	if err != nil {
		return fmt.Errorf("postgres: put schedule %s/%s: %w", sc.Namespace, sc.Trigger, err)
	}
	return nil
}

// GetSchedule reads one schedule.
func (s *Store) GetSchedule(ctx context.Context, namespace, trigger string) (store.Schedule, error) {
	return scanSchedule(s.pool.QueryRow(ctx, `SELECT `+scheduleColumns+` FROM schedules
		WHERE namespace = $1 AND trigger_name = $2`, namespace, trigger))
}

// DeleteSchedule removes a schedule, held or not.
func (s *Store) DeleteSchedule(ctx context.Context, namespace, trigger string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM schedules WHERE namespace = $1 AND trigger_name = $2`, namespace, trigger)
	if err != nil {
		return fmt.Errorf("postgres: delete schedule %s/%s: %w", namespace, trigger, err)
	}
	if tag.RowsAffected() == 0 {
		return whisk.NotFound()
	}
	return nil
}

// ListSchedules lists the schedules of namespace ("" = every namespace).
func (s *Store) ListSchedules(ctx context.Context, namespace string) ([]store.Schedule, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+scheduleColumns+` FROM schedules
		WHERE $1 = '' OR namespace = $1 ORDER BY namespace, trigger_name`, namespace)
	if err != nil {
		return nil, fmt.Errorf("postgres: list schedules: %w", err)
	}
	return collectSchedules(rows)
}

func collectSchedules(rows pgx.Rows) ([]store.Schedule, error) {
	defer rows.Close()
	var out []store.Schedule
	for rows.Next() {
		sc, err := scanSchedule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read schedules: %w", err)
	}
	return out, nil
}

// ClaimDueSchedules leases up to n due schedules to owner.
func (s *Store) ClaimDueSchedules(ctx context.Context, owner string, now time.Time, lease time.Duration, n int) ([]store.Schedule, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, claimSchedulesSQL, owner, now.Add(lease).UnixMilli(), now.UnixMilli(), int64(n))
	if err != nil {
		return nil, fmt.Errorf("postgres: claim schedules: %w", err)
	}
	return collectSchedules(rows)
}

// CompleteSchedule stores the state after a fire if owner still holds the
// lease on revision sc.Rev.
func (s *Store) CompleteSchedule(ctx context.Context, owner string, sc store.Schedule) error {
	if sc.Updated == 0 {
		sc.Updated = s.nowMs()
	}
	// One statement tells the three outcomes apart: the row updated, the
	// row there but not ours, no row.
	var updated, exists bool
	err := s.pool.QueryRow(ctx, `WITH upd AS (
			UPDATE schedules SET config = $1, status = $2, next_fire = $3, rev = rev + 1,
				owner = NULL, lease_until = NULL, updated = $4
			WHERE namespace = $5 AND trigger_name = $6 AND owner = $7 AND rev = $8
			RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM upd),
			EXISTS (SELECT 1 FROM schedules WHERE namespace = $5 AND trigger_name = $6)`,
		nonNil(sc.Config), nonNil(sc.Status), max(sc.NextFire, 0), sc.Updated, sc.Namespace, sc.Trigger, owner, sc.Rev,
	).Scan(&updated, &exists)
	switch {
	case err != nil:
		return fmt.Errorf("postgres: complete schedule %s/%s: %w", sc.Namespace, sc.Trigger, err)
	case updated:
		return nil
	case !exists:
		return whisk.NotFound()
	}
	return &whisk.Error{Code: whisk.CodeConflict, Message: whisk.MsgConcurrentUpdate}
}

// ReleaseSchedules drops the leases owner holds.
func (s *Store) ReleaseSchedules(ctx context.Context, owner string) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE schedules SET owner = NULL, lease_until = NULL WHERE owner = $1`, owner)
	if err != nil {
		return 0, fmt.Errorf("postgres: release schedules of %s: %w", owner, err)
	}
	return int(tag.RowsAffected()), nil
}

// NextScheduleDue returns the earliest due time of any schedule.
func (s *Store) NextScheduleDue(ctx context.Context) (int64, bool, error) {
	var next *int64
	if err := s.pool.QueryRow(ctx, `SELECT MIN(next_fire) FROM schedules WHERE next_fire > 0`).Scan(&next); err != nil {
		return 0, false, fmt.Errorf("postgres: next schedule: %w", err)
	}
	if next == nil {
		return 0, false, nil
	}
	return *next, true, nil
}

func scanSchedule(row pgx.Row) (store.Schedule, error) {
	var sc store.Schedule
	err := row.Scan(&sc.Namespace, &sc.Trigger, &sc.Config, &sc.Status, &sc.NextFire, &sc.Rev, &sc.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Schedule{}, whisk.NotFound()
	}
	if err != nil {
		return store.Schedule{}, fmt.Errorf("postgres: read schedule: %w", err)
	}
	return sc, nil
}
