package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Kinds of history entries.
const (
	// HistoryStatus is a change of the account's status or substatus.
	HistoryStatus = "status"
	// HistorySettings is a change of settings.
	HistorySettings = "settings"
)

// historyKept is how many history entries are kept; older ones are dropped as new ones come.
const historyKept = 1000

// HistoryEntry is one change in the instance's life, as GET /instanceStatuses lists it.
type HistoryEntry struct {
	// Seq numbers the entries, oldest first.
	Seq int64 `json:"seq"`
	// Time is when it happened, unix milliseconds.
	Time int64 `json:"time"`
	// Kind is HistoryStatus or HistorySettings.
	Kind string `json:"kind"`
	// AccountStatus, Substatus and Message are the new status of a status entry.
	AccountStatus string `json:"accountStatus,omitempty"`
	Substatus     string `json:"substatus,omitempty"`
	Message       string `json:"message,omitempty"`
	// By is who changed settings: "api" or "spec".
	By string `json:"by,omitempty"`
	// Settings are the changed settings and their new values (a webhook URL shows as set or off).
	Settings map[string]string `json:"settings,omitempty"`
}

// AddHistory records an entry (its Seq and, when zero, its Time are set here).
func (s *Store) AddHistory(ctx context.Context, e HistoryEntry) error {
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error { return addHistory(ctx, tx, e) })
	if err != nil {
		return fmt.Errorf("recording history: %w", err)
	}
	return nil
}

func addHistory(ctx context.Context, tx *wtx, e HistoryEntry) error {
	seq, err := nextNumbers(ctx, tx, "history", 1)
	if err != nil {
		return err
	}
	e.Seq = seq
	if e.Time == 0 {
		e.Time = time.Now().UnixMilli()
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding history entry: %w", err)
	}
	if _, err := tx.execCached(ctx, `INSERT INTO mo_history (seq, time, data) VALUES ($1, $2, $3)`, seq, e.Time, string(raw)); err != nil {
		return fmt.Errorf("inserting history entry: %w", err)
	}
	if _, err := tx.execCached(ctx, `DELETE FROM mo_history WHERE seq <= $1`, seq-historyKept); err != nil {
		return fmt.Errorf("dropping old history: %w", err)
	}
	return nil
}

// History returns up to limit entries, newest first.
func (s *Store) History(ctx context.Context, limit int) ([]HistoryEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT data FROM mo_history ORDER BY seq DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("querying history: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := []HistoryEntry{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("reading history row: %w", err)
		}
		var e HistoryEntry
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return nil, fmt.Errorf("decoding history entry: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	return out, nil
}
