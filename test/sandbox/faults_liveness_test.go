package sandbox_test

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// whatsmeow's keepalive timing is a set of package variables read by every client's keepalive
// loop. They are shortened here, in init (before any client runs, so without a data race), for
// every test of this package: a ping every 0.2–0.4 s answered within 2 s. Production keeps
// whatsmeow's 20–30 s and 10 s. KeepAliveMaxFailTime only matters with whatsmeow's own
// auto-reconnect, which TestStaleFaultSilencesTheServer does not rely on.
func init() {
	whatsmeow.KeepAliveIntervalMin = 200 * time.Millisecond
	whatsmeow.KeepAliveIntervalMax = 400 * time.Millisecond
	whatsmeow.KeepAliveResponseDeadline = 2 * time.Second
}

// The stale fault keeps the socket open and silences the server: keepalive pings go unanswered
// (KeepAliveTimeout) and a send waits for its ack in vain; once the client drops the connection
// and connects again, the server answers, and what was sent to the client meanwhile arrives.
func TestStaleFaultSilencesTheServer(t *testing.T) {
	n, alice, bob := aliceAndBob(t)
	bobJID := types.NewJID("15550002222", types.DefaultUserServer)
	if _, err := alice.cli.SendMessage(context.Background(), bobJID, text("before")); err != nil {
		t.Fatalf("send before the fault: %v", err)
	}

	mark := alice.mark()
	n.mustCall("POST", "/sandbox/faults", map[string]any{"phone": "15550001111", "kind": "stale"}, nil)
	waitEventSince[*events.KeepAliveTimeout](alice, mark, nil)
	if !alice.cli.IsConnected() {
		t.Fatal("the stale fault closed the socket; it must stay open")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err := alice.cli.SendMessage(ctx, bobJID, text("into the void"), whatsmeow.SendRequestExtra{Timeout: time.Second})
	cancel()
	if err == nil {
		t.Fatal("a send on a stale connection got an ack")
	}
	// Bob writes to Alice meanwhile: it waits in Alice's offline queue.
	n.mustCall("POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": "while silent"}, nil)

	mark = alice.mark()
	alice.cli.Disconnect()
	if err := alice.cli.Connect(); err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	waitEventSince[*events.Connected](alice, mark, nil)
	waitEventSince[*events.Message](alice, mark, func(m *events.Message) bool {
		return m.Message.GetConversation() == "while silent"
	})
	if _, err := alice.cli.SendMessage(context.Background(), bobJID, text("after")); err != nil {
		t.Fatalf("send after reconnecting: %v", err)
	}
	_ = bob
}

// The undecryptable fault spoils the next message delivered to the device: the client fails to
// decrypt it, sends a retry receipt, the phone re-encrypts it, and the message arrives once.
func TestUndecryptableFaultIsRetried(t *testing.T) {
	n, alice, _ := aliceAndBob(t)
	// A first message sets up the Signal session, so the spoiled one is a plain "msg".
	n.mustCall("POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": "hello"}, nil)
	waitEvent[*events.Message](alice, func(m *events.Message) bool { return m.Message.GetConversation() == "hello" })

	mark := alice.mark()
	n.mustCall("POST", "/sandbox/faults", map[string]any{"phone": "15550001111", "kind": "undecryptable"}, nil)
	n.mustCall("POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": "spoiled once"}, nil)
	bad := waitEventSince[*events.UndecryptableMessage](alice, mark, nil)
	got := waitEventSince[*events.Message](alice, mark, func(m *events.Message) bool {
		return m.Message.GetConversation() == "spoiled once"
	})
	if got.Info.ID != bad.Info.ID {
		t.Fatalf("the retried message has id %s, the undecryptable one %s", got.Info.ID, bad.Info.ID)
	}
	// A later message proves the session is still sound, and that the retry came only once.
	n.mustCall("POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": "next"}, nil)
	waitEventSince[*events.Message](alice, mark, func(m *events.Message) bool { return m.Message.GetConversation() == "next" })
	count := 0
	alice.mu.Lock()
	for _, e := range alice.events[mark:] {
		if m, ok := e.(*events.Message); ok && m.Info.ID == bad.Info.ID {
			count++
		}
	}
	alice.mu.Unlock()
	if count != 1 {
		t.Fatalf("the retried message arrived %d times", count)
	}
}
