package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The queue counts its sends per day (UTC) for the daily limit of the settings.

// sentCounter names the counter of the sends that finished on t's day (UTC).
func sentCounter(t time.Time) string { return "sent:" + t.UTC().Format(time.DateOnly) }

// countSent adds one send to the counter of t's day.
func countSent(ctx context.Context, tx *wtx, t time.Time) error {
	_, err := tx.execCached(ctx, `INSERT INTO mo_counters (name, value) VALUES ($1, 1)
		ON CONFLICT (name) DO UPDATE SET value = mo_counters.value + 1`, sentCounter(t))
	if err != nil {
		return fmt.Errorf("counting the day's sends: %w", err)
	}
	return nil
}

// SentOn returns how many queued sends reached WhatsApp on t's day (UTC).
func (s *Store) SentOn(ctx context.Context, t time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT value FROM mo_counters WHERE name = $1`, sentCounter(t)).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the day's sends: %w", err)
	}
	return n, nil
}

// pruneSentCounters drops the day counters of days before cutoff's.
func pruneSentCounters(ctx context.Context, tx *wtx, cutoff time.Time) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM mo_counters WHERE name LIKE 'sent:%' AND name < $1`, sentCounter(cutoff))
	if err != nil {
		return fmt.Errorf("dropping old day counters: %w", err)
	}
	return nil
}
