package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

const nsColumns = `name, subject, uuid, key_hash, limits, created`

// CreateNamespace stores a new namespace. Created defaults to now. A taken
// name or uuid is a conflict.
func (s *Store) CreateNamespace(ctx context.Context, ns store.Namespace) error {
	if ns.Name == "" || ns.UUID == "" {
		return errors.New("postgres: namespace needs a name and a uuid")
	}
	limits, err := json.Marshal(ns.Limits)
	if err != nil {
		return err
	}
	if ns.Created == 0 {
		ns.Created = s.nowMs()
	}
	// ON CONFLICT without a target covers both unique keys (name, uuid).
	tag, err := s.pool.Exec(ctx, `INSERT INTO namespaces (`+nsColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT DO NOTHING`, ns.Name, ns.Subject, ns.UUID, ns.KeyHash, string(limits), ns.Created)
	if err != nil {
		return fmt.Errorf("postgres: create namespace %s: %w", ns.Name, err)
	}
	if tag.RowsAffected() == 0 {
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
	tag, err := s.pool.Exec(ctx, `UPDATE namespaces SET subject = $1, uuid = $2, key_hash = $3, limits = $4
		WHERE name = $5`, ns.Subject, ns.UUID, ns.KeyHash, string(limits), ns.Name)
	if err != nil {
		if isUniqueViolation(err) {
			return whisk.Errorf(whisk.CodeConflict, "uuid of namespace %s is used by another namespace", ns.Name)
		}
		return fmt.Errorf("postgres: update namespace %s: %w", ns.Name, err)
	}
	if tag.RowsAffected() == 0 {
		return whisk.NotFound()
	}
	return nil
}

func (s *Store) GetNamespace(ctx context.Context, name string) (store.Namespace, error) {
	return scanNamespace(s.pool.QueryRow(ctx, `SELECT `+nsColumns+` FROM namespaces WHERE name = $1`, name))
}

func (s *Store) NamespaceByUUID(ctx context.Context, uuid string) (store.Namespace, error) {
	return scanNamespace(s.pool.QueryRow(ctx, `SELECT `+nsColumns+` FROM namespaces WHERE uuid = $1`, uuid))
}

func (s *Store) ListNamespaces(ctx context.Context) ([]store.Namespace, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+nsColumns+` FROM namespaces ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list namespaces: %w", err)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list namespaces: %w", err)
	}
	return out, nil
}

// DeleteNamespace removes the namespace row, every entity it owns (packaged
// ones included) and its activations in one transaction.
func (s *Store) DeleteNamespace(ctx context.Context, name string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM namespaces WHERE name = $1`, name)
		if err != nil {
			return fmt.Errorf("postgres: delete namespace %s: %w", name, err)
		}
		if tag.RowsAffected() == 0 {
			return whisk.NotFound()
		}
		if _, err := tx.Exec(ctx, `DELETE FROM entities WHERE namespace = $1`, name); err != nil {
			return fmt.Errorf("postgres: delete entities of %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM activations WHERE namespace = $1`, name); err != nil {
			return fmt.Errorf("postgres: delete activations of %s: %w", name, err)
		}
		return nil
	})
}

func scanNamespace(row pgx.Row) (store.Namespace, error) {
	var ns store.Namespace
	var limits string
	err := row.Scan(&ns.Name, &ns.Subject, &ns.UUID, &ns.KeyHash, &limits, &ns.Created)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Namespace{}, whisk.NotFound()
	}
	if err != nil {
		return store.Namespace{}, fmt.Errorf("postgres: read namespace: %w", err)
	}
	if err := json.Unmarshal([]byte(limits), &ns.Limits); err != nil {
		return store.Namespace{}, fmt.Errorf("postgres: namespace %s limits: %w", ns.Name, err)
	}
	return ns, nil
}
