package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
	"github.com/messenger-operator/messenger-operator/internal/testpg"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// backend opens a store; reopen opens a second one on the same database (a restart).
type backend struct {
	name string
	opts func(t *testing.T) Options
}

var backends = []backend{
	{"sqlite", func(t *testing.T) Options { return Options{DataDir: t.TempDir()} }},
	{"postgres", func(t *testing.T) Options { return Options{Database: testpg.Shared(t).NewDatabase(t)} }},
}

// each runs f on every backend with a fresh store.
func each(t *testing.T, f func(t *testing.T, s *Store, opts Options)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			opts := b.opts(t)
			s := open(t, opts)
			f(t, s, opts)
		})
	}
}

func open(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func person(t *testing.T, phone string) chat.ID {
	t.Helper()
	id, err := chat.ParsePhone(phone)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestEnqueueIsDurableAndOrdered(t *testing.T) {
	each(t, func(t *testing.T, s *Store, opts Options) {
		ctx := context.Background()
		var want []string
		for i := range 5 {
			it, err := s.Enqueue(ctx, NewItem{Payload: queue.Text{}, Chat: person(t, "17472822486"), Body: fmt.Sprint("m", i)})
			if err != nil {
				t.Fatal(err)
			}
			if it.QueueNumber != int64(i+1) {
				t.Fatalf("queue number %d, want %d", it.QueueNumber, i+1)
			}
			want = append(want, it.MessageID)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s2 := open(t, opts)
		total, items, err := s2.ListQueue(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if total != 5 || len(items) != 5 {
			t.Fatalf("after reopen: total %d items %d, want 5", total, len(items))
		}
		for i, it := range items {
			if it.MessageID != want[i] || it.Body != fmt.Sprint("m", i) || it.ChatID != "17472822486@c.us" {
				t.Errorf("item %d = %+v", i, it)
			}
		}
		// Numbers are never reused, even after a clear.
		cl, err := s2.ClearQueue(ctx)
		n, ex := cl.Count, cl.Examples
		if err != nil || n != 5 || len(ex) != 5 || ex[0] != "m0" {
			t.Fatalf("ClearQueue = %d %v %v", n, ex, err)
		}
		it, err := s2.Enqueue(ctx, NewItem{Payload: queue.Text{}, Chat: person(t, "17472822486"), Body: "x"})
		if err != nil || it.QueueNumber != 6 {
			t.Fatalf("after clear: %d %v, want 6", it.QueueNumber, err)
		}
	})
}

func TestConcurrentEnqueueGetsDistinctNumbers(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		const n = 200
		var wg sync.WaitGroup
		got := make(chan int64, n)
		for i := range n {
			wg.Go(func() {
				it, err := s.Enqueue(ctx, NewItem{Payload: queue.Text{}, Chat: person(t, "4915112345678"), Body: fmt.Sprint(i)})
				if err != nil {
					t.Error(err)
					return
				}
				got <- it.QueueNumber
			})
		}
		wg.Wait()
		close(got)
		seen := map[int64]bool{}
		for qn := range got {
			if seen[qn] || qn < 1 || qn > n {
				t.Fatalf("queue number %d repeated or out of range", qn)
			}
			seen[qn] = true
		}
		if len(seen) != n {
			t.Fatalf("%d numbers, want %d", len(seen), n)
		}
		commits, reqs := s.Stats()
		t.Logf("%d requests in %d commits", reqs, commits)
	})
}

func TestSendLifecycleAndCrashRecovery(t *testing.T) {
	each(t, func(t *testing.T, s *Store, opts Options) {
		ctx := context.Background()
		if err := s.SetWebhookURL(ctx, "https://example.invalid/hook"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAckNotifications(ctx, true); err != nil {
			t.Fatal(err)
		}
		a, _ := s.Enqueue(ctx, NewItem{Payload: queue.Text{}, Chat: person(t, "17472822486"), Body: "first"})
		b, _ := s.Enqueue(ctx, NewItem{Payload: queue.Text{}, Chat: person(t, "17472822486"), Body: "second"})
		if err := s.MarkSending(ctx, a.QueueNumber); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSending(ctx, a.QueueNumber); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second MarkSending: %v, want ErrNotFound", err)
		}
		// Crash while sending: a restart requeues it with the same WhatsApp id.
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = open(t, opts)
		pending, err := s.Due(ctx, time.Now(), 10)
		if err != nil || len(pending) != 2 || pending[0].WAID != a.WAID || pending[0].Attempts != 1 {
			t.Fatalf("Pending after restart = %+v %v", pending, err)
		}
		if err := s.MarkSending(ctx, a.QueueNumber); err != nil {
			t.Fatal(err)
		}
		msg := &chat.Message{Body: "first", Type: chat.TypeChat, ChatID: a.ChatID, Time: 1700000000}
		if err := s.MarkSent(ctx, a.QueueNumber, "", msg); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSent(ctx, a.QueueNumber, "", msg); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second MarkSent: %v", err)
		}
		if err := s.MarkSending(ctx, b.QueueNumber); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkFailed(ctx, b.QueueNumber, "not on WhatsApp"); err != nil {
			t.Fatal(err)
		}
		for _, st := range []string{chat.AckDelivered, chat.AckViewed, chat.AckDelivered} {
			if _, err := s.RecordAck(ctx, a.WAID, st); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := s.RecordAck(ctx, "3EB0UNKNOWN", chat.AckDelivered); ok || err != nil {
			t.Fatalf("unknown ack recorded: %v %v", ok, err)
		}
		msgs, err := s.Messages(ctx, 0, 100)
		if err != nil || len(msgs) != 1 || msgs[0].ID != a.MessageID || !msgs[0].FromMe || msgs[0].MessageNumber != 1 {
			t.Fatalf("journal = %+v %v", msgs, err)
		}
		total, _, _ := s.ListQueue(ctx, 10)
		if total != 0 {
			t.Fatalf("queue total %d after sent+failed, want 0", total)
		}
		fb, _ := s.QueueItem(ctx, b.QueueNumber)
		if fb.State != StateFailed || fb.Reason != "not on WhatsApp" {
			t.Fatalf("failed item = %+v", fb)
		}
		if n, err := s.PruneQueue(ctx, time.Now().Add(-time.Hour)); n != 0 || err != nil {
			t.Fatalf("PruneQueue(an hour ago) = %d %v", n, err)
		}
		defer func() {
			// Finished items go; the journal keeps the message.
			if n, err := s.PruneQueue(ctx, time.Now().Add(time.Second)); n != 2 || err != nil {
				t.Errorf("PruneQueue(now) = %d %v", n, err)
			}
			if msgs, _ := s.Messages(ctx, 0, 10); len(msgs) != 1 {
				t.Errorf("journal after prune: %d messages", len(msgs))
			}
		}()
		p := formAll(t, s)
		var statuses []string
		for _, ack := range p.Ack {
			statuses = append(statuses, ack.Status)
		}
		if fmt.Sprint(statuses) != "[sent failed delivered viewed]" || len(p.Messages) != 1 {
			t.Fatalf("webhook acks %v messages %d", statuses, len(p.Messages))
		}
		if p.Ack[0].QueueNumber != a.QueueNumber || p.Ack[0].ID != a.MessageID || p.Ack[1].Reason == "" {
			t.Fatalf("acks = %+v", p.Ack)
		}
	})
}

// formAll forms one batch of every pending webhook event, records it delivered and decodes it.
func formAll(t *testing.T, s *Store) chat.WebhookPayload {
	t.Helper()
	ctx := context.Background()
	b := formOneBatch(t, s)
	var p chat.WebhookPayload
	if err := json.Unmarshal(b.Body, &p); err != nil {
		t.Fatal(err)
	}
	if err := s.BatchesDelivered(ctx, []Delivery{{Seq: b.Seq, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAcksTurnedOffBeforeDeliveryAreDropped(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		_ = s.SetWebhookURL(ctx, "https://example.invalid/hook")
		_ = s.SetAckNotifications(ctx, true)
		it, _ := s.Enqueue(ctx, NewItem{Payload: queue.Text{}, Chat: person(t, "17472822486"), Body: "hi"})
		_ = s.MarkSending(ctx, it.QueueNumber)
		if err := s.MarkFailed(ctx, it.QueueNumber, "x"); err != nil {
			t.Fatal(err)
		}
		_ = s.SetAckNotifications(ctx, false)
		n, err := s.FormBatches(ctx, formation(100, 8, time.Now(), func() string { return "id" }))
		if err != nil || n != 0 {
			t.Fatalf("FormBatches = %d %v, want no batch", n, err)
		}
		if events, batches, _, _ := s.OutboxStats(ctx); events != 0 || batches != 0 {
			t.Fatalf("outbox: %d events %d batches", events, batches)
		}
	})
}

func TestAcksOnlyWhenEnabled(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		if err := s.SetWebhookURL(ctx, "https://example.invalid/hook"); err != nil {
			t.Fatal(err)
		}
		it, _ := s.Enqueue(ctx, NewItem{Payload: queue.Text{}, Chat: person(t, "17472822486"), Body: "hi"})
		_ = s.MarkSending(ctx, it.QueueNumber)
		if err := s.MarkSent(ctx, it.QueueNumber, "", &chat.Message{Type: chat.TypeChat, Body: "hi"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordAck(ctx, it.WAID, chat.AckDelivered); err != nil {
			t.Fatal(err)
		}
		p := formAll(t, s)
		if len(p.Ack) != 0 || len(p.Messages) != 1 {
			t.Fatalf("acks %d messages %d, want 0 and 1", len(p.Ack), len(p.Messages))
		}
	})
}

func TestJournalPagingIsExact(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		const n = 250
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				m := chat.Message{ID: fmt.Sprintf("false_17472822486@c.us_3EB0%018d", i), Type: chat.TypeChat,
					Body: fmt.Sprint(i), Author: "17472822486@c.us"}
				if _, added, err := s.AppendMessage(ctx, m); err != nil || !added {
					t.Errorf("AppendMessage: %v %v", added, err)
				}
			})
		}
		wg.Wait()
		// A redelivered message keeps its number.
		dup, added, err := s.AppendMessage(ctx, chat.Message{ID: "false_17472822486@c.us_3EB0000000000000000007", Type: "chat"})
		if err != nil || added || dup.Body != "7" {
			t.Fatalf("duplicate append = %+v %v %v", dup, added, err)
		}
		var last int64
		seen := 0
		for {
			page, err := s.Messages(ctx, last, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, m := range page {
				if m.MessageNumber != last+1 {
					t.Fatalf("message number %d after %d", m.MessageNumber, last)
				}
				last = m.MessageNumber
				seen++
			}
		}
		if seen != n {
			t.Fatalf("paged %d messages, want %d", seen, n)
		}
		tail, err := s.LastMessages(ctx, 100)
		if err != nil || len(tail) != 100 || tail[0].MessageNumber != n-99 || tail[99].MessageNumber != n {
			t.Fatalf("LastMessages = %d items %v", len(tail), err)
		}
		if ln, _ := s.LastMessageNumber(ctx); ln != n {
			t.Fatalf("LastMessageNumber %d", ln)
		}
		if _, _, err := s.AppendMessage(ctx, chat.Message{ID: "nonsense"}); err == nil {
			t.Fatal("bad message id accepted")
		}
	})
}

func TestGroupCommitSharesTransactions(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		// Hold the writer inside a transaction until all 64 enqueues wait for it, so that the test
		// does not depend on how the goroutines happen to be scheduled.
		started, release := make(chan struct{}), make(chan struct{})
		held := make(chan error, 1)
		go func() {
			held <- s.write(ctx, func(context.Context, *wtx) error {
				close(started)
				<-release
				return nil
			})
		}()
		<-started
		commits0, reqs0 := s.Stats()
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Go(func() {
				_, err := s.Enqueue(ctx, NewItem{Payload: queue.Text{}, Chat: person(t, "17472822486"), Body: fmt.Sprint(i)})
				if err != nil {
					t.Error(err)
				}
			})
		}
		testenv.Eventually(t, "64 enqueues waiting for the writer", func() error {
			if n := len(s.writes); n < 64 {
				return fmt.Errorf("%d waiting", n)
			}
			return nil
		})
		close(release)
		wg.Wait()
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		commits, reqs := s.Stats()
		commits, reqs = commits-commits0, reqs-reqs0
		if reqs < 65 {
			t.Fatalf("%d requests counted", reqs)
		}
		if commits >= reqs {
			t.Fatalf("%d requests took %d commits: none shared a transaction", reqs, commits)
		}
		t.Logf("64 concurrent enqueues (and the held request) took %d commits", commits)
	})
}

func TestBadRequestDoesNotSpoilTheBatch(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 40 {
			wg.Go(func() {
				if i%4 == 0 {
					errs <- s.MarkSending(ctx, 99999) // fails inside the shared transaction
					return
				}
				_, err := s.Enqueue(ctx, NewItem{Payload: queue.Text{}, Chat: person(t, "17472822486"), Body: "x"})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		failed := 0
		for err := range errs {
			if err != nil {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("unexpected error %v", err)
				}
				failed++
			}
		}
		total, _, _ := s.ListQueue(ctx, 1)
		if failed != 10 || total != 30 {
			t.Fatalf("failed %d (want 10), queued %d (want 30)", failed, total)
		}
	})
}

func TestWaitFinished(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		it, _ := s.Enqueue(ctx, NewItem{Payload: queue.Group{GroupName: "Browsers", Participants: []string{"17472822486@c.us"}}, Body: "Browsers"})
		go func() {
			_ = s.MarkSending(ctx, it.QueueNumber)
			_ = s.MarkSent(ctx, it.QueueNumber, "120363000000000001@g.us", nil)
		}()
		done, err := s.WaitFinished(ctx, it.QueueNumber)
		if err != nil || done.Result != "120363000000000001@g.us" || done.State != StateSent ||
			done.MessageID != "true_120363000000000001@g.us_"+it.WAID || done.ChatID != "120363000000000001@g.us" {
			t.Fatalf("WaitFinished = %+v %v", done, err)
		}
		bad, _ := s.Enqueue(ctx, NewItem{Payload: queue.Group{GroupName: "x"}, Body: "x"})
		_ = s.MarkSending(ctx, bad.QueueNumber)
		if err := s.MarkSent(ctx, bad.QueueNumber, "not-a-group", nil); err == nil {
			t.Fatal("group item marked sent without a group chat id")
		}
		short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		other, _ := s.Enqueue(ctx, NewItem{Payload: queue.Text{}, Chat: person(t, "17472822486"), Body: "x"})
		if _, err := s.WaitFinished(short, other.QueueNumber); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitFinished on a queued item: %v", err)
		}
	})
}

func TestMigrationsAreIdempotentAndVersioned(t *testing.T) {
	each(t, func(t *testing.T, s *Store, opts Options) {
		_ = s.Close()
		s = open(t, opts)
		var n, max int
		if err := s.DB().QueryRow(`SELECT COUNT(*), MAX(version) FROM mo_schema_migrations`).Scan(&n, &max); err != nil {
			t.Fatal(err)
		}
		if n != SchemaVersion() || max != SchemaVersion() {
			t.Fatalf("migrations table: %d rows, max %d", n, max)
		}
	})
}

func TestSettingsPersist(t *testing.T) {
	each(t, func(t *testing.T, s *Store, opts Options) {
		ctx := context.Background()
		if err := s.SetWebhookURL(ctx, "https://example.com/h"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAckNotifications(ctx, true); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		s = open(t, opts)
		if st := s.Settings(); st.WebhookURL != "https://example.com/h" || !st.AckNotifications {
			t.Fatalf("settings after reopen = %+v", st)
		}
	})
}

func TestDataSourceErrors(t *testing.T) {
	for _, o := range []Options{{}, {Database: "mysql://x"}, {Database: "sqlite:"}} {
		if _, err := Open(context.Background(), o); err == nil {
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
	if got := redactDSN("postgres://u:secret@h/db"); got != "postgres://u:xxxxx@h/db" {
		t.Errorf("redactDSN = %q", got)
	}
}
