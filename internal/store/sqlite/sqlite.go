// Package sqlite is the single-process store: store.Store and store.Queue on
// one SQLite file (modernc.org/sqlite, pure Go) in WAL mode.
//
// Writes go through one connection, so SQLite never has two writers fighting
// over the database lock inside this process and every transaction can start
// IMMEDIATE (take the write lock up front instead of failing half-way with
// SQLITE_BUSY on upgrade). Reads use a separate read-only pool, which WAL lets
// run alongside the writer. With synchronous=FULL a COMMIT returns only after
// the WAL is fsynced, which is what makes an enqueued invocation durable
// (RELIABILITY.md, P1).
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gustfaas/gust/internal/store"
)

var (
	_ store.Store = (*Store)(nil)
	_ store.Queue = (*Store)(nil)
)

//go:embed migrations/*.sql
var migrations embed.FS

const (
	writerParams = "_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_txlock=immediate"
	// mode=ro makes a bug that writes through the reader pool fail loudly
	// instead of racing the writer for the lock.
	readerParams = "mode=ro&_pragma=busy_timeout(5000)"
	readers      = 4
)

// Store is a SQLite-backed store.Store and store.Queue. It is safe for
// concurrent use.
type Store struct {
	// Now is the clock for queue leases and default timestamps. Set it, if at
	// all, before the store is used.
	Now func() time.Time

	writer *sql.DB
	reader *sql.DB

	w writerStmts
	r readerStmts

	// dynamic holds reader statements whose SQL depends on which query
	// filters are set; there are a few dozen shapes at most.
	mu      sync.Mutex
	dynamic map[string]*sql.Stmt

	enqueues enqueueGroup
}

// Open opens, or creates, the database at path and brings its schema up to
// date.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	writer, err := sql.Open("sqlite", dsn(path, writerParams))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxIdleTime(0)
	writer.SetConnMaxLifetime(0)

	s := &Store{Now: time.Now, writer: writer, dynamic: make(map[string]*sql.Stmt)}
	// The writer must have created the file and switched it to WAL before a
	// read-only connection can open it.
	if err := s.migrate(context.Background()); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: migrate %s: %w", path, err)
	}

	reader, err := sql.Open("sqlite", dsn(path, readerParams))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s read-only: %w", path, err)
	}
	reader.SetMaxOpenConns(readers)
	// Idle connections are kept: reopening one costs far more than a query,
	// and it would drop the statements prepared on it.
	reader.SetMaxIdleConns(readers)
	reader.SetConnMaxIdleTime(0)
	reader.SetConnMaxLifetime(0)
	s.reader = reader

	if err := s.prepare(context.Background()); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: prepare %s: %w", path, err)
	}
	return s, nil
}

// dsn builds a SQLite URI. Characters that URIs give a meaning to are escaped
// so that any file name works.
func dsn(path, params string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return "file:" + r.Replace(path) + "?" + params
}

// Close closes the store. Calls after Close fail.
func (s *Store) Close() error {
	s.closeEnqueues()
	s.mu.Lock()
	for _, st := range s.dynamic {
		st.Close()
	}
	s.dynamic = map[string]*sql.Stmt{}
	s.mu.Unlock()
	s.w.close()
	s.r.close()
	var errs []error
	// Readers first: the last connection to close checkpoints the WAL, and
	// that should be the writer, which is allowed to write.
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
	}
	errs = append(errs, s.writer.Close())
	return errors.Join(errs...)
}

// Ping reports whether both pools can reach the database.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping reader: %w", err)
	}
	if err := s.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping writer: %w", err)
	}
	return nil
}

func (s *Store) nowMs() int64 { return s.Now().UnixMilli() }

// migrate applies, in name order, every embedded migration newer than the
// database's schema_version, each in its own transaction together with the
// version bump, so a crash leaves the schema at some whole version.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.writer.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
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
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if err := s.applyMigration(ctx, version, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, version int, body string) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Read under the write lock: another process opening the same file at the
	// same time then sees our version and skips, instead of applying twice.
	var current int
	if err := tx.QueryRowContext(ctx,
		`SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return err
	}
	if version <= current {
		return nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM schema_version`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, version); err != nil {
		return err
	}
	return tx.Commit()
}

// readStmt returns the reader statement for query, preparing it on first use.
func (s *Store) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.dynamic[query]; ok {
		return st, nil
	}
	st, err := s.reader.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.dynamic[query] = st
	return st, nil
}

// inTx runs fn in one writer transaction (BEGIN IMMEDIATE) and commits it.
// Writer statements are prepared on the only writer connection, so fn reaches
// them through tx.StmtContext without preparing again.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	return commit(tx, fn)
}

// commit runs fn in tx and commits, or rolls back if fn fails.
func commit(tx *sql.Tx, fn func(tx *sql.Tx) error) error {
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// inRelaxedTx is inTx with synchronous=NORMAL for this one transaction, for
// writes whose loss in a power cut no promise depends on (see PutActivations).
// SQLite refuses to change the setting inside a transaction, so it is set on
// the connection around it; a connection whose FULL setting cannot be put
// back is thrown away rather than left to commit accepted work unsynced.
func (s *Store) inRelaxedTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous=NORMAL"); err != nil {
		return err
	}
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous=FULL"); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	return commit(tx, fn)
}

// isUniqueViolation reports whether err is SQLite refusing a duplicate key.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code()
	return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// limitArg turns the contract's "0 = no limit" into SQLite's LIMIT -1.
func limitArg(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
