package sandbox_test

import (
	"context"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// A persistent sandbox's phones still show what they received before a restart, once, and can
// still act on it (mark it read): a phone keeps its chats when the network restarts.
func TestPhoneMessagesAcrossRestart(t *testing.T) {
	n := startPersistent(t)
	alice := n.aliceLinked()
	bob := types.NewJID("15550002222", types.DefaultUserServer)
	resp, err := alice.cli.SendMessage(context.Background(), bob, text("before the restart"))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	n.waitPhoneMessage("15550002222", func(m phoneMessage) bool { return m.ID == resp.ID })
	alice.cli.Disconnect()
	n.restart()
	var kept []phoneMessage
	for _, m := range n.phoneMessages("15550002222") {
		if m.ID == resp.ID {
			kept = append(kept, m)
		}
	}
	if len(kept) != 1 || kept[0].Body != "before the restart" || kept[0].Copies != 1 || kept[0].FromMe {
		t.Fatalf("Bob's phone after the restart shows %+v, want the message once", kept)
	}
	reconnect(t, alice, n.network)
	mark := alice.mark()
	n.mustCall("POST", "/sandbox/phones/15550002222/read", map[string]any{"ids": []string{resp.ID}}, nil)
	waitEventSince(alice, mark, func(r *events.Receipt) bool {
		return r.Type == types.ReceiptTypeRead && len(r.MessageIDs) == 1 && r.MessageIDs[0] == resp.ID
	})
}
