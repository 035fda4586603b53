package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// insertActivations stores a whole batch in one statement, hence one
// transaction and one round trip whatever its size: the columns travel as
// arrays. ON CONFLICT DO NOTHING keeps the first record of an id, including
// an id repeated within the batch.
//
// Rows are inserted in id order. Two batches that share ids (a redelivered
// activation recorded by two invokers) then wait on each other's keys in the
// same order, never crosswise, which would be a deadlock that PostgreSQL
// breaks only after deadlock_timeout by failing one of them. The cost is
// that records of one batch started in the same millisecond list in id
// order rather than in batch order.
const insertActivations = `INSERT INTO activations (activation_id, namespace, name, pkg_name, start, doc)
	SELECT id, ns, name, pkg, start, doc
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bytea[])
		AS r(id, ns, name, pkg, start, doc)
	ORDER BY id
	ON CONFLICT (activation_id) DO NOTHING`

// PutActivations stores records in one transaction; ids already stored keep
// their first record.
func (s *Store) PutActivations(ctx context.Context, acts []*whisk.Activation) error {
	if len(acts) == 0 {
		return nil
	}
	n := len(acts)
	ids, nss, names := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	pkgs, starts, docs := make([]*string, 0, n), make([]int64, 0, n), make([][]byte, 0, n)
	for _, a := range acts {
		if a == nil || a.ActivationID == "" || a.Namespace == "" {
			return errors.New("postgres: activation needs an id and a namespace")
		}
		doc := a.AppendJSON(nil)
		ids, nss, names = append(ids, a.ActivationID), append(nss, a.Namespace), append(names, a.Name)
		pkgs, starts, docs = append(pkgs, packagedName(a)), append(starts, a.Start), append(docs, doc)
	}
	if _, err := s.pool.Exec(ctx, insertActivations, ids, nss, names, pkgs, starts, docs); err != nil {
		return fmt.Errorf("postgres: insert %d activations: %w", n, err)
	}
	return nil
}

// packagedName is the "pkg/name" under which OpenWhisk's activations view
// files a record of a packaged action, so that ?name=pkg/name finds it: the
// package of the binding the action was invoked through if any, else the
// package in the path annotation ("ns/pkg/name"). It is nil for actions
// outside packages, triggers and records without a path; those are found by
// their bare name only. It must agree with the SQLite store's: storetest
// checks both.
func packagedName(a *whisk.Activation) *string {
	if b, ok := a.Annotations.GetString("binding"); ok {
		if _, pkg, ok := strings.Cut(b, "/"); ok && pkg != "" {
			v := pkg + "/" + a.Name
			return &v
		}
	}
	p, ok := a.Annotations.GetString("path")
	if !ok {
		return nil
	}
	if parts := strings.Split(p, "/"); len(parts) == 3 && parts[1] != "" {
		v := parts[1] + "/" + a.Name
		return &v
	}
	return nil
}

func (s *Store) GetActivation(ctx context.Context, namespace, id string) (*whisk.Activation, error) {
	var doc []byte
	err := s.pool.QueryRow(ctx, `SELECT doc FROM activations WHERE activation_id = $1 AND namespace = $2`,
		id, namespace).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, whisk.NotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get activation %s: %w", id, err)
	}
	return decodeActivation(doc)
}

func (s *Store) ListActivations(ctx context.Context, q store.ActivationQuery) ([]*whisk.Activation, error) {
	query, a := activationListQuery(q)
	rows, err := s.pool.Query(ctx, query, a...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list activations: %w", err)
	}
	defer rows.Close()
	var out []*whisk.Activation
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("postgres: list activations: %w", err)
		}
		a, err := decodeActivation(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list activations: %w", err)
	}
	return out, nil
}

// CountActivations counts what ListActivations would return without a
// limit: Skip is subtracted, as OpenWhisk's count does, and Limit is ignored.
func (s *Store) CountActivations(ctx context.Context, q store.ActivationQuery) (int, error) {
	query, a := activationCountQuery(q)
	var n int
	if err := s.pool.QueryRow(ctx, query, a...).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count activations: %w", err)
	}
	return max(n-max(q.Skip, 0), 0), nil
}

func activationListQuery(q store.ActivationQuery) (string, []any) {
	where, a := activationFilter(q)
	query := `SELECT doc FROM activations WHERE ` + where + ` ORDER BY start DESC, seq DESC LIMIT ` +
		a.add(limitArg(q.Limit)) + ` OFFSET ` + a.add(int64(max(q.Skip, 0)))
	return query, a
}

func activationCountQuery(q store.ActivationQuery) (string, []any) {
	where, a := activationFilter(q)
	return `SELECT count(*) FROM activations WHERE ` + where, a
}

// activationFilter builds a WHERE clause that one of the table's indexes
// answers in order: activations_by_start, activations_by_name or
// activations_by_pkg_name. The name conditions repeat the partial indexes'
// predicates so that the planner may use them.
func activationFilter(q store.ActivationQuery) (string, args) {
	var a args
	conds := []string{"namespace = " + a.add(q.Namespace)}
	switch {
	case q.Name == "":
	case strings.Contains(q.Name, "/"):
		conds = append(conds, "pkg_name = "+a.add(q.Name), "pkg_name IS NOT NULL")
	default:
		conds = append(conds, "name = "+a.add(q.Name), "pkg_name IS NULL")
	}
	if q.Since > 0 {
		conds = append(conds, "start >= "+a.add(q.Since))
	}
	if q.Upto > 0 {
		conds = append(conds, "start <= "+a.add(q.Upto))
	}
	return strings.Join(conds, " AND "), a
}

func decodeActivation(doc []byte) (*whisk.Activation, error) {
	a := new(whisk.Activation)
	if err := json.Unmarshal(doc, a); err != nil {
		return nil, fmt.Errorf("postgres: decode activation: %w", err)
	}
	return a, nil
}
