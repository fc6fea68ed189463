package engine

import (
	"context"
	"encoding/json"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// onHistorySync puts the conversations of a history sync blob in the chat list: names, last
// activity, unread counts and group members. Status broadcasts and channels are skipped. A failed
// write is logged: the chat list also follows the journal, so nothing is lost for good.
func (e *Engine) onHistorySync(cli *whatsmeow.Client, ev *events.HistorySync) {
	var ups []store.ChatUpdate
	for _, conv := range ev.Data.GetConversations() {
		if u, ok := e.historyChat(cli, conv); ok {
			ups = append(ups, u)
		}
	}
	if len(ups) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := e.opts.Store.PutChats(ctx, ups); err != nil {
		e.log.Error("storing history sync chats failed", "err", err, "chats", len(ups))
		return
	}
	e.log.Info("chats learnt from history sync", "chats", len(ups))
}

func (e *Engine) historyChat(cli *whatsmeow.Client, conv *waHistorySync.Conversation) (store.ChatUpdate, bool) {
	jid, err := types.ParseJID(conv.GetID())
	if err != nil || (jid.Server != types.DefaultUserServer && jid.Server != types.GroupServer && jid.Server != types.HiddenUserServer) {
		return store.ChatUpdate{}, false
	}
	var alt types.JID
	if pn, err := types.ParseJID(conv.GetPnJID()); err == nil {
		alt = pn
	}
	id := e.chatIDOf(cli, jid, alt)
	unread := int(conv.GetUnreadCount())
	last := int64(max(conv.GetConversationTimestamp(), conv.GetLastMsgTimestamp()))
	u := store.ChatUpdate{ID: id.String(), Name: firstNonEmpty(conv.GetName(), conv.GetDisplayName()),
		LastTime: last, Unread: &unread}
	if id.Kind == chat.Group {
		u.Metadata = e.historyGroup(cli, conv)
		if u.Name != "" {
			e.names.set(id.User, u.Name)
		}
	}
	return u, true
}

// historyGroup describes a group's members as history sync lists them.
func (e *Engine) historyGroup(cli *whatsmeow.Client, conv *waHistorySync.Conversation) json.RawMessage {
	parts := conv.GetParticipant()
	if len(parts) == 0 {
		return nil
	}
	md := account.GroupMetadata{Participants: []string{}, Admins: []string{}, Subject: conv.GetName(), Description: conv.GetDescription()}
	for _, p := range parts {
		jid, err := types.ParseJID(p.GetUserJID())
		if err != nil {
			continue
		}
		id := e.chatIDOf(cli, jid, types.JID{}).String()
		md.Participants = append(md.Participants, id)
		if p.GetRank() != waHistorySync.GroupParticipant_REGULAR {
			md.Admins = append(md.Admins, id)
		}
	}
	raw, err := json.Marshal(md)
	if err != nil {
		return nil
	}
	return raw
}
