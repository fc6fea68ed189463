package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/engine"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

// failOutcomes makes every "sent" outcome fail in the database itself (a trigger, while the
// table test_fail_outcomes holds a row) until the returned function is called.
func (h *harness) failOutcomes() (stop func()) {
	h.t.Helper()
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS test_fail_outcomes (x INTEGER)`,
		`CREATE TRIGGER IF NOT EXISTS test_fail_outcomes BEFORE UPDATE OF state ON mo_queue
			WHEN NEW.state = 'sent' AND EXISTS (SELECT 1 FROM test_fail_outcomes)
			BEGIN SELECT RAISE(ABORT, 'injected: the outcome cannot be written'); END`,
		`INSERT INTO test_fail_outcomes VALUES (1)`,
	} {
		if _, err := h.store.DB().Exec(q); err != nil {
			h.t.Fatal(err)
		}
	}
	return func() {
		if _, err := h.store.DB().Exec(`DELETE FROM test_fail_outcomes`); err != nil {
			h.t.Fatal(err)
		}
	}
}

// enqueueTexts queues n texts to Bob and returns them in queue order.
func (h *harness) enqueueTexts(prefix string, n int) []store.Item {
	h.t.Helper()
	var items []store.Item
	for i := range n {
		it, err := h.store.Enqueue(context.Background(), store.NewItem{Payload: queue.Text{}, Chat: bob,
			Body: fmt.Sprintf("%s %02d", prefix, i)})
		if err != nil {
			h.t.Fatal(err)
		}
		items = append(items, it)
	}
	h.eng.WakeQueue()
	return items
}

// phoneMessages returns Bob's phone's messages by WhatsApp id once all items arrived, checking that
// they arrived in queue order.
func (h *harness) phoneMessages(items []store.Item) map[string]sandbox.PhoneMessage {
	return h.phoneMessagesAtLeast(items, len(items))
}

// phoneMessagesAtLeast is phoneMessages returning once at least n of the items arrived.
func (h *harness) phoneMessagesAtLeast(items []store.Item, n int) map[string]sandbox.PhoneMessage {
	h.t.Helper()
	want := map[string]int{}
	for i, it := range items {
		want[it.WAID] = i
	}
	var got map[string]sandbox.PhoneMessage
	deadline := time.Now().Add(waitFor)
	for {
		var out struct{ Messages []sandbox.PhoneMessage }
		h.admin("GET", "/sandbox/phones/15550002222/messages", nil, &out)
		got = map[string]sandbox.PhoneMessage{}
		last := -1
		for _, m := range out.Messages {
			i, ok := want[m.ID]
			if !ok {
				continue
			}
			if i < last {
				h.t.Fatalf("message %q arrived after %q", m.Body, items[last].Body)
			}
			last = i
			got[m.ID] = m
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("Bob's phone has %d of %d messages", len(got), len(items))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkJournal checks that each item was journaled exactly once, numbered in queue order, and that
// every item is sent.
func (h *harness) checkJournal(items []store.Item) {
	h.t.Helper()
	ctx := context.Background()
	msgs, err := h.store.Messages(ctx, 0, 10000)
	if err != nil {
		h.t.Fatal(err)
	}
	count := map[string]int{}
	number := map[string]int64{}
	for _, m := range msgs {
		count[m.ID]++
		number[m.ID] = m.MessageNumber
	}
	for i, it := range items {
		if count[it.MessageID] != 1 {
			h.t.Fatalf("journal holds %q %d times, want once", it.Body, count[it.MessageID])
		}
		if i > 0 && number[it.MessageID] <= number[items[i-1].MessageID] {
			h.t.Fatalf("journal numbers %q before %q", it.Body, items[i-1].Body)
		}
		got, err := h.store.QueueItem(ctx, it.QueueNumber)
		if err != nil || got.State != store.StateSent {
			h.t.Fatalf("queue item %q: %+v %v, want sent", it.Body, got, err)
		}
	}
}

// waitSent waits until every item is sent.
func (h *harness) waitSent(items []store.Item) {
	h.t.Helper()
	for _, it := range items {
		if _, err := h.store.WaitFinished(contextFor(h.t), it.QueueNumber); err != nil {
			h.t.Fatalf("waiting for %q: %v", it.Body, err)
		}
	}
}

func contextFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// An outcome that cannot be written is neither lost nor doubled: while the store refuses it the
// item stays "sending", nothing is recorded sent and its chat waits behind it (the drainer never
// runs more than its in-flight window ahead of an unrecorded outcome); once the store takes writes
// again every outcome is recorded once, the journal holds each message once in queue order, the
// phone got them in order and none twice.
func TestPipelinedDrainSurvivesFailedOutcomes(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.pair()
	resume := h.failOutcomes()
	items := h.enqueueTexts("pipelined", 20)
	h.phoneMessagesAtLeast(items, 1)
	for _, it := range items {
		if st, err := h.store.QueueItem(context.Background(), it.QueueNumber); err != nil || st.State == store.StateSent {
			t.Fatalf("while outcomes fail, %q is %+v %v", it.Body, st, err)
		}
	}
	resume()
	h.waitSent(items)
	h.checkJournal(items)
	for _, it := range h.phoneMessages(items) {
		if it.Copies != 1 {
			t.Fatalf("%q reached the phone %d times", it.Body, it.Copies)
		}
	}
}

// Many sends in one chat go out in queue order, each recorded once, with the drainer sending the
// next one before the previous outcome committed.
func TestPipelinedDrainKeepsChatOrder(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.pair()
	items := h.enqueueTexts("ordered", 60)
	h.waitSent(items)
	h.checkJournal(items)
	for _, it := range h.phoneMessages(items) {
		if it.Copies != 1 {
			t.Fatalf("%q reached the phone %d times", it.Body, it.Copies)
		}
	}
}

// A crash after a send and before its outcome committed (here: the engine stops while no outcome
// can be written, which leaves the store as kill -9 would) sends it again at the next start with
// the same WhatsApp id: the phone shows each message once (and counts the second copy), the
// journal holds each once.
func TestCrashBeforeOutcomeCommitResendsSameID(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir)
	h.pair()
	resume := h.failOutcomes()
	items := h.enqueueTexts("crash", 10)
	h.phoneMessagesAtLeast(items, 1)
	h.shutdown()                               // the outcomes of the sends so far never committed
	before := h.phoneMessagesAtLeast(items, 1) // what was sent before the "crash"
	h.start(dir)
	resume()
	h.waitStatus(func(s account.Status) bool { return s.AccountStatus == account.StatusAuthenticated })
	h.eng.WakeQueue()
	h.waitSent(items)
	h.checkJournal(items)
	got := h.phoneMessages(items)
	for _, it := range items {
		want := 1
		if _, ok := before[it.WAID]; ok {
			want = 2 // sent before the crash and again after it
		}
		if got[it.WAID].Copies != want {
			t.Fatalf("%q arrived %d times, want %d (shown once)", it.Body, got[it.WAID].Copies, want)
		}
	}
}

// A data directory of an older version keeps whatsmeow's tables in the store's file: they move
// into whatsmeow's own file, the paired device with them, and leave the store's file.
func TestWhatsmeowTablesMoveToTheirOwnFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	old := sqlstore.NewWithDB(st.DB(), "sqlite", waLog.Noop)
	if err := old.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	dev := old.NewDevice()
	jid := types.NewADJID("15550001111", 0, 3)
	dev.ID, dev.PushName = &jid, "Old layout"
	dev.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte("details"), AccountSignature: make([]byte, 64),
		AccountSignatureKey: make([]byte, 32), DeviceSignature: make([]byte, 64)}
	if err := dev.Save(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 { // the second start finds nothing to move
		st, err = store.Open(ctx, store.Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		md, err := media.Open(filepath.Join(dir, "media"), "token")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := engine.New(ctx, engine.Options{Store: st, Media: md}); err != nil {
			t.Fatal(err)
		}
		var left int
		if err := st.DB().QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'whatsmeow%'`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Fatalf("%d whatsmeow tables left in the store's file", left)
		}
		db, dialect := st.WhatsmeowDB()
		moved, err := sqlstore.NewWithDB(db, dialect, waLog.Noop).GetFirstDevice(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if moved.ID == nil || *moved.ID != jid || moved.PushName != "Old layout" ||
			moved.IdentityKey == nil || *moved.IdentityKey.Pub != *dev.IdentityKey.Pub {
			t.Fatalf("device after the move: %+v", moved)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
