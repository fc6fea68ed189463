package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// PendingItem returns the queue item, still queued or sending, that will have the given Chat API
// message id once sent (ErrNotFound when there is none): a reaction, edit or delete may name a
// message that has not left the queue yet.
func (s *Store) PendingItem(ctx context.Context, messageID string) (Item, error) {
	id, err := chat.ParseMessageID(messageID)
	if err != nil {
		return Item{}, fmt.Errorf("pending item %s: %w", messageID, ErrNotFound)
	}
	it, err := scanItem(s.db.QueryRowContext(ctx, `SELECT `+itemColumns+` FROM mo_queue
		WHERE wa_id = $1 AND message_id = $2 AND state IN ($3, $4)`, id.WAID, messageID, StateQueued, StateSending))
	if errors.Is(err, sql.ErrNoRows) {
		return Item{}, fmt.Errorf("pending item %s: %w", messageID, ErrNotFound)
	}
	if err != nil {
		return Item{}, fmt.Errorf("pending item %s: %w", messageID, err)
	}
	return it, nil
}
