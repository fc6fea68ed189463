package store

import (
	"database/sql"
	"database/sql/driver"
	"fmt"

	"modernc.org/sqlite"
)

// sqliteConnector returns the connector of a SQLite DSN, whose connections keep their statements
// prepared (stmtcache.go; tests wrap it to inject faults).
var sqliteConnector = func(dsn string) (driver.Connector, error) {
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return stmtCacheConnector{base}, nil
}

// openSQLite opens a database handle on a SQLite DSN.
func openSQLite(dsn string) (*sql.DB, error) {
	c, err := sqliteConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite database: %w", err)
	}
	return sql.OpenDB(c), nil
}

// sqliteConn is what modernc.org/sqlite's connections implement and database/sql uses.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}
