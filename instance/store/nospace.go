package store

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNoSpace is returned (wrapped) by writes that failed because the database's disk is full:
// ENOSPC, SQLite's SQLITE_FULL or PostgreSQL's disk_full. Nothing of the failed write was stored;
// the write can be retried once space returns.
var ErrNoSpace = errors.New("no space left on the storage volume")

// pgDiskFull is PostgreSQL's SQLSTATE disk_full.
const pgDiskFull = "53100"

// IsNoSpace reports whether err says the disk is full.
func IsNoSpace(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNoSpace) || errors.Is(err, syscall.ENOSPC) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgDiskFull
}

// markNoSpace wraps err with ErrNoSpace when the disk is full, and returns it unchanged otherwise.
func markNoSpace(err error) error {
	if err == nil || errors.Is(err, ErrNoSpace) || !IsNoSpace(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNoSpace, err)
}
