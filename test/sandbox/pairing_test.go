package sandbox_test

import (
	"context"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

func TestPairAndTextBothWays(t *testing.T) {
	n := startSandbox(t)
	n.addPhone("15550001111", "Alice")
	n.addPhone("15550002222", "Bob")
	alice := newClient(t, n)
	alice.pair(n, "15550001111")

	// Bob's phone writes to Alice's account: the linked client decrypts it.
	var sent phoneMessage
	n.mustCall("POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": "hello from bob"}, &sent)
	msg := waitEvent(alice, func(m *events.Message) bool { return m.Message.GetConversation() == "hello from bob" })
	if msg.Info.IsFromMe || msg.Info.ID != sent.ID {
		t.Fatalf("unexpected message info %+v", msg.Info)
	}
	// The client's delivery receipt reaches Bob's phone.
	n.waitPhoneMessage("15550002222", func(m phoneMessage) bool { return m.ID == sent.ID && m.Status == "delivered" })

	// Alice's client answers; Bob's phone receives it and the client sees the delivery receipt.
	resp, err := alice.cli.SendMessage(context.Background(), types.NewJID("15550002222", types.DefaultUserServer),
		&waE2E.Message{Conversation: proto.String("hi bob")})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	got := n.waitPhoneMessage("15550002222", func(m phoneMessage) bool { return m.ID == resp.ID })
	if got.Body != "hi bob" || got.From != "15550001111@s.whatsapp.net" {
		t.Fatalf("phone got %+v", got)
	}
	waitEvent(alice, func(r *events.Receipt) bool {
		return r.MessageIDs[0] == resp.ID && (r.Type == types.ReceiptTypeDelivered || r.Type == types.ReceiptTypeInactive)
	})
	// Bob reads it: a read receipt reaches the client.
	n.mustCall("POST", "/sandbox/phones/15550002222/read", map[string]any{"ids": []string{resp.ID}}, nil)
	waitEvent(alice, func(r *events.Receipt) bool { return r.MessageIDs[0] == resp.ID && r.Type == types.ReceiptTypeRead })
	// And Alice's own phone saw her message as sent by the account (device-sent copy).
	n.waitPhoneMessage("15550001111", func(m phoneMessage) bool { return m.ID == resp.ID && m.FromMe })
}
