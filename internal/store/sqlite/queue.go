package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gustfaas/gust/internal/store"
)

// Enqueue adds an item, claimable at once. It returns after COMMIT, which
// with synchronous=FULL has fsynced the WAL: the item survives a crash of the
// process or of the machine. Enqueueing an id that is already queued is a
// no-op, so a caller may retry after an error without creating a duplicate.
//
// Concurrent calls share commits (group commit): one goroutine commits all
// the items waiting, and those that arrive during a commit go in the next.
// One fsync per commit instead of one per item is what bounds non-blocking
// invokes per second.
func (s *Store) Enqueue(ctx context.Context, id string, body []byte) error {
	if id == "" {
		return errors.New("sqlite: queue item needs an id")
	}
	if body == nil {
		body = []byte{}
	}
	e := &enqueued{id: id, body: body, done: make(chan struct{})}
	g := &s.enqueues
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return errors.New("sqlite: enqueue on a closed store")
	}
	if g.wake == nil {
		g.wake, g.stop, g.stopped = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		go s.enqueueLoop()
	}
	g.waiting = append(g.waiting, e)
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	select {
	case <-e.done:
		return e.err
	case <-ctx.Done():
		return ctx.Err() // the item may still be committed: Enqueue is idempotent
	}
}

// enqueueGroup gathers the items waiting for the next commit.
type enqueueGroup struct {
	mu      sync.Mutex
	waiting []*enqueued
	closed  bool
	wake    chan struct{} // nil until the first Enqueue starts the loop
	stop    chan struct{}
	stopped chan struct{}
	commits atomic.Int64 // transactions, for tests
}

type enqueued struct {
	id   string
	body []byte
	err  error
	done chan struct{}
}

// enqueueLoop commits what is waiting whenever it is woken; at Close it
// commits the last of it and stops.
func (s *Store) enqueueLoop() {
	g := &s.enqueues
	defer close(g.stopped)
	for {
		stopping := false
		select {
		case <-g.wake:
		case <-g.stop:
			stopping = true
		}
		g.mu.Lock()
		batch := g.waiting
		g.waiting = nil
		g.mu.Unlock()
		if len(batch) > 0 {
			s.commitEnqueued(batch)
		}
		if stopping {
			return
		}
	}
}

// closeEnqueues commits the items already waiting and stops the loop.
func (s *Store) closeEnqueues() {
	g := &s.enqueues
	g.mu.Lock()
	again := g.closed
	g.closed = true
	started := g.wake != nil
	g.mu.Unlock()
	if started {
		if !again {
			close(g.stop)
		}
		<-g.stopped
	}
}

func (s *Store) commitEnqueued(batch []*enqueued) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := s.nowMs()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ins := tx.StmtContext(ctx, s.w.qInsert)
		for _, e := range batch {
			if _, err := ins.ExecContext(ctx, e.id, e.body, now, now); err != nil {
				return fmt.Errorf("sqlite: enqueue %s: %w", e.id, err)
			}
		}
		return nil
	})
	s.enqueues.commits.Add(1)
	for _, e := range batch {
		e.err = err
		close(e.done)
	}
}

// Claim leases up to n items to owner, oldest first. An item is claimable
// when it is not leased, or its lease has expired (its holder is presumed
// dead or stuck), and any Release delay has passed.
func (s *Store) Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]store.QueueItem, error) {
	if n <= 0 {
		return nil, nil
	}
	now := s.Now()
	type claimed struct {
		item     store.QueueItem
		enqueued int64
		seq      int64
	}
	var got []claimed
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		got = got[:0]
		rows, err := tx.StmtContext(ctx, s.w.qClaim).QueryContext(ctx,
			owner, now.Add(lease).UnixMilli(), now.UnixMilli(), n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c claimed
			if err := rows.Scan(&c.item.ID, &c.item.Body, &c.item.Attempts, &c.enqueued, &c.seq); err != nil {
				return err
			}
			got = append(got, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim: %w", err)
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		st := tx.StmtContext(ctx, s.w.qRenew)
		for _, id := range ids {
			if _, err := st.ExecContext(ctx, until, id, owner); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: renew: %w", err)
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		st := tx.StmtContext(ctx, s.w.qRelease)
		for _, id := range ids {
			if _, err := st.ExecContext(ctx, at, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: release: %w", err)
	}
	return nil
}

// Ack removes ids from the queue; unknown ids are ignored.
func (s *Store) Ack(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.ackTx(ctx, tx, ids) })
}

func (s *Store) ackTx(ctx context.Context, tx *sql.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	st := tx.StmtContext(ctx, s.w.qAck)
	for _, id := range ids {
		if _, err := st.ExecContext(ctx, id); err != nil {
			return fmt.Errorf("sqlite: ack %s: %w", id, err)
		}
	}
	return nil
}

// Recover makes every item leased by owner claimable at once. A process that
// restarts under the same owner name calls it first: what it held when it
// died is its own unfinished work, and waiting for the leases to expire would
// only delay it. Attempt counts are kept, so poison work still runs out.
func (s *Store) Recover(ctx context.Context, owner string) (int, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE queue SET owner = NULL, lease_until = NULL WHERE owner = ?`, owner)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: recover %s: %w", owner, err)
	}
	return int(n), nil
}
