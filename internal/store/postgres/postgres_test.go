package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/store/storetest"
	"github.com/gustfaas/gust/internal/testenv"
	"github.com/gustfaas/gust/internal/whisk"
)

// freshSchema creates an empty schema of its own for one test and returns
// the server's URL with that schema as its search_path; the schema is
// dropped when the test ends. Tests in parallel, or runs of the suite from
// several checkouts against one server, then never see each other's rows.
func freshSchema(tb testing.TB) string {
	tb.Helper()
	base := testenv.MustHavePostgres(tb)
	var b [6]byte
	rand.Read(b[:])
	schema := "gust_test_" + hex.EncodeToString(b[:])

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to GUST_TEST_POSTGRES: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withParam(tb, base, "search_path", schema)
}

// withParam sets a run-time parameter in a postgres:// URL or a key=value
// connection string.
func withParam(tb testing.TB, dsn, key, value string) string {
	tb.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " " + key + "=" + value
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("GUST_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func mustOpen(tb testing.TB, url string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return mustOpen(t, freshSchema(t)) })
}

func TestQueue(t *testing.T) {
	storetest.RunQueue(t, func(t *testing.T, now func() time.Time) store.Queue {
		s := mustOpen(t, freshSchema(t))
		s.Now = now
		return s
	})
}

// TestMigrationRace opens one empty schema from several goroutines at once,
// as controllers of a cluster starting together do: every Open succeeds and
// each migration is applied once. Without the advisory lock the losers fail
// on CREATE TABLE of a table the winner has just made.
func TestMigrationRace(t *testing.T) {
	url := freshSchema(t)
	const openers = 5
	start := make(chan struct{})
	errs := make(chan error, openers)
	var wg sync.WaitGroup
	for range openers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, err := Open(t.Context(), url)
			if err == nil {
				err = s.Ping(t.Context())
				s.Close()
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
	}
	checkVersions(t, url)
}

// checkVersions checks that schema_version lists every embedded migration
// exactly once.
func checkVersions(t *testing.T, url string) {
	t.Helper()
	names, err := migrations.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var rows, maxVersion int
	if err := conn.QueryRow(t.Context(), `SELECT count(*), max(version) FROM schema_version`).Scan(&rows, &maxVersion); err != nil {
		t.Fatal(err)
	}
	if rows != len(names) || maxVersion != len(names) {
		t.Fatalf("schema_version has %d rows up to version %d, want %d migrations applied once", rows, maxVersion, len(names))
	}
}

// TestReopen checks that data outlives the store and that reopening a
// migrated schema applies nothing twice.
func TestReopen(t *testing.T) {
	url := freshSchema(t)
	ctx := t.Context()
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	doc := store.Doc{Collection: store.Actions, Namespace: "guest", Path: "guest", Name: "a", Updated: 1, Body: []byte(`{}`)}
	if _, err := s.PutEntity(ctx, doc, 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping after Close succeeded")
	}

	s = mustOpen(t, url)
	got, err := s.GetEntity(ctx, "guest", "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Rev != 1 {
		t.Fatalf("rev after reopen = %d, want 1", got.Rev)
	}
	checkVersions(t, url)
}

func TestOpenErrors(t *testing.T) {
	base := testenv.MustHavePostgres(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name, url, want string
	}{
		{"no schema", withParam(t, base, "search_path", "gust_no_such_schema"),
			"postgres: migrate: the search_path names no existing schema to create the tables in"},
		{"commits not durable", withParam(t, freshSchema(t), "synchronous_commit", "off"),
			"postgres: synchronous_commit is off: committed activation records could be lost in a crash; turn it on (see RELIABILITY.md)"},
		{"not a url", "postgres://%zz", "postgres: cannot parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, tc.url)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Open: %v\nwant an error starting with %q", err, tc.want)
			}
		})
	}
}

// TestOverlappingBatches writes the same new ids from many goroutines at
// once, each batch in its own random order: redelivered work recorded by
// two invokers at once. Every put must succeed (no deadlock between batches that lock
// the same keys) and each id must keep exactly one record.
func TestOverlappingBatches(t *testing.T) {
	s := mustOpen(t, freshSchema(t))
	ctx := t.Context()
	const writers, rounds, ids = 8, 15, 60
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	start := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for r := range rounds {
				batch := make([]*whisk.Activation, ids)
				for i, k := range mrand.Perm(ids) {
					batch[i] = &whisk.Activation{Namespace: "ns", Name: "a", ActivationID: fmt.Sprintf("%016x%016x", r, k),
						Start: int64(w*1000 + r), Response: whisk.NewResponse(whisk.StatusSuccess, nil)}
				}
				if err := s.PutActivations(ctx, batch); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n, err := s.CountActivations(ctx, store.ActivationQuery{Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	if n != rounds*ids {
		t.Fatalf("%d records for %d ids", n, rounds*ids)
	}
	t.Logf("%d overlapping batches of %d in %v", writers*rounds, ids, time.Since(began))
}

// TestSettings checks what RELIABILITY.md asks of PostgreSQL on the server
// the tests run against, and that activation_id is the primary key.
func TestSettings(t *testing.T) {
	url := freshSchema(t)
	mustOpen(t, url)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var fsync, syncCommit, fullPages, pk string
	err = conn.QueryRow(t.Context(), `SELECT current_setting('fsync'), current_setting('synchronous_commit'),
		current_setting('full_page_writes'),
		(SELECT string_agg(a.attname, ',') FROM pg_index i
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
			WHERE i.indrelid = 'activations'::regclass AND i.indisprimary)`).Scan(&fsync, &syncCommit, &fullPages, &pk)
	if err != nil {
		t.Fatal(err)
	}
	if fsync != "on" || syncCommit != "on" || fullPages != "on" || pk != "activation_id" {
		t.Fatalf("fsync=%s synchronous_commit=%s full_page_writes=%s activations key=%s; want on, on, on, activation_id",
			fsync, syncCommit, fullPages, pk)
	}
}

// TestQueryPlans seeds a namespace with many records and checks that every
// listing shape is read from the front of its index, already in order: a
// page costs its length whatever the table's size.
func TestQueryPlans(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 200,000 activations")
	}
	url := freshSchema(t)
	s := mustOpen(t, url)
	ctx := t.Context()
	seedActivations(t, s, 100_000)
	seedEntities(t, s, 20_000)

	type shape struct {
		sql   string
		args  []any
		index string
	}
	var shapes []shape
	for _, q := range []store.ActivationQuery{
		{Namespace: "guest", Limit: 30},
		{Namespace: "guest", Since: 1, Upto: 90_000, Skip: 30, Limit: 30},
		{Namespace: "guest", Name: "action7", Limit: 30},
		{Namespace: "guest", Name: "action7", Since: 1, Limit: 30},
		{Namespace: "guest", Name: "pkg2/action7", Upto: 90_000, Limit: 30},
	} {
		index := "activations_by_start"
		if strings.Contains(q.Name, "/") {
			index = "activations_by_pkg_name"
		} else if q.Name != "" {
			index = "activations_by_name"
		}
		query, a := activationListQuery(q)
		shapes = append(shapes, shape{query, a, index})
	}
	for _, q := range []store.ListQuery{
		{Collection: store.Actions, Namespace: "guest", Limit: 30},
		{Collection: store.Actions, Namespace: "guest", Published: true, Limit: 30},
		{Collection: store.Actions, Namespace: "guest", Path: "guest/pkg3", Limit: 30},
	} {
		index := "entities_by_namespace"
		if q.Path != "" {
			index = "entities_by_path"
		}
		query, a, _ := entityListQuery(q)
		shapes = append(shapes, shape{query, a, index})
	}

	for _, sh := range shapes {
		rows, err := s.pool.Query(ctx, "EXPLAIN "+sh.sql, sh.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, strings.TrimSpace(line))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		p := strings.Join(plan, "\n")
		if !strings.Contains(p, "Index Scan using "+sh.index+" ") || strings.Contains(p, "Sort") {
			t.Errorf("%s\nplan:\n%s\nwant an index scan of %s without a sort", sh.sql, p, sh.index)
		}
	}
}

var benchRows = flag.Int("activations", 100_000, "activations seeded per namespace for BenchmarkListActivations")

// seedActivations fills two namespaces (guest and other) with n records
// each, with SQL alone, which is far faster than encoding records in Go;
// the documents are real activation JSON. Names spread over 97 actions,
// every fifth record in one of three packages.
func seedActivations(tb testing.TB, s *Store, n int) {
	tb.Helper()
	ctx := context.Background()
	_, err := s.pool.Exec(ctx, `
		INSERT INTO activations (activation_id, namespace, name, pkg_name, start, doc)
		SELECT lpad(to_hex(x), 32, '0'), ns, name, CASE WHEN pkg IS NULL THEN NULL ELSE pkg || '/' || name END, start,
			convert_to(json_build_object('namespace', ns, 'name', name, 'version', '0.0.1', 'subject', ns,
				'activationId', lpad(to_hex(x), 32, '0'), 'start', start, 'end', start + 3, 'duration', 3,
				'statusCode', 0,
				'response', json_build_object('status', 'success', 'statusCode', 0, 'success', true,
					'result', json_build_object('payload', 'hello, world'), 'size', 26),
				'logs', json_build_array('2024-05-29T16:26:40.123456789Z stdout: hello'),
				'annotations', json_build_array(json_build_object('key', 'path',
					'value', ns || '/' || CASE WHEN pkg IS NULL THEN '' ELSE pkg || '/' END || name)),
				'publish', false)::text, 'UTF8')
		FROM (SELECT x,
			CASE WHEN x >= $1 THEN 'other' ELSE 'guest' END AS ns,
			'action' || (x % 97) AS name,
			CASE WHEN x % 5 = 0 THEN 'pkg' || (x % 3) ELSE NULL END AS pkg,
			(x % $1)::bigint AS start
			FROM generate_series(0, 2 * $1 - 1) AS x) r`, int64(n))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE activations`); err != nil {
		tb.Fatal(err)
	}
}

// seedEntities creates n actions in guest, a tenth of them in packages.
func seedEntities(tb testing.TB, s *Store, n int) {
	tb.Helper()
	ctx := context.Background()
	_, err := s.pool.Exec(ctx, `
		INSERT INTO entities (path, name, collection, namespace, rev, updated, publish, body)
		SELECT CASE WHEN x % 10 = 0 THEN 'guest/pkg' || (x % 7) ELSE 'guest' END, 'action' || x, 'actions',
			'guest', 1, x, x % 3 = 0, convert_to('{}', 'UTF8')
		FROM generate_series(1, $1) AS x`, int64(n))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE entities`); err != nil {
		tb.Fatal(err)
	}
}

func benchActivations(n int, start int64) []*whisk.Activation {
	acts := make([]*whisk.Activation, n)
	for i := range acts {
		a := &whisk.Activation{
			Namespace: "guest", Name: "hello", Version: "0.0.1", Subject: "guest",
			ActivationID: whisk.NewActivationID(), Start: start + int64(i), End: start + int64(i) + 3, Duration: 3,
			Response: whisk.NewResponse(whisk.StatusSuccess, []byte(`{"payload":"hello, world"}`)),
			Logs:     []string{"2024-05-29T16:26:40.123456789Z stdout: hello"},
		}
		a.Annotations = a.Annotations.Set("path", "guest/hello").Set("kind", "nodejs:20").Set("waitTime", 12)
		acts[i] = a
	}
	return acts
}

func BenchmarkPutActivations(b *testing.B) {
	s := mustOpen(b, freshSchema(b))
	ctx := context.Background()
	const batch = 100
	var start int64
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		acts := benchActivations(batch, start)
		start += batch
		b.StartTimer()
		if err := s.PutActivations(ctx, acts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
}

// BenchmarkListActivations lists from a namespace of -activations records
// spread over 97 action names and 3 packages, plus as many in another
// namespace, as an API page of 30 would.
func BenchmarkListActivations(b *testing.B) {
	s := mustOpen(b, freshSchema(b))
	ctx := context.Background()
	seedActivations(b, s, *benchRows)
	b.ResetTimer()

	for _, bc := range []struct {
		name string
		q    store.ActivationQuery
	}{
		{"all", store.ActivationQuery{Namespace: "guest", Limit: 30}},
		{"name", store.ActivationQuery{Namespace: "guest", Name: "action7", Limit: 30}},
		{"pkg-name", store.ActivationQuery{Namespace: "guest", Name: "pkg2/action7", Limit: 30}},
		{"name-window-skip", store.ActivationQuery{Namespace: "guest", Name: "action7", Since: 1000, Upto: int64(*benchRows) / 2, Skip: 30, Limit: 30}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				acts, err := s.ListActivations(ctx, bc.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(acts) != 30 {
					b.Fatalf("listed %d, want 30", len(acts))
				}
			}
		})
	}
	b.Run("count-name", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.CountActivations(ctx, store.ActivationQuery{Namespace: "guest", Name: "action7"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
