package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/engine"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

const waitFor = 60 * time.Second

type harness struct {
	t     *testing.T
	sb    *sandbox.Server
	store *store.Store
	media *media.Dir
	eng   *engine.Engine
	stop  context.CancelFunc
	done  chan struct{}
}

// admin calls the sandbox admin API and decodes the answer.
func (h *harness) admin(method, path string, body, out any) {
	h.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, h.sb.URL()+path, bytes.NewReader(raw))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		h.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		_ = json.Unmarshal(data, out)
	}
}

func newHarness(t *testing.T, dir string) *harness { return newHarnessWith(t, dir, sandbox.Options{}) }

func newHarnessWith(t *testing.T, dir string, opts sandbox.Options) *harness {
	t.Helper()
	opts.Listen = "127.0.0.1:0"
	sb, err := sandbox.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	h := &harness{t: t, sb: sb}
	h.admin("POST", "/sandbox/phones", map[string]string{"phone": "15550001111", "name": "Instance"}, nil)
	h.admin("POST", "/sandbox/phones", map[string]string{"phone": "15550002222", "name": "Bob"}, nil)
	h.start(dir)
	return h
}

// start opens the store and runs an engine on it (again, after stop: a restart).
func (h *harness) start(dir string) {
	h.t.Helper()
	ctx := context.Background()
	var err error
	if h.store, err = store.Open(ctx, store.Options{DataDir: dir}); err != nil {
		h.t.Fatal(err)
	}
	if h.media, err = media.Open(dir+"/media", "token"); err != nil {
		h.t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if h.eng, err = engine.New(ctx, engine.Options{Store: h.store, Media: h.media, NetworkURL: h.sb.URL(), Logger: logger}); err != nil {
		h.t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	h.stop, h.done = cancel, make(chan struct{})
	go func() { defer close(h.done); _ = h.eng.Run(runCtx) }()
	h.t.Cleanup(h.shutdown)
}

func (h *harness) shutdown() {
	if h.stop == nil {
		return
	}
	h.stop()
	<-h.done
	_ = h.store.Close()
	h.stop = nil
}

func (h *harness) waitStatus(ok func(account.Status) bool) account.Status {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if st := h.eng.Status(); ok(st) {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("status never matched; last %+v", h.eng.Status())
	return account.Status{}
}

// pair scans the engine's current QR with the instance's phone.
func (h *harness) pair() {
	h.t.Helper()
	st := h.waitStatus(func(s account.Status) bool { return s.AccountStatus == account.StatusGotQRCode })
	if !st.Sandbox || st.QR == "" {
		h.t.Fatalf("status %+v", st)
	}
	h.admin("POST", "/sandbox/phones/15550001111/scan", map[string]string{"qr": st.QR}, nil)
	h.waitStatus(func(s account.Status) bool { return s.AccountStatus == account.StatusAuthenticated })
}

func (h *harness) waitJournal(ok func(chat.Message) bool) chat.Message {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		msgs, err := h.store.Messages(context.Background(), 0, 1000)
		if err != nil {
			h.t.Fatal(err)
		}
		for _, m := range msgs {
			if ok(m) {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	msgs, _ := h.store.Messages(context.Background(), 0, 1000)
	h.t.Fatalf("journal never got the expected message; it has %+v", msgs)
	return chat.Message{}
}

func (h *harness) waitPhone(phone string, ok func(sandbox.PhoneMessage) bool) sandbox.PhoneMessage {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		var out struct{ Messages []sandbox.PhoneMessage }
		h.admin("GET", "/sandbox/phones/"+phone+"/messages", nil, &out)
		for _, m := range out.Messages {
			if ok(m) {
				return m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("phone %s never got the expected message", phone)
	return sandbox.PhoneMessage{}
}

func (h *harness) ackOf(waID string) string {
	var ack string
	_ = h.store.DB().QueryRow(`SELECT ack FROM mo_queue WHERE wa_id = $1`, waID).Scan(&ack)
	return ack
}

func (h *harness) waitAck(waID, want string) {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if h.ackOf(waID) == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("ack of %s is %q, want %q", waID, h.ackOf(waID), want)
}

var bob = chat.ID{Kind: chat.Person, User: "15550002222"}

func TestEngineSendsReceivesAndAcks(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.pair()
	ctx := context.Background()

	it, err := h.store.Enqueue(ctx, store.NewItem{Payload: queue.Text{}, Chat: bob, Body: "hello bob"})
	if err != nil {
		t.Fatal(err)
	}
	h.eng.WakeQueue()
	got := h.waitPhone("15550002222", func(m sandbox.PhoneMessage) bool { return m.ID == it.WAID })
	if got.Body != "hello bob" {
		t.Fatalf("bob got %+v", got)
	}
	sent := h.waitJournal(func(m chat.Message) bool { return m.ID == it.MessageID })
	if !sent.FromMe || sent.ChatID != "15550002222@c.us" || sent.Type != chat.TypeChat {
		t.Fatalf("journal entry %+v", sent)
	}
	h.waitAck(it.WAID, chat.AckDelivered)
	h.admin("POST", "/sandbox/phones/15550002222/read", map[string]any{"ids": []string{it.WAID}}, nil)
	h.waitAck(it.WAID, chat.AckViewed)

	var reply sandbox.PhoneMessage
	h.admin("POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": "hi instance"}, &reply)
	in := h.waitJournal(func(m chat.Message) bool { return m.Body == "hi instance" })
	if in.FromMe || in.ChatID != "15550002222@c.us" || in.Author != "15550002222@c.us" || in.SenderName != "Bob" ||
		in.ID != "false_15550002222@c.us_"+reply.ID || in.MessageNumber <= sent.MessageNumber {
		t.Fatalf("incoming journal entry %+v", in)
	}

	// A number that is not on WhatsApp fails for good, with a reason.
	bad, _ := h.store.Enqueue(ctx, store.NewItem{Payload: queue.Text{}, Chat: chat.ID{Kind: chat.Person, User: "15559999999"}, Body: "x"})
	h.eng.WakeQueue()
	wctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	done, err := h.store.WaitFinished(wctx, bad.QueueNumber)
	if err != nil || done.State != store.StateFailed || done.Reason == "" {
		t.Fatalf("send to unknown number: %+v %v", done, err)
	}

	me, err := h.eng.Me(ctx)
	if err != nil || me.ID != "15550001111@c.us" {
		t.Fatalf("me %+v %v", me, err)
	}
}

func TestEngineQueueSurvivesRestartAndDrainsOnLogin(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir)
	h.pair()
	h.shutdown()

	// Queue while the engine is down (as the API does during a restart), then start again.
	st, err := store.Open(context.Background(), store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var items []store.Item
	for _, body := range []string{"first", "second", "third"} {
		it, err := st.Enqueue(context.Background(), store.NewItem{Payload: queue.Text{}, Chat: bob, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	_ = st.Close()
	h.start(dir)
	h.waitStatus(func(s account.Status) bool { return s.AccountStatus == account.StatusAuthenticated })
	for _, it := range items {
		h.waitPhone("15550002222", func(m sandbox.PhoneMessage) bool { return m.ID == it.WAID })
	}
	var out struct{ Messages []sandbox.PhoneMessage }
	h.admin("GET", "/sandbox/phones/15550002222/messages", nil, &out)
	var order []string
	for _, m := range out.Messages {
		order = append(order, m.Body)
	}
	if len(order) != 3 || order[0] != "first" || order[1] != "second" || order[2] != "third" {
		t.Fatalf("bob received %v, want first, second, third exactly once each", order)
	}
}

func TestEngineRemoteLogoutGivesNewQR(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.pair()
	h.admin("POST", "/sandbox/faults", map[string]string{"phone": "15550001111", "kind": "logout"}, nil)
	st := h.waitStatus(func(s account.Status) bool { return s.AccountStatus == account.StatusGotQRCode })
	if st.Substatus != account.SubstatusLoggedOut {
		t.Fatalf("after a remote logout: %+v", st)
	}
	h.pair()
	// And an explicit logout also leads to a fresh QR.
	if err := h.eng.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(func(s account.Status) bool { return s.AccountStatus == account.StatusGotQRCode })
}

func TestEngineReportsFaults(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.pair()
	fault := func(kind string) {
		h.admin("POST", "/sandbox/faults", map[string]any{"phone": "15550001111", "kind": kind, "seconds": 600}, nil)
	}
	fault("replaced")
	h.waitStatus(func(s account.Status) bool { return s.Substatus == account.SubstatusConflict })
	fault("ban")
	_ = h.eng.Reboot(context.Background())
	h.waitStatus(func(s account.Status) bool { return s.Substatus == account.SubstatusBanned })
	fault("clear")
	fault("outdated")
	_ = h.eng.Reboot(context.Background())
	h.waitStatus(func(s account.Status) bool { return s.Substatus == account.SubstatusOutdated })
	fault("clear")
	_ = h.eng.Reboot(context.Background())
	h.waitStatus(func(s account.Status) bool { return s.AccountStatus == account.StatusAuthenticated })
	fault("disconnect")
	h.waitStatus(func(s account.Status) bool { return s.AccountStatus != account.StatusAuthenticated })
	h.waitStatus(func(s account.Status) bool { return s.AccountStatus == account.StatusAuthenticated })
}

// An expired QR code is replaced by a new pairing attempt, never left dead.
func TestEngineReplacesExpiredQR(t *testing.T) {
	h := newHarnessWith(t, t.TempDir(), sandbox.Options{QRCodes: 1}) // whatsmeow gives up after 20 s
	first := h.waitStatus(func(s account.Status) bool { return s.AccountStatus == account.StatusGotQRCode })
	second := h.waitStatus(func(s account.Status) bool {
		return s.AccountStatus == account.StatusGotQRCode && s.QR != first.QR
	})
	raw, _ := json.Marshal(map[string]string{"qr": first.QR})
	resp, err := http.Post(h.sb.URL()+"/sandbox/phones/15550001111/scan", "application/json", bytes.NewReader(raw))
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("scanning the expired QR: %v %v", resp, err)
	}
	resp.Body.Close()
	h.admin("POST", "/sandbox/phones/15550001111/scan", map[string]string{"qr": second.QR}, nil)
	h.waitStatus(func(s account.Status) bool { return s.AccountStatus == account.StatusAuthenticated })
}
