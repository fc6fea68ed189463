package sandbox_test

import (
	"context"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

// A persistent sandbox's phones still show what they received before a restart, once, and can
// still act on it (mark it read): a phone keeps its chats when the network restarts.
func TestPhoneMessagesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	srv, err := sandbox.Start(context.Background(), sandbox.Options{Listen: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	n := &network{t: t, url: srv.URL()}
	n.addPhone("15550001111", "Alice")
	n.addPhone("15550002222", "Bob")
	alice := newClient(t, n)
	alice.pair(n, "15550001111")
	bob := types.NewJID("15550002222", types.DefaultUserServer)
	resp, err := alice.cli.SendMessage(context.Background(), bob, text("before the restart"))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	n.waitPhoneMessage("15550002222", func(m phoneMessage) bool { return m.ID == resp.ID })
	alice.cli.Disconnect()
	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	srv2, err := sandbox.Start(context.Background(), sandbox.Options{Listen: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { _ = srv2.Close() })
	n2 := &network{t: t, url: srv2.URL()}
	var kept []phoneMessage
	for _, m := range n2.phoneMessages("15550002222") {
		if m.ID == resp.ID {
			kept = append(kept, m)
		}
	}
	if len(kept) != 1 || kept[0].Body != "before the restart" || kept[0].Copies != 1 || kept[0].FromMe {
		t.Fatalf("Bob's phone after the restart shows %+v, want the message once", kept)
	}
	reconnect(t, alice, n2)
	mark := alice.mark()
	n2.mustCall("POST", "/sandbox/phones/15550002222/read", map[string]any{"ids": []string{resp.ID}}, nil)
	waitEventSince(alice, mark, func(r *events.Receipt) bool {
		return r.Type == types.ReceiptTypeRead && len(r.MessageIDs) == 1 && r.MessageIDs[0] == resp.ID
	})
}
