package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Retry backoff of queue items: the first retry after about FirstRetry, doubling up to MaxRetry.
const (
	FirstRetry = 2 * time.Second
	MaxRetry   = 5 * time.Minute
)

// RetryDelay is how long an item waits after its attempts-th failed attempt: FirstRetry doubling
// per attempt, capped at MaxRetry, with jitter (between half and all of it) so that items failing
// together do not retry together.
func RetryDelay(attempts int) time.Duration {
	d := FirstRetry
	for i := 1; i < attempts && d < MaxRetry; i++ {
		d *= 2
	}
	d = min(d, MaxRetry)
	return d/2 + rand.N(d/2+1)
}

// Due returns up to limit queued items that may be sent at now, in queue order. The queue is
// ordered per chat: an item is due when its next try has come and no earlier item of its chat is
// still waiting for a retry or being sent. An earlier item of its chat that is due itself comes
// before it in the list, so a caller sending the list in order keeps the order within every chat,
// provided it skips the rest of a chat once one of its items is put back for a retry. Group
// creations have no chat yet and are each their own.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]Item, error) {
	// The state literals let the partial index mo_queue_pending_chat serve the inner query.
	return s.queryItems(ctx, `SELECT `+itemColumns+` FROM mo_queue q
		WHERE q.state = 'queued' AND q.next_try <= $1
		AND (q.kind = 'group' OR NOT EXISTS (SELECT 1 FROM mo_queue p
			WHERE p.chat_id = q.chat_id AND p.queue_number < q.queue_number
			AND p.state IN ('queued', 'sending') AND p.kind <> 'group'
			AND (p.state = 'sending' OR p.next_try > $1)))
		ORDER BY q.queue_number LIMIT $2`, now.UnixMilli(), limit)
}

// NextRetry returns when the earliest item waiting for a retry after now becomes due; false when
// none waits.
func (s *Store) NextRetry(ctx context.Context, now time.Time) (time.Time, bool, error) {
	var next sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MIN(next_try) FROM mo_queue WHERE state = 'queued' AND next_try > $1`,
		now.UnixMilli()).Scan(&next)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("reading the next retry: %w", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(next.Int64), true, nil
}

// Default caps of the queue.
const (
	DefaultMaxQueueItems = 100_000
	DefaultMaxQueueBytes = 1 << 30
)

// ErrQueueFull refuses a send when the queue holds its maximum number of items.
var ErrQueueFull = errors.New("the queue is full")

// ErrQueueTooLarge refuses a send whose file would take the queued files over their byte cap.
var ErrQueueTooLarge = errors.New("the queued files would exceed the queue's storage cap")

// QueueUsage returns how many items wait (queued or sending) and the bytes of their queued files.
func (s *Store) QueueUsage(ctx context.Context) (items, bytes int64, err error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, value FROM mo_counters WHERE name IN ('queued_items', 'queued_bytes')`)
	if err != nil {
		return 0, 0, fmt.Errorf("reading queue usage: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return 0, 0, fmt.Errorf("reading queue usage: %w", err)
		}
		if name == "queued_items" {
			items = v
		} else {
			bytes = v
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("reading queue usage: %w", err)
	}
	return items, bytes, nil
}

// checkCaps refuses an item of size bytes that would take the queue over its caps. Concurrent
// enqueues may overshoot a cap by the number of sends in flight; none is lost.
func (s *Store) checkCaps(ctx context.Context, size int64) error {
	items, bytes, err := s.QueueUsage(ctx)
	if err != nil {
		return err
	}
	if s.maxItems > 0 && items+1 > s.maxItems {
		return fmt.Errorf("%w: %d items queued, the cap is %d", ErrQueueFull, items, s.maxItems)
	}
	if s.maxBytes > 0 && size > 0 && bytes+size > s.maxBytes {
		return fmt.Errorf("%w: %d bytes queued, %d more would pass the cap of %d", ErrQueueTooLarge, bytes, size, s.maxBytes)
	}
	return nil
}

// addQueued moves the queue's usage counters by n items and size bytes.
func addQueued(ctx context.Context, tx *wtx, n, size int64) error {
	_, err := tx.execCached(ctx, `UPDATE mo_counters SET value = value + CASE name WHEN 'queued_items' THEN CAST($1 AS BIGINT) ELSE CAST($2 AS BIGINT) END
		WHERE name IN ('queued_items', 'queued_bytes')`, n, size)
	if err != nil {
		return fmt.Errorf("counting the queue: %w", err)
	}
	return nil
}
