package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// The event log keeps every webhook event (the outbox's seq, kind and JSON) after the webhook
// outbox has batched it, so GET /events can replay from a Last-Event-ID and sinks (NATS) can
// publish at their own pace from a cursor of their own. It is written in the transaction that puts
// the event in the outbox and pruned by PruneEvents, never past the slowest sink cursor.

// bell is a broadcast signal: wait returns a channel closed at the next ring. The zero value is ready.
type bell struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *bell) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *bell) ring() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

// Event is one webhook event of the event log.
type Event struct {
	// Seq is the event's outbox sequence number: strictly increasing in commit order.
	Seq int64
	// Kind is message, ack, chatUpdate or status.
	Kind string
	// CreatedAt is when the event was put in the outbox.
	CreatedAt time.Time
	// Payload holds the event alone, as a webhook payload without instanceId.
	Payload chat.WebhookPayload
}

// logEvent adds an event to the event log in the outbox's transaction.
func (s *Store) logEvent(ctx context.Context, tx *wtx, seq int64, kind string, data []byte, now int64) error {
	_, err := tx.execCached(ctx, `INSERT INTO mo_event_log (seq, kind, data, created_at) VALUES ($1, $2, $3, $4)`,
		seq, kind, string(data), now)
	if err != nil {
		return fmt.Errorf("logging event: %w", err)
	}
	tx.onCommit(s.eventBell.ring)
	return nil
}

// EventsWake returns a channel that is closed once events are committed after the call: take it
// before reading with EventsAfter so no commit between the read and the wait goes unnoticed.
func (s *Store) EventsWake() <-chan struct{} { return s.eventBell.wait() }

// EventsAfter returns up to limit logged events with a seq above after, oldest first. Acks are
// left out while ack notifications are off, as the webhook leaves them out (their seq is skipped).
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, kind, data, created_at FROM mo_event_log
		WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("reading events: %w", err)
	}
	defer func() { _ = rows.Close() }()
	acks := s.Settings().AckNotifications
	var out []Event
	for rows.Next() {
		var e Event
		var data string
		var created int64
		if err := rows.Scan(&e.Seq, &e.Kind, &data, &created); err != nil {
			return nil, fmt.Errorf("reading event: %w", err)
		}
		if e.Kind == eventAck && !acks {
			e.Payload = chat.WebhookPayload{Messages: []chat.Message{}, Ack: []chat.Ack{}}
		} else if e.Payload, err = decodeEvent(e.Seq, e.Kind, data); err != nil {
			return nil, err
		}
		e.CreatedAt = time.UnixMilli(created)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading events: %w", err)
	}
	return out, nil
}

// Empty tells whether the event's payload carries nothing (an ack while ack notifications are off).
func (e Event) Empty() bool {
	p := e.Payload
	return len(p.Messages) == 0 && len(p.Ack) == 0 && len(p.ChatUpdate) == 0 && len(p.Status) == 0
}

// decodeEvent turns one stored event into a payload of its own.
func decodeEvent(seq int64, kind, data string) (chat.WebhookPayload, error) {
	p := chat.WebhookPayload{Messages: []chat.Message{}, Ack: []chat.Ack{}}
	switch kind {
	case eventMessage:
		var m chat.Message
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			return p, fmt.Errorf("decoding event %d: %w", seq, err)
		}
		p.Messages = append(p.Messages, m)
	case eventAck:
		var a chat.Ack
		if err := json.Unmarshal([]byte(data), &a); err != nil {
			return p, fmt.Errorf("decoding event %d: %w", seq, err)
		}
		p.Ack = append(p.Ack, a)
	case eventChatUpdate:
		if err := decodeChatUpdate(&p, seq, data); err != nil {
			return p, err
		}
	case eventStatus:
		if err := appendStatusEvent(&p, seq, data); err != nil {
			return p, err
		}
	}
	return p, nil
}

// EventBounds returns the oldest seq the event log still holds (0 when it is empty) and the last
// seq given to an event (0 when none ever was): events between after and oldest, exclusive, when
// after < oldest-1, are gone (pruned).
func (s *Store) EventBounds(ctx context.Context) (oldest, last int64, err error) {
	var min sql.NullInt64
	err = s.db.QueryRowContext(ctx, `SELECT (SELECT MIN(seq) FROM mo_event_log),
		(SELECT value FROM mo_counters WHERE name = 'webhook')`).Scan(&min, &last)
	if err != nil {
		return 0, 0, fmt.Errorf("reading event log bounds: %w", err)
	}
	return min.Int64, last, nil
}

// EventCursor returns the seq up to which sink name has handled events, and whether it has a
// cursor yet.
func (s *Store) EventCursor(ctx context.Context, name string) (int64, bool, error) {
	var seq int64
	err := s.db.QueryRowContext(ctx, `SELECT seq FROM mo_event_cursors WHERE name = $1`, name).Scan(&seq)
	if err == sql.ErrNoRows {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading event cursor %s: %w", name, err)
	}
	return seq, true, nil
}

// SetEventCursor records that sink name has handled every event up to seq. Events above the
// slowest cursor are never pruned.
func (s *Store) SetEventCursor(ctx context.Context, name string, seq int64) error {
	return s.write(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.execCached(ctx, `UPDATE mo_event_cursors SET seq = $1 WHERE name = $2`, seq, name)
		if err != nil {
			return fmt.Errorf("recording event cursor %s: %w", name, err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO mo_event_cursors (name, seq) VALUES ($1, $2)`, name, seq)
		if err != nil {
			return fmt.Errorf("creating event cursor %s: %w", name, err)
		}
		return nil
	})
}

// DropEventCursor forgets sink name (it is no longer configured), so it no longer holds back pruning.
func (s *Store) DropEventCursor(ctx context.Context, name string) error {
	return s.write(ctx, func(ctx context.Context, tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM mo_event_cursors WHERE name = $1`, name); err != nil {
			return fmt.Errorf("dropping event cursor %s: %w", name, err)
		}
		return nil
	})
}

// PruneEvents forgets logged events created before `before` or older than the newest keep, but
// none that a sink cursor has not passed yet. It returns how many it removed.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, keep int64) (int64, error) {
	var removed int64
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		floor := int64(math.MaxInt64)
		var slowest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MIN(seq) FROM mo_event_cursors`).Scan(&slowest); err != nil {
			return fmt.Errorf("reading event cursors: %w", err)
		}
		if slowest.Valid {
			floor = slowest.Int64
		}
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT value FROM mo_counters WHERE name = 'webhook'`).Scan(&last); err != nil {
			return fmt.Errorf("reading event counter: %w", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM mo_event_log WHERE seq <= $1 AND (created_at < $2 OR seq <= $3)`,
			floor, before.UnixMilli(), last-keep)
		if err != nil {
			return fmt.Errorf("pruning the event log: %w", err)
		}
		removed, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, err
	}
	return removed, nil
}
