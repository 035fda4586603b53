// Package postgres is the cluster store: store.Store and store.Queue on
// PostgreSQL through a pgx connection pool, shared by every controller and
// invoker of a cluster.
//
// Every method is one statement or one transaction. Conditional writes
// (entity revisions, one record per activation id, queue claims) are decided
// by the database in that statement, never by a read followed by a write, so
// any number of processes may write at once.
//
// The schema lives in the search_path's first schema: put
// ?search_path=myschema in the URL to keep several installations (or test
// runs) in one database.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gustfaas/gust/internal/store"
)

var (
	_ store.Store = (*Store)(nil)
	_ store.Queue = (*Store)(nil)
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a PostgreSQL-backed store.Store and store.Queue. It is safe for
// concurrent use.
type Store struct {
	// Now is the clock for queue leases and default timestamps. Set it, if at
	// all, before the store is used.
	Now func() time.Time

	pool *pgxpool.Pool
}

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string, as pgx reads them, pool settings such as
// pool_max_conns included), checks that the server keeps commits durable,
// and brings the schema up to date. Controllers starting together may all
// call Open: migrations run once, under an advisory lock.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := prepareDatabase(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &Store{Now: time.Now, pool: pool}, nil
}

// Close closes the pool, waiting for connections in use to be returned.
// Calls after Close fail.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping reports whether a connection can be had and used.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

func (s *Store) nowMs() int64 { return s.Now().UnixMilli() }

// prepareDatabase runs on one connection of its own, so that the session
// advisory lock it takes is released by closing it whatever happens.
func prepareDatabase(ctx context.Context, cc *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Close(context.Background())
	if err := checkDurability(ctx, conn); err != nil {
		return err
	}
	if err := migrate(ctx, conn); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// checkDurability refuses a server, or a session, that acknowledges commits
// before they are safe on disk: activation records are the proof that
// accepted work was done (RELIABILITY.md, P3), and a record lost after the
// bus was acknowledged is an activation lost without trace.
func checkDurability(ctx context.Context, conn *pgx.Conn) error {
	var fsync, syncCommit, fullPages string
	err := conn.QueryRow(ctx, `SELECT current_setting('fsync'), current_setting('synchronous_commit'),
		current_setting('full_page_writes')`).Scan(&fsync, &syncCommit, &fullPages)
	if err != nil {
		return fmt.Errorf("postgres: read settings: %w", err)
	}
	for _, s := range []struct{ name, value string }{
		{"fsync", fsync}, {"synchronous_commit", syncCommit}, {"full_page_writes", fullPages},
	} {
		if s.value == "off" {
			return fmt.Errorf("postgres: %s is off: committed activation records could be lost in a crash; turn it on (see RELIABILITY.md)", s.name)
		}
	}
	return nil
}

// migrate applies, in name order, every embedded migration newer than the
// schema's version, each in its own transaction together with its
// schema_version row, so a crash leaves the schema at some whole version.
//
// The session advisory lock is keyed by the schema, so processes opening the
// same schema at once queue up (the first migrates, the others find nothing
// left to do), while installations in other schemas of the database are not
// held up.
func migrate(ctx context.Context, conn *pgx.Conn) error {
	var schema *string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return err
	}
	if schema == nil {
		// pg_advisory_lock(NULL) would return without locking anything.
		return errors.New("the search_path names no existing schema to create the tables in")
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended('gust.migrate.' || $1::text, 0))`, *schema); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	// Closing the connection would release the lock too; unlocking keeps it
	// short when the caller's context is long-lived.
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock(hashtextextended('gust.migrate.' || $1::text, 0))`, *schema)

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := path.Base(name)
		prefix, _, _ := strings.Cut(base, "_")
		version, err := strconv.Atoi(prefix)
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", base)
		}
		if version <= current {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, version); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, string(body))
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	return nil
}

// isUniqueViolation reports whether err is PostgreSQL refusing a duplicate key.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// args numbers the parameters of a query built from optional filters.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// limitArg turns the contract's "0 = no limit" into LIMIT NULL.
func limitArg(limit int) any {
	if limit <= 0 {
		return nil
	}
	return int64(limit)
}
