package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are the schema versions in order; version N is migrations[N-1]. Never edit a released
// entry: append a new one. Statements are run one by one in one transaction per version.
var migrations = [][]string{
	{ // 1: queue, journal, webhook outbox, settings, counters
		`CREATE TABLE mo_counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)`,
		`INSERT INTO mo_counters (name, value) VALUES ('message', 0), ('queue', 0), ('webhook', 0)`,
		`CREATE TABLE mo_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`CREATE TABLE mo_queue (
			queue_number BIGINT PRIMARY KEY,
			message_id TEXT NOT NULL UNIQUE,
			wa_id TEXT NOT NULL,
			chat_id TEXT NOT NULL,
			kind TEXT NOT NULL,
			body TEXT NOT NULL,
			metadata TEXT NOT NULL,
			state TEXT NOT NULL,
			reason TEXT NOT NULL DEFAULT '',
			result TEXT NOT NULL DEFAULT '',
			ack TEXT NOT NULL DEFAULT '',
			attempts INTEGER NOT NULL DEFAULT 0,
			created_at BIGINT NOT NULL,
			last_try BIGINT NOT NULL DEFAULT 0,
			done_at BIGINT NOT NULL DEFAULT 0)`,
		`CREATE INDEX mo_queue_state ON mo_queue (state, queue_number)`,
		`CREATE INDEX mo_queue_wa_id ON mo_queue (wa_id)`,
		`CREATE TABLE mo_messages (
			message_number BIGINT PRIMARY KEY,
			id TEXT NOT NULL UNIQUE,
			wa_id TEXT NOT NULL,
			chat_id TEXT NOT NULL,
			from_me BOOLEAN NOT NULL,
			type TEXT NOT NULL,
			time BIGINT NOT NULL,
			ack TEXT NOT NULL DEFAULT '',
			data TEXT NOT NULL)`,
		`CREATE INDEX mo_messages_wa_id ON mo_messages (wa_id)`,
		`CREATE TABLE mo_webhook_events (
			seq BIGINT PRIMARY KEY,
			kind TEXT NOT NULL,
			data TEXT NOT NULL,
			created_at BIGINT NOT NULL)`,
		`CREATE TABLE mo_webhook_batches (
			seq BIGINT PRIMARY KEY,
			id TEXT NOT NULL UNIQUE,
			body TEXT NOT NULL,
			events INTEGER NOT NULL,
			attempts INTEGER NOT NULL DEFAULT 0,
			created_at BIGINT NOT NULL,
			next_attempt BIGINT NOT NULL,
			last_error TEXT NOT NULL DEFAULT '',
			dead BOOLEAN NOT NULL DEFAULT FALSE)`,
	},
	{ // 2: queue scheduling per chat with a retry time per item, and the queue's size for its caps
		`ALTER TABLE mo_queue ADD COLUMN next_try BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE mo_queue ADD COLUMN size BIGINT NOT NULL DEFAULT 0`,
		`CREATE INDEX mo_queue_pending_chat ON mo_queue (chat_id, queue_number) WHERE state IN ('queued', 'sending')`,
		`CREATE INDEX mo_queue_next_try ON mo_queue (next_try) WHERE state = 'queued'`,
		`INSERT INTO mo_counters (name, value)
			SELECT 'queued_items', COUNT(*) FROM mo_queue WHERE state IN ('queued', 'sending')`,
		`INSERT INTO mo_counters (name, value) VALUES ('queued_bytes', 0)`,
	},
	{ // 3: GET /messages filters by chat and by time
		`CREATE INDEX mo_messages_chat ON mo_messages (chat_id, message_number)`,
		`CREATE INDEX mo_messages_time ON mo_messages (time, message_number)`,
	},
	{ // 4: webhook batches kept after delivery for GET /webhookStatus; which messages each carried
		`ALTER TABLE mo_webhook_events ADD COLUMN message_id TEXT NOT NULL DEFAULT ''`,
		`CREATE INDEX mo_webhook_events_message ON mo_webhook_events (message_id)`,
		`ALTER TABLE mo_webhook_batches ADD COLUMN delivered_at BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE mo_webhook_batches ADD COLUMN last_attempt BIGINT NOT NULL DEFAULT 0`,
		`CREATE INDEX mo_webhook_batches_live ON mo_webhook_batches (delivered_at, dead, seq)`,
		`CREATE TABLE mo_webhook_batch_messages (
			message_id TEXT NOT NULL,
			batch_seq BIGINT NOT NULL,
			PRIMARY KEY (message_id, batch_seq))`,
		`CREATE INDEX mo_webhook_batch_messages_batch ON mo_webhook_batch_messages (batch_seq)`,
	},
	{ // 5: the instance's history of status and settings changes (GET /instanceStatuses)
		`CREATE TABLE mo_history (
			seq BIGINT PRIMARY KEY,
			time BIGINT NOT NULL,
			data TEXT NOT NULL)`,
		`INSERT INTO mo_counters (name, value) VALUES ('history', 0)`,
	},
	{ // 6: the chat list (GET /dialogs): one row per chat, kept by the journal, newest first
		`CREATE TABLE mo_chats (
			id TEXT PRIMARY KEY,
			name TEXT NOT NULL DEFAULT '',
			image TEXT NOT NULL DEFAULT '',
			last_time BIGINT NOT NULL DEFAULT 0,
			unread INTEGER NOT NULL DEFAULT 0,
			read_number BIGINT NOT NULL DEFAULT 0,
			metadata TEXT NOT NULL DEFAULT '')`,
		`CREATE INDEX mo_chats_recent ON mo_chats (last_time, id)`,
		`INSERT INTO mo_counters (name, value) VALUES ('chats', 0)`,
	},
	{ // 7: the event log of GET /events and the sinks (NATS), with a cursor per sink
		`CREATE TABLE mo_event_log (
			seq BIGINT PRIMARY KEY,
			kind TEXT NOT NULL,
			data TEXT NOT NULL,
			created_at BIGINT NOT NULL)`,
		`CREATE INDEX mo_event_log_created ON mo_event_log (created_at)`,
		`CREATE TABLE mo_event_cursors (name TEXT PRIMARY KEY, seq BIGINT NOT NULL)`,
	},
}

// SchemaVersion is the schema version this build writes.
func SchemaVersion() int { return len(migrations) }

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS mo_schema_migrations (
		version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("creating migrations table: %w", err)
	}
	for v := 1; v <= len(migrations); v++ {
		if err := s.applyMigration(ctx, v); err != nil {
			return fmt.Errorf("schema migration %d: %w", v, err)
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, version int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if s.dialect == Postgres {
		// Serialise concurrent starters on the same database.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7316002)`); err != nil {
			return fmt.Errorf("locking: %w", err)
		}
	}
	var n int
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM mo_schema_migrations WHERE version = $1`, version).Scan(&n)
	if err != nil {
		return fmt.Errorf("reading version: %w", err)
	}
	if n > 0 {
		return nil
	}
	for _, stmt := range migrations[version-1] {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%.60q: %w", stmt, err)
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO mo_schema_migrations (version, applied_at) VALUES ($1, $2)`,
		version, time.Now().Unix())
	if err != nil {
		return fmt.Errorf("recording version: %w", err)
	}
	return commit(tx)
}

func commit(tx *sql.Tx) error {
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
