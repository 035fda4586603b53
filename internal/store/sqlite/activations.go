package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// activationRow is an activation encoded for the activations table, ready
// before the write transaction starts so the write lock is not held while
// JSON is being built.
type activationRow struct {
	id, namespace, name string
	pkgName             any // string or nil
	start               int64
	doc                 []byte
}

func encodeActivations(acts []*whisk.Activation) ([]activationRow, error) {
	rows := make([]activationRow, 0, len(acts))
	// One buffer for the batch's documents; a doc made before the buffer
	// grows keeps pointing at the old array, which stays valid.
	buf := make([]byte, 0, 768*len(acts))
	for _, a := range acts {
		if a == nil || a.ActivationID == "" || a.Namespace == "" {
			return nil, errors.New("sqlite: activation needs an id and a namespace")
		}
		start := len(buf)
		buf = a.AppendJSON(buf)
		doc := buf[start:len(buf):len(buf)]
		rows = append(rows, activationRow{
			id: a.ActivationID, namespace: a.Namespace, name: a.Name,
			pkgName: packagedName(a), start: a.Start, doc: doc,
		})
	}
	return rows, nil
}

// packagedName is the "pkg/name" under which OpenWhisk's activations view
// files a record of a packaged action, so that ?name=pkg/name finds it: the
// package of the binding the action was invoked through if any, else the
// package in the path annotation ("ns/pkg/name"). It is nil for actions
// outside packages, triggers and records without a path; those are found by
// their bare name only.
func packagedName(a *whisk.Activation) any {
	if b, ok := a.Annotations.GetString("binding"); ok {
		if _, pkg, ok := strings.Cut(b, "/"); ok && pkg != "" {
			return pkg + "/" + a.Name
		}
	}
	p, ok := a.Annotations.GetString("path")
	if !ok {
		return nil
	}
	if parts := strings.Split(p, "/"); len(parts) == 3 && parts[1] != "" {
		return parts[1] + "/" + a.Name
	}
	return nil
}

// PutActivations stores records in one transaction; ids already stored keep
// their first record.
//
// The commit does not wait for fsync (synchronous=NORMAL for this transaction
// only): it survives a crash of the process at once, and a power loss from
// the next commit that does sync, since that fsync covers every WAL frame
// before it. No promise rests on these records alone being on disk: the
// record of non-blocking work is only acknowledged (its queue row deleted) in
// a later, fully synced commit, so until then the queue row brings the work
// back; a blocking caller already holds the result. Syncing each batch of
// records was 5% of the CPU of a warm invoke and its latency delayed the
// next batch.
func (s *Store) PutActivations(ctx context.Context, acts []*whisk.Activation) error {
	if len(acts) == 0 {
		return nil
	}
	rows, err := encodeActivations(acts)
	if err != nil {
		return err
	}
	return s.inRelaxedTx(ctx, func(tx *sql.Tx) error { return s.insertActivations(ctx, tx, rows) })
}

// PutActivationsAndAck stores records and removes queue items in one
// transaction. This is the step that lets the single-process shape promise
// exactly one record per accepted invocation (RELIABILITY.md, P3): a crash
// leaves either both the records and the acknowledgements or neither, so the
// work is either done and gone or redelivered and deduplicated by id.
func (s *Store) PutActivationsAndAck(ctx context.Context, acts []*whisk.Activation, ackIDs []string) error {
	if len(acts) == 0 && len(ackIDs) == 0 {
		return nil
	}
	rows, err := encodeActivations(acts)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.insertActivations(ctx, tx, rows); err != nil {
			return err
		}
		return s.ackTx(ctx, tx, ackIDs)
	})
}

func (s *Store) insertActivations(ctx context.Context, tx *sql.Tx, rows []activationRow) error {
	ins := tx.StmtContext(ctx, s.w.actInsert)
	for _, r := range rows {
		if _, err := ins.ExecContext(ctx, r.id, r.namespace, r.name, r.pkgName, r.start, r.doc); err != nil {
			return fmt.Errorf("sqlite: insert activation %s: %w", r.id, err)
		}
	}
	return nil
}

func (s *Store) GetActivation(ctx context.Context, namespace, id string) (*whisk.Activation, error) {
	var doc []byte
	err := s.r.actGet.QueryRowContext(ctx, id, namespace).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, whisk.NotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get activation %s: %w", id, err)
	}
	return decodeActivation(doc)
}

func (s *Store) ListActivations(ctx context.Context, q store.ActivationQuery) ([]*whisk.Activation, error) {
	query, args := activationListQuery(q)
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list activations: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list activations: %w", err)
	}
	defer rows.Close()
	var out []*whisk.Activation
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("sqlite: list activations: %w", err)
		}
		a, err := decodeActivation(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// CountActivations counts what ListActivations would return without a
// limit: Skip is subtracted, as OpenWhisk's count does, and Limit is ignored.
func (s *Store) CountActivations(ctx context.Context, q store.ActivationQuery) (int, error) {
	query, args := activationCountQuery(q)
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count activations: %w", err)
	}
	var n int
	if err := st.QueryRowContext(ctx, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count activations: %w", err)
	}
	return max(n-max(q.Skip, 0), 0), nil
}

// activationListQuery is the SQL of a list. seq breaks ties between records
// of the same millisecond (later insert first); every index on the table
// ends in seq, so this order costs no sort.
func activationListQuery(q store.ActivationQuery) (string, []any) {
	where, args := activationFilter(q)
	return `SELECT doc FROM activations WHERE ` + where + ` ORDER BY start DESC, seq DESC LIMIT ? OFFSET ?`,
		append(args, limitArg(q.Limit), max(q.Skip, 0))
}

func activationCountQuery(q store.ActivationQuery) (string, []any) {
	where, args := activationFilter(q)
	return `SELECT COUNT(*) FROM activations WHERE ` + where, args
}

// activationFilter builds a WHERE clause that one of the table's indexes
// answers in order: (namespace, start), (namespace, name, start) or
// (namespace, pkg_name, start). The name conditions repeat the partial
// indexes' WHERE terms so that SQLite may use them.
func activationFilter(q store.ActivationQuery) (string, []any) {
	conds := []string{"namespace = ?"}
	args := []any{q.Namespace}
	switch {
	case q.Name == "":
	case strings.Contains(q.Name, "/"):
		conds = append(conds, "pkg_name = ?")
		args = append(args, q.Name)
	default:
		conds = append(conds, "name = ?", "pkg_name IS NULL")
		args = append(args, q.Name)
	}
	if q.Since > 0 {
		conds = append(conds, "start >= ?")
		args = append(args, q.Since)
	}
	if q.Upto > 0 {
		conds = append(conds, "start <= ?")
		args = append(args, q.Upto)
	}
	return strings.Join(conds, " AND "), args
}

func decodeActivation(doc []byte) (*whisk.Activation, error) {
	a := new(whisk.Activation)
	if err := json.Unmarshal(doc, a); err != nil {
		return nil, fmt.Errorf("sqlite: decode activation: %w", err)
	}
	return a, nil
}
