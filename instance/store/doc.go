// Package store is the durable state of one instance server: the outbound queue, the message
// journal, the webhook outbox and the settings, on SQLite (modernc.org/sqlite, pure Go) or
// PostgreSQL (pgx), with the same behaviour on both. All writes go through one writer goroutine that
// groups concurrent requests into one transaction (group commit), so many durable writes share one
// fsync, and message numbers become visible strictly in order.
package store
