package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/store/storetest"
	"github.com/gustfaas/gust/internal/whisk"
)

func mustOpen(tb testing.TB, path string) *Store {
	tb.Helper()
	s, err := Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

func mustOpenTemp(tb testing.TB) *Store {
	tb.Helper()
	// A space and a '?' in the path check that file names reach SQLite intact.
	return mustOpen(tb, filepath.Join(tb.TempDir(), "gust data?.db"))
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return mustOpenTemp(t) })
}

func TestQueue(t *testing.T) {
	storetest.RunQueue(t, func(t *testing.T, now func() time.Time) store.Queue {
		s := mustOpenTemp(t)
		s.Now = now
		return s
	})
}

// TestSettings checks that the settings RELIABILITY.md relies on are in
// effect, not merely asked for in the DSN.
func TestSettings(t *testing.T) {
	s := mustOpenTemp(t)
	ctx := t.Context()
	var mode string
	var sync, fk, busy int
	row := s.writer.QueryRowContext(ctx, `SELECT (SELECT journal_mode FROM pragma_journal_mode),
		(SELECT synchronous FROM pragma_synchronous), (SELECT foreign_keys FROM pragma_foreign_keys),
		(SELECT timeout FROM pragma_busy_timeout)`)
	if err := row.Scan(&mode, &sync, &fk, &busy); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || sync != 2 || fk != 1 || busy != 5000 {
		t.Fatalf("writer: journal_mode=%s synchronous=%d foreign_keys=%d busy_timeout=%d, want wal 2 (FULL) 1 5000",
			mode, sync, fk, busy)
	}

	_, err := s.reader.ExecContext(ctx, `INSERT INTO queue (id, body, available_at, enqueued) VALUES ('x', '', 0, 0)`)
	if err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Fatalf("write through the reader pool: err = %v, want a read-only error", err)
	}

	var version int
	if err := s.reader.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	files, err := migrations.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	if version != len(files) {
		t.Fatalf("schema_version = %d, want %d: every embedded migration applied", version, len(files))
	}
}

// TestRecordsCommitRelaxed checks that activation records alone commit with
// synchronous=NORMAL and that the writer is FULL again afterwards, whether the
// write succeeded or not: accepted work committed after it must be synced.
func TestRecordsCommitRelaxed(t *testing.T) {
	s := mustOpenTemp(t)
	ctx := t.Context()
	writerSync := func() int {
		t.Helper()
		var sync int
		if err := s.writer.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil {
			t.Fatal(err)
		}
		return sync
	}
	var inside int
	err := s.inRelaxedTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&inside)
	})
	if err != nil || inside != 1 {
		t.Fatalf("inside the records transaction: synchronous=%d err=%v, want 1 (NORMAL)", inside, err)
	}
	if got := writerSync(); got != 2 {
		t.Fatalf("after the records transaction: synchronous=%d, want 2 (FULL)", got)
	}

	if err := s.PutActivations(ctx, benchActivations(3, 0)); err != nil {
		t.Fatal(err)
	}
	failing := errors.New("insert failed")
	if err := s.inRelaxedTx(ctx, func(*sql.Tx) error { return failing }); !errors.Is(err, failing) {
		t.Fatalf("err = %v, want the transaction's own error", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.PutActivations(canceled, benchActivations(3, 10)); err == nil {
		t.Fatal("PutActivations with a canceled context succeeded")
	}
	if got := writerSync(); got != 2 {
		t.Fatalf("after records, a failed and a canceled records transaction: synchronous=%d, want 2 (FULL)", got)
	}
	acts, err := s.ListActivations(ctx, store.ActivationQuery{Namespace: "guest"})
	if err != nil || len(acts) != 3 {
		t.Fatalf("listed %d records (err %v), want the 3 committed ones", len(acts), err)
	}
}

// TestReopen checks that data outlives the store and that reopening a
// migrated database applies nothing twice.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gust.db")
	ctx := t.Context()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := store.Doc{Collection: store.Actions, Namespace: "guest", Path: "guest", Name: "a", Updated: 1, Body: []byte(`{}`)}
	if _, err := s.PutEntity(ctx, doc, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping after Close succeeded")
	}

	s = mustOpen(t, path)
	got, err := s.GetEntity(ctx, "guest", "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Rev != 1 {
		t.Fatalf("rev after reopen = %d, want 1", got.Rev)
	}
	var rows int
	if err := s.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("schema_version rows = %d, %v; want 1", rows, err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Fatal("Open(\"\") succeeded")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing-dir", "gust.db")); err == nil {
		t.Fatal("Open in a missing directory succeeded")
	}
}

// TestEmptyBodies checks that an empty body is stored as empty, not refused
// by the NOT NULL columns.
func TestEmptyBodies(t *testing.T) {
	s := mustOpenTemp(t)
	ctx := t.Context()
	doc := store.Doc{Collection: store.Rules, Path: "guest", Name: "r"}
	if _, err := s.PutEntity(ctx, doc, 0); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetEntity(ctx, "guest", "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Body) != 0 || got.Namespace != "guest" || got.Updated == 0 {
		t.Fatalf("entity with no body, namespace or time = %+v, want an empty body, namespace guest, a time", got)
	}
	if err := s.Enqueue(ctx, "q", nil); err != nil {
		t.Fatal(err)
	}
	items, err := s.Claim(ctx, "inv", 1, time.Minute)
	if err != nil || len(items) != 1 || len(items[0].Body) != 0 {
		t.Fatalf("claim of an empty item = %+v, %v", items, err)
	}
	doc.Namespace = "other"
	if _, err := s.PutEntity(ctx, doc, 0); err == nil {
		t.Fatal("PutEntity with a namespace that is not the root of its path succeeded")
	}
}

// TestPutActivationsAndAck checks that records and acknowledgements commit
// together or not at all.
func TestPutActivationsAndAck(t *testing.T) {
	s := mustOpenTemp(t)
	ctx := t.Context()
	for _, id := range []string{"q1", "q2"} {
		if err := s.Enqueue(ctx, id, []byte(id)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Claim(ctx, "inv", 10, time.Minute); err != nil {
		t.Fatal(err)
	}

	act := &whisk.Activation{Namespace: "guest", Name: "a", ActivationID: whisk.NewActivationID(), Start: 1}
	if err := s.PutActivationsAndAck(ctx, []*whisk.Activation{act}, []string{"q1"}); err != nil {
		t.Fatal(err)
	}
	// A batch that fails writes nothing: q2 stays queued, the record is absent.
	bad := &whisk.Activation{Name: "no namespace", ActivationID: whisk.NewActivationID()}
	ok := &whisk.Activation{Namespace: "guest", Name: "b", ActivationID: whisk.NewActivationID(), Start: 2}
	if err := s.PutActivationsAndAck(ctx, []*whisk.Activation{ok, bad}, []string{"q2"}); err == nil {
		t.Fatal("PutActivationsAndAck with an invalid record succeeded")
	}

	if _, err := s.GetActivation(ctx, "guest", act.ActivationID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetActivation(ctx, "guest", ok.ActivationID); !errors.Is(err, whisk.ErrNotFound) {
		t.Fatalf("record of a failed batch: err = %v, want not found", err)
	}
	s.Now = func() time.Time { return time.Now().Add(time.Hour) }
	items, err := s.Claim(ctx, "inv2", 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].ID != "q2" {
		t.Fatalf("after acking q1, claim returned %+v, want q2 only", items)
	}
}

// TestQueryPlans guards listing speed at a million records: every list
// shape must be answered by an index, in order, with no sort.
func TestQueryPlans(t *testing.T) {
	s := mustOpenTemp(t)
	ctx := t.Context()
	type shape struct {
		sql   string
		args  []any
		index string
	}
	var shapes []shape
	for _, q := range []store.ActivationQuery{
		{Namespace: "ns"},
		{Namespace: "ns", Since: 1, Upto: 2, Skip: 3, Limit: 30},
		{Namespace: "ns", Name: "hello", Limit: 30},
		{Namespace: "ns", Name: "hello", Since: 1},
		{Namespace: "ns", Name: "pkg/hello", Upto: 2, Limit: 30},
	} {
		index := "activations_by_start"
		if strings.Contains(q.Name, "/") {
			index = "activations_by_pkg_name"
		} else if q.Name != "" {
			index = "activations_by_name"
		}
		query, args := activationListQuery(q)
		shapes = append(shapes, shape{query, args, index})
		query, args = activationCountQuery(q)
		shapes = append(shapes, shape{query, args, index})
	}
	for _, q := range []store.ListQuery{
		{Collection: store.Actions, Namespace: "ns", Limit: 30},
		{Collection: store.Actions, Namespace: "ns", Published: true},
		{Collection: store.Actions, Namespace: "ns", Path: "ns/pkg", Limit: 30},
	} {
		index := "entities_by_namespace"
		if q.Path != "" {
			index = "entities_by_path"
		}
		query, args, _ := entityListQuery(q)
		shapes = append(shapes, shape{query, args, index})
	}
	shapes = append(shapes, shape{claimSQL, []any{"owner", 2, 1, 10}, "queue_by_age"})
	for _, sh := range shapes {
		rows, err := s.writer.QueryContext(ctx, "EXPLAIN QUERY PLAN "+sh.sql, sh.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ") + " "
		if !strings.Contains(p, "INDEX "+sh.index+" ") || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s\nplan: %s\nwant a search of %s without a sort", sh.sql, p, sh.index)
		}
	}
}

// TestEnqueueSurvivesKill enqueues in a child process, SIGKILLs it while it
// is still enqueueing, and checks that every item whose Enqueue had returned
// is in the queue: Enqueue returning means durable (RELIABILITY.md, P1).
func TestEnqueueSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "gust.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperEnqueue$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	const want = 25
	var acked []string
	sc := bufio.NewScanner(out)
	for len(acked) < want && sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "enqueued "); ok {
			acked = append(acked, id)
		}
	}
	if len(acked) < want {
		t.Fatalf("child stopped after %d items: %v", len(acked), sc.Err())
	}
	// The child keeps enqueueing: the kill lands mid-write.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	cmd.Wait()

	s := mustOpen(t, path)
	items, err := s.Claim(t.Context(), "after-kill", 1<<20, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, it := range items {
		have[it.ID] = true
		if string(it.Body) != "body-"+it.ID {
			t.Fatalf("item %s has body %q", it.ID, it.Body)
		}
	}
	for _, id := range acked {
		if !have[id] {
			t.Errorf("item %s was enqueued before the kill but is not in the queue", id)
		}
	}
	t.Logf("%d items acknowledged before the kill, %d in the queue after", len(acked), len(items))
}

const helperEnv = "GUST_SQLITE_HELPER_DB"

// TestHelperEnqueue is the child of TestEnqueueSurvivesKill: it enqueues until
// killed, reporting each item after Enqueue returns.
func TestHelperEnqueue(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestEnqueueSurvivesKill")
	}
	s, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		id := fmt.Sprintf("item-%06d", i)
		if err := s.Enqueue(context.Background(), id, []byte("body-"+id)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintf(w, "enqueued %s\n", id)
		w.Flush()
	}
}

var benchRows = flag.Int("activations", 100_000, "activations seeded for BenchmarkListActivations")

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

// BenchmarkPutActivations writes batches of records as the invoker's recorder
// does: about 10 per commit at a few hundred invokes per second, about 100
// under load.
func BenchmarkPutActivations(b *testing.B) {
	for _, batch := range []int{10, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := mustOpenTemp(b)
			ctx := context.Background()
			var start int64
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				acts := benchActivations(batch, start)
				start += int64(batch)
				b.StartTimer()
				if err := s.PutActivations(ctx, acts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
		})
	}
}

// BenchmarkListActivations lists from a namespace of -activations records
// spread over a few hundred action names and packages, plus the same number
// in another namespace, as an API page of 30 would.
func BenchmarkListActivations(b *testing.B) {
	s := mustOpenTemp(b)
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

// seedActivations fills the table with SQL alone, which is ten times faster
// than encoding records in Go; the documents are real activation JSON.
func seedActivations(b *testing.B, s *Store, n int) {
	b.Helper()
	_, err := s.writer.Exec(`
		WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM i WHERE x + 1 < ?1),
		r AS (SELECT x,
			CASE WHEN x >= ?1 / 2 THEN 'other' ELSE 'guest' END AS ns,
			'action' || (x % 97) AS name,
			CASE WHEN x % 5 = 0 THEN 'pkg' || (x % 3) ELSE NULL END AS pkg
			FROM i)
		INSERT INTO activations (id, namespace, name, pkg_name, start, doc)
		SELECT printf('%032x', x), ns, name, CASE WHEN pkg IS NULL THEN NULL ELSE pkg || '/' || name END, x % (?1 / 2),
			json_object('namespace', ns, 'name', name, 'version', '0.0.1', 'subject', ns,
				'activationId', printf('%032x', x), 'start', x % (?1 / 2), 'end', x % (?1 / 2) + 3, 'duration', 3,
				'statusCode', 0,
				'response', json_object('status', 'success', 'statusCode', 0, 'success', json('true'),
					'result', json_object('payload', 'hello, world'), 'size', 26),
				'logs', json_array('2024-05-29T16:26:40.123456789Z stdout: hello'),
				'annotations', json_array(json_object('key', 'path',
					'value', ns || '/' || CASE WHEN pkg IS NULL THEN '' ELSE pkg || '/' END || name)),
				'publish', json('false'))
		FROM r`, 2*n)
	if err != nil {
		b.Fatal(err)
	}
}

// TestEnqueueGroupCommit enqueues from many goroutines at once: every item is
// durable when its call returns, and they shared commits.
func TestEnqueueGroupCommit(t *testing.T) {
	s := mustOpenTemp(t)
	ctx := t.Context()
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.Enqueue(ctx, fmt.Sprintf("item-%d", i), []byte("{}")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	items, err := s.Claim(ctx, "test", 2*n, time.Minute)
	if err != nil || len(items) != n {
		t.Fatalf("claimed %d items (err %v), want %d", len(items), err, n)
	}
	if c := s.enqueues.commits.Load(); c >= n {
		t.Errorf("%d commits for %d concurrent enqueues: none shared", c, n)
	}
	t.Logf("%d items in %d commits", n, s.enqueues.commits.Load())

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(ctx, "late", nil); err == nil {
		t.Fatal("Enqueue after Close succeeded")
	}
	s.Close() // a second Close must not panic
}
