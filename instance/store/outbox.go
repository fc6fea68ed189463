package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

const (
	eventMessage = "message"
	eventAck     = "ack"
)

// addEvent puts one webhook event in the outbox.
func (s *Store) addEvent(ctx context.Context, tx *wtx, kind string, data []byte) error {
	seq, err := nextNumbers(ctx, tx, "webhook", 1)
	if err != nil {
		return err
	}
	_, err = tx.execCached(ctx, `INSERT INTO mo_webhook_events (seq, kind, data, created_at) VALUES ($1, $2, $3, $4)`,
		seq, kind, string(data), time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("inserting webhook event: %w", err)
	}
	tx.onCommit(s.wakeWebhook)
	return nil
}

// Batch is one webhook delivery: a frozen body with a stable id, retried until delivered or dead.
type Batch struct {
	// Seq orders batches; they are delivered strictly in this order.
	Seq int64
	// ID is the webhook-id header value, the same on every attempt.
	ID          string
	Body        []byte
	Events      int
	Attempts    int
	CreatedAt   time.Time
	NextAttempt time.Time
	LastError   string
}

// FormBatches first forgets the batches delivered up to seq deliveredUpTo (see BatchesDelivered),
// then moves undelivered events into up to maxBatches new batches of up to maxEvents events each,
// whose bodies are built by the caller (payload), all in one transaction. It returns how many
// batches it formed.
func (s *Store) FormBatches(ctx context.Context, deliveredUpTo int64, maxEvents, maxBatches int, now time.Time,
	newID func() string, payload func(chat.WebhookPayload) ([]byte, error)) (int, error) {
	var formed int
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		formed = 0
		if err := deleteDelivered(ctx, tx, deliveredUpTo); err != nil {
			return err
		}
		for formed < maxBatches {
			n, more, err := formOne(ctx, tx, maxEvents, now, newID, payload)
			if err != nil || !more {
				return err
			}
			formed += n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("form webhook batches: %w", err)
	}
	return formed, nil
}

// formOne turns the oldest pending events into one batch. It returns how many batches it formed (0
// when every event was a dropped ack) and whether there were events at all.
func formOne(ctx context.Context, tx *wtx, max int, now time.Time, newID func() string,
	payload func(chat.WebhookPayload) ([]byte, error)) (int, bool, error) {
	p, seqs, err := pendingEvents(ctx, tx, max)
	if err != nil || len(seqs) == 0 {
		return 0, false, err
	}
	last := seqs[len(seqs)-1]
	if !tx.s.Settings().AckNotifications {
		p.Ack = p.Ack[:0] // turned off since they were queued
	}
	if len(p.Messages) == 0 && len(p.Ack) == 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM mo_webhook_events WHERE seq <= $1`, last); err != nil {
			return 0, false, fmt.Errorf("deleting dropped acks: %w", err)
		}
		return 0, true, nil
	}
	body, err := payload(p)
	if err != nil {
		return 0, false, fmt.Errorf("building webhook body: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO mo_webhook_batches (seq, id, body, events, created_at, next_attempt)
		VALUES ($1, $2, $3, $4, $5, $6)`, last, newID(), string(body), len(seqs), now.UnixMilli(), now.UnixMilli())
	if err != nil {
		return 0, false, fmt.Errorf("inserting webhook batch: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM mo_webhook_events WHERE seq <= $1`, last); err != nil {
		return 0, false, fmt.Errorf("deleting batched events: %w", err)
	}
	return 1, true, nil
}

func deleteDelivered(ctx context.Context, tx *wtx, upTo int64) error {
	if upTo <= 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM mo_webhook_batches WHERE seq <= $1 AND dead = $2`, upTo, false); err != nil {
		return fmt.Errorf("deleting delivered webhook batches: %w", err)
	}
	return nil
}

func pendingEvents(ctx context.Context, tx *wtx, max int) (chat.WebhookPayload, []int64, error) {
	p := chat.WebhookPayload{Messages: []chat.Message{}, Ack: []chat.Ack{}}
	rows, err := tx.QueryContext(ctx, `SELECT seq, kind, data FROM mo_webhook_events ORDER BY seq LIMIT $1`, max)
	if err != nil {
		return p, nil, fmt.Errorf("reading webhook events: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var seqs []int64
	for rows.Next() {
		var seq int64
		var kind, data string
		if err := rows.Scan(&seq, &kind, &data); err != nil {
			return p, nil, fmt.Errorf("reading webhook event: %w", err)
		}
		seqs = append(seqs, seq)
		switch kind {
		case eventMessage:
			var m chat.Message
			if err := json.Unmarshal([]byte(data), &m); err != nil {
				return p, nil, fmt.Errorf("decoding webhook event %d: %w", seq, err)
			}
			p.Messages = append(p.Messages, m)
		case eventAck:
			var a chat.Ack
			if err := json.Unmarshal([]byte(data), &a); err != nil {
				return p, nil, fmt.Errorf("decoding webhook event %d: %w", seq, err)
			}
			p.Ack = append(p.Ack, a)
		}
	}
	return p, seqs, rows.Err()
}

// HeadBatch returns the oldest batch after seq `after` that is not dead, or nil. Batches up to
// `after` are known delivered but not yet forgotten (see BatchesDelivered).
func (s *Store) HeadBatch(ctx context.Context, after int64) (*Batch, error) {
	var b Batch
	var body string
	var created, next int64
	err := s.db.QueryRowContext(ctx, `SELECT seq, id, body, events, attempts, created_at, next_attempt, last_error
		FROM mo_webhook_batches WHERE dead = $1 AND seq > $2 ORDER BY seq LIMIT 1`, false, after).
		Scan(&b.Seq, &b.ID, &body, &b.Events, &b.Attempts, &created, &next, &b.LastError)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading webhook batch: %w", err)
	}
	b.Body, b.CreatedAt, b.NextAttempt = []byte(body), time.UnixMilli(created), time.UnixMilli(next)
	return &b, nil
}

// BatchesDelivered forgets every live batch up to seq upTo. Callers may record deliveries lazily:
// a batch delivered but not yet forgotten when the process dies is delivered again, with the same
// webhook-id.
func (s *Store) BatchesDelivered(ctx context.Context, upTo int64) error {
	return s.write(ctx, func(ctx context.Context, tx *wtx) error { return deleteDelivered(ctx, tx, upTo) })
}

// BatchFailed records a failed attempt and when to try again; dead gives the batch up (it stays in
// the table for inspection).
func (s *Store) BatchFailed(ctx context.Context, seq int64, next time.Time, reason string, dead bool) error {
	return s.write(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE mo_webhook_batches SET attempts = attempts + 1, next_attempt = $1,
			last_error = $2, dead = $3 WHERE seq = $4`, next.UnixMilli(), reason, dead, seq)
		if err != nil {
			return fmt.Errorf("recording webhook failure: %w", err)
		}
		return nil
	})
}

// OutboxStats counts undelivered webhook events, live batches and dead batches.
func (s *Store) OutboxStats(ctx context.Context) (events, batches, dead int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM mo_webhook_events),
		(SELECT COUNT(*) FROM mo_webhook_batches WHERE dead = $1),
		(SELECT COUNT(*) FROM mo_webhook_batches WHERE dead = $2)`, false, true).Scan(&events, &batches, &dead)
	if err != nil {
		err = fmt.Errorf("counting webhook outbox: %w", err)
	}
	return events, batches, dead, err
}
