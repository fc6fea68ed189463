package store

import (
	"context"
	"errors"
	"testing"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// UpdateMessage rewrites one entry's data in place: the change shows in Message and in the
// journal's listing, the entry keeps its id, number and time, and an unknown id is ErrNotFound.
func TestUpdateMessage(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		const alice = "17472822486@c.us"
		first := appendAt(t, s, alice, 1, 1000)
		second := appendAt(t, s, alice, 2, 1010)
		id := "false_" + alice + "_3EB0000000000000000001"
		err := s.UpdateMessage(ctx, id, func(m *chat.Message) {
			m.Body, m.Edited = "new text", true
			m.ID, m.MessageNumber, m.Time = "changed", 99, 1 // ignored
		})
		if err != nil {
			t.Fatalf("UpdateMessage: %v", err)
		}
		got, err := s.Message(ctx, id)
		if err != nil {
			t.Fatalf("Message: %v", err)
		}
		if got.Body != "new text" || !got.Edited || got.MessageNumber != first || got.Time != 1000 || got.ID != id {
			t.Errorf("updated message = %+v", got)
		}
		msgs, err := s.FindMessages(ctx, MessageQuery{ChatID: alice, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 || msgs[0].Body != "new text" || msgs[1].Body != "2" || msgs[1].MessageNumber != second {
			t.Errorf("journal after update = %+v", msgs)
		}
		err = s.UpdateMessage(ctx, "false_"+alice+"_3EB0FFFFFFFFFFFFFFFFFF", func(m *chat.Message) { m.Revoked = true })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateMessage of an unknown id: %v, want ErrNotFound", err)
		}
	})
}
