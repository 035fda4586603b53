package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

const entColumns = `path, name, collection, namespace, rev, updated, publish, body`

func (s *Store) GetEntity(ctx context.Context, path, name string) (store.Doc, error) {
	return scanDoc(s.r.entGet.QueryRowContext(ctx, path, name))
}

// PutEntity creates (ifRev == 0) or updates (ifRev == stored rev) an entity.
// Every write takes the next store-wide revision (see 0003_revisions.sql).
// An update must name the stored entity's collection: replacing an action
// through the packages collection is a conflict, as a create would be.
// Updated defaults to now.
func (s *Store) PutEntity(ctx context.Context, doc store.Doc, ifRev int64) (int64, error) {
	if doc.Path == "" || doc.Name == "" || doc.Collection == "" {
		return 0, errors.New("sqlite: entity needs a path, a name and a collection")
	}
	if ifRev < 0 {
		return 0, fmt.Errorf("sqlite: negative revision %d", ifRev)
	}
	root, _ := whisk.SplitPath(doc.Path)
	if doc.Namespace == "" {
		doc.Namespace = root
	} else if doc.Namespace != root {
		// Listing and DeleteNamespace go by the namespace column; letting it
		// disagree with the path would leak an entity into another tenant.
		return 0, fmt.Errorf("sqlite: entity %s/%s: namespace %s is not the root of its path", doc.Path, doc.Name, doc.Namespace)
	}
	if doc.Updated == 0 {
		doc.Updated = s.nowMs()
	}
	if doc.Body == nil {
		doc.Body = []byte{}
	}

	var rev int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.StmtContext(ctx, s.w.entNextRev).QueryRowContext(ctx).Scan(&rev); err != nil {
			return fmt.Errorf("sqlite: next revision: %w", err)
		}
		if ifRev == 0 {
			res, err := tx.StmtContext(ctx, s.w.entInsert).ExecContext(ctx, doc.Path, doc.Name, string(doc.Collection),
				doc.Namespace, rev, doc.Updated, boolInt(doc.Publish), doc.Body)
			if err != nil {
				return fmt.Errorf("sqlite: create %s/%s: %w", doc.Path, doc.Name, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return &whisk.Error{Code: whisk.CodeConflict, Message: whisk.MsgExists}
			}
			return nil
		}
		res, err := tx.StmtContext(ctx, s.w.entUpdate).ExecContext(ctx, rev, doc.Updated, boolInt(doc.Publish), doc.Body,
			doc.Path, doc.Name, string(doc.Collection), ifRev)
		if err != nil {
			return fmt.Errorf("sqlite: update %s/%s: %w", doc.Path, doc.Name, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		return s.missOrConflict(ctx, tx, doc.Path, doc.Name)
	})
	if err != nil {
		return 0, err
	}
	return rev, nil
}

// DeleteEntity deletes path/name if its revision is ifRev (0 = any).
func (s *Store) DeleteEntity(ctx context.Context, path, name string, ifRev int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.w.entDelete).ExecContext(ctx, path, name, ifRev)
		if err != nil {
			return fmt.Errorf("sqlite: delete %s/%s: %w", path, name, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		return s.missOrConflict(ctx, tx, path, name)
	})
}

// missOrConflict explains why a conditional write touched no row: the row is
// missing, or it is there with another revision or collection. It runs in the
// write transaction so that the answer is about the same state.
func (s *Store) missOrConflict(ctx context.Context, tx *sql.Tx, path, name string) error {
	var rev int64
	err := tx.StmtContext(ctx, s.w.entRev).QueryRowContext(ctx, path, name).Scan(&rev)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return whisk.NotFound()
	case err != nil:
		return fmt.Errorf("sqlite: read revision of %s/%s: %w", path, name, err)
	default:
		return &whisk.Error{Code: whisk.CodeConflict, Message: whisk.MsgConcurrentUpdate}
	}
}

func (s *Store) ListEntities(ctx context.Context, q store.ListQuery) ([]store.Doc, error) {
	query, args, ok := entityListQuery(q)
	if !ok {
		return nil, nil
	}
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list %s: %w", q.Collection, err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list %s: %w", q.Collection, err)
	}
	defer rows.Close()
	var out []store.Doc
	for rows.Next() {
		d, err := scanDoc(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// CountEntities counts what ListEntities would return without a limit: Skip
// is subtracted, as OpenWhisk's count does, and Limit is ignored.
func (s *Store) CountEntities(ctx context.Context, q store.ListQuery) (int, error) {
	query, args, ok := entityCountQuery(q)
	if !ok {
		return 0, nil
	}
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count %s: %w", q.Collection, err)
	}
	var n int
	if err := st.QueryRowContext(ctx, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count %s: %w", q.Collection, err)
	}
	return max(n-max(q.Skip, 0), 0), nil
}

func entityListQuery(q store.ListQuery) (string, []any, bool) {
	where, args, ok := entityFilter(q)
	return `SELECT ` + entColumns + ` FROM entities WHERE ` + where + ` ORDER BY updated DESC, name LIMIT ? OFFSET ?`,
		append(args, limitArg(q.Limit), max(q.Skip, 0)), ok
}

func entityCountQuery(q store.ListQuery) (string, []any, bool) {
	where, args, ok := entityFilter(q)
	return `SELECT COUNT(*) FROM entities WHERE ` + where, args, ok
}

// entityFilter builds the WHERE clause of a list. ok is false when the query
// can match nothing (a path outside the namespace).
func entityFilter(q store.ListQuery) (where string, args []any, ok bool) {
	var conds []string
	if q.Path != "" {
		// A path names its root namespace, so the path index alone answers.
		if root, _ := whisk.SplitPath(q.Path); q.Namespace != "" && root != q.Namespace {
			return "", nil, false
		}
		conds = append(conds, "path = ?", "collection = ?")
		args = append(args, q.Path, string(q.Collection))
	} else {
		conds = append(conds, "namespace = ?", "collection = ?")
		args = append(args, q.Namespace, string(q.Collection))
	}
	if q.Published {
		conds = append(conds, "publish = 1")
	}
	return strings.Join(conds, " AND "), args, true
}

func scanDoc(row scanner) (store.Doc, error) {
	var d store.Doc
	var coll string
	var publish int
	err := row.Scan(&d.Path, &d.Name, &coll, &d.Namespace, &d.Rev, &d.Updated, &publish, &d.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Doc{}, whisk.NotFound()
	}
	if err != nil {
		return store.Doc{}, fmt.Errorf("sqlite: read entity: %w", err)
	}
	d.Collection = store.Collection(coll)
	d.Publish = publish != 0
	return d, nil
}
