package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver
)

// Dialect names the SQL database behind a Store.
type Dialect string

const (
	// SQLite is modernc.org/sqlite (driver name "sqlite").
	SQLite Dialect = "sqlite"
	// Postgres is PostgreSQL through pgx (driver name "pgx").
	Postgres Dialect = "postgres"
)

// DefaultFileName is the SQLite file created in the data directory.
const DefaultFileName = "messenger.db"

// Options configure Open.
type Options struct {
	// Database is empty (SQLite file in DataDir), a postgres:// or postgresql:// URL, or
	// sqlite:<path> / file:<path> for an explicit SQLite file.
	Database string
	// DataDir holds the SQLite file when Database is empty.
	DataDir string
	// MaxBatch caps how many write requests share one transaction; 1 turns group commit off
	// (one transaction per request). Zero means 256.
	MaxBatch int
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// MaxQueueItems caps how many sends may wait in the queue; zero means DefaultMaxQueueItems,
	// negative means no cap.
	MaxQueueItems int64
	// MaxQueueBytes caps the bytes of the files waiting in the queue; zero means
	// DefaultMaxQueueBytes, negative means no cap.
	MaxQueueBytes int64
	// SQLiteCacheKiB is each SQLite connection's page cache in KiB; zero means
	// DefaultSQLiteCacheKiB.
	SQLiteCacheKiB int
	// MaxIdleConns is how many idle connections the pool keeps; zero means the default of the
	// dialect (DefaultSQLiteMaxIdleConns for SQLite).
	MaxIdleConns int
	// ConnMaxIdleTime closes connections idle this long; zero means DefaultConnMaxIdleTime.
	ConnMaxIdleTime time.Duration
}

// Store is the durable state of one instance. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	waDB    *sql.DB // SQLite: whatsmeow's own file (wadb.go); nil on PostgreSQL
	path    string  // SQLite: the store's file
	dialect Dialect
	log     *slog.Logger

	writes    chan *writeReq
	maxBatch  int
	stop      chan struct{}
	writerEnd chan struct{}
	closeOnce sync.Once

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt

	settings atomic.Pointer[Settings]
	webhook  chan struct{}
	waiters  waiters
	batches  atomic.Int64
	commits  atomic.Int64
	// lastClaim is the last claim token handed out (MarkSendingLater).
	lastClaim atomic.Int64

	maxItems, maxBytes int64 // queue caps; <= 0: none

	// eventBell rings when events were committed (GET /events, sinks); see events.go.
	eventBell bell
}

// Open opens (creating if needed) the database named by opts, applies the schema migrations and
// starts the writer.
func Open(ctx context.Context, opts Options) (*Store, error) {
	dialect, driver, dsn, path, err := dataSource(opts)
	if err != nil {
		return nil, err
	}
	var db *sql.DB
	if dialect == SQLite {
		db, err = openSQLite(dsn)
	} else {
		db, err = sql.Open(driver, dsn)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s database: %w", dialect, err)
	}
	poolSettings(db, dialect, opts)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connecting to %s database: %w", dialect, err)
	}
	s := &Store{
		db: db, dialect: dialect, log: opts.Logger,
		writes: make(chan *writeReq, 1024), maxBatch: opts.MaxBatch,
		stop: make(chan struct{}), writerEnd: make(chan struct{}),
		webhook: make(chan struct{}, 1), stmts: map[string]*sql.Stmt{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxBatch <= 0 {
		s.maxBatch = 256
	}
	if dialect == SQLite {
		if err := s.openWhatsmeowDB(ctx, path, opts); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	s.waiters.m = map[int64][]chan struct{}{}
	s.maxItems, s.maxBytes = cmp.Or(opts.MaxQueueItems, DefaultMaxQueueItems), cmp.Or(opts.MaxQueueBytes, DefaultMaxQueueBytes)
	if err := s.migrate(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	if err := s.loadSettings(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	go s.writer()
	if err := s.recoverSending(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// dataSource turns options into a dialect, a database/sql driver name, a DSN and (SQLite) the file.
func dataSource(opts Options) (Dialect, string, string, string, error) {
	d := strings.TrimSpace(opts.Database)
	switch {
	case strings.HasPrefix(d, "postgres://"), strings.HasPrefix(d, "postgresql://"):
		return Postgres, "pgx", d, "", nil
	case d == "":
		if opts.DataDir == "" {
			return "", "", "", "", errors.New("store: a data directory or a database URL is required")
		}
		if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
			return "", "", "", "", fmt.Errorf("creating data directory: %w", err)
		}
		path := filepath.Join(opts.DataDir, DefaultFileName)
		if err := restrictSQLiteFiles(path); err != nil {
			return "", "", "", "", err
		}
		return SQLite, "sqlite", sqliteDSN(path, opts.SQLiteCacheKiB), path, nil
	case strings.HasPrefix(d, "sqlite:"), strings.HasPrefix(d, "file:"):
		path := strings.TrimPrefix(strings.TrimPrefix(d, "sqlite:"), "file:")
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return "", "", "", "", fmt.Errorf("store: database %q names no file", d)
		}
		if err := restrictSQLiteFiles(path); err != nil {
			return "", "", "", "", err
		}
		return SQLite, "sqlite", sqliteDSN(path, opts.SQLiteCacheKiB), path, nil
	}
	return "", "", "", "", fmt.Errorf("store: unsupported database %q: want postgres://…, sqlite:<path> or empty", redactDSN(d))
}

// restrictSQLiteFiles creates the database file with mode 0600 if it is missing, so that SQLite,
// which gives its -wal, -shm and -journal files the database file's mode, creates those 0600 too;
// files of an existing database are restricted to 0600 as well. The database holds the account's
// keys and messages.
func restrictSQLiteFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("creating SQLite database file: %w", err)
	}
	_ = f.Close()
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("restricting SQLite database file: %w", err)
		}
	}
	return nil
}

// ---- SQLite pragmas and pool sizes: all of them here, in one place. ----
//
// Memory (docs/benchmarks.md, "Density"): every SQLite connection has a page cache of its own
// (SQLite's default is 2 MiB each, allocated as pages are read, outside the Go heap), and the
// pool keeps idle connections open; with many instances per node that is most of an idle
// instance's memory after the Go heap. So the cache is small (the database of one account is
// small and the OS page cache holds the file anyway) and idle connections are closed after a
// while: an idle instance keeps one connection.

// Defaults of the SQLite pool and cache (Options.SQLiteCacheKiB, MaxIdleConns, ConnMaxIdleTime).
const (
	// DefaultSQLiteCacheKiB is each connection's page cache (PRAGMA cache_size=-N).
	DefaultSQLiteCacheKiB = 512
	// DefaultSQLiteMaxIdleConns is how many idle SQLite connections the pool keeps.
	DefaultSQLiteMaxIdleConns = 2
	// DefaultConnMaxIdleTime closes a pooled connection idle this long.
	DefaultConnMaxIdleTime = time.Minute
	// sqliteMaxOpenConns and postgresMaxOpenConns cap the open connections.
	sqliteMaxOpenConns   = 8
	postgresMaxOpenConns = 16
)

// poolSettings sizes the connection pool of the dialect.
func poolSettings(db *sql.DB, dialect Dialect, opts Options) {
	maxOpen, idle := postgresMaxOpenConns, postgresMaxOpenConns
	if dialect == SQLite {
		maxOpen, idle = sqliteMaxOpenConns, DefaultSQLiteMaxIdleConns
	}
	if opts.MaxIdleConns > 0 {
		idle = opts.MaxIdleConns
	}
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(min(idle, maxOpen))
	db.SetConnMaxIdleTime(cmp.Or(opts.ConnMaxIdleTime, DefaultConnMaxIdleTime))
}

func sqliteDSN(path string, cacheKiB int) string {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", cmp.Or(cacheKiB, DefaultSQLiteCacheKiB)))
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// redactDSN hides a password in a database URL for error messages.
func redactDSN(d string) string {
	u, err := url.Parse(d)
	if err != nil || u.User == nil {
		return d
	}
	return u.Redacted()
}

// DB returns the underlying database handle (for whatsmeow's sqlstore use WhatsmeowDB). Do not
// close it; Close the Store.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect returns the kind of database behind the store.
func (s *Store) Dialect() Dialect { return s.dialect }

// WhatsmeowDialect returns the dialect string whatsmeow's sqlstore.NewWithDB expects.
func (s *Store) WhatsmeowDialect() string {
	if s.dialect == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// Close stops the writer (after it finishes queued writes) and closes the database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.writerEnd
		s.stmtMu.Lock()
		for _, st := range s.stmts {
			_ = st.Close()
		}
		s.stmtMu.Unlock()
		err = s.closeDBs()
	})
	return err
}

// closeDBs closes the database handles.
func (s *Store) closeDBs() error {
	err := s.db.Close()
	if s.waDB != nil {
		err = errors.Join(err, s.waDB.Close())
	}
	return err
}

// WebhookWake signals (coalesced) each time webhook events were committed.
func (s *Store) WebhookWake() <-chan struct{} { return s.webhook }

func (s *Store) wakeWebhook() {
	select {
	case s.webhook <- struct{}{}:
	default:
	}
}

// Stats returns how many write transactions were committed and how many write requests they held.
func (s *Store) Stats() (commits, requests int64) { return s.commits.Load(), s.batches.Load() }
