package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// writerStmts are prepared once on the single writer connection; inside a
// transaction tx.StmtContext reuses them as they are.
type writerStmts struct {
	nsInsert, nsUpdate, nsDelete            *sql.Stmt
	entNextRev                              *sql.Stmt
	entInsert, entUpdate, entRev, entDelete *sql.Stmt
	entDeleteNS, actDeleteNS                *sql.Stmt
	actInsert                               *sql.Stmt
	qInsert, qClaim, qRenew, qRelease, qAck *sql.Stmt
}

// readerStmts are the fixed-shape reads; database/sql prepares each on every
// pooled reader connection the first time that connection runs it.
type readerStmts struct {
	nsGet, nsByUUID, nsList *sql.Stmt
	entGet                  *sql.Stmt
	actGet                  *sql.Stmt
}

const nsColumns = `name, subject, uuid, key_hash, limits, created`

// claimSQL leases the oldest claimable items in one statement, so two
// claimers can never pick the same row: the UPDATE runs under the write lock.
const claimSQL = `UPDATE queue SET owner = ?1, lease_until = ?2, attempts = attempts + 1
	WHERE seq IN (
		SELECT seq FROM queue
		WHERE (owner IS NULL OR lease_until < ?3) AND available_at <= ?3
		ORDER BY enqueued, seq LIMIT ?4)
	RETURNING id, body, attempts, enqueued, seq`

func (s *Store) prepare(ctx context.Context) error {
	w := []struct {
		dst   **sql.Stmt
		query string
	}{
		{&s.w.nsInsert, `INSERT INTO namespaces (` + nsColumns + `) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`},
		{&s.w.nsUpdate, `UPDATE namespaces SET subject = ?, uuid = ?, key_hash = ?, limits = ? WHERE name = ?`},
		{&s.w.nsDelete, `DELETE FROM namespaces WHERE name = ?`},
		{&s.w.entNextRev, `UPDATE entity_revision SET last = last + 1 RETURNING last`},
		{&s.w.entInsert, `INSERT INTO entities (path, name, collection, namespace, rev, updated, publish, body)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`},
		{&s.w.entUpdate, `UPDATE entities SET rev = ?, updated = ?, publish = ?, body = ?
			WHERE path = ? AND name = ? AND collection = ? AND rev = ?`},
		{&s.w.entRev, `SELECT rev FROM entities WHERE path = ? AND name = ?`},
		{&s.w.entDelete, `DELETE FROM entities WHERE path = ?1 AND name = ?2 AND (?3 = 0 OR rev = ?3)`},
		{&s.w.entDeleteNS, `DELETE FROM entities WHERE namespace = ?`},
		{&s.w.actDeleteNS, `DELETE FROM activations WHERE namespace = ?`},
		{&s.w.actInsert, `INSERT INTO activations (id, namespace, name, pkg_name, start, doc)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`},
		{&s.w.qInsert, `INSERT INTO queue (id, body, attempts, available_at, enqueued)
			VALUES (?, ?, 0, ?, ?) ON CONFLICT (id) DO NOTHING`},
		{&s.w.qClaim, claimSQL},
		{&s.w.qRenew, `UPDATE queue SET lease_until = ? WHERE id = ? AND owner = ?`},
		{&s.w.qRelease, `UPDATE queue SET owner = NULL, lease_until = NULL, available_at = ? WHERE id = ?`},
		{&s.w.qAck, `DELETE FROM queue WHERE id = ?`},
	}
	for _, p := range w {
		st, err := s.writer.PrepareContext(ctx, p.query)
		if err != nil {
			return fmt.Errorf("%s: %w", p.query, err)
		}
		*p.dst = st
	}
	r := []struct {
		dst   **sql.Stmt
		query string
	}{
		{&s.r.nsGet, `SELECT ` + nsColumns + ` FROM namespaces WHERE name = ?`},
		{&s.r.nsByUUID, `SELECT ` + nsColumns + ` FROM namespaces WHERE uuid = ?`},
		{&s.r.nsList, `SELECT ` + nsColumns + ` FROM namespaces ORDER BY name`},
		{&s.r.entGet, `SELECT ` + entColumns + ` FROM entities WHERE path = ? AND name = ?`},
		{&s.r.actGet, `SELECT doc FROM activations WHERE id = ? AND namespace = ?`},
	}
	for _, p := range r {
		st, err := s.reader.PrepareContext(ctx, p.query)
		if err != nil {
			return fmt.Errorf("%s: %w", p.query, err)
		}
		*p.dst = st
	}
	return nil
}

func (w *writerStmts) close() {
	for _, st := range []*sql.Stmt{
		w.nsInsert, w.nsUpdate, w.nsDelete,
		w.entNextRev, w.entInsert, w.entUpdate, w.entRev, w.entDelete,
		w.entDeleteNS, w.actDeleteNS, w.actInsert,
		w.qInsert, w.qClaim, w.qRenew, w.qRelease, w.qAck,
	} {
		if st != nil {
			st.Close()
		}
	}
}

func (r *readerStmts) close() {
	for _, st := range []*sql.Stmt{r.nsGet, r.nsByUUID, r.nsList, r.entGet, r.actGet} {
		if st != nil {
			st.Close()
		}
	}
}
