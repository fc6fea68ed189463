package engine

import (
	"context"
	"encoding/json"
	"testing"

	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// The sandbox sends no history sync, so its conversations are fed here as whatsmeow delivers
// them: people and groups enter the chat list with names, times, unread counts and members;
// status broadcasts do not.
func TestHistorySyncFillsTheChatList(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	md, err := media.Open(t.TempDir(), "secret")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(ctx, Options{Store: st, Media: md})
	if err != nil {
		t.Fatal(err)
	}
	admin := waHistorySync.GroupParticipant_ADMIN
	e.onHistorySync(nil, &events.HistorySync{Data: &waHistorySync.HistorySync{Conversations: []*waHistorySync.Conversation{
		{ID: proto.String("15550002222@s.whatsapp.net"), Name: proto.String("Bob"), UnreadCount: proto.Uint32(3),
			ConversationTimestamp: proto.Uint64(1700000100)},
		{ID: proto.String("120363000000000001@g.us"), Name: proto.String("Club"), LastMsgTimestamp: proto.Uint64(1700000200),
			Participant: []*waHistorySync.GroupParticipant{
				{UserJID: proto.String("15550002222@s.whatsapp.net"), Rank: &admin},
				{UserJID: proto.String("15550001111@s.whatsapp.net")},
			}},
		{ID: proto.String("status@broadcast"), Name: proto.String("status")},
	}}})
	chats, total, err := st.Chats(ctx, store.ChatQuery{Limit: 10})
	if err != nil || total != 2 {
		t.Fatalf("chats = %+v (%d), %v", chats, total, err)
	}
	g, b := chats[0], chats[1]
	if b.ID != "15550002222@c.us" || b.Name != "Bob" || b.Unread != 3 || b.LastTime != 1700000100 {
		t.Errorf("person = %+v", b)
	}
	var meta account.GroupMetadata
	_ = json.Unmarshal(g.Metadata, &meta)
	if g.ID != "120363000000000001@g.us" || g.Name != "Club" || g.LastTime != 1700000200 || len(meta.Participants) != 2 ||
		len(meta.Admins) != 1 || meta.Admins[0] != "15550002222@c.us" {
		t.Errorf("group = %+v %+v", g, meta)
	}
	if subject, known, _ := e.names.get("120363000000000001"); !known || subject != "Club" {
		t.Errorf("group subject cache = %q %v", subject, known)
	}
}
