package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

var _ store.Schedules = (*Store)(nil)

// Schedules are written rarely (a feed's lifecycle, one row per fire), so
// their statements are not among the writer's prepared ones.

const scheduleColumns = `namespace, trigger_name, config, status, next_fire, rev, updated`

// claimSchedulesSQL leases the due schedules nobody holds in one statement:
// it runs under the write lock, so concurrent claimers (other processes on
// the same file) serialize and the second one no longer sees the rows the
// first one took.
const claimSchedulesSQL = `UPDATE schedules SET owner = ?1, lease_until = ?2
	WHERE rowid IN (
		SELECT rowid FROM schedules
		WHERE next_fire > 0 AND next_fire <= ?3 AND (owner IS NULL OR lease_until < ?3)
		ORDER BY next_fire LIMIT ?4)
	RETURNING ` + scheduleColumns

// PutSchedule creates or replaces a schedule and drops its lease.
func (s *Store) PutSchedule(ctx context.Context, sc store.Schedule) error {
	if sc.Namespace == "" || sc.Trigger == "" {
		return errors.New("sqlite: schedule needs a namespace and a trigger")
	}
	if sc.Updated == 0 {
		sc.Updated = s.nowMs()
	}
	_, err := s.writer.ExecContext(ctx, `INSERT INTO schedules
		(namespace, trigger_name, config, status, next_fire, rev, owner, lease_until, updated)
		VALUES (?1, ?2, ?3, ?4, ?5, 1, NULL, NULL, ?6)
		ON CONFLICT (namespace, trigger_name) DO UPDATE SET
			config = excluded.config, status = excluded.status, next_fire = excluded.next_fire,
			rev = schedules.rev + 1, owner = NULL, lease_until = NULL, updated = excluded.updated`,
		sc.Namespace, sc.Trigger, nonNil(sc.Config), nonNil(sc.Status), max(sc.NextFire, 0), sc.Updated)
	if err != nil {
		return fmt.Errorf("sqlite: put schedule %s/%s: %w", sc.Namespace, sc.Trigger, err)
	}
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// GetSchedule reads one schedule.
func (s *Store) GetSchedule(ctx context.Context, namespace, trigger string) (store.Schedule, error) {
	st, err := s.readStmt(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE namespace = ? AND trigger_name = ?`)
	if err != nil {
		return store.Schedule{}, fmt.Errorf("sqlite: get schedule: %w", err)
	}
	return scanSchedule(st.QueryRowContext(ctx, namespace, trigger))
}

// DeleteSchedule removes a schedule, held or not.
func (s *Store) DeleteSchedule(ctx context.Context, namespace, trigger string) error {
	res, err := s.writer.ExecContext(ctx, `DELETE FROM schedules WHERE namespace = ? AND trigger_name = ?`, namespace, trigger)
	if err != nil {
		return fmt.Errorf("sqlite: delete schedule %s/%s: %w", namespace, trigger, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return whisk.NotFound()
	}
	return nil
}

// ListSchedules lists the schedules of namespace ("" = every namespace).
func (s *Store) ListSchedules(ctx context.Context, namespace string) ([]store.Schedule, error) {
	query := `SELECT ` + scheduleColumns + ` FROM schedules WHERE ?1 = '' OR namespace = ?1 ORDER BY namespace, trigger_name`
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list schedules: %w", err)
	}
	rows, err := st.QueryContext(ctx, namespace)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list schedules: %w", err)
	}
	defer rows.Close()
	var out []store.Schedule
	for rows.Next() {
		sc, err := scanSchedule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, rows.Err()
}

// ClaimDueSchedules leases up to n due schedules to owner, earliest first.
func (s *Store) ClaimDueSchedules(ctx context.Context, owner string, now time.Time, lease time.Duration, n int) ([]store.Schedule, error) {
	if n <= 0 {
		return nil, nil
	}
	var out []store.Schedule
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, claimSchedulesSQL, owner, now.Add(lease).UnixMilli(), now.UnixMilli(), n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			sc, err := scanSchedule(rows)
			if err != nil {
				return err
			}
			out = append(out, sc)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim schedules: %w", err)
	}
	return out, nil
}

// CompleteSchedule stores the state after a fire if owner still holds the
// lease on revision sc.Rev.
func (s *Store) CompleteSchedule(ctx context.Context, owner string, sc store.Schedule) error {
	if sc.Updated == 0 {
		sc.Updated = s.nowMs()
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE schedules SET config = ?, status = ?, next_fire = ?, rev = rev + 1,
			owner = NULL, lease_until = NULL, updated = ?
			WHERE namespace = ? AND trigger_name = ? AND owner = ? AND rev = ?`,
			nonNil(sc.Config), nonNil(sc.Status), max(sc.NextFire, 0), sc.Updated, sc.Namespace, sc.Trigger, owner, sc.Rev)
		if err != nil {
			return fmt.Errorf("sqlite: complete schedule %s/%s: %w", sc.Namespace, sc.Trigger, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var rev int64
		err = tx.QueryRowContext(ctx, `SELECT rev FROM schedules WHERE namespace = ? AND trigger_name = ?`,
			sc.Namespace, sc.Trigger).Scan(&rev)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return whisk.NotFound()
		case err != nil:
			return fmt.Errorf("sqlite: complete schedule %s/%s: %w", sc.Namespace, sc.Trigger, err)
		}
		return &whisk.Error{Code: whisk.CodeConflict, Message: whisk.MsgConcurrentUpdate}
	})
}

// ReleaseSchedules drops the leases owner holds.
func (s *Store) ReleaseSchedules(ctx context.Context, owner string) (int, error) {
	res, err := s.writer.ExecContext(ctx, `UPDATE schedules SET owner = NULL, lease_until = NULL WHERE owner = ?`, owner)
	if err != nil {
		return 0, fmt.Errorf("sqlite: release schedules of %s: %w", owner, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// NextScheduleDue returns the earliest due time of any schedule.
func (s *Store) NextScheduleDue(ctx context.Context) (int64, bool, error) {
	st, err := s.readStmt(ctx, `SELECT MIN(next_fire) FROM schedules WHERE next_fire > 0`)
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: next schedule: %w", err)
	}
	var next sql.NullInt64
	if err := st.QueryRowContext(ctx).Scan(&next); err != nil {
		return 0, false, fmt.Errorf("sqlite: next schedule: %w", err)
	}
	return next.Int64, next.Valid, nil
}

func scanSchedule(row scanner) (store.Schedule, error) {
	var sc store.Schedule
	err := row.Scan(&sc.Namespace, &sc.Trigger, &sc.Config, &sc.Status, &sc.NextFire, &sc.Rev, &sc.Updated)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Schedule{}, whisk.NotFound()
	}
	if err != nil {
		return store.Schedule{}, fmt.Errorf("sqlite: read schedule: %w", err)
	}
	return sc, nil
}
