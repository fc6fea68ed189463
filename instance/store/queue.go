package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
)

// Queue item kinds (the payload types are in package queue).
const (
	KindText  = queue.KindText
	KindFile  = queue.KindFile
	KindGroup = queue.KindGroup
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
	// Chat is the destination (for groups: zero, the group does not exist yet).
	Chat chat.ID
	// Body is the text, or for files the caption-less description shown in the queue.
	Body string
	// Payload is what to send: queue.Text, queue.File, queue.Group…
	Payload queue.Payload
}

// Item is a queued send.
type Item struct {
	QueueNumber int64
	// MessageID is the Chat API id the message will have: true_<chatId>_<WAID>.
	MessageID string
	// WAID is the WhatsApp message id, fixed at enqueue time.
	WAID   string
	ChatID string
	Kind   string
	Body   string
	// Metadata is the payload as stored (JSON); Payload decodes it.
	Metadata string
	State    string
	// Reason is why the item failed for good, or the error of its last attempt.
	Reason string
	// Result is what a send produced (a new group's chat id; for a group creation it is recorded
	// as soon as the group exists, before the item is sent).
	Result    string
	Attempts  int
	CreatedAt time.Time
	LastTry   time.Time
	// NextTry is when the item may be tried again (zero: at once).
	NextTry time.Time
	// Size is the bytes of queued file the item holds.
	Size int64
}

// Payload decodes the item's payload.
func (it Item) Payload() (queue.Payload, error) { return queue.Decode(it.Kind, it.Metadata) }

// Wire returns the item as GET /showMessagesQueue shows it.
func (it Item) Wire() chat.QueueItem {
	return chat.QueueItem{ID: it.QueueNumber, Body: it.Body, Type: it.Kind, ChatID: it.ChatID,
		LastTry: unixMilli(it.LastTry), Metadata: it.Metadata, MessageID: it.MessageID, Status: it.State,
		Attempts: it.Attempts, LastError: it.Reason, NextTry: unixMilli(it.NextTry)}
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMilli(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

const itemColumns = `queue_number, message_id, wa_id, chat_id, kind, body, metadata, state, reason, result,
	attempts, created_at, last_try, next_try, size`

func scanItem(row interface{ Scan(...any) error }) (Item, error) {
	var it Item
	var created, last, next int64
	err := row.Scan(&it.QueueNumber, &it.MessageID, &it.WAID, &it.ChatID, &it.Kind, &it.Body, &it.Metadata,
		&it.State, &it.Reason, &it.Result, &it.Attempts, &created, &last, &next, &it.Size)
	if err != nil {
		return Item{}, err
	}
	it.CreatedAt = time.UnixMilli(created)
	it.LastTry, it.NextTry = fromMilli(last), fromMilli(next)
	return it, nil
}

// Enqueue stores a send durably (committed before it returns) and returns it with its queue number
// and message id. Over the queue's caps it queues nothing and returns ErrQueueFull or
// ErrQueueTooLarge.
func (s *Store) Enqueue(ctx context.Context, n NewItem) (Item, error) {
	if n.Payload == nil {
		return Item{}, errors.New("enqueue: no payload")
	}
	meta, err := queue.Encode(n.Payload)
	if err != nil {
		return Item{}, fmt.Errorf("enqueue: %w", err)
	}
	it := Item{WAID: chat.NewWAID(), ChatID: n.Chat.String(), Kind: n.Payload.Kind(), Body: n.Body,
		Metadata: meta, State: StateQueued, CreatedAt: time.Now(), Size: queue.Bytes(n.Payload)}
	if err := s.checkCaps(ctx, it.Size); err != nil {
		return Item{}, fmt.Errorf("enqueue: %w", err)
	}
	it.MessageID = chat.MessageID{FromMe: true, Chat: n.Chat, WAID: it.WAID}.String()
	if it.Kind == KindGroup {
		// Placeholder until the group exists (see MarkSent).
		it.MessageID = "true_group_" + it.WAID
	}
	if queue.IsAction(it.Kind) {
		it.MessageID = actionID(it.WAID)
	}
	if err := s.submit(ctx, &writeReq{enqueue: &it, done: make(chan error, 1)}); err != nil {
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
	return s.ListQueueView(ctx, AllItems, limit)
}

// ListQueueView is ListQueue for the items of one view (messages or actions).
func (s *Store) ListQueueView(ctx context.Context, view QueueView, limit int) (int, []Item, error) {
	var total int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM mo_queue WHERE state IN ($1, $2)`+view.where(),
		StateQueued, StateSending).Scan(&total)
	if err != nil {
		return 0, nil, fmt.Errorf("counting queue: %w", err)
	}
	items, err := s.queryItems(ctx, `SELECT `+itemColumns+` FROM mo_queue WHERE state IN ($1, $2)`+view.where()+`
		ORDER BY queue_number LIMIT $3`, StateQueued, StateSending, limit)
	return total, items, err
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

// Cleared is what ClearQueue removed.
type Cleared struct {
	// Count is how many items were removed.
	Count int
	// Examples are up to 10 of their bodies.
	Examples []string
	// Files are the media directory names of the files the removed items kept (queue.Files):
	// they are the caller's to delete.
	Files []string
}

// ClearQueue deletes every queued (not yet sending) item.
func (s *Store) ClearQueue(ctx context.Context) (Cleared, error) {
	return s.ClearQueueView(ctx, AllItems)
}

// ClearQueueView is ClearQueue for the items of one view (messages or actions).
func (s *Store) ClearQueueView(ctx context.Context, view QueueView) (Cleared, error) {
	var out Cleared
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		out = Cleared{Examples: []string{}}
		rows, err := tx.QueryContext(ctx, `SELECT body, kind, metadata, size FROM mo_queue WHERE state = $1`+
			view.where()+` ORDER BY queue_number`, StateQueued)
		if err != nil {
			return fmt.Errorf("reading queue: %w", err)
		}
		var size int64
		for rows.Next() {
			var body, kind, meta string
			var n int64
			if err := rows.Scan(&body, &kind, &meta, &n); err != nil {
				_ = rows.Close()
				return fmt.Errorf("reading queue: %w", err)
			}
			if len(out.Examples) < 10 {
				out.Examples = append(out.Examples, body)
			}
			if p, err := queue.Decode(kind, meta); err == nil {
				out.Files = append(out.Files, queue.Files(p)...)
			}
			out.Count++
			size += n
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("reading queue: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM mo_queue WHERE state = $1`+view.where(), StateQueued); err != nil {
			return fmt.Errorf("clearing queue: %w", err)
		}
		return addQueued(ctx, tx, -int64(out.Count), -size)
	})
	if err != nil {
		return Cleared{}, fmt.Errorf("clear queue: %w", err)
	}
	return out, nil
}

// MarkSending records a send attempt: state sending, attempts+1, last try now. Only a queued item
// can be marked; it returns ErrNotFound otherwise (e.g. it was cleared meanwhile).
func (s *Store) MarkSending(ctx context.Context, queueNumber int64) error {
	return s.MarkSendingLater(ctx, queueNumber).Wait()
}

// MarkSendingLater is MarkSending without waiting for the commit. The claim carries a token (its
// last-try time, unique within the process): submitted again with Again after an error, it counts
// as claimed when it finds the item already sending with that token, that is when its earlier
// submission committed but the acknowledgement of the commit was lost (a database restart).
func (s *Store) MarkSendingLater(ctx context.Context, queueNumber int64) *Pending {
	token := s.claimToken()
	return s.writeLater(ctx, func(ctx context.Context, tx *wtx) error {
		state, lastTry, err := itemState(ctx, tx, queueNumber)
		if err != nil {
			return err
		}
		if state == StateSending && lastTry == token {
			return nil // this very claim committed before
		}
		if state != StateQueued {
			return fmt.Errorf("queue item %d is %s, not %s: %w", queueNumber, state, StateQueued, ErrNotFound)
		}
		if _, err := tx.execCached(ctx, `UPDATE mo_queue SET state = $1, attempts = attempts + 1, last_try = $2
			WHERE queue_number = $3`, StateSending, token, queueNumber); err != nil {
			return fmt.Errorf("updating queue item %d: %w", queueNumber, err)
		}
		return nil
	})
}

// claimToken returns the current time in Unix milliseconds, made later than every token returned
// before, so that no two claims of this process share one.
func (s *Store) claimToken() int64 {
	for {
		last, now := s.lastClaim.Load(), time.Now().UnixMilli()
		next := max(now, last+1)
		if s.lastClaim.CompareAndSwap(last, next) {
			return next
		}
	}
}

// Unclaim puts a sending item that was not attempted back to queued, due at once, as it was
// before MarkSending: its attempt is not counted and its last error stays.
func (s *Store) Unclaim(ctx context.Context, queueNumber int64) error {
	return s.UnclaimLater(ctx, queueNumber).Wait()
}

// UnclaimLater is Unclaim without waiting for the commit.
func (s *Store) UnclaimLater(ctx context.Context, queueNumber int64) *Pending {
	return s.transitionLater(ctx, queueNumber, StateSending, func(ctx context.Context, tx *wtx) error {
		_, err := tx.execCached(ctx, `UPDATE mo_queue SET state = $1, attempts = attempts - 1
			WHERE queue_number = $2 AND attempts > 0`, StateQueued, queueNumber)
		return err
	})
}

// Retry puts a sending item back to queued after a transient error, due again after a backoff
// that grows with its attempts (see RetryDelay). Until then the later items of its chat wait.
func (s *Store) Retry(ctx context.Context, queueNumber int64, reason string) error {
	return s.RetryLater(ctx, queueNumber, reason).Wait()
}

// RetryLater is Retry without waiting for the commit.
func (s *Store) RetryLater(ctx context.Context, queueNumber int64, reason string) *Pending {
	return s.transitionLater(ctx, queueNumber, StateSending, func(ctx context.Context, tx *wtx) error {
		var attempts int
		row, err := tx.queryRowCached(ctx, `SELECT attempts FROM mo_queue WHERE queue_number = $1`, queueNumber)
		if err == nil {
			err = row.Scan(&attempts)
		}
		if err != nil {
			return err
		}
		next := time.Now().Add(RetryDelay(attempts)).UnixMilli()
		_, err = tx.execCached(ctx, `UPDATE mo_queue SET state = $1, reason = $2, next_try = $3 WHERE queue_number = $4`,
			StateQueued, reason, next, queueNumber)
		return err
	})
}

// Postpone puts a sending item back to queued without counting the attempt, due at once: the
// attempt was cut short by the connection going away, which is no fault of the item.
func (s *Store) Postpone(ctx context.Context, queueNumber int64, reason string) error {
	return s.PostponeLater(ctx, queueNumber, reason).Wait()
}

// PostponeLater is Postpone without waiting for the commit.
func (s *Store) PostponeLater(ctx context.Context, queueNumber int64, reason string) *Pending {
	return s.transitionLater(ctx, queueNumber, StateSending, func(ctx context.Context, tx *wtx) error {
		_, err := tx.execCached(ctx, `UPDATE mo_queue SET state = $1, reason = $2, attempts = attempts - 1
			WHERE queue_number = $3 AND attempts > 0`, StateQueued, reason, queueNumber)
		return err
	})
}

// RecordResult stores what a sending item produced so far (a new group's chat id) without
// finishing it: a resend after a crash finds it and does not do the work again.
func (s *Store) RecordResult(ctx context.Context, queueNumber int64, result string) error {
	return s.transition(ctx, queueNumber, StateSending, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE mo_queue SET result = $1 WHERE queue_number = $2`, result, queueNumber)
		return err
	})
}

// transition runs change if the item is in state from.
func (s *Store) transition(ctx context.Context, qn int64, from string, change func(context.Context, *wtx) error) error {
	return s.transitionLater(ctx, qn, from, change).Wait()
}

// transitionLater is transition without waiting for the commit.
func (s *Store) transitionLater(ctx context.Context, qn int64, from string, change func(context.Context, *wtx) error) *Pending {
	return s.writeLater(ctx, func(ctx context.Context, tx *wtx) error {
		state, _, err := itemState(ctx, tx, qn)
		if err != nil {
			return err
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

// itemState reads a queue item's state and last try (Unix milliseconds) in tx.
func itemState(ctx context.Context, tx *wtx, qn int64) (state string, lastTry int64, err error) {
	row, err := tx.queryRowCached(ctx, `SELECT state, last_try FROM mo_queue WHERE queue_number = $1`, qn)
	if err == nil {
		err = row.Scan(&state, &lastTry)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, fmt.Errorf("queue item %d: %w", qn, ErrNotFound)
	}
	if err != nil {
		return "", 0, fmt.Errorf("reading queue item %d: %w", qn, err)
	}
	return state, lastTry, nil
}

// MarkSent records a delivered-to-server send: the item is done (for a group creation, result must
// be the new group's chat id; the item then takes the message id true_<group>_<WAID>, which the
// group's first message should use), the message enters the journal with the next message number (msg.ID defaults to the
// item's message id), and a "sent" ack is put in the webhook outbox when ack notifications are on.
// A nil msg records no journal entry (e.g. a group creation without a first message).
func (s *Store) MarkSent(ctx context.Context, queueNumber int64, result string, msg *chat.Message) error {
	return s.MarkSentLater(ctx, queueNumber, result, msg).Wait()
}

// MarkSentLater is MarkSent without waiting for the commit.
func (s *Store) MarkSentLater(ctx context.Context, queueNumber int64, result string, msg *chat.Message) *Pending {
	return s.writeLater(ctx, func(ctx context.Context, tx *wtx) error {
		it, err := s.finish(ctx, tx, queueNumber, StateSent, "", result)
		if err != nil {
			return err
		}
		if msg != nil {
			m := *msg
			if m.ID == "" {
				m.ID = it.MessageID
			}
			m.FromMe = true
			if _, _, err := s.appendMessage(ctx, tx, m, it.WAID, true); err != nil {
				return err
			}
		}
		return s.addSentAck(ctx, tx, it)
	}).wrapped(func(err error) error { return fmt.Errorf("mark sent: %w", err) })
}

// MarkFailed ends a send for good with a reason and puts a "failed" ack in the webhook outbox when
// ack notifications are on.
func (s *Store) MarkFailed(ctx context.Context, queueNumber int64, reason string) error {
	return s.MarkFailedLater(ctx, queueNumber, reason).Wait()
}

// MarkFailedLater is MarkFailed without waiting for the commit.
func (s *Store) MarkFailedLater(ctx context.Context, queueNumber int64, reason string) *Pending {
	return s.writeLater(ctx, func(ctx context.Context, tx *wtx) error {
		it, err := s.finish(ctx, tx, queueNumber, StateFailed, reason, "")
		if err != nil {
			return err
		}
		return s.addAck(ctx, tx, chat.Ack{ID: it.MessageID, QueueNumber: it.QueueNumber, ChatID: it.ChatID,
			Status: chat.AckFailed, Reason: reason, Type: ackType(it)})
	}).wrapped(func(err error) error { return fmt.Errorf("mark failed: %w", err) })
}

func (s *Store) finish(ctx context.Context, tx *wtx, qn int64, state, reason, result string) (Item, error) {
	row, err := tx.queryRowCached(ctx, `SELECT `+itemColumns+` FROM mo_queue WHERE queue_number = $1`, qn)
	if err != nil {
		return Item{}, fmt.Errorf("reading queue item %d: %w", qn, err)
	}
	it, err := scanItem(row)
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
	_, err = tx.execCached(ctx, `UPDATE mo_queue SET state = $1, reason = $2, result = $3,
		ack = CASE WHEN ack IN ($9, $10) THEN ack ELSE $4 END, done_at = $5,
		chat_id = $6, message_id = $7 WHERE queue_number = $8`,
		state, reason, result, ack, time.Now().UnixMilli(), it.ChatID, it.MessageID, qn, chat.AckDelivered, chat.AckViewed)
	if err != nil {
		return Item{}, fmt.Errorf("finishing queue item %d: %w", qn, err)
	}
	if err := addQueued(ctx, tx, -1, -it.Size); err != nil {
		return Item{}, err
	}
	if state == StateSent && !queue.IsAction(it.Kind) { // the daily limit counts messages only
		if err := countSent(ctx, tx, time.Now()); err != nil {
			return Item{}, err
		}
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
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		// The day counters of the daily limit are kept a week, whatever the retention.
		week := time.Now().AddDate(0, 0, -7)
		if cutoff.Before(week) {
			week = cutoff
		}
		return pruneSentCounters(ctx, tx, week)
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
