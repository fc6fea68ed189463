package sandbox_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

func text(s string) *waE2E.Message { return &waE2E.Message{Conversation: proto.String(s)} }

// Two linked clients of different accounts talk directly to each other.
func TestTwoClientsWithReceipts(t *testing.T) {
	n, alice, bob := aliceAndBob(t)
	ctx := context.Background()

	resp, err := alice.cli.SendMessage(ctx, types.NewJID("15550002222", types.DefaultUserServer), text("ping"))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	in := waitEvent(bob, func(m *events.Message) bool { return m.Info.ID == resp.ID })
	if in.Message.GetConversation() != "ping" || in.Info.SenderAlt.User != "15550001111" {
		t.Fatalf("bob got %+v / %v", in.Info, in.Message)
	}
	waitEvent(alice, func(r *events.Receipt) bool { return r.MessageIDs[0] == resp.ID && r.Type != types.ReceiptTypeRead })
	if err := bob.cli.MarkRead(ctx, []types.MessageID{in.Info.ID}, in.Info.Timestamp, in.Info.Chat, in.Info.Sender); err != nil {
		t.Fatalf("mark read: %v", err)
	}
	waitEvent(alice, func(r *events.Receipt) bool { return r.MessageIDs[0] == resp.ID && r.Type == types.ReceiptTypeRead })

	reply, err := bob.cli.SendMessage(ctx, in.Info.Chat, text("pong"))
	if err != nil {
		t.Fatalf("reply: %v", err)
	}
	waitEvent(alice, func(m *events.Message) bool { return m.Info.ID == reply.ID && m.Message.GetConversation() == "pong" })
	// Both phones saw the conversation too: device-sent copies and received messages.
	n.waitPhoneMessage("15550002222", func(m phoneMessage) bool { return m.ID == resp.ID && !m.FromMe })
	n.waitPhoneMessage("15550001111", func(m phoneMessage) bool { return m.ID == resp.ID && m.FromMe })

	// Every message, receipt and notification was acknowledged: no device has anything queued.
	for _, phone := range []string{"15550001111", "15550002222"} {
		deadline := time.Now().Add(waitFor)
		for {
			var info sandbox.PhoneInfo
			n.mustCall("GET", "/sandbox/phones/"+phone, nil, &info)
			total := 0
			for _, q := range info.Queued {
				total += q
			}
			if total == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("phone %s still has queued nodes: %v", phone, info.Queued)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func TestGroupCreateAndMessage(t *testing.T) {
	n := startSandbox(t)
	n.addPhone("15550001111", "Alice")
	n.addPhone("15550002222", "Bob")
	n.addPhone("15550003333", "Carol")
	alice, bob := newClient(t, n), newClient(t, n)
	alice.pair(n, "15550001111")
	bob.pair(n, "15550002222")
	ctx := context.Background()

	info, err := alice.cli.CreateGroup(ctx, whatsmeow.ReqCreateGroup{Name: "Browsers", Participants: []types.JID{
		types.NewJID("15550002222", types.DefaultUserServer), types.NewJID("15550003333", types.DefaultUserServer),
	}})
	if err != nil {
		t.Fatalf("create group: %v", err)
	}
	if info.Name != "Browsers" || len(info.Participants) != 3 {
		t.Fatalf("group info %+v", info)
	}
	joined := waitEvent(bob, func(e *events.JoinedGroup) bool { return e.JID == info.JID })
	if joined.Name != "Browsers" {
		t.Fatalf("joined %+v", joined.GroupInfo)
	}
	resp, err := alice.cli.SendMessage(ctx, info.JID, text("Safari is the new IE"))
	if err != nil {
		t.Fatalf("group send: %v", err)
	}
	// The sender-key distribution arrives as its own event with the same id; wait for the text.
	got := waitEvent(bob, func(m *events.Message) bool { return m.Info.ID == resp.ID && m.Message.GetConversation() != "" })
	if !got.Info.IsGroup || got.Info.Chat != info.JID || got.Message.GetConversation() != "Safari is the new IE" {
		t.Fatalf("bob got %+v %v", got.Info, got.Message)
	}
	n.waitPhoneMessage("15550003333", func(m phoneMessage) bool { return m.ID == resp.ID && m.Body == "Safari is the new IE" })

	// A phone answers in the group; both clients decrypt it (sender keys from device 0).
	var sent phoneMessage
	n.mustCall("POST", "/sandbox/phones/15550003333/messages", map[string]string{"to": info.JID.String(), "body": "agreed"}, &sent)
	waitEvent(alice, func(m *events.Message) bool { return m.Info.ID == sent.ID && m.Message.GetConversation() == "agreed" })
	waitEvent(bob, func(m *events.Message) bool { return m.Info.ID == sent.ID && m.Message.GetConversation() == "agreed" })
}

func TestImageUploadAndDownload(t *testing.T) {
	n, alice, bob := aliceAndBob(t)
	ctx := context.Background()

	img := bytes.Repeat([]byte("\x89PNG fake image bytes "), 4000)
	up, err := alice.cli.Upload(ctx, img, whatsmeow.MediaImage)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	resp, err := alice.cli.SendMessage(ctx, types.NewJID("15550002222", types.DefaultUserServer), &waE2E.Message{
		ImageMessage: &waE2E.ImageMessage{URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey,
			Mimetype: proto.String("image/png"), FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256,
			FileLength: &up.FileLength, Caption: proto.String("cover")},
	})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	got := waitEvent(bob, func(m *events.Message) bool { return m.Info.ID == resp.ID })
	data, err := bob.cli.Download(ctx, got.Message.GetImageMessage())
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	if !bytes.Equal(data, img) || got.Message.GetImageMessage().GetCaption() != "cover" {
		t.Fatalf("downloaded %d bytes, want %d", len(data), len(img))
	}
	// Bob's phone downloads it as well and reports its hash.
	sum := sha256.Sum256(img)
	n.waitPhoneMessage("15550002222", func(m phoneMessage) bool {
		return m.ID == resp.ID && m.Media != nil && m.Media.SHA256 == hex.EncodeToString(sum[:])
	})

	// And a phone sends a document the client can open.
	doc := []byte("%PDF-1.4 a document")
	var sent phoneMessage
	n.mustCall("POST", "/sandbox/phones/15550001111/messages", map[string]any{"to": "15550002222", "body": "the doc",
		"media": map[string]string{"data": base64.StdEncoding.EncodeToString(doc), "mimetype": "application/pdf", "fileName": "a.pdf"}}, &sent)
	in := waitEvent(bob, func(m *events.Message) bool { return m.Info.ID == sent.ID })
	docData, err := bob.cli.Download(ctx, in.Message.GetDocumentMessage())
	if err != nil || !bytes.Equal(docData, doc) || in.Message.GetDocumentMessage().GetFileName() != "a.pdf" {
		t.Fatalf("document: %v %q", err, docData)
	}
}

func TestOfflineMessagesDeliveredOnLogin(t *testing.T) {
	n := startSandbox(t)
	n.addPhone("15550001111", "Alice")
	n.addPhone("15550002222", "Bob")
	alice := newClient(t, n)
	alice.pair(n, "15550001111")
	alice.cli.Disconnect()

	var ids []string
	for _, body := range []string{"one", "two", "three"} {
		var sent phoneMessage
		n.mustCall("POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": body}, &sent)
		ids = append(ids, sent.ID)
	}
	if err := alice.cli.Connect(); err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	for i, id := range ids {
		m := waitEvent(alice, func(m *events.Message) bool { return m.Info.ID == id })
		if m.Message.GetConversation() != []string{"one", "two", "three"}[i] {
			t.Fatalf("message %d: %v", i, m.Message)
		}
	}
	waitEvent[*events.OfflineSyncCompleted](alice, nil)
}

func TestFaultsReachTheClient(t *testing.T) {
	n := startSandbox(t)
	n.addPhone("15550001111", "Alice")
	c := newClient(t, n)
	c.pair(n, "15550001111")
	fault := func(kind string, extra map[string]any) {
		body := map[string]any{"phone": "15550001111", "kind": kind}
		for k, v := range extra {
			body[k] = v
		}
		n.mustCall("POST", "/sandbox/faults", body, nil)
	}

	mark := c.mark()
	fault("disconnect", nil)
	waitEventSince[*events.Disconnected](c, mark, nil)
	waitEventSince[*events.Connected](c, mark, nil) // reconnected by itself

	fault("replaced", nil)
	waitEvent[*events.StreamReplaced](c, nil)

	c.cli.Disconnect()
	if err := c.cli.Connect(); err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	fault("ban", map[string]any{"seconds": 120})
	ban := waitEvent[*events.TemporaryBan](c, nil)
	if ban.Code != events.TempBanSentToTooManyPeople || ban.Expire <= 0 {
		t.Fatalf("ban %+v", ban)
	}
	fault("clear", nil)
	fault("outdated", nil)
	c.cli.Disconnect()
	if err := c.cli.Connect(); err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	waitEvent[*events.ClientOutdated](c, nil)
	fault("clear", nil)

	c.cli.Disconnect()
	mark = c.mark()
	if err := c.cli.Connect(); err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	waitEventSince[*events.Connected](c, mark, nil)
	fault("logout", nil)
	out := waitEvent[*events.LoggedOut](c, nil)
	if out.OnConnect {
		t.Fatalf("logout while connected should not be OnConnect: %+v", out)
	}
}

func TestLogoutThenRepairWithFreshDevice(t *testing.T) {
	n := startSandbox(t)
	n.addPhone("15550001111", "Alice")
	n.addPhone("15550002222", "Bob")
	first := newClient(t, n)
	first.pair(n, "15550001111")
	firstID := *first.cli.Store.ID
	if err := first.cli.Logout(context.Background()); err != nil {
		t.Fatalf("logout: %v", err)
	}
	var info struct{ Devices []string }
	n.mustCall("GET", "/sandbox/phones/15550001111", nil, &info)
	if len(info.Devices) != 1 {
		t.Fatalf("after logout the account should have only the phone, has %v", info.Devices)
	}

	second := newClient(t, n)
	second.pair(n, "15550001111")
	if *second.cli.Store.ID == firstID {
		t.Fatalf("re-pair reused device %s", firstID)
	}
	var sent phoneMessage
	n.mustCall("POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": "after re-pair"}, &sent)
	waitEvent(second, func(m *events.Message) bool { return m.Info.ID == sent.ID })
}

func TestIsOnWhatsApp(t *testing.T) {
	n := startSandbox(t)
	n.addPhone("15550001111", "Alice")
	n.addPhone("15550002222", "Bob")
	c := newClient(t, n)
	c.pair(n, "15550001111")
	res, err := c.cli.IsOnWhatsApp(context.Background(), []string{"+15550002222", "+15559999999"})
	if err != nil {
		t.Fatalf("IsOnWhatsApp: %v", err)
	}
	if len(res) != 2 || !res[0].IsIn || res[1].IsIn || res[0].PhoneNumber.User != "15550002222" || res[0].JID.Server != types.HiddenUserServer {
		t.Fatalf("IsOnWhatsApp answered %+v", res)
	}
	if _, err := c.cli.SendMessage(context.Background(), types.NewJID("15559999999", types.DefaultUserServer), text("x")); err == nil {
		t.Fatal("sending to a number not on the network should fail")
	}
}

func TestPairByCode(t *testing.T) {
	n := startSandbox(t)
	n.addPhone("15550001111", "Alice")
	n.addPhone("15550002222", "Bob")
	c := newClient(t, n)
	qr, err := c.cli.GetQRChannel(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	<-qr // the connection is up and offering QR codes; pair by code instead
	code, err := c.cli.PairPhone(context.Background(), "+15550001111", true, whatsmeow.PairClientChrome, "Chrome (Linux)")
	if err != nil {
		t.Fatalf("PairPhone: %v", err)
	}
	if code2 := n.call("POST", "/sandbox/phones/15550001111/link-code", map[string]string{"code": "WRONGCOD"}, nil); code2 != 400 {
		t.Fatalf("a wrong code answered %d, want 400", code2)
	}
	// The wrong code used up this attempt (as on a real phone); ask for a new code.
	c2 := newClient(t, n)
	qr2, _ := c2.cli.GetQRChannel(context.Background())
	if err := c2.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	<-qr2
	code, err = c2.cli.PairPhone(context.Background(), "15550001111", true, whatsmeow.PairClientChrome, "Chrome (Linux)")
	if err != nil {
		t.Fatalf("PairPhone: %v", err)
	}
	n.mustCall("POST", "/sandbox/phones/15550001111/link-code", map[string]string{"code": code}, nil)
	waitEvent[*events.PairSuccess](c2, nil)
	waitEvent[*events.Connected](c2, nil)
	var sent phoneMessage
	n.mustCall("POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": "paired by code"}, &sent)
	waitEvent(c2, func(m *events.Message) bool { return m.Info.ID == sent.ID })
}

// A device that cannot decrypt asks for a retry; the sender re-encrypts for it alone.
func TestRetryReceiptAfterLostSession(t *testing.T) {
	_, alice, bob := aliceAndBob(t)
	ctx := context.Background()
	bobJID := types.NewJID("15550002222", types.DefaultUserServer)
	first, err := alice.cli.SendMessage(ctx, bobJID, text("one"))
	if err != nil {
		t.Fatal(err)
	}
	in := waitEvent(bob, func(m *events.Message) bool { return m.Info.ID == first.ID })
	// Bob loses his session with Alice's device, so her next (non-prekey) message is undecryptable.
	if err := bob.cli.Store.Sessions.DeleteSession(ctx, in.Info.Sender.SignalAddress().String()); err != nil {
		t.Fatal(err)
	}
	second, err := alice.cli.SendMessage(ctx, bobJID, text("two"))
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(bob, func(e *events.UndecryptableMessage) bool { return e.Info.ID == second.ID })
	got := waitEvent(bob, func(m *events.Message) bool { return m.Info.ID == second.ID })
	if got.Message.GetConversation() != "two" {
		t.Fatalf("after the retry bob got %v", got.Message)
	}
}

// An info query the sandbox does not serve gets an error at once, not whatsmeow's 75 s timeout.
func TestUnknownIQFailsFast(t *testing.T) {
	n := startSandbox(t)
	n.addPhone("15550001111", "Alice")
	c := newClient(t, n)
	c.pair(n, "15550001111")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.cli.GetBlocklist(ctx)
	var iqErr *whatsmeow.IQError
	if !errors.As(err, &iqErr) || iqErr.Code != 501 {
		t.Fatalf("GetBlocklist: %v, want an IQ error 501", err)
	}
}
