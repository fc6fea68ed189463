package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/messenger-operator/messenger-operator/internal/testpg"
)

// databases are where the instance's store and the baseline client's sqlstore live.
type databases struct {
	instance                  string // --database for the instance (empty: SQLite in its data dir)
	baselineDialect, baseline string // the baseline's sqlstore dialect and DSN
	pg                        *testpg.Server
}

// startDatabases prepares SQLite files in work, or a throw-away PostgreSQL cluster with one
// database for the instance and one for the baseline client (default durability: fsync on,
// synchronous_commit on).
func startDatabases(ctx context.Context, kind, work string) (*databases, error) {
	if kind == "sqlite" {
		// The pragmas of the instance's store (instance/store sqliteDSN).
		q := url.Values{}
		for _, p := range []string{"foreign_keys(1)", "busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)"} {
			q.Add("_pragma", p)
		}
		return &databases{baselineDialect: "sqlite",
			baseline: "file:" + filepath.Join(work, "baseline.db") + "?" + q.Encode()}, nil
	}
	pg, err := testpg.Start()
	if err != nil {
		return nil, fmt.Errorf("starting PostgreSQL: %w", err)
	}
	admin, err := sql.Open("pgx", pg.DSN("postgres"))
	if err != nil {
		pg.Stop()
		return nil, err
	}
	defer admin.Close()
	for _, name := range []string{"instance", "baseline"} {
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			pg.Stop()
			return nil, fmt.Errorf("creating database %s: %w", name, err)
		}
	}
	return &databases{instance: pg.DSN("instance"), baselineDialect: "postgres", baseline: pg.DSN("baseline"), pg: pg}, nil
}

func (d *databases) stop() {
	if d.pg != nil {
		d.pg.Stop()
	}
}
