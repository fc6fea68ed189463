package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// Queue item kinds.
const (
	KindText  = "text"
	KindFile  = "file"
	KindGroup = "group"
)

// Queue item states.
const (
	StateQueued  = "queued"
	StateSending = "sending"
	StateSent    = "sent"
	StateFailed  = "failed"
)

// ErrNotFound is returned for unknown queue items and messages.
var ErrNotFound = errors.New("not found")

// NewItem is a send request to queue.
type NewItem struct {
	// Kind is KindText, KindFile or KindGroup.
	Kind string
	// Chat is the destination (for groups: zero, the group does not exist yet).
	Chat chat.ID
	// Body is the text, or for files the caption-less description shown in the queue.
	Body string
	// Metadata is JSON with kind-specific details (file path, MIME, caption, group members…).
	Metadata string
}

// Item is a queued send.
type Item struct {
	QueueNumber int64
	// MessageID is the Chat API id the message will have: true_<chatId>_<WAID>.
	MessageID string
	// WAID is the WhatsApp message id, fixed at enqueue time.
	WAID      string
	ChatID    string
	Kind      string
	Body      string
	Metadata  string
	State     string
	Reason    string
	Result    string
	Attempts  int
	CreatedAt time.Time
	LastTry   time.Time
}

// Wire returns the item as GET /showMessagesQueue shows it.
func (it Item) Wire() chat.QueueItem {
	var last int64
	if !it.LastTry.IsZero() {
		last = it.LastTry.UnixMilli()
	}
	return chat.QueueItem{ID: it.QueueNumber, Body: it.Body, Type: it.Kind, ChatID: it.ChatID,
		LastTry: last, Metadata: it.Metadata, MessageID: it.MessageID, Status: it.State}
}

const itemColumns = `queue_number, message_id, wa_id, chat_id, kind, body, metadata, state, reason, result,
	attempts, created_at, last_try`

func scanItem(row interface{ Scan(...any) error }) (Item, error) {
	var it Item
	var created, last int64
	err := row.Scan(&it.QueueNumber, &it.MessageID, &it.WAID, &it.ChatID, &it.Kind, &it.Body, &it.Metadata,
		&it.State, &it.Reason, &it.Result, &it.Attempts, &created, &last)
	if err != nil {
		return Item{}, err
	}
	it.CreatedAt = time.UnixMilli(created)
	if last > 0 {
		it.LastTry = time.UnixMilli(last)
	}
	return it, nil
}

// Enqueue stores a send durably (committed before it returns) and returns it with its queue number
// and message id.
func (s *Store) Enqueue(ctx context.Context, n NewItem) (Item, error) {
	if n.Kind != KindText && n.Kind != KindFile && n.Kind != KindGroup {
		return Item{}, fmt.Errorf("enqueue: unknown kind %q", n.Kind)
	}
	if n.Metadata == "" {
		n.Metadata = "{}"
	}
	it := Item{WAID: chat.NewWAID(), ChatID: n.Chat.String(), Kind: n.Kind, Body: n.Body,
		Metadata: n.Metadata, State: StateQueued, CreatedAt: time.Now()}
	it.MessageID = chat.MessageID{FromMe: true, Chat: n.Chat, WAID: it.WAID}.String()
	if n.Kind == KindGroup {
		// Placeholder until the group exists (see MarkSent).
		it.MessageID = "true_group_" + it.WAID
	}
	err := s.submit(ctx, &writeReq{enqueue: &it, done: make(chan error, 1)})
	if err != nil {
		return Item{}, fmt.Errorf("enqueue: %w", err)
	}
	return it, nil
}

// QueueItem returns one queue item by queue number.
func (s *Store) QueueItem(ctx context.Context, queueNumber int64) (Item, error) {
	it, err := scanItem(s.db.QueryRowContext(ctx, `SELECT `+itemColumns+` FROM mo_queue WHERE queue_number = $1`,
		queueNumber))
	if errors.Is(err, sql.ErrNoRows) {
		return Item{}, fmt.Errorf("queue item %d: %w", queueNumber, ErrNotFound)
	}
	if err != nil {
		return Item{}, fmt.Errorf("reading queue item %d: %w", queueNumber, err)
	}
	return it, nil
}

// ListQueue returns how many sends wait (queued or sending) and the first limit of them in order.
func (s *Store) ListQueue(ctx context.Context, limit int) (int, []Item, error) {
	var total int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM mo_queue WHERE state IN ($1, $2)`,
		StateQueued, StateSending).Scan(&total)
	if err != nil {
		return 0, nil, fmt.Errorf("counting queue: %w", err)
	}
	items, err := s.queryItems(ctx, `SELECT `+itemColumns+` FROM mo_queue WHERE state IN ($1, $2)
		ORDER BY queue_number LIMIT $3`, StateQueued, StateSending, limit)
	return total, items, err
}

// Pending returns up to limit queued items in queue order: the drainer sends them in this order,
// which keeps the order per chat.
func (s *Store) Pending(ctx context.Context, limit int) ([]Item, error) {
	return s.queryItems(ctx, `SELECT `+itemColumns+` FROM mo_queue WHERE state = $1 ORDER BY queue_number LIMIT $2`,
		StateQueued, limit)
}

func (s *Store) queryItems(ctx context.Context, query string, args ...any) ([]Item, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("querying queue: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var items []Item
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, fmt.Errorf("reading queue row: %w", err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading queue: %w", err)
	}
	return items, nil
}

// ClearQueue deletes every queued (not yet sending) item and returns how many, with up to 10 of
// their bodies as examples.
func (s *Store) ClearQueue(ctx context.Context) (int, []string, error) {
	var n int
	var examples []string
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		examples = examples[:0]
		rows, err := tx.QueryContext(ctx, `SELECT body FROM mo_queue WHERE state = $1 ORDER BY queue_number LIMIT 10`,
			StateQueued)
		if err != nil {
			return fmt.Errorf("reading queue: %w", err)
		}
		for rows.Next() {
			var b string
			if err := rows.Scan(&b); err != nil {
				_ = rows.Close()
				return fmt.Errorf("reading queue: %w", err)
			}
			examples = append(examples, b)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("reading queue: %w", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM mo_queue WHERE state = $1`, StateQueued)
		if err != nil {
			return fmt.Errorf("clearing queue: %w", err)
		}
		affected, err := res.RowsAffected()
		n = int(affected)
		return err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("clear queue: %w", err)
	}
	if examples == nil {
		examples = []string{}
	}
	return n, examples, nil
}

// MarkSending records a send attempt: state sending, attempts+1, last try now. Only a queued item
// can be marked; it returns ErrNotFound otherwise (e.g. it was cleared meanwhile).
func (s *Store) MarkSending(ctx context.Context, queueNumber int64) error {
	return s.transition(ctx, queueNumber, StateQueued, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE mo_queue SET state = $1, attempts = attempts + 1, last_try = $2
			WHERE queue_number = $3`, StateSending, time.Now().UnixMilli(), queueNumber)
		return err
	})
}

// Requeue puts a sending item back to queued after a transient error.
func (s *Store) Requeue(ctx context.Context, queueNumber int64, reason string) error {
	return s.transition(ctx, queueNumber, StateSending, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE mo_queue SET state = $1, reason = $2 WHERE queue_number = $3`,
			StateQueued, reason, queueNumber)
		return err
	})
}

// transition runs change if the item is in state from.
func (s *Store) transition(ctx context.Context, qn int64, from string, change func(context.Context, *wtx) error) error {
	return s.write(ctx, func(ctx context.Context, tx *wtx) error {
		var state string
		err := tx.QueryRowContext(ctx, `SELECT state FROM mo_queue WHERE queue_number = $1`, qn).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("queue item %d: %w", qn, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("reading queue item %d: %w", qn, err)
		}
		if state != from {
			return fmt.Errorf("queue item %d is %s, not %s: %w", qn, state, from, ErrNotFound)
		}
		if err := change(ctx, tx); err != nil {
			return fmt.Errorf("updating queue item %d: %w", qn, err)
		}
		return nil
	})
}

// MarkSent records a delivered-to-server send: the item is done (for a group creation, result must
// be the new group's chat id; the item then takes the message id true_<group>_<WAID>, which the
// group's first message should use), the message enters the journal with the next message number (msg.ID defaults to the
// item's message id), and a "sent" ack is put in the webhook outbox when ack notifications are on.
// A nil msg records no journal entry (e.g. a group creation without a first message).
func (s *Store) MarkSent(ctx context.Context, queueNumber int64, result string, msg *chat.Message) error {
	var it Item
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		var err error
		it, err = s.finish(ctx, tx, queueNumber, StateSent, "", result)
		if err != nil {
			return err
		}
		if msg != nil {
			m := *msg
			if m.ID == "" {
				m.ID = it.MessageID
			}
			m.FromMe = true
			if _, _, err := s.appendMessage(ctx, tx, m, it.WAID); err != nil {
				return err
			}
		}
		return s.addSentAck(ctx, tx, it)
	})
	if err != nil {
		return fmt.Errorf("mark sent: %w", err)
	}
	return nil
}

// MarkFailed ends a send for good with a reason and puts a "failed" ack in the webhook outbox when
// ack notifications are on.
func (s *Store) MarkFailed(ctx context.Context, queueNumber int64, reason string) error {
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		it, err := s.finish(ctx, tx, queueNumber, StateFailed, reason, "")
		if err != nil {
			return err
		}
		return s.addAck(ctx, tx, chat.Ack{ID: it.MessageID, QueueNumber: it.QueueNumber, ChatID: it.ChatID,
			Status: chat.AckFailed, Reason: reason})
	})
	if err != nil {
		return fmt.Errorf("mark failed: %w", err)
	}
	return nil
}

func (s *Store) finish(ctx context.Context, tx *wtx, qn int64, state, reason, result string) (Item, error) {
	it, err := scanItem(tx.QueryRowContext(ctx, `SELECT `+itemColumns+` FROM mo_queue WHERE queue_number = $1`, qn))
	if errors.Is(err, sql.ErrNoRows) {
		return Item{}, fmt.Errorf("queue item %d: %w", qn, ErrNotFound)
	}
	if err != nil {
		return Item{}, fmt.Errorf("reading queue item %d: %w", qn, err)
	}
	if it.State == StateSent || it.State == StateFailed {
		return Item{}, fmt.Errorf("queue item %d is already %s: %w", qn, it.State, ErrNotFound)
	}
	ack := ""
	if state == StateSent {
		ack = chat.AckSent
	} else {
		ack = chat.AckFailed
	}
	if it.Kind == KindGroup && state == StateSent {
		// The group exists now: its item takes the group's chat id and a regular message id.
		gid, err := chat.ParseChatID(result)
		if err != nil || gid.Kind != chat.Group {
			return Item{}, fmt.Errorf("queue item %d: group result %q is not a group chat id", qn, result)
		}
		it.ChatID = gid.String()
		it.MessageID = chat.MessageID{FromMe: true, Chat: gid, WAID: it.WAID}.String()
	}
	// A receipt recorded while the item was sending stays: acks only move forward.
	_, err = tx.ExecContext(ctx, `UPDATE mo_queue SET state = $1, reason = $2, result = $3,
		ack = CASE WHEN ack IN ($9, $10) THEN ack ELSE $4 END, done_at = $5,
		chat_id = $6, message_id = $7 WHERE queue_number = $8`,
		state, reason, result, ack, time.Now().UnixMilli(), it.ChatID, it.MessageID, qn, chat.AckDelivered, chat.AckViewed)
	if err != nil {
		return Item{}, fmt.Errorf("finishing queue item %d: %w", qn, err)
	}
	it.State, it.Reason, it.Result = state, reason, result
	tx.onCommit(func() { s.waiters.done(qn) })
	return it, nil
}

// recoverSending puts items left in state sending by a crash back to queued: they are resent with
// the same WhatsApp id, so the recipient's client de-duplicates them.
func (s *Store) recoverSending(ctx context.Context) error {
	return s.write(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE mo_queue SET state = $1 WHERE state = $2`, StateQueued, StateSending)
		if err != nil {
			return fmt.Errorf("recovering interrupted sends: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			s.log.Info("requeued sends interrupted by a restart", "count", n)
		}
		return nil
	})
}

// PruneQueue deletes sent and failed items finished before cutoff and returns how many. Their
// messages stay in the journal; only acks arriving later lose their queue number.
func (s *Store) PruneQueue(ctx context.Context, cutoff time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM mo_queue WHERE state IN ($1, $2) AND done_at < $3`,
			StateSent, StateFailed, cutoff.UnixMilli())
		if err != nil {
			return fmt.Errorf("pruning queue: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// WaitFinished blocks until the queue item is sent or failed, or ctx ends, and returns it.
func (s *Store) WaitFinished(ctx context.Context, queueNumber int64) (Item, error) {
	ch := s.waiters.add(queueNumber)
	defer func() { s.waiters.remove(queueNumber, ch) }()
	for {
		it, err := s.QueueItem(ctx, queueNumber)
		if err != nil {
			return Item{}, err
		}
		if it.State == StateSent || it.State == StateFailed {
			return it, nil
		}
		select {
		case <-ch:
			ch = s.waiters.add(queueNumber)
		case <-ctx.Done():
			return it, ctx.Err()
		}
	}
}

// waiters wakes WaitFinished callers when an item finishes.
type waiters struct {
	mu sync.Mutex
	m  map[int64][]chan struct{}
}

func (w *waiters) add(qn int64) chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	w.m[qn] = append(w.m[qn], ch)
	w.mu.Unlock()
	return ch
}

func (w *waiters) remove(qn int64, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.m[qn]
	for i, c := range list {
		if c == ch {
			w.m[qn] = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(w.m[qn]) == 0 {
		delete(w.m, qn)
	}
}

func (w *waiters) done(qn int64) {
	w.mu.Lock()
	list := w.m[qn]
	delete(w.m, qn)
	w.mu.Unlock()
	for _, c := range list {
		close(c)
	}
}
