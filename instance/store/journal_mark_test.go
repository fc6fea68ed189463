package store

import (
	"context"
	"testing"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// MarkMessage changes an entry in place, keeps what identifies it, and reports unknown ids.
func TestMarkMessage(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		const id = "false_17472822486@c.us_3EB0000000000000000001"
		in, _, err := s.AppendMessage(ctx, chat.Message{ID: id, Type: chat.TypeChat, Body: "helo", Time: 1000})
		if err != nil {
			t.Fatal(err)
		}
		found, err := s.MarkMessage(ctx, id, func(m *chat.Message) {
			m.Body, m.Edited = "hello", true
			m.ID, m.Type, m.MessageNumber = "other", chat.TypeRevoked, 99 // not changeable
		})
		if err != nil || !found {
			t.Fatalf("MarkMessage = %v, %v", found, err)
		}
		got, err := s.Message(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Body != "hello" || !got.Edited || got.Type != chat.TypeChat || got.MessageNumber != in.MessageNumber || got.Time != 1000 {
			t.Fatalf("marked message = %+v", got)
		}
		if msgs, _ := s.Messages(ctx, 0, 10); len(msgs) != 1 || msgs[0].Body != "hello" {
			t.Fatalf("journal = %+v", msgs)
		}
		found, err = s.MarkMessage(ctx, "false_17472822486@c.us_3EB0000000000000000002", func(m *chat.Message) { m.Revoked = true })
		if err != nil || found {
			t.Fatalf("MarkMessage of an unknown id = %v, %v", found, err)
		}
	})
}
