package store

import (
	"context"
	"errors"
	"testing"

	"github.com/messenger-operator/messenger-operator/instance/queue"
)

// PendingItem finds a send by the message id it will have while it is queued or sending, and no
// longer once it is sent.
func TestPendingItem(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		it, err := s.Enqueue(ctx, NewItem{Chat: person(t, "17472822486"), Body: "hi", Payload: queue.Text{}})
		if err != nil {
			t.Fatal(err)
		}
		check := func(when string, found bool) {
			t.Helper()
			got, err := s.PendingItem(ctx, it.MessageID)
			if found && (err != nil || got.QueueNumber != it.QueueNumber) {
				t.Errorf("%s: %+v %v", when, got, err)
			}
			if !found && !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: %+v %v, want ErrNotFound", when, got, err)
			}
		}
		check("queued", true)
		if err := s.MarkSending(ctx, it.QueueNumber); err != nil {
			t.Fatal(err)
		}
		check("sending", true)
		if err := s.MarkSent(ctx, it.QueueNumber, "", nil); err != nil {
			t.Fatal(err)
		}
		check("sent", false)
		if _, err := s.PendingItem(ctx, "true_17472822486@c.us_3EB0FFFFFFFFFFFFFFFFFF"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown id: %v", err)
		}
	})
}
