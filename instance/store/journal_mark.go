package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// MarkMessage changes the journal entry with the given Chat API id in place (an edit's new text,
// a revoke's mark), without a new message number or webhook: the edit or revoke is journaled as
// an entry of its own. change may be called more than once and must only change the message; its
// id, chat, type, direction, number and time are kept. It reports false, with no error, when the journal does
// not hold the message.
func (s *Store) MarkMessage(ctx context.Context, id string, change func(*chat.Message)) (bool, error) {
	var found bool
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		var err error
		found, err = markMessage(ctx, tx, id, change)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("mark message %s: %w", id, err)
	}
	return found, nil
}

func markMessage(ctx context.Context, tx *wtx, id string, change func(*chat.Message)) (bool, error) {
	var data string
	err := tx.QueryRowContext(ctx, `SELECT data FROM mo_messages WHERE id = $1`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking up the message: %w", err)
	}
	var m chat.Message
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		return false, fmt.Errorf("decoding the stored message: %w", err)
	}
	kept := m
	change(&m)
	m.ID, m.ChatID, m.Type, m.MessageNumber, m.Time, m.FromMe = kept.ID, kept.ChatID, kept.Type, kept.MessageNumber, kept.Time, kept.FromMe
	raw, err := json.Marshal(m)
	if err != nil {
		return false, fmt.Errorf("encoding the message: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE mo_messages SET data = $1 WHERE id = $2`, string(raw), id); err != nil {
		return false, fmt.Errorf("updating the message: %w", err)
	}
	return true, nil
}
