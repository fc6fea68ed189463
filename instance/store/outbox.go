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

// addEvent puts one webhook event about the message msgID in the event log (GET /events, sinks)
// and, when a webhook URL is set, in the outbox.
func (s *Store) addEvent(ctx context.Context, tx *wtx, kind, msgID string, data []byte) error {
	seq, err := nextNumbers(ctx, tx, "webhook", 1)
	if err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	if s.Settings().WebhookURL == "" {
		return s.logEvent(ctx, tx, seq, kind, data, now)
	}
	_, err = tx.execCached(ctx, `INSERT INTO mo_webhook_events (seq, kind, data, created_at, message_id)
		VALUES ($1, $2, $3, $4, $5)`, seq, kind, string(data), now, msgID)
	if err != nil {
		return fmt.Errorf("inserting webhook event: %w", err)
	}
	tx.onCommit(s.wakeWebhook)
	return s.logEvent(ctx, tx, seq, kind, data, now)
}

// Batch is one webhook delivery: a frozen body with a stable id, retried on its own schedule until
// delivered or dead. Delivered batches are kept a while (without their body) for WebhookStatus.
type Batch struct {
	// Seq orders batches: while deliveries succeed they are delivered in this order.
	Seq int64
	// ID is the webhook-id header value, the same on every attempt.
	ID          string
	Body        []byte
	Events      int
	Attempts    int
	CreatedAt   time.Time
	NextAttempt time.Time
	// LastAttempt is when the last failed attempt was made (zero: none failed).
	LastAttempt time.Time
	LastError   string
	Dead        bool
	// DeliveredAt is zero until the batch is recorded delivered.
	DeliveredAt time.Time
}

const batchColumns = `seq, id, body, events, attempts, created_at, next_attempt, last_attempt, last_error, dead,
	delivered_at`

func scanBatch(row interface{ Scan(...any) error }) (Batch, error) {
	var b Batch
	var body string
	var created, next, last, delivered int64
	err := row.Scan(&b.Seq, &b.ID, &body, &b.Events, &b.Attempts, &created, &next, &last, &b.LastError, &b.Dead,
		&delivered)
	if err != nil {
		return Batch{}, err
	}
	b.Body, b.CreatedAt, b.NextAttempt = []byte(body), time.UnixMilli(created), time.UnixMilli(next)
	if last > 0 {
		b.LastAttempt = time.UnixMilli(last)
	}
	if delivered > 0 {
		b.DeliveredAt = time.UnixMilli(delivered)
	}
	return b, nil
}

// Delivery is a batch delivered at a time, not yet recorded.
type Delivery struct {
	Seq int64
	At  time.Time
}

// Formation tells FormBatches what to record and how to form batches.
type Formation struct {
	// Delivered are recorded first (see BatchesDelivered).
	Delivered []Delivery
	// MaxEvents caps the events of one batch; MaxBatches caps the batches formed.
	MaxEvents, MaxBatches int
	// Now is the batches' creation time.
	Now time.Time
	// NewID returns a fresh webhook-id; Payload freezes events into a body.
	NewID   func() string
	Payload func(chat.WebhookPayload) ([]byte, error)
	// PruneBefore, if not zero, forgets batches delivered before it.
	PruneBefore time.Time
}

// FormBatches records f.Delivered, prunes, then moves undelivered events into up to f.MaxBatches
// new batches, all in one transaction, and returns how many batches it formed. An event about a
// message that a batch still undelivered (and not dead) carries stays in the outbox until that batch
// is delivered or given up: a receiver never gets a message's events out of order, even while one
// payload is being retried and later ones overtake it.
func (s *Store) FormBatches(ctx context.Context, f Formation) (int, error) {
	var formed int
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		formed = 0
		if err := recordDelivered(ctx, tx, f.Delivered); err != nil {
			return err
		}
		if !f.PruneBefore.IsZero() {
			if err := pruneDelivered(ctx, tx, f.PruneBefore); err != nil {
				return err
			}
		}
		for formed < f.MaxBatches {
			n, more, err := formOne(ctx, tx, f)
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

// formOne turns the oldest pending events that are not held back into one batch. It returns how
// many batches it formed (0 when every event was a dropped ack) and whether there were events.
func formOne(ctx context.Context, tx *wtx, f Formation) (int, bool, error) {
	p, seqs, keys, err := pendingEvents(ctx, tx, f.MaxEvents)
	if err != nil || len(seqs) == 0 {
		return 0, false, err
	}
	last := seqs[len(seqs)-1]
	if !tx.s.Settings().AckNotifications {
		p.Ack = p.Ack[:0] // turned off since they were queued
	}
	if len(p.Messages) == 0 && len(p.Ack) == 0 && len(p.ChatUpdate) == 0 && len(p.Status) == 0 {
		return 0, true, deleteEvents(ctx, tx, seqs)
	}
	body, err := f.Payload(p)
	if err != nil {
		return 0, false, fmt.Errorf("building webhook body: %w", err)
	}
	now := f.Now.UnixMilli()
	_, err = tx.ExecContext(ctx, `INSERT INTO mo_webhook_batches (seq, id, body, events, created_at, next_attempt)
		VALUES ($1, $2, $3, $4, $5, $6)`, last, f.NewID(), string(body), len(seqs), now, now)
	if err != nil {
		return 0, false, fmt.Errorf("inserting webhook batch: %w", err)
	}
	if err := insertBatchMessages(ctx, tx, last, keys); err != nil {
		return 0, false, err
	}
	return 1, true, deleteEvents(ctx, tx, seqs)
}

// insertBatchMessages records which messages batch seq carries (for WebhookStatus and holding).
func insertBatchMessages(ctx context.Context, tx *wtx, seq int64, keys []string) error {
	for start := 0; start < len(keys); start += rowsPerInsert {
		chunk := keys[start:min(start+rowsPerInsert, len(keys))]
		args := make([]any, 0, 2*len(chunk))
		q := `INSERT INTO mo_webhook_batch_messages (message_id, batch_seq) VALUES `
		for i, k := range chunk {
			if i > 0 {
				q += ","
			}
			q += tx.s.placeholders(len(args), 2)
			args = append(args, k, seq)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("recording the messages of webhook batch %d: %w", seq, err)
		}
	}
	return nil
}

func deleteEvents(ctx context.Context, tx *wtx, seqs []int64) error {
	for start := 0; start < len(seqs); start += rowsPerInsert {
		chunk := seqs[start:min(start+rowsPerInsert, len(seqs))]
		args := make([]any, len(chunk))
		for i, seq := range chunk {
			args[i] = seq
		}
		q := `DELETE FROM mo_webhook_events WHERE seq IN ` + tx.s.placeholders(0, len(chunk))
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("deleting batched webhook events: %w", err)
		}
	}
	return nil
}

func recordDelivered(ctx context.Context, tx *wtx, ds []Delivery) error {
	for _, d := range ds {
		_, err := tx.execCached(ctx, `UPDATE mo_webhook_batches SET delivered_at = $1, body = '' WHERE seq = $2`,
			max(d.At.UnixMilli(), 1), d.Seq)
		if err != nil {
			return fmt.Errorf("recording webhook delivery: %w", err)
		}
	}
	return nil
}

func pruneDelivered(ctx context.Context, tx *wtx, before time.Time) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM mo_webhook_batch_messages WHERE batch_seq IN
		(SELECT seq FROM mo_webhook_batches WHERE delivered_at > 0 AND delivered_at < $1)`, before.UnixMilli())
	if err != nil {
		return fmt.Errorf("pruning delivered webhook batches: %w", err)
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM mo_webhook_batches WHERE delivered_at > 0 AND delivered_at < $1`,
		before.UnixMilli())
	if err != nil {
		return fmt.Errorf("pruning delivered webhook batches: %w", err)
	}
	return nil
}

// pendingEvents reads up to max events in order, skipping those about a message that a live
// undelivered batch carries. keys are the distinct message ids of the events read.
func pendingEvents(ctx context.Context, tx *wtx, max int) (chat.WebhookPayload, []int64, []string, error) {
	p := chat.WebhookPayload{Messages: []chat.Message{}, Ack: []chat.Ack{}}
	rows, err := tx.QueryContext(ctx, `SELECT e.seq, e.kind, e.data, e.message_id FROM mo_webhook_events e
		WHERE NOT EXISTS (SELECT 1 FROM mo_webhook_batch_messages bm JOIN mo_webhook_batches b ON b.seq = bm.batch_seq
			WHERE bm.message_id = e.message_id AND b.delivered_at = 0 AND b.dead = $1)
		ORDER BY e.seq LIMIT $2`, false, max)
	if err != nil {
		return p, nil, nil, fmt.Errorf("reading webhook events: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var seqs []int64
	var keys []string
	seen := map[string]bool{}
	for rows.Next() {
		var seq int64
		var kind, data, key string
		if err := rows.Scan(&seq, &kind, &data, &key); err != nil {
			return p, nil, nil, fmt.Errorf("reading webhook event: %w", err)
		}
		seqs = append(seqs, seq)
		if key != "" && !seen[key] {
			seen[key] = true
			keys = append(keys, key)
		}
		switch kind {
		case eventMessage:
			var m chat.Message
			if err := json.Unmarshal([]byte(data), &m); err != nil {
				return p, nil, nil, fmt.Errorf("decoding webhook event %d: %w", seq, err)
			}
			p.Messages = append(p.Messages, m)
		case eventAck:
			var a chat.Ack
			if err := json.Unmarshal([]byte(data), &a); err != nil {
				return p, nil, nil, fmt.Errorf("decoding webhook event %d: %w", seq, err)
			}
			p.Ack = append(p.Ack, a)
		case eventChatUpdate:
			if err := decodeChatUpdate(&p, seq, data); err != nil {
				return p, nil, nil, err
			}
		case eventStatus:
			if err := appendStatusEvent(&p, seq, data); err != nil {
				return p, nil, nil, err
			}
		}
	}
	return p, seqs, keys, rows.Err()
}

// Outbox is what the dispatcher needs to know to take its next step.
type Outbox struct {
	// Due is the batch to attempt now, or nil.
	Due *Batch
	// Fresh tells whether a batch not yet attempted is waiting.
	Fresh bool
	// NextAt is the earliest next attempt of a batch not due yet (zero: none).
	NextAt time.Time
}

// NextBatch picks the batch to attempt at now among the live undelivered ones due by their own
// schedule, skipping skip (delivered, not yet recorded): the oldest, or with freshFirst the oldest
// never attempted if there is one.
func (s *Store) NextBatch(ctx context.Context, now time.Time, freshFirst bool, skip map[int64]bool) (Outbox, error) {
	var o Outbox
	order := `seq`
	if freshFirst {
		order = `CASE WHEN attempts = 0 THEN 0 ELSE 1 END, seq`
	}
	due, err := s.queryBatches(ctx, `SELECT `+batchColumns+` FROM mo_webhook_batches
		WHERE delivered_at = 0 AND dead = $1 AND next_attempt <= $2 ORDER BY `+order+` LIMIT $3`,
		false, now.UnixMilli(), len(skip)+1)
	if err != nil {
		return o, err
	}
	for i := range due {
		if !skip[due[i].Seq] {
			o.Due = &due[i]
			break
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq FROM mo_webhook_batches WHERE delivered_at = 0 AND dead = $1
		AND attempts = 0 ORDER BY seq LIMIT $2`, false, len(skip)+1)
	if err != nil {
		return o, fmt.Errorf("reading webhook batches: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return o, fmt.Errorf("reading webhook batches: %w", err)
		}
		o.Fresh = o.Fresh || !skip[seq]
	}
	if err := rows.Err(); err != nil {
		return o, fmt.Errorf("reading webhook batches: %w", err)
	}
	var next sql.NullInt64
	err = s.db.QueryRowContext(ctx, `SELECT MIN(next_attempt) FROM mo_webhook_batches
		WHERE delivered_at = 0 AND dead = $1 AND next_attempt > $2`, false, now.UnixMilli()).Scan(&next)
	if err != nil {
		return o, fmt.Errorf("reading webhook schedule: %w", err)
	}
	if next.Valid {
		o.NextAt = time.UnixMilli(next.Int64)
	}
	return o, nil
}

func (s *Store) queryBatches(ctx context.Context, query string, args ...any) ([]Batch, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("reading webhook batches: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Batch
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, fmt.Errorf("reading webhook batch: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading webhook batches: %w", err)
	}
	return out, nil
}

// Batch returns one batch by seq (ErrNotFound once pruned).
func (s *Store) Batch(ctx context.Context, seq int64) (Batch, error) {
	b, err := scanBatch(s.db.QueryRowContext(ctx, `SELECT `+batchColumns+` FROM mo_webhook_batches WHERE seq = $1`, seq))
	if errors.Is(err, sql.ErrNoRows) {
		return Batch{}, fmt.Errorf("webhook batch %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return Batch{}, fmt.Errorf("reading webhook batch %d: %w", seq, err)
	}
	return b, nil
}

// BatchesDelivered records deliveries. Callers may record them lazily: a batch delivered but not
// yet recorded when the process dies is delivered again, with the same webhook-id.
func (s *Store) BatchesDelivered(ctx context.Context, ds []Delivery) error {
	return s.write(ctx, func(ctx context.Context, tx *wtx) error { return recordDelivered(ctx, tx, ds) })
}

// BatchFailed records a failed attempt made at `at` and when to try again; dead gives the batch up
// (it stays in the table for inspection).
func (s *Store) BatchFailed(ctx context.Context, seq int64, at, next time.Time, reason string, dead bool) error {
	return s.write(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE mo_webhook_batches SET attempts = attempts + 1, next_attempt = $1,
			last_attempt = $2, last_error = $3, dead = $4 WHERE seq = $5`, next.UnixMilli(), at.UnixMilli(), reason,
			dead, seq)
		if err != nil {
			return fmt.Errorf("recording webhook failure: %w", err)
		}
		return nil
	})
}

// RetryNow makes the live undelivered batches of seqs due at now (e.g. they failed while the
// receiver was down and it is back).
func (s *Store) RetryNow(ctx context.Context, seqs []int64, now time.Time) error {
	return s.write(ctx, func(ctx context.Context, tx *wtx) error {
		for _, seq := range seqs {
			_, err := tx.ExecContext(ctx, `UPDATE mo_webhook_batches SET next_attempt = $1
				WHERE seq = $2 AND delivered_at = 0 AND dead = $3 AND next_attempt > $1`, now.UnixMilli(), seq, false)
			if err != nil {
				return fmt.Errorf("rescheduling webhook batch %d: %w", seq, err)
			}
		}
		return nil
	})
}

// WebhookStatus returns how many events about the message msgID wait to be batched, and the
// batches that carried it (or its acks), oldest first, without their bodies.
func (s *Store) WebhookStatus(ctx context.Context, msgID string) (int, []Batch, error) {
	var pending int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM mo_webhook_events WHERE message_id = $1`, msgID).
		Scan(&pending)
	if err != nil {
		return 0, nil, fmt.Errorf("counting webhook events of %s: %w", msgID, err)
	}
	batches, err := s.queryBatches(ctx, `SELECT b.seq, b.id, '', b.events, b.attempts, b.created_at,
		b.next_attempt, b.last_attempt, b.last_error, b.dead, b.delivered_at
		FROM mo_webhook_batch_messages bm JOIN mo_webhook_batches b ON b.seq = bm.batch_seq
		WHERE bm.message_id = $1 ORDER BY b.seq`, msgID)
	if err != nil {
		return 0, nil, fmt.Errorf("webhook status of %s: %w", msgID, err)
	}
	return pending, batches, nil
}

// OutboxStats counts undelivered webhook events, live undelivered batches and dead batches.
func (s *Store) OutboxStats(ctx context.Context) (events, batches, dead int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM mo_webhook_events),
		(SELECT COUNT(*) FROM mo_webhook_batches WHERE delivered_at = 0 AND dead = $1),
		(SELECT COUNT(*) FROM mo_webhook_batches WHERE dead = $2)`, false, true).Scan(&events, &batches, &dead)
	if err != nil {
		err = fmt.Errorf("counting webhook outbox: %w", err)
	}
	return events, batches, dead, err
}
