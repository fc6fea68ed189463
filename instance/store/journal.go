package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// AppendMessage puts a message (incoming, or sent from another device of the account) in the journal
// with the next message number and in the webhook outbox, in one transaction. A message whose id is
// already in the journal is not added again: the stored one is returned with added false.
func (s *Store) AppendMessage(ctx context.Context, m chat.Message) (chat.Message, bool, error) {
	return s.appendOne(ctx, m, true)
}

// AppendMessageUnposted journals a message like AppendMessage but keeps it out of the webhook
// (the ignoreOldMessages setting).
func (s *Store) AppendMessageUnposted(ctx context.Context, m chat.Message) (chat.Message, bool, error) {
	return s.appendOne(ctx, m, false)
}

func (s *Store) appendOne(ctx context.Context, m chat.Message, post bool) (chat.Message, bool, error) {
	mid, err := chat.ParseMessageID(m.ID)
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("append message: %w", err)
	}
	if m.ChatID == "" {
		m.ChatID = mid.Chat.String()
	}
	if m.Time == 0 {
		m.Time = time.Now().Unix()
	}
	var out chat.Message
	var added bool
	err = s.write(ctx, func(ctx context.Context, tx *wtx) error {
		var err error
		out, added, err = s.appendMessage(ctx, tx, m, mid.WAID, post)
		return err
	})
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("append message: %w", err)
	}
	return out, added, nil
}

func (s *Store) appendMessage(ctx context.Context, tx *wtx, m chat.Message, waID string, post bool) (chat.Message, bool, error) {
	var data string
	row, err := tx.queryRowCached(ctx, `SELECT data FROM mo_messages WHERE id = $1`, m.ID)
	if err == nil {
		err = row.Scan(&data)
	}
	switch {
	case err == nil:
		var old chat.Message
		if err := json.Unmarshal([]byte(data), &old); err != nil {
			return chat.Message{}, false, fmt.Errorf("decoding stored message %s: %w", m.ID, err)
		}
		return old, false, nil
	case !errors.Is(err, sql.ErrNoRows):
		return chat.Message{}, false, fmt.Errorf("looking up message %s: %w", m.ID, err)
	}
	n, err := nextNumbers(ctx, tx, "message", 1)
	if err != nil {
		return chat.Message{}, false, err
	}
	m.MessageNumber = n
	raw, err := json.Marshal(m)
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("encoding message: %w", err)
	}
	_, err = tx.execCached(ctx, `INSERT INTO mo_messages (message_number, id, wa_id, chat_id, from_me, type, time, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, n, m.ID, waID, m.ChatID, m.FromMe, m.Type, m.Time, string(raw))
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("inserting message: %w", err)
	}
	if err := touchChat(ctx, tx, m); err != nil {
		return chat.Message{}, false, err
	}
	if post {
		if err := s.addEvent(ctx, tx, eventMessage, m.ID, raw); err != nil {
			return chat.Message{}, false, err
		}
	}
	return m, true, nil
}

// MessageQuery selects journal messages (GET /messages). Zero fields do not filter.
type MessageQuery struct {
	// After keeps messages numbered above it (paging by lastMessageNumber).
	After int64
	// ChatID keeps the messages of one chat, in Chat API form (17472822486@c.us, <id>@g.us, <id>@lid).
	ChatID string
	// MinTime and MaxTime keep messages sent at or after, and at or before, these unix seconds.
	MinTime, MaxTime int64
	// Limit caps how many messages are returned; it must be positive.
	Limit int
	// Last returns the last Limit matching messages instead of the first ones; either way they come
	// oldest first.
	Last bool
}

// FindMessages returns the messages q selects, in message number order.
func (s *Store) FindMessages(ctx context.Context, q MessageQuery) ([]chat.Message, error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("querying messages: limit must be positive, not %d", q.Limit)
	}
	query, args := q.sql()
	msgs, err := s.queryMessages(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	if q.Last {
		slices.Reverse(msgs)
	}
	return msgs, nil
}

// sql builds the statement of q; the indexes on (chat_id, message_number) and (time,
// message_number) serve its filters.
func (q MessageQuery) sql() (string, []any) {
	var where []string
	var args []any
	cond := func(expr string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(expr, len(args)))
	}
	if q.After > 0 {
		cond("message_number > $%d", q.After)
	}
	if q.ChatID != "" {
		cond("chat_id = $%d", q.ChatID)
	}
	if q.MinTime > 0 {
		cond("time >= $%d", q.MinTime)
	}
	if q.MaxTime > 0 {
		cond("time <= $%d", q.MaxTime)
	}
	query := "SELECT data FROM mo_messages"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	order := "ASC"
	if q.Last {
		order = "DESC"
	}
	args = append(args, q.Limit)
	return query + fmt.Sprintf(" ORDER BY message_number %s LIMIT $%d", order, len(args)), args
}

// Messages returns up to limit messages with a number above after, in order.
func (s *Store) Messages(ctx context.Context, after int64, limit int) ([]chat.Message, error) {
	return s.FindMessages(ctx, MessageQuery{After: after, Limit: limit})
}

// LastMessages returns the last n messages, oldest first.
func (s *Store) LastMessages(ctx context.Context, n int) ([]chat.Message, error) {
	return s.FindMessages(ctx, MessageQuery{Limit: n, Last: true})
}

// LastMessageNumber returns the highest message number given so far (0 if none).
func (s *Store) LastMessageNumber(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM mo_counters WHERE name = 'message'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("reading last message number: %w", err)
	}
	return n, nil
}

func (s *Store) queryMessages(ctx context.Context, query string, args ...any) ([]chat.Message, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("querying messages: %w", err)
	}
	defer func() { _ = rows.Close() }()
	msgs := []chat.Message{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("reading message row: %w", err)
		}
		var m chat.Message
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			return nil, fmt.Errorf("decoding message: %w", err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading messages: %w", err)
	}
	return msgs, nil
}

// RecordAck records a delivery event (delivered, viewed) for an outgoing message known by its
// WhatsApp id, and puts an ack in the webhook outbox when ack notifications are on. Acks never go
// backwards: a status not above the highest recorded one (in the queue or in the journal) is
// ignored. A receipt for a send still queued or sending is recorded but reported by MarkSent, after
// the message itself, instead of its "sent" ack. Unknown ids are ignored (false).
func (s *Store) RecordAck(ctx context.Context, waID, status string) (bool, error) {
	if chat.AckRank(status) == 0 {
		return false, fmt.Errorf("record ack: unknown status %q", status)
	}
	var recorded bool
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		var err error
		recorded, err = s.recordAck(ctx, tx, waID, status)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record ack: %w", err)
	}
	return recorded, nil
}

func (s *Store) recordAck(ctx context.Context, tx *wtx, waID, status string) (bool, error) {
	ack := chat.Ack{Status: status}
	var queued, journaled, state, id, chatID string
	row, err := tx.queryRowCached(ctx, `SELECT queue_number, message_id, chat_id, ack, state FROM mo_queue WHERE wa_id = $1`,
		waID)
	if err == nil {
		err = row.Scan(&ack.QueueNumber, &ack.ID, &ack.ChatID, &queued, &state)
	}
	inQueue := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("looking up queued message %s: %w", waID, err)
	}
	row, err = tx.queryRowCached(ctx, `SELECT id, chat_id, ack FROM mo_messages WHERE wa_id = $1 AND from_me = $2`,
		waID, true)
	if err == nil {
		err = row.Scan(&id, &chatID, &journaled)
	}
	inJournal := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("looking up message %s: %w", waID, err)
	}
	if !inQueue && !inJournal {
		return false, nil
	}
	if !inQueue {
		ack.ID, ack.ChatID = id, chatID
	}
	if chat.AckRank(status) <= max(chat.AckRank(queued), chat.AckRank(journaled)) {
		return false, nil
	}
	if inQueue {
		if _, err := tx.execCached(ctx, `UPDATE mo_queue SET ack = $1 WHERE wa_id = $2`, status, waID); err != nil {
			return false, fmt.Errorf("updating ack of %s: %w", waID, err)
		}
	}
	if inJournal {
		_, err := tx.execCached(ctx, `UPDATE mo_messages SET ack = $1 WHERE wa_id = $2 AND from_me = $3`, status, waID, true)
		if err != nil {
			return false, fmt.Errorf("updating ack of %s: %w", waID, err)
		}
	}
	if inQueue && (state == StateQueued || state == StateSending) {
		return true, nil // MarkSent reports it (addSentAck)
	}
	return true, s.addAck(ctx, tx, ack)
}

// addSentAck puts the ack of a send that has just finished in the webhook outbox: "sent", or the
// higher status a receipt recorded while it was sending; the journal keeps that status too.
func (s *Store) addSentAck(ctx context.Context, tx *wtx, it Item) error {
	var status string
	row, err := tx.queryRowCached(ctx, `SELECT ack FROM mo_queue WHERE queue_number = $1`, it.QueueNumber)
	if err == nil {
		err = row.Scan(&status)
	}
	if err != nil {
		return fmt.Errorf("reading ack of queue item %d: %w", it.QueueNumber, err)
	}
	if chat.AckRank(status) <= chat.AckRank(chat.AckSent) {
		status = chat.AckSent
	} else {
		_, err := tx.ExecContext(ctx, `UPDATE mo_messages SET ack = $1 WHERE wa_id = $2 AND from_me = $3`,
			status, it.WAID, true)
		if err != nil {
			return fmt.Errorf("updating ack of %s: %w", it.WAID, err)
		}
	}
	return s.addAck(ctx, tx, chat.Ack{ID: it.MessageID, QueueNumber: it.QueueNumber, ChatID: it.ChatID, Status: status,
		Type: ackType(it), Result: actionResult(it)})
}

// addAck puts an ack in the event log (and the webhook outbox when a webhook is set) when ack
// notifications are on.
func (s *Store) addAck(ctx context.Context, tx *wtx, a chat.Ack) error {
	st := s.Settings()
	if !st.AckNotifications {
		return nil
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encoding ack: %w", err)
	}
	return s.addEvent(ctx, tx, eventAck, a.ID, raw)
}

// Message returns the journal entry with the given Chat API message id (ErrNotFound when the
// journal does not hold it).
func (s *Store) Message(ctx context.Context, id string) (chat.Message, error) {
	msgs, err := s.queryMessages(ctx, `SELECT data FROM mo_messages WHERE id = $1`, id)
	if err != nil {
		return chat.Message{}, fmt.Errorf("message %s: %w", id, err)
	}
	if len(msgs) == 0 {
		return chat.Message{}, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	return msgs[0], nil
}

// MessagesByWAID returns the journal entries whose WhatsApp id is waID (one, except for the rare
// id two chats share), oldest first.
func (s *Store) MessagesByWAID(ctx context.Context, waID string) ([]chat.Message, error) {
	msgs, err := s.queryMessages(ctx, `SELECT data FROM mo_messages WHERE wa_id = $1 ORDER BY message_number`, waID)
	if err != nil {
		return nil, fmt.Errorf("messages with WhatsApp id %s: %w", waID, err)
	}
	return msgs, nil
}
