package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
)

// formation forms up to maxBatches batches of up to maxEvents events, bodies as plain JSON.
func formation(maxEvents, maxBatches int, now time.Time, newID func() string) Formation {
	return Formation{MaxEvents: maxEvents, MaxBatches: maxBatches, Now: now, NewID: newID,
		Payload: func(p chat.WebhookPayload) ([]byte, error) { return json.Marshal(p) }}
}

// formOneBatch forms one batch of every pending event and returns it.
func formOneBatch(t *testing.T, s *Store) Batch {
	t.Helper()
	ctx := context.Background()
	n, err := s.FormBatches(ctx, formation(1000, 1, time.Now(), func() string { return fmt.Sprint("msg_", time.Now().UnixNano()) }))
	if err != nil || n != 1 {
		t.Fatalf("FormBatches = %v %v", n, err)
	}
	o, err := s.NextBatch(ctx, time.Now(), false, nil)
	if err != nil || o.Due == nil {
		t.Fatalf("NextBatch = %+v %v", o, err)
	}
	return *o.Due
}

func decode(t *testing.T, b Batch) chat.WebhookPayload {
	t.Helper()
	var p chat.WebhookPayload
	if err := json.Unmarshal(b.Body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func appendN(t *testing.T, s *Store, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		m := chat.Message{ID: fmt.Sprintf("false_17472822486@c.us_3EB0%018d", i), Type: chat.TypeChat}
		if _, _, err := s.AppendMessage(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOutboxBatchesAndRetries(t *testing.T) {
	each(t, func(t *testing.T, s *Store, opts Options) {
		ctx := context.Background()
		if err := s.SetWebhookURL(ctx, "https://example.invalid/hook"); err != nil {
			t.Fatal(err)
		}
		appendN(t, s, 0, 5)
		select {
		case <-s.WebhookWake():
		default:
			t.Fatal("no webhook wake-up after events were committed")
		}
		now := time.UnixMilli(1_700_000_000_000)
		ids := 0
		newID := func() string { ids++; return fmt.Sprint("msg_", ids-1) }
		if n, err := s.FormBatches(ctx, formation(2, 2, now, newID)); n != 2 || err != nil {
			t.Fatalf("FormBatches = %d %v", n, err)
		}
		if n, err := s.FormBatches(ctx, formation(2, 5, now, newID)); n != 1 || err != nil {
			t.Fatalf("FormBatches = %d %v", n, err)
		}
		if n, err := s.FormBatches(ctx, formation(2, 5, now, newID)); n != 0 || err != nil {
			t.Fatalf("FormBatches on empty outbox = %v %v", n, err)
		}
		o, _ := s.NextBatch(ctx, now, false, nil)
		if o.Due == nil || o.Due.ID != "msg_0" || o.Due.Events != 2 || !o.Fresh || !o.NextAt.IsZero() {
			t.Fatalf("next = %+v", o)
		}
		first := o.Due.Seq
		if err := s.BatchFailed(ctx, first, now, now.Add(time.Minute), "503", false); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		s = open(t, opts)
		// The failed batch waits for its next attempt; the next one is due meanwhile.
		o, _ = s.NextBatch(ctx, now, false, nil)
		if o.Due == nil || o.Due.ID != "msg_1" || !o.NextAt.Equal(now.Add(time.Minute)) {
			t.Fatalf("next after a failure = %+v", o)
		}
		b, _ := s.Batch(ctx, first)
		if b.ID != "msg_0" || b.Attempts != 1 || !b.LastAttempt.Equal(now) || b.LastError != "503" {
			t.Fatalf("failed batch after restart = %+v", b)
		}
		later := now.Add(time.Minute)
		o, _ = s.NextBatch(ctx, later, false, nil)
		if o.Due == nil || o.Due.ID != "msg_0" {
			t.Fatalf("next once due = %+v", o)
		}
		// Fresh first (probing a receiver that seems down), and skipping unrecorded deliveries.
		o, _ = s.NextBatch(ctx, later, true, nil)
		if o.Due == nil || o.Due.ID != "msg_1" {
			t.Fatalf("next fresh = %+v", o)
		}
		o, _ = s.NextBatch(ctx, later, true, map[int64]bool{o.Due.Seq: true})
		if o.Due == nil || o.Due.ID != "msg_2" {
			t.Fatalf("next fresh after msg_1 = %+v", o)
		}
		if err := s.BatchFailed(ctx, first, later, later, "gone", true); err != nil {
			t.Fatal(err)
		}
		o, _ = s.NextBatch(ctx, later, false, nil)
		if o.Due == nil || o.Due.ID != "msg_1" {
			t.Fatalf("next after dead = %+v", o)
		}
		if err := s.BatchesDelivered(ctx, []Delivery{{Seq: o.Due.Seq, At: later}}); err != nil {
			t.Fatal(err)
		}
		events, batches, dead, err := s.OutboxStats(ctx)
		if err != nil || events != 0 || batches != 1 || dead != 1 {
			t.Fatalf("OutboxStats = %d %d %d %v", events, batches, dead, err)
		}
		// RetryNow brings a failed batch forward.
		o, _ = s.NextBatch(ctx, later, false, nil)
		if err := s.BatchFailed(ctx, o.Due.Seq, later, later.Add(time.Hour), "503", false); err != nil {
			t.Fatal(err)
		}
		if o, _ := s.NextBatch(ctx, later, false, nil); o.Due != nil {
			t.Fatalf("due before RetryNow: %+v", o.Due)
		}
		if err := s.RetryNow(ctx, []int64{o.Due.Seq}, later); err != nil {
			t.Fatal(err)
		}
		if o2, _ := s.NextBatch(ctx, later, false, nil); o2.Due == nil || o2.Due.Seq != o.Due.Seq {
			t.Fatalf("due after RetryNow: %+v", o2.Due)
		}
	})
}

// A receipt that arrives while the send is still "sending" must not be overtaken by its "sent"
// ack, and nothing moves an ack backwards afterwards, not even once the queue item is pruned.
func TestAcksNeverGoBackwards(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		_ = s.SetWebhookURL(ctx, "https://example.invalid/hook")
		_ = s.SetAckNotifications(ctx, true)
		it, _ := s.Enqueue(ctx, NewItem{Chat: person(t, "17472822486"), Body: "hi", Payload: queue.Text{}})
		if err := s.MarkSending(ctx, it.QueueNumber); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.RecordAck(ctx, it.WAID, chat.AckDelivered); !ok || err != nil {
			t.Fatalf("RecordAck while sending = %v %v", ok, err)
		}
		if err := s.MarkSent(ctx, it.QueueNumber, "", &chat.Message{Type: chat.TypeChat, Body: "hi"}); err != nil {
			t.Fatal(err)
		}
		p := formAll(t, s)
		if len(p.Messages) != 1 || len(p.Ack) != 1 || p.Ack[0].Status != chat.AckDelivered || p.Ack[0].ID != it.MessageID {
			t.Fatalf("payload after a receipt while sending = %+v", p)
		}
		for _, st := range []string{chat.AckDelivered, chat.AckViewed, chat.AckDelivered, chat.AckSent} {
			if _, err := s.RecordAck(ctx, it.WAID, st); err != nil {
				t.Fatal(err)
			}
		}
		// The queue item goes; the journal remembers "viewed".
		if n, err := s.PruneQueue(ctx, time.Now().Add(time.Second)); n != 1 || err != nil {
			t.Fatalf("PruneQueue = %d %v", n, err)
		}
		for _, st := range []string{chat.AckDelivered, chat.AckViewed} {
			if ok, err := s.RecordAck(ctx, it.WAID, st); ok || err != nil {
				t.Fatalf("RecordAck(%s) after prune = %v %v, want ignored", st, ok, err)
			}
		}
		p = formAll(t, s)
		if len(p.Ack) != 1 || p.Ack[0].Status != chat.AckViewed || p.Ack[0].QueueNumber != it.QueueNumber {
			t.Fatalf("later acks = %+v", p.Ack)
		}
		if events, _, _, _ := s.OutboxStats(ctx); events != 0 {
			t.Fatalf("%d events left", events)
		}
	})
}

// Events about a message carried by a batch not yet delivered wait for it; others go ahead.
// GET /webhookStatus's query lists the batches of a message.
func TestEventsWaitForTheirMessagesBatch(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		_ = s.SetWebhookURL(ctx, "https://example.invalid/hook")
		_ = s.SetAckNotifications(ctx, true)
		now := time.UnixMilli(1_700_000_000_000)
		ids := 0
		newID := func() string { ids++; return fmt.Sprint("msg_", ids-1) }
		a, _ := s.Enqueue(ctx, NewItem{Chat: person(t, "17472822486"), Body: "a", Payload: queue.Text{}})
		_ = s.MarkSending(ctx, a.QueueNumber)
		if err := s.MarkSent(ctx, a.QueueNumber, "", &chat.Message{Type: chat.TypeChat, Body: "a"}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.FormBatches(ctx, formation(100, 8, now, newID)); n != 1 || err != nil {
			t.Fatalf("FormBatches = %d %v", n, err)
		}
		o, _ := s.NextBatch(ctx, now, false, nil)
		first := *o.Due
		if err := s.BatchFailed(ctx, first.Seq, now, now.Add(time.Hour), "HTTP 500", false); err != nil {
			t.Fatal(err)
		}
		// While batch msg_0 (a's message and "sent") is retried: a's "delivered" waits, b goes.
		if _, err := s.RecordAck(ctx, a.WAID, chat.AckDelivered); err != nil {
			t.Fatal(err)
		}
		appendN(t, s, 0, 1)
		if n, err := s.FormBatches(ctx, formation(100, 8, now, newID)); n != 1 || err != nil {
			t.Fatalf("FormBatches while msg_0 is retried = %d %v", n, err)
		}
		o, _ = s.NextBatch(ctx, now, false, nil)
		if p := decode(t, *o.Due); len(p.Messages) != 1 || p.Messages[0].FromMe || len(p.Ack) != 0 {
			t.Fatalf("batch while msg_0 is retried = %+v", p)
		}
		second := *o.Due
		if err := s.BatchesDelivered(ctx, []Delivery{{Seq: second.Seq, At: now}}); err != nil {
			t.Fatal(err)
		}
		pending, batches, err := s.WebhookStatus(ctx, a.MessageID)
		if err != nil || pending != 1 || len(batches) != 1 || batches[0].ID != "msg_0" || batches[0].Attempts != 1 ||
			batches[0].LastError != "HTTP 500" || !batches[0].NextAttempt.Equal(now.Add(time.Hour)) ||
			!batches[0].DeliveredAt.IsZero() || len(batches[0].Body) != 0 {
			t.Fatalf("WebhookStatus(a) = %d %+v %v", pending, batches, err)
		}
		// msg_0 delivered: a's "delivered" forms the next batch.
		if n, err := s.FormBatches(ctx, Formation{Delivered: []Delivery{{Seq: first.Seq, At: now.Add(time.Hour)}},
			MaxEvents: 100, MaxBatches: 8, Now: now, NewID: newID, Payload: formation(0, 0, now, nil).Payload}); n != 1 || err != nil {
			t.Fatalf("FormBatches after msg_0 = %d %v", n, err)
		}
		o, _ = s.NextBatch(ctx, now, false, nil)
		if p := decode(t, *o.Due); len(p.Ack) != 1 || p.Ack[0].Status != chat.AckDelivered {
			t.Fatalf("batch after msg_0 = %+v", p)
		}
		pending, batches, _ = s.WebhookStatus(ctx, a.MessageID)
		if pending != 0 || len(batches) != 2 || !batches[0].DeliveredAt.Equal(now.Add(time.Hour)) || !batches[1].DeliveredAt.IsZero() {
			t.Fatalf("WebhookStatus(a) after delivery = %d %+v", pending, batches)
		}
		// Delivered batches are forgotten after the retention; undelivered ones stay.
		if _, err := s.FormBatches(ctx, Formation{MaxEvents: 1, MaxBatches: 1, Now: now,
			PruneBefore: now.Add(time.Hour + time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
		if _, batches, _ = s.WebhookStatus(ctx, a.MessageID); len(batches) != 1 || batches[0].Seq != o.Due.Seq {
			t.Fatalf("WebhookStatus(a) after pruning = %+v", batches)
		}
		if _, err := s.Batch(ctx, second.Seq); err == nil {
			t.Fatal("pruned batch still there")
		}
	})
}
