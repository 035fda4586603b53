package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/gustfaas/gust/internal/store"
)

// claimSQL leases the oldest claimable items. FOR UPDATE SKIP LOCKED lets
// claimers in several processes run at once without waiting on each other
// or handing out one row twice: a row another claimer has locked is
// skipped, and a row it has already claimed and committed is re-checked
// against the lease condition by the UPDATE and left alone.
const claimSQL = `UPDATE queue SET owner = $1, lease_until = $2, attempts = attempts + 1
	WHERE id IN (
		SELECT id FROM queue
		WHERE (owner IS NULL OR lease_until < $3) AND available_at <= $3
		ORDER BY enqueued, seq
		LIMIT $4
		FOR UPDATE SKIP LOCKED)
	RETURNING id, body, attempts, enqueued, seq`

// Enqueue adds an item, claimable at once. It returns after COMMIT, which
// with PostgreSQL's default synchronous_commit has flushed the WAL.
// Enqueueing an id that is already queued is a no-op, so a caller may retry
// after an error without creating a duplicate.
func (s *Store) Enqueue(ctx context.Context, id string, body []byte) error {
	if id == "" {
		return errors.New("postgres: queue item needs an id")
	}
	if body == nil {
		body = []byte{}
	}
	now := s.nowMs()
	if _, err := s.pool.Exec(ctx, `INSERT INTO queue (id, body, attempts, available_at, enqueued)
		VALUES ($1, $2, 0, $3, $3) ON CONFLICT (id) DO NOTHING`, id, body, now); err != nil {
		return fmt.Errorf("postgres: enqueue %s: %w", id, err)
	}
	return nil
}

// Claim leases up to n items to owner, oldest first. An item is claimable
// when it is not leased, or its lease has expired (its holder is presumed
// dead or stuck), and any Release delay has passed.
func (s *Store) Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]store.QueueItem, error) {
	if n <= 0 {
		return nil, nil
	}
	now := s.Now()
	rows, err := s.pool.Query(ctx, claimSQL, owner, now.Add(lease).UnixMilli(), now.UnixMilli(), int64(n))
	if err != nil {
		return nil, fmt.Errorf("postgres: claim: %w", err)
	}
	defer rows.Close()
	type claimed struct {
		item          store.QueueItem
		enqueued, seq int64
	}
	var got []claimed
	for rows.Next() {
		var c claimed
		if err := rows.Scan(&c.item.ID, &c.item.Body, &c.item.Attempts, &c.enqueued, &c.seq); err != nil {
			return nil, fmt.Errorf("postgres: claim: %w", err)
		}
		got = append(got, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: claim: %w", err)
	}
	// RETURNING yields rows in whatever order the UPDATE visited them.
	sort.Slice(got, func(i, j int) bool {
		if got[i].enqueued != got[j].enqueued {
			return got[i].enqueued < got[j].enqueued
		}
		return got[i].seq < got[j].seq
	})
	items := make([]store.QueueItem, len(got))
	for i, c := range got {
		items[i] = c.item
	}
	return items, nil
}

// Renew extends the leases of the ids that owner still holds. Ids it no
// longer holds (acknowledged, released, or reclaimed by another owner after
// the lease expired) are left alone: the lease is not taken back.
func (s *Store) Renew(ctx context.Context, owner string, ids []string, lease time.Duration) error {
	if len(ids) == 0 {
		return nil
	}
	until := s.Now().Add(lease).UnixMilli()
	if _, err := s.pool.Exec(ctx, `UPDATE queue SET lease_until = $1 WHERE owner = $2 AND id = ANY($3)`,
		until, owner, ids); err != nil {
		return fmt.Errorf("postgres: renew: %w", err)
	}
	return nil
}

// Release returns ids to the queue, claimable again once delay has passed.
// The attempt count is kept: it was raised by the claim that is now undone.
func (s *Store) Release(ctx context.Context, ids []string, delay time.Duration) error {
	if len(ids) == 0 {
		return nil
	}
	at := s.Now().Add(max(delay, 0)).UnixMilli()
	if _, err := s.pool.Exec(ctx, `UPDATE queue SET owner = NULL, lease_until = NULL, available_at = $1
		WHERE id = ANY($2)`, at, ids); err != nil {
		return fmt.Errorf("postgres: release: %w", err)
	}
	return nil
}

// Ack removes ids from the queue; unknown ids are ignored.
func (s *Store) Ack(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM queue WHERE id = ANY($1)`, ids); err != nil {
		return fmt.Errorf("postgres: ack: %w", err)
	}
	return nil
}

// Recover makes every item leased by owner claimable at once. A process that
// restarts under the same owner name calls it first: what it held when it
// died is its own unfinished work, and waiting for the leases to expire would
// only delay it. Attempt counts are kept, so poison work still runs out.
func (s *Store) Recover(ctx context.Context, owner string) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE queue SET owner = NULL, lease_until = NULL WHERE owner = $1`, owner)
	if err != nil {
		return 0, fmt.Errorf("postgres: recover %s: %w", owner, err)
	}
	return int(tag.RowsAffected()), nil
}
