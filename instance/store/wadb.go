package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// whatsmeowTables is the prefix of the tables whatsmeow's sqlstore keeps.
const whatsmeowTables = "whatsmeow_"

// WhatsmeowDB returns the database for whatsmeow's sqlstore (sqlstore.NewWithDB) and the dialect
// name sqlstore expects. On PostgreSQL it is the store's own database (row locks: whatsmeow's
// writes and the store's do not wait for each other). On SQLite it is a file of its own beside the
// store's (messenger.db → messenger.whatsmeow.db, same pragmas): SQLite lets one connection write a
// file at a time, and with both on one file every send's session update and the store's commits
// took turns through SQLite's busy handler, which sleeps milliseconds per conflict. One writer per
// file: the store's writer goroutine on the store's, whatsmeow on its own. The handle is the
// store's: do not close it.
func (s *Store) WhatsmeowDB() (*sql.DB, string) {
	if s.waDB == nil {
		return s.db, s.WhatsmeowDialect()
	}
	return s.waDB, s.WhatsmeowDialect()
}

// whatsmeowPath is the SQLite file of whatsmeow's tables for the store's file path.
func whatsmeowPath(path string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + ".whatsmeow" + ext
}

// openWhatsmeowDB opens whatsmeow's SQLite file beside path.
func (s *Store) openWhatsmeowDB(ctx context.Context, path string, opts Options) error {
	wpath := whatsmeowPath(path)
	if err := restrictSQLiteFiles(wpath); err != nil {
		return err
	}
	db, err := openSQLite(sqliteDSN(wpath, opts.SQLiteCacheKiB))
	if err != nil {
		return fmt.Errorf("opening whatsmeow's database: %w", err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(min(cmp.Or(opts.MaxIdleConns, DefaultSQLiteMaxIdleConns), 4))
	db.SetConnMaxIdleTime(cmp.Or(opts.ConnMaxIdleTime, DefaultConnMaxIdleTime))
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return fmt.Errorf("connecting to whatsmeow's database: %w", err)
	}
	s.waDB, s.path = db, path
	return nil
}

// MoveWhatsmeowTables moves whatsmeow's tables of an older version of this program, which kept
// them in the store's own SQLite file, into whatsmeow's file (WhatsmeowDB). upgrade must bring
// whatsmeow's schema in the given database to the current version (sqlstore's Container.Upgrade):
// it is run on both files first, so that both have the same tables and columns. The rows are
// copied in one transaction of whatsmeow's file (replacing whatever it held), then the old tables
// are dropped from the store's file in one transaction; a crash between the two copies again at
// the next start, from the old tables that are still there. Nothing to do on PostgreSQL or when
// the store's file holds no whatsmeow table.
func (s *Store) MoveWhatsmeowTables(ctx context.Context, upgrade func(context.Context, *sql.DB) error) error {
	if s.waDB == nil {
		return nil
	}
	tables, err := tableNames(ctx, s.db, "main")
	if err != nil || len(tables) == 0 {
		return err
	}
	if err := upgrade(ctx, s.db); err != nil {
		return fmt.Errorf("upgrading whatsmeow's tables in the store's file: %w", err)
	}
	if tables, err = tableNames(ctx, s.db, "main"); err != nil {
		return err
	}
	if err := s.copyWhatsmeowTables(ctx, tables); err != nil {
		return err
	}
	// Children first, the device table they refer to last, the version table with them.
	drop := append(slices.DeleteFunc(slices.Clone(tables), func(t string) bool { return t == "whatsmeow_device" }),
		"whatsmeow_device", "whatsmeow_version")
	return s.write(ctx, func(ctx context.Context, tx *wtx) error {
		for _, t := range drop {
			if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS "`+t+`"`); err != nil {
				return fmt.Errorf("dropping %s from the store's file: %w", t, err)
			}
		}
		s.log.Info("moved whatsmeow's tables into their own file", "tables", len(tables), "file", whatsmeowPath(s.path))
		return nil
	})
}

// tableNames lists whatsmeow's tables in a schema of db (its version table excepted).
func tableNames(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, schema string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM `+schema+`.sqlite_master WHERE type = 'table'
		AND substr(name, 1, 10) = $1 AND name <> 'whatsmeow_version' ORDER BY name`, whatsmeowTables)
	if err != nil {
		return nil, fmt.Errorf("listing whatsmeow's tables: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("listing whatsmeow's tables: %w", err)
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// copyWhatsmeowTables copies tables, column by column name, from the store's file (attached as
// "old") into whatsmeow's file, in one transaction with foreign keys off (rows of every table go
// in at once).
func (s *Store) copyWhatsmeowTables(ctx context.Context, tables []string) (err error) {
	conn, err := s.waDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("copying whatsmeow's tables: %w", err)
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA foreign_keys = ON`)
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `DETACH DATABASE old`)
		_ = conn.Close()
	}()
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		return fmt.Errorf("copying whatsmeow's tables: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE $1 AS old`, s.path); err != nil {
		return fmt.Errorf("attaching the store's file: %w", err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("copying whatsmeow's tables: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	for _, t := range tables {
		cols, err := columnNames(ctx, tx, t)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM main."`+t+`"`); err != nil {
			return fmt.Errorf("emptying %s: %w", t, err)
		}
		list := `"` + strings.Join(cols, `", "`) + `"`
		if _, err := tx.ExecContext(ctx, `INSERT INTO main."`+t+`" (`+list+`) SELECT `+list+` FROM old."`+t+`"`); err != nil {
			return fmt.Errorf("copying %s: %w", t, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("copying whatsmeow's tables: %w", err)
	}
	return nil
}

// columnNames lists the columns of the old file's table t.
func columnNames(ctx context.Context, tx *sql.Tx, t string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info($1, 'old')`, t)
	if err != nil {
		return nil, fmt.Errorf("reading the columns of %s: %w", t, err)
	}
	defer func() { _ = rows.Close() }()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("reading the columns of %s: %w", t, err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the columns of %s: %w", t, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("table %s has no columns", t)
	}
	return cols, nil
}
