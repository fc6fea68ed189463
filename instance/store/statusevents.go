package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// eventStatus is the outbox event kind of an account status change.
const eventStatus = "status"

// AddStatusEvent puts a change of the account's status in the event log and, when a webhook URL
// is set, the webhook outbox. The caller rate-limits: every call becomes one entry.
func (s *Store) AddStatusEvent(ctx context.Context, e chat.StatusEvent) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding status event: %w", err)
	}
	err = s.write(ctx, func(ctx context.Context, tx *wtx) error { return s.addEvent(ctx, tx, eventStatus, "", raw) })
	if err != nil {
		return fmt.Errorf("queueing status webhook event: %w", err)
	}
	return nil
}

// appendStatusEvent decodes the status event seq of the outbox into p.
func appendStatusEvent(p *chat.WebhookPayload, seq int64, data string) error {
	var e chat.StatusEvent
	if err := json.Unmarshal([]byte(data), &e); err != nil {
		return fmt.Errorf("decoding webhook event %d: %w", seq, err)
	}
	p.Status = append(p.Status, e)
	return nil
}
