package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
)

func bodies(t *testing.T, s *Store, at time.Time) []string {
	t.Helper()
	items, err := s.Due(context.Background(), at, 100)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, it := range items {
		out = append(out, it.Body)
	}
	return out
}

func mustEnqueue(t *testing.T, s *Store, to chat.ID, body string) Item {
	t.Helper()
	it, err := s.Enqueue(context.Background(), NewItem{Payload: queue.Text{}, Chat: to, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func wantDue(t *testing.T, s *Store, at time.Time, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := bodies(t, s, at); !reflect.DeepEqual(got, want) {
		t.Fatalf("Due = %q, want %q", got, want)
	}
}

func TestDueIsOrderedPerChat(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		a, b := person(t, "17472822486"), person(t, "4915112345678")
		a1 := mustEnqueue(t, s, a, "a1")
		mustEnqueue(t, s, b, "b1")
		mustEnqueue(t, s, a, "a2")
		now := time.Now()
		wantDue(t, s, now, "a1", "b1", "a2")

		// While a1 is being sent, a2 waits; b1 does not.
		if err := s.MarkSending(ctx, a1.QueueNumber); err != nil {
			t.Fatal(err)
		}
		wantDue(t, s, now, "b1")

		// a1 failed for now: it backs off, a2 keeps waiting behind it, b1 goes on.
		if err := s.Retry(ctx, a1.QueueNumber, "server busy"); err != nil {
			t.Fatal(err)
		}
		wantDue(t, s, time.Now(), "b1")
		it, _ := s.QueueItem(ctx, a1.QueueNumber)
		if it.Attempts != 1 || it.Reason != "server busy" || it.NextTry.Before(now.Add(FirstRetry/2)) ||
			it.NextTry.After(time.Now().Add(FirstRetry)) {
			t.Fatalf("after Retry: %+v", it)
		}
		w := it.Wire()
		if w.Attempts != 1 || w.LastError != "server busy" || w.NextTry != it.NextTry.UnixMilli() {
			t.Fatalf("wire form %+v", w)
		}
		next, ok, err := s.NextRetry(ctx, time.Now())
		if err != nil || !ok || !next.Equal(it.NextTry.Truncate(time.Millisecond)) {
			t.Fatalf("NextRetry = %v %v %v, want %v", next, ok, err, it.NextTry)
		}
		wantDue(t, s, it.NextTry, "a1", "b1", "a2")

		// Failing for good unblocks the chat at once.
		if err := s.MarkSending(ctx, a1.QueueNumber); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkFailed(ctx, a1.QueueNumber, "not on WhatsApp"); err != nil {
			t.Fatal(err)
		}
		wantDue(t, s, time.Now(), "b1", "a2")
		if _, ok, _ := s.NextRetry(ctx, time.Now()); ok {
			t.Fatal("NextRetry with nothing backing off")
		}
	})
}

func TestPostponeDoesNotCountTheAttempt(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		it := mustEnqueue(t, s, person(t, "17472822486"), "x")
		_ = s.MarkSending(ctx, it.QueueNumber)
		if err := s.Postpone(ctx, it.QueueNumber, "websocket not connected"); err != nil {
			t.Fatal(err)
		}
		got, _ := s.QueueItem(ctx, it.QueueNumber)
		if got.State != StateQueued || got.Attempts != 0 || !got.NextTry.IsZero() {
			t.Fatalf("after Postpone: %+v", got)
		}
		wantDue(t, s, time.Now(), "x")
	})
}

func TestGroupCreationsAreEachTheirOwn(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		g1, _ := s.Enqueue(ctx, NewItem{Payload: queue.Group{GroupName: "one"}, Body: "one"})
		_, _ = s.Enqueue(ctx, NewItem{Payload: queue.Group{GroupName: "two"}, Body: "two"})
		_ = s.MarkSending(ctx, g1.QueueNumber)
		if err := s.RecordResult(ctx, g1.QueueNumber, "120363000000000009@g.us"); err != nil {
			t.Fatal(err)
		}
		wantDue(t, s, time.Now(), "two")
		if err := s.Retry(ctx, g1.QueueNumber, "first message failed"); err != nil {
			t.Fatal(err)
		}
		got, _ := s.QueueItem(ctx, g1.QueueNumber)
		if got.Result != "120363000000000009@g.us" {
			t.Fatalf("the recorded group is lost: %+v", got)
		}
	})
}

func TestRetryDelayBacksOff(t *testing.T) {
	for _, c := range []struct {
		attempts int
		max      time.Duration
	}{{1, FirstRetry}, {2, 2 * FirstRetry}, {4, 8 * FirstRetry}, {9, MaxRetry}, {1000, MaxRetry}} {
		for range 50 {
			if d := RetryDelay(c.attempts); d < c.max/2 || d > c.max {
				t.Fatalf("RetryDelay(%d) = %v, want within [%v, %v]", c.attempts, d, c.max/2, c.max)
			}
		}
	}
}

func TestQueueCaps(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			opts := b.opts(t)
			opts.MaxQueueItems, opts.MaxQueueBytes = 3, 10
			s := open(t, opts)
			to := person(t, "17472822486")
			file := func(name string, size int) (Item, error) {
				return s.Enqueue(ctx, NewItem{Chat: to, Body: name,
					Payload: queue.File{File: "outgoing/" + name, FileName: name, Size: size}})
			}
			if _, err := file("a.bin", 6); err != nil {
				t.Fatal(err)
			}
			if _, err := file("b.bin", 6); !errors.Is(err, ErrQueueTooLarge) {
				t.Fatalf("over the byte cap: %v", err)
			}
			first := mustEnqueue(t, s, to, "t1")
			mustEnqueue(t, s, to, "t2")
			if _, err := s.Enqueue(ctx, NewItem{Payload: queue.Text{}, Chat: to, Body: "t3"}); !errors.Is(err, ErrQueueFull) {
				t.Fatalf("over the item cap: %v", err)
			}
			if items, bytes, _ := s.QueueUsage(ctx); items != 3 || bytes != 6 {
				t.Fatalf("usage %d items %d bytes, want 3 and 6", items, bytes)
			}
			// A finished item frees its place.
			_ = s.MarkSending(ctx, first.QueueNumber)
			if err := s.MarkSent(ctx, first.QueueNumber, "", nil); err != nil {
				t.Fatal(err)
			}
			mustEnqueue(t, s, to, "t3")
			cl, err := s.ClearQueue(ctx)
			if err != nil || cl.Count != 3 || !reflect.DeepEqual(cl.Files, []string{"outgoing/a.bin"}) {
				t.Fatalf("ClearQueue = %+v %v", cl, err)
			}
			if items, bytes, _ := s.QueueUsage(ctx); items != 0 || bytes != 0 {
				t.Fatalf("usage after clear %d items %d bytes", items, bytes)
			}
			if _, err := file("b.bin", 10); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Rows written by a build before the scheduling migration are counted, due and decoded.
func TestQueueRowsOfTheFirstSchemaStillWork(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			opts := b.opts(t)
			all := migrations
			migrations = all[:1]
			old, err := Open(ctx, opts)
			migrations = all
			if err != nil {
				t.Fatal(err)
			}
			rows := []struct{ kind, chatID, meta string }{
				{KindText, "17472822486@c.us", `{}`},
				{KindFile, "17472822486@c.us", `{"file":"outgoing/x.pdf","fileName":"x.pdf","mimeType":"application/pdf","mediaType":"document","size":5}`},
				{KindGroup, "", `{"groupName":"G","participants":["17472822486@c.us"]}`},
			}
			for i, r := range rows {
				_, err := old.DB().ExecContext(ctx, `INSERT INTO mo_queue (queue_number, message_id, wa_id, chat_id, kind, body,
					metadata, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8)`,
					i+1, fmt.Sprint("id", i), fmt.Sprint("WA", i), r.chatID, r.kind, "b", r.meta, time.Now().UnixMilli())
				if err != nil {
					t.Fatal(err)
				}
			}
			_, _ = old.DB().ExecContext(ctx, `UPDATE mo_counters SET value = 3 WHERE name = 'queue'`)
			_ = old.Close()
			s := open(t, opts)
			if items, _, _ := s.QueueUsage(ctx); items != 3 {
				t.Fatalf("migrated usage %d items, want 3", items)
			}
			due, err := s.Due(ctx, time.Now(), 10)
			if err != nil || len(due) != 3 {
				t.Fatalf("Due = %+v %v", due, err)
			}
			for _, want := range []queue.Payload{queue.Text{}, queue.File{File: "outgoing/x.pdf", FileName: "x.pdf",
				MimeType: "application/pdf", MediaType: "document", Size: 5}} {
				it, _ := s.QueueItem(ctx, map[string]int64{KindText: 1, KindFile: 2}[want.Kind()])
				if p, err := it.Payload(); err != nil || !reflect.DeepEqual(p, want) {
					t.Fatalf("payload %#v %v, want %#v", p, err, want)
				}
			}
		})
	}
}
