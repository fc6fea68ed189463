package store

import (
	"context"
	"testing"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// MarkMessage rewrites one entry's data in place: the change shows in Message and in the
// journal's listing, the entry keeps its id, number and time, and an unknown id is not found.
func TestMarkMessageInTheListing(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		const alice = "17472822486@c.us"
		first := appendAt(t, s, alice, 1, 1000)
		second := appendAt(t, s, alice, 2, 1010)
		id := "false_" + alice + "_3EB0000000000000000001"
		found, err := s.MarkMessage(ctx, id, func(m *chat.Message) {
			m.Body, m.Edited = "new text", true
			m.ID, m.MessageNumber, m.Time, m.FromMe = "changed", 99, 1, true // ignored
		})
		if err != nil || !found {
			t.Fatalf("MarkMessage: %v, %v", found, err)
		}
		got, err := s.Message(ctx, id)
		if err != nil {
			t.Fatalf("Message: %v", err)
		}
		if got.Body != "new text" || !got.Edited || got.MessageNumber != first || got.Time != 1000 || got.ID != id || got.FromMe {
			t.Errorf("updated message = %+v", got)
		}
		msgs, err := s.FindMessages(ctx, MessageQuery{ChatID: alice, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 || msgs[0].Body != "new text" || msgs[1].Body != "2" || msgs[1].MessageNumber != second {
			t.Errorf("journal after update = %+v", msgs)
		}
		found, err = s.MarkMessage(ctx, "false_"+alice+"_3EB0FFFFFFFFFFFFFFFFFF", func(m *chat.Message) { m.Revoked = true })
		if found || err != nil {
			t.Errorf("MarkMessage of an unknown id: %v, %v; want not found", found, err)
		}
	})
}
