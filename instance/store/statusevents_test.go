package store

import (
	"context"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// Status events go to the webhook outbox only when a webhook URL is set, and come out in the
// payload's status list in order, beside the messages of the same batch.
func TestStatusEventsInWebhookBatches(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		lost := chat.StatusEvent{AccountStatus: "loading", Substatus: "connecting", Message: "disconnected", Time: 1}
		if err := s.AddStatusEvent(ctx, lost); err != nil {
			t.Fatal(err)
		}
		if events, _, _, err := s.OutboxStats(ctx); err != nil || events != 0 {
			t.Fatalf("status event queued without a webhook URL: %d events (%v)", events, err)
		}
		if err := s.SetWebhookURL(ctx, "https://example.invalid/hook"); err != nil {
			t.Fatal(err)
		}
		back := chat.StatusEvent{AccountStatus: "authenticated", Substatus: "connected", Time: 2}
		if err := s.AddStatusEvent(ctx, lost); err != nil {
			t.Fatal(err)
		}
		appendN(t, s, 0, 1)
		if err := s.AddStatusEvent(ctx, back); err != nil {
			t.Fatal(err)
		}
		first := formOneBatch(t, s)
		p := decode(t, first)
		if len(p.Status) != 2 || p.Status[0] != lost || p.Status[1] != back || len(p.Messages) != 1 {
			t.Errorf("payload status %+v messages %d, want the two changes in order and the message", p.Status, len(p.Messages))
		}
		// A batch of status events alone is formed too.
		if err := s.BatchesDelivered(ctx, []Delivery{{Seq: first.Seq, At: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddStatusEvent(ctx, lost); err != nil {
			t.Fatal(err)
		}
		if p := decode(t, formOneBatch(t, s)); len(p.Status) != 1 || len(p.Messages) != 0 {
			t.Errorf("status-only payload %+v", p)
		}
	})
}
