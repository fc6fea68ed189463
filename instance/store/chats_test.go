package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

func appendChatMessage(t *testing.T, s *Store, m chat.Message) int64 {
	t.Helper()
	out, added, err := s.AppendMessage(context.Background(), m)
	if err != nil || !added {
		t.Fatalf("AppendMessage(%s): %v %v", m.ID, added, err)
	}
	return out.MessageNumber
}

func chatIDs(chats []Chat) []string {
	out := []string{}
	for _, c := range chats {
		out = append(out, c.ID)
	}
	return out
}

// The journal keeps the chat list: newest activity first, names learnt but never replaced by the
// bare number, unread counts of incoming messages that count, reset by MarkChatRead.
func TestChatsFollowTheJournal(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		const alice, bob, group = "17472822486@c.us", "15550002222@c.us", "120363000000000001@g.us"
		msg := func(fromMe bool, chatID string, n int, at int64, name, typ string) chat.Message {
			return chat.Message{ID: chat.MessageID{FromMe: fromMe, Chat: mustChat(t, chatID),
				WAID: fmt.Sprintf("3EB0%018d", n)}.String(), Type: typ, Body: "x", Time: at, ChatID: chatID,
				ChatName: name, FromMe: fromMe, Author: chatID}
		}
		appendChatMessage(t, s, msg(false, alice, 1, 1000, "Alice", chat.TypeChat))
		appendChatMessage(t, s, msg(false, bob, 2, 1010, "15550002222", chat.TypeChat))
		appendChatMessage(t, s, msg(false, alice, 3, 1020, "17472822486", chat.TypeChat)) // bare number: keeps "Alice"
		appendChatMessage(t, s, msg(false, alice, 4, 1021, "Alice", chat.TypeReaction))   // does not count
		appendChatMessage(t, s, msg(true, group, 5, 1030, "Browsers", chat.TypeChat))     // outgoing: no unread
		// A duplicate is not journaled again, so it counts once.
		if _, added, _ := s.AppendMessage(ctx, msg(false, bob, 2, 1010, "", chat.TypeChat)); added {
			t.Fatal("duplicate journaled")
		}

		chats, total, err := s.Chats(ctx, ChatQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{group, alice, bob}; total != 3 || !slices.Equal(chatIDs(chats), want) {
			t.Fatalf("chats = %v (total %d), want %v", chatIDs(chats), total, want)
		}
		got := map[string]Chat{}
		for _, c := range chats {
			got[c.ID] = c
		}
		if c := got[alice]; c.Name != "Alice" || c.Unread != 2 || c.LastTime != 1021 {
			t.Errorf("alice = %+v", c)
		}
		if c := got[bob]; c.Name != "" || c.Unread != 1 {
			t.Errorf("bob = %+v", c)
		}
		if c := got[group]; c.Name != "Browsers" || c.Unread != 0 {
			t.Errorf("group = %+v", c)
		}

		unread, err := s.UnreadMessages(ctx, alice, 100)
		if err != nil || len(unread) != 2 || unread[0].WAID != "3EB0000000000000000001" || unread[1].Time != 1020 {
			t.Fatalf("UnreadMessages = %+v, %v", unread, err)
		}
		if err := s.MarkChatRead(ctx, alice, unread[0].Number); err != nil {
			t.Fatal(err)
		}
		if c, _ := s.Chat(ctx, alice); c.Unread != 1 {
			t.Errorf("after reading one: %+v", c)
		}
		if err := s.MarkChatRead(ctx, alice, unread[1].Number); err != nil {
			t.Fatal(err)
		}
		if c, _ := s.Chat(ctx, alice); c.Unread != 0 {
			t.Errorf("after reading all: %+v", c)
		}
		if left, _ := s.UnreadMessages(ctx, alice, 100); len(left) != 0 {
			t.Errorf("still unread: %+v", left)
		}
		appendChatMessage(t, s, msg(false, alice, 6, 1040, "Alice", chat.TypeChat))
		if c, _ := s.Chat(ctx, alice); c.Unread != 1 {
			t.Errorf("a new message after reading: %+v", c)
		}
		if _, err := s.Chat(ctx, "19999999999@c.us"); err == nil || !strings.Contains(err.Error(), ErrNotFound.Error()) {
			t.Errorf("unknown chat: %v", err)
		}
	})
}

// PutChats creates and updates rows without erasing what an update leaves out; pages follow the
// order of the list.
func TestPutChatsAndPaging(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		ctx := context.Background()
		var ups []ChatUpdate
		for i := range 25 {
			ups = append(ups, ChatUpdate{ID: fmt.Sprintf("1555000%04d@c.us", i), Name: fmt.Sprint("n", i), LastTime: int64(1000 + i)})
		}
		if err := s.PutChats(ctx, ups); err != nil {
			t.Fatal(err)
		}
		three := 3
		meta := json.RawMessage(`{"participants":["15550000001@c.us"]}`)
		err := s.PutChats(ctx, []ChatUpdate{{ID: "15550000003@c.us", Unread: &three, LastTime: 5, Metadata: meta, Image: "https://x/p.jpg"}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.Chat(ctx, "15550000003@c.us")
		if err != nil || c.Name != "n3" || c.Unread != 3 || c.LastTime != 1003 || string(c.Metadata) != string(meta) || c.Image != "https://x/p.jpg" {
			t.Fatalf("chat = %+v, %v", c, err)
		}
		var all []string
		for off := 0; ; off += 10 {
			page, total, err := s.Chats(ctx, ChatQuery{Limit: 10, Offset: off})
			if err != nil || total != 25 {
				t.Fatalf("page at %d: %v (total %d)", off, err, total)
			}
			if len(page) == 0 {
				break
			}
			all = append(all, chatIDs(page)...)
		}
		if len(all) != 25 || all[0] != "15550000024@c.us" || all[24] != "15550000000@c.us" {
			t.Fatalf("pages = %v", all)
		}
	})
}

// The list's order is served by the mo_chats_recent index on both databases.
func TestChatsUseTheirIndex(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ Options) {
		plan := explain(t, s, chatsSQL, []any{10, 0})
		if !strings.Contains(plan, "mo_chats_recent") {
			t.Errorf("plan of the chat list does not use mo_chats_recent:\n%s", plan)
		}
	})
}

func mustChat(t *testing.T, id string) chat.ID {
	t.Helper()
	c, err := chat.ParseChatID(id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
