package store

import (
	"context"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
)

func TestPacingSettingsAndHistoryPersist(t *testing.T) {
	each(t, func(t *testing.T, s *Store, opts Options) {
		ctx := context.Background()
		want := Settings{WebhookURL: "https://example.com/h?token=x", ChatUpdates: true, IgnoreOldMessages: true,
			SendDelay: 1500 * time.Millisecond, SendJitter: 250 * time.Millisecond, DailyLimit: 40}
		got, err := s.UpdateSettings(ctx, "api", func(st *Settings) { *st = want })
		if err != nil || got != want {
			t.Fatalf("UpdateSettings = %+v, %v", got, err)
		}
		if _, err := s.UpdateSettings(ctx, "spec", func(st *Settings) { st.DailyLimit = 40 }); err != nil {
			t.Fatal(err) // no change: no history entry
		}
		if err := s.AddHistory(ctx, HistoryEntry{Kind: HistoryStatus, AccountStatus: "authenticated", Substatus: "connected"}); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		s = open(t, opts)
		if st := s.Settings(); st != want {
			t.Fatalf("settings after reopen = %+v, want %+v", st, want)
		}
		h, err := s.History(ctx, 10)
		if err != nil || len(h) != 2 {
			t.Fatalf("history = %+v, %v", h, err)
		}
		if h[0].Kind != HistoryStatus || h[0].AccountStatus != "authenticated" || h[1].Kind != HistorySettings || h[1].By != "api" {
			t.Fatalf("history (newest first) = %+v", h)
		}
		if u := h[1].Settings["webhook_url"]; u != "set" || h[1].Settings["daily_limit"] != "40" {
			t.Fatalf("settings entry %+v: the webhook URL must show as set, never itself", h[1].Settings)
		}
	})
}

func TestHistoryKeepsTheNewest(t *testing.T) {
	s := open(t, Options{DataDir: t.TempDir()})
	ctx := context.Background()
	for i := range historyKept + 5 {
		if err := s.AddHistory(ctx, HistoryEntry{Kind: HistoryStatus, Message: string(rune('a' + i%26))}); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := s.DB().QueryRow(`SELECT COUNT(*) FROM mo_history`).Scan(&n); err != nil || n != historyKept {
		t.Fatalf("%d entries kept (%v), want %d", n, err, historyKept)
	}
	if h, _ := s.History(ctx, 1); h[0].Seq != historyKept+5 {
		t.Fatalf("newest = %+v", h[0])
	}
}

func TestSendsAreCountedPerDay(t *testing.T) {
	each(t, func(t *testing.T, s *Store, opts Options) {
		ctx := context.Background()
		for i := range 3 {
			it, err := s.Enqueue(ctx, NewItem{Chat: person(t, "15550002222"), Body: "hi", Payload: queue.Text{}})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.MarkSending(ctx, it.QueueNumber); err != nil {
				t.Fatal(err)
			}
			if i == 2 { // a failure does not count
				err = s.MarkFailed(ctx, it.QueueNumber, "no")
			} else {
				err = s.MarkSent(ctx, it.QueueNumber, "", &chat.Message{ID: it.MessageID, Type: chat.TypeChat, FromMe: true})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.SentOn(ctx, time.Now()); err != nil || n != 2 {
			t.Fatalf("sent today = %d, %v; want 2", n, err)
		}
		if n, _ := s.SentOn(ctx, time.Now().AddDate(0, 0, -1)); n != 0 {
			t.Fatalf("sent yesterday = %d", n)
		}
	})
}
