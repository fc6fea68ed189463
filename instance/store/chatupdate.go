package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
)

// eventChatUpdate is the outbox kind of a group change (the webhook's chatUpdate list).
const eventChatUpdate = "chatUpdate"

// QueueView selects the queue items ListQueueView and ClearQueueView see.
type QueueView int

// Queue views.
const (
	// AllItems is every item.
	AllItems QueueView = iota
	// MessageItems are the sends (GET /showMessagesQueue).
	MessageItems
	// ActionItems are the queued actions such as group changes (GET /showActionsQueue).
	ActionItems
)

// where is the SQL condition of the view, to append to a WHERE clause. The kinds are constants of
// package queue, so they are written into the query as literals.
func (v QueueView) where() string {
	if v == AllItems {
		return ""
	}
	kinds := queue.ActionKinds()
	for i, k := range kinds {
		kinds[i] = "'" + strings.ReplaceAll(k, "'", "''") + "'"
	}
	op := " NOT IN "
	if v == ActionItems {
		op = " IN "
	}
	return " AND kind" + op + "(" + strings.Join(kinds, ", ") + ")"
}

// actionID is the id an action item has in place of a message id: action_<WAID>.
func actionID(waID string) string { return "action_" + waID }

// ackType is the kind of an action item for its acks ("" for messages, whose acks have no type).
func ackType(it Item) string {
	if queue.IsAction(it.Kind) {
		return it.Kind
	}
	return ""
}

// actionResult is what an action item produced, for its sent ack ("" for messages).
func actionResult(it Item) string {
	if queue.IsAction(it.Kind) {
		return it.Result
	}
	return ""
}

// AddChatUpdates puts group changes in the event log and, when a webhook is set, the webhook outbox,
// when chatUpdateOn is on (nothing otherwise).
func (s *Store) AddChatUpdates(ctx context.Context, updates []chat.ChatUpdate) error {
	st := s.Settings()
	if !st.ChatUpdates || len(updates) == 0 {
		return nil
	}
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		for _, u := range updates {
			raw, err := json.Marshal(u)
			if err != nil {
				return fmt.Errorf("encoding chat update: %w", err)
			}
			if err := s.addEvent(ctx, tx, eventChatUpdate, "", raw); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("add chat updates: %w", err)
	}
	return nil
}

// decodeChatUpdate adds a stored chatUpdate event to a payload.
func decodeChatUpdate(p *chat.WebhookPayload, seq int64, data string) error {
	var u chat.ChatUpdate
	if err := json.Unmarshal([]byte(data), &u); err != nil {
		return fmt.Errorf("decoding webhook event %d: %w", seq, err)
	}
	p.ChatUpdate = append(p.ChatUpdate, u)
	return nil
}
