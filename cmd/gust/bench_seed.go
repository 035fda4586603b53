package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// seedActivationsSQL is the store section's fast path: it generates the
// records inside SQLite, through a connection of its own to the server's
// database, in transactions of 100,000 rows. Building a million records in
// Go and inserting them one statement at a time takes three times as long.
//
// The records are those seedActivations writes through the store's API:
// the same namespaces, names, packages, times and document shape, so the
// queries answer the same. Their ids are sequential rather than random,
// which leaves the id index more tightly packed than real traffic would.
func seedActivationsSQL(ctx context.Context, path, ns string, n int) error {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	db, err := sql.Open("sqlite", "file:"+r.Replace(path)+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	const chunk = 100000
	span := int64(30 * 86400000)
	for from := 0; from < n; from += chunk {
		to := min(from+chunk, n)
		_, err := db.ExecContext(ctx, `
			WITH RECURSIVE i(x) AS (SELECT ?1 UNION ALL SELECT x + 1 FROM i WHERE x + 1 < ?2),
			r AS (SELECT x,
				'action' || (x % 100) AS name,
				CASE WHEN x % 5 = 0 THEN 'pkg' || (x % 3) ELSE NULL END AS pkg,
				?4 + x * ?5 / ?3 AS start,
				printf('b3c4%028x', x) AS id
				FROM i)
			INSERT INTO activations (id, namespace, name, pkg_name, start, doc)
			SELECT id, ?6, name, CASE WHEN pkg IS NULL THEN NULL ELSE pkg || '/' || name END, start,
				json_object('namespace', ?6, 'name', name, 'version', '0.0.1', 'subject', ?6,
					'activationId', id, 'start', start, 'end', start + 3, 'duration', 3, 'statusCode', 0,
					'response', json_object('status', 'success', 'statusCode', 0, 'success', json('true'),
						'result', json_object('n', 1)),
					'logs', json_array(),
					'annotations', json_array(
						json_object('key', 'path', 'value', ?6 || '/' || CASE WHEN pkg IS NULL THEN '' ELSE pkg || '/' END || name),
						json_object('key', 'kind', 'value', 'nodejs:20'),
						json_object('key', 'waitTime', 'value', 1)),
					'publish', json('false'))
			FROM r`, from, to, n, seedStart, span, ns)
		if err != nil {
			return fmt.Errorf("seeding activations %d to %d: %w", from, to, err)
		}
	}
	return nil
}
