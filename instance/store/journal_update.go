package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// UpdateMessage changes the stored data of the journal entry with the given Chat API message id
// (an edit or a revoke marking the original) in one transaction: change gets the entry as stored
// and edits it in place. The entry keeps its id, chat, number and time whatever change does; no
// webhook event is added (the edit or revoke is journaled as an entry of its own). ErrNotFound when
// the journal does not hold the id.
func (s *Store) UpdateMessage(ctx context.Context, id string, change func(*chat.Message)) error {
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		var data string
		err := tx.QueryRowContext(ctx, `SELECT data FROM mo_messages WHERE id = $1`, id).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("reading: %w", err)
		}
		var m chat.Message
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			return fmt.Errorf("decoding: %w", err)
		}
		keep := m
		change(&m)
		m.ID, m.ChatID, m.MessageNumber, m.Time, m.FromMe = keep.ID, keep.ChatID, keep.MessageNumber, keep.Time, keep.FromMe
		raw, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("encoding: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mo_messages SET data = $1, type = $2 WHERE id = $3`,
			string(raw), m.Type, id); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update message %s: %w", id, err)
	}
	return nil
}
