package store

import (
	"context"
	"database/sql/driver"
	"reflect"
)

// SQLite connections keep the statements they run prepared. modernc.org/sqlite parses and
// compiles every statement passed to Exec or Query anew, and whatsmeow's sqlstore runs all of its
// statements that way: on the send path that was about a sixth of the instance's CPU
// (docs/benchmarks.md, "Issue 15, items 1 and 5"). A connection now keeps up to
// stmtCacheSize statements by their text, compiled once and reset after each use.

// stmtCacheSize caps the statements one connection keeps prepared.
const stmtCacheSize = 48

// stmtCacheConnector opens SQLite connections that cache their statements.
type stmtCacheConnector struct{ base driver.Connector }

func (c stmtCacheConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	fc, ok := conn.(sqliteConn)
	if !ok {
		return conn, nil // not what modernc.org/sqlite returns: no cache
	}
	return &cachingConn{sqliteConn: fc, stmts: map[string]*cachedStmt{}}, nil
}

func (c stmtCacheConnector) Driver() driver.Driver { return c.base.Driver() }

// cachingConn is a SQLite connection that runs Exec and Query through prepared statements it
// keeps. database/sql uses a connection from one goroutine at a time (rows are closed under the
// connection's lock too), so the cache needs no lock of its own.
type cachingConn struct {
	sqliteConn
	stmts map[string]*cachedStmt
}

// cachedStmt is a kept statement; busy while rows of it are open (a second query with the same
// text meanwhile, within one transaction, is prepared apart).
type cachedStmt struct {
	st   sqliteStmt
	busy bool
}

type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// Unwrap returns the driver's connection (modernc.org/sqlite's Limit looks through wrappers).
func (c *cachingConn) Unwrap() driver.Conn { return c.sqliteConn }

// stmt returns the kept statement of query, preparing it if needed; nil when it cannot be kept
// (then the query runs uncached, and reports its own error).
func (c *cachingConn) stmt(ctx context.Context, query string) *cachedStmt {
	if cs, ok := c.stmts[query]; ok {
		return cs
	}
	ds, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	st, ok := ds.(sqliteStmt)
	if !ok {
		_ = ds.Close()
		return nil
	}
	if len(c.stmts) >= stmtCacheSize {
		c.evict()
	}
	cs := &cachedStmt{st: st}
	c.stmts[query] = cs
	return cs
}

// evict closes the kept statements that are not in use.
func (c *cachingConn) evict() {
	for q, cs := range c.stmts {
		if !cs.busy {
			_ = cs.st.Close()
			delete(c.stmts, q)
		}
	}
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs := c.stmt(ctx, query)
	if cs == nil || cs.busy {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	return cs.st.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs := c.stmt(ctx, query)
	if cs == nil || cs.busy {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.st.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, cs: cs}, nil
}

// Close closes the kept statements and the connection.
func (c *cachingConn) Close() error {
	for q, cs := range c.stmts {
		_ = cs.st.Close()
		delete(c.stmts, q)
	}
	return c.sqliteConn.Close()
}

// cachedRows are the rows of a kept statement: closing them resets the statement for its next use.
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.cs.busy = false
	return err
}

// The column type methods of modernc.org/sqlite's rows, for sql.Rows.ColumnTypes.

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *cachedRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
