package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

const entColumns = `path, name, collection, namespace, rev, updated, publish, body`

func (s *Store) GetEntity(ctx context.Context, path, name string) (store.Doc, error) {
	return scanDoc(s.pool.QueryRow(ctx, `SELECT `+entColumns+` FROM entities WHERE path = $1 AND name = $2`, path, name))
}

// PutEntity creates (ifRev == 0) or updates (ifRev == stored rev) an entity.
// Every write takes the next store-wide revision (see 0003_revisions.sql).
// An update must name the stored entity's collection: replacing an action
// through the packages collection is a conflict, as a create would be.
// Updated defaults to now.
func (s *Store) PutEntity(ctx context.Context, doc store.Doc, ifRev int64) (int64, error) {
	if doc.Path == "" || doc.Name == "" || doc.Collection == "" {
		return 0, errors.New("postgres: entity needs a path, a name and a collection")
	}
	if ifRev < 0 {
		return 0, fmt.Errorf("postgres: negative revision %d", ifRev)
	}
	root, _ := whisk.SplitPath(doc.Path)
	if doc.Namespace == "" {
		doc.Namespace = root
	} else if doc.Namespace != root {
		// Listing and DeleteNamespace go by the namespace column; letting it
		// disagree with the path would leak an entity into another tenant.
		return 0, fmt.Errorf("postgres: entity %s/%s: namespace %s is not the root of its path", doc.Path, doc.Name, doc.Namespace)
	}
	if doc.Updated == 0 {
		doc.Updated = s.nowMs()
	}
	if doc.Body == nil {
		doc.Body = []byte{}
	}

	if ifRev == 0 {
		var rev int64
		err := s.pool.QueryRow(ctx, `INSERT INTO entities (`+entColumns+`) VALUES ($1, $2, $3, $4, nextval('entity_revision'), $5, $6, $7)
			ON CONFLICT DO NOTHING RETURNING rev`,
			doc.Path, doc.Name, string(doc.Collection), doc.Namespace, doc.Updated, doc.Publish, doc.Body).Scan(&rev)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, &whisk.Error{Code: whisk.CodeConflict, Message: whisk.MsgExists}
		}
		if err != nil {
			return 0, fmt.Errorf("postgres: create %s/%s: %w", doc.Path, doc.Name, err)
		}
		return rev, nil
	}

	// One statement decides and explains: the EXISTS sees the same snapshot
	// as the UPDATE, so "missing" and "changed meanwhile" are told apart
	// about one state. A concurrent update of the row makes this UPDATE
	// wait and then re-check rev against the new row: no update is lost.
	var rev *int64
	var exists bool
	err := s.pool.QueryRow(ctx, `WITH upd AS (
			UPDATE entities SET rev = nextval('entity_revision'), updated = $1, publish = $2, body = $3
			WHERE path = $4 AND name = $5 AND collection = $6 AND rev = $7
			RETURNING rev)
		SELECT (SELECT rev FROM upd), EXISTS (SELECT 1 FROM entities WHERE path = $4 AND name = $5)`,
		doc.Updated, doc.Publish, doc.Body, doc.Path, doc.Name, string(doc.Collection), ifRev).Scan(&rev, &exists)
	switch {
	case err != nil:
		return 0, fmt.Errorf("postgres: update %s/%s: %w", doc.Path, doc.Name, err)
	case rev != nil:
		return *rev, nil
	case exists:
		return 0, &whisk.Error{Code: whisk.CodeConflict, Message: whisk.MsgConcurrentUpdate}
	default:
		return 0, whisk.NotFound()
	}
}

// DeleteEntity deletes path/name if its revision is ifRev (0 = any).
func (s *Store) DeleteEntity(ctx context.Context, path, name string, ifRev int64) error {
	var deleted, exists bool
	err := s.pool.QueryRow(ctx, `WITH del AS (
			DELETE FROM entities WHERE path = $1 AND name = $2 AND ($3::bigint = 0 OR rev = $3::bigint)
			RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM del), EXISTS (SELECT 1 FROM entities WHERE path = $1 AND name = $2)`,
		path, name, ifRev).Scan(&deleted, &exists)
	switch {
	case err != nil:
		return fmt.Errorf("postgres: delete %s/%s: %w", path, name, err)
	case deleted:
		return nil
	case exists:
		return &whisk.Error{Code: whisk.CodeConflict, Message: whisk.MsgConcurrentUpdate}
	default:
		return whisk.NotFound()
	}
}

func (s *Store) ListEntities(ctx context.Context, q store.ListQuery) ([]store.Doc, error) {
	query, a, ok := entityListQuery(q)
	if !ok {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, query, a...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list %s: %w", q.Collection, err)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list %s: %w", q.Collection, err)
	}
	return out, nil
}

// CountEntities counts what ListEntities would return without a limit: Skip
// is subtracted, as OpenWhisk's count does, and Limit is ignored.
func (s *Store) CountEntities(ctx context.Context, q store.ListQuery) (int, error) {
	where, a, ok := entityFilter(q)
	if !ok {
		return 0, nil
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM entities WHERE `+where, a...).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count %s: %w", q.Collection, err)
	}
	return max(n-max(q.Skip, 0), 0), nil
}

func entityListQuery(q store.ListQuery) (string, []any, bool) {
	where, a, ok := entityFilter(q)
	query := `SELECT ` + entColumns + ` FROM entities WHERE ` + where +
		` ORDER BY updated DESC, name LIMIT ` + a.add(limitArg(q.Limit)) + ` OFFSET ` + a.add(int64(max(q.Skip, 0)))
	return query, a, ok
}

// entityFilter builds the WHERE clause of a list, answered in order by
// entities_by_namespace or entities_by_path. ok is false when the query can
// match nothing (a path outside the namespace).
func entityFilter(q store.ListQuery) (where string, a args, ok bool) {
	var conds []string
	if q.Path != "" {
		// A path names its root namespace, so the path index alone answers.
		if root, _ := whisk.SplitPath(q.Path); q.Namespace != "" && root != q.Namespace {
			return "", nil, false
		}
		conds = append(conds, "path = "+a.add(q.Path))
	} else {
		conds = append(conds, "namespace = "+a.add(q.Namespace))
	}
	conds = append(conds, "collection = "+a.add(string(q.Collection)))
	if q.Published {
		conds = append(conds, "publish")
	}
	return strings.Join(conds, " AND "), a, true
}

func scanDoc(row pgx.Row) (store.Doc, error) {
	var d store.Doc
	var coll string
	err := row.Scan(&d.Path, &d.Name, &coll, &d.Namespace, &d.Rev, &d.Updated, &d.Publish, &d.Body)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Doc{}, whisk.NotFound()
	}
	if err != nil {
		return store.Doc{}, fmt.Errorf("postgres: read entity: %w", err)
	}
	d.Collection = store.Collection(coll)
	return d, nil
}
