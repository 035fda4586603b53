package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// CreateNamespace stores a new namespace. Created defaults to now. A taken
// name or uuid is a conflict.
func (s *Store) CreateNamespace(ctx context.Context, ns store.Namespace) error {
	if ns.Name == "" || ns.UUID == "" {
		return errors.New("sqlite: namespace needs a name and a uuid")
	}
	limits, err := json.Marshal(ns.Limits)
	if err != nil {
		return err
	}
	if ns.Created == 0 {
		ns.Created = s.nowMs()
	}
	// ON CONFLICT without a target covers both unique keys (name, uuid).
	res, err := s.w.nsInsert.ExecContext(ctx, ns.Name, ns.Subject, ns.UUID, ns.KeyHash, string(limits), ns.Created)
	if err != nil {
		return fmt.Errorf("sqlite: create namespace %s: %w", ns.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return whisk.Errorf(whisk.CodeConflict, "namespace %s or its uuid already exists", ns.Name)
	}
	return nil
}

// UpdateNamespace replaces the subject, key and limits of an existing
// namespace. Created is kept from the stored row: it records when the tenant
// was made, not when its key last changed.
func (s *Store) UpdateNamespace(ctx context.Context, ns store.Namespace) error {
	limits, err := json.Marshal(ns.Limits)
	if err != nil {
		return err
	}
	res, err := s.w.nsUpdate.ExecContext(ctx, ns.Subject, ns.UUID, ns.KeyHash, string(limits), ns.Name)
	if err != nil {
		if isUniqueViolation(err) {
			return whisk.Errorf(whisk.CodeConflict, "uuid of namespace %s is used by another namespace", ns.Name)
		}
		return fmt.Errorf("sqlite: update namespace %s: %w", ns.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return whisk.NotFound()
	}
	return nil
}

func (s *Store) GetNamespace(ctx context.Context, name string) (store.Namespace, error) {
	return scanNamespace(s.r.nsGet.QueryRowContext(ctx, name))
}

func (s *Store) NamespaceByUUID(ctx context.Context, uuid string) (store.Namespace, error) {
	return scanNamespace(s.r.nsByUUID.QueryRowContext(ctx, uuid))
}

func (s *Store) ListNamespaces(ctx context.Context) ([]store.Namespace, error) {
	rows, err := s.r.nsList.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list namespaces: %w", err)
	}
	defer rows.Close()
	var out []store.Namespace
	for rows.Next() {
		ns, err := scanNamespace(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ns)
	}
	return out, rows.Err()
}

// DeleteNamespace removes the namespace row, every entity it owns (packaged
// ones included) and its activations in one transaction.
func (s *Store) DeleteNamespace(ctx context.Context, name string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.w.nsDelete).ExecContext(ctx, name)
		if err != nil {
			return fmt.Errorf("sqlite: delete namespace %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return whisk.NotFound()
		}
		if _, err := tx.StmtContext(ctx, s.w.entDeleteNS).ExecContext(ctx, name); err != nil {
			return fmt.Errorf("sqlite: delete entities of %s: %w", name, err)
		}
		if _, err := tx.StmtContext(ctx, s.w.actDeleteNS).ExecContext(ctx, name); err != nil {
			return fmt.Errorf("sqlite: delete activations of %s: %w", name, err)
		}
		return nil
	})
}

type scanner interface{ Scan(dest ...any) error }

func scanNamespace(row scanner) (store.Namespace, error) {
	var ns store.Namespace
	var limits []byte
	err := row.Scan(&ns.Name, &ns.Subject, &ns.UUID, &ns.KeyHash, &limits, &ns.Created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Namespace{}, whisk.NotFound()
	}
	if err != nil {
		return store.Namespace{}, fmt.Errorf("sqlite: read namespace: %w", err)
	}
	if err := json.Unmarshal(limits, &ns.Limits); err != nil {
		return store.Namespace{}, fmt.Errorf("sqlite: namespace %s limits: %w", ns.Name, err)
	}
	return ns, nil
}
