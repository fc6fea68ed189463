package engine

import (
	"context"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// reportGroupChange puts the group changes of a whatsmeow event in the webhook's chatUpdate list
// when chatUpdateOn is set. Other events are ignored.
func (e *Engine) reportGroupChange(cli *whatsmeow.Client, evt any) {
	var updates []chat.ChatUpdate
	switch ev := evt.(type) {
	case *events.GroupInfo:
		if e.opts.Store.Settings().ChatUpdates {
			updates = e.groupInfoUpdates(cli, ev)
		}
	case *events.JoinedGroup:
		if e.opts.Store.Settings().ChatUpdates {
			updates = []chat.ChatUpdate{e.joinedUpdate(cli, ev)}
		}
	}
	if len(updates) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := e.opts.Store.AddChatUpdates(ctx, updates); err != nil {
		e.log.Error("recording group changes for the webhook failed", "err", err)
	}
}

// joinedUpdate reports the account put in a group (a group made with it, or it was added).
func (e *Engine) joinedUpdate(cli *whatsmeow.Client, ev *events.JoinedGroup) chat.ChatUpdate {
	u := chat.ChatUpdate{ChatID: chat.ID{Kind: chat.Group, User: ev.JID.User}.String(),
		Type: chat.UpdateParticipantsAdded, Subject: ev.Name, Time: ev.GroupCreated.Unix()}
	if own := cli.Store.GetJID(); !own.IsEmpty() {
		u.Participants = []string{chat.ID{Kind: chat.Person, User: own.User}.String()}
	}
	if ev.Sender != nil {
		u.Author = e.chatIDOf(cli, *ev.Sender, deref(ev.SenderPN)).String()
	}
	return u
}

// groupInfoUpdates turns one group notification into its chat updates: one per kind of change.
func (e *Engine) groupInfoUpdates(cli *whatsmeow.Client, ev *events.GroupInfo) []chat.ChatUpdate {
	base := chat.ChatUpdate{ChatID: chat.ID{Kind: chat.Group, User: ev.JID.User}.String(), Time: ev.Timestamp.Unix()}
	if ev.Sender != nil {
		base.Author = e.chatIDOf(cli, *ev.Sender, deref(ev.SenderPN)).String()
	}
	var out []chat.ChatUpdate
	for _, c := range []struct {
		typ  string
		jids []types.JID
	}{
		{chat.UpdateParticipantsAdded, ev.Join}, {chat.UpdateParticipantsRemoved, ev.Leave},
		{chat.UpdateParticipantsPromoted, ev.Promote}, {chat.UpdateParticipantsDemoted, ev.Demote},
	} {
		if len(c.jids) == 0 {
			continue
		}
		u := base
		u.Type = c.typ
		for _, j := range c.jids {
			u.Participants = append(u.Participants, e.chatIDOf(cli, j, types.EmptyJID).String())
		}
		out = append(out, u)
	}
	if ev.Name != nil {
		u := base
		u.Type, u.Subject = chat.UpdateSubject, ev.Name.Name
		out = append(out, u)
	}
	if ev.Topic != nil {
		u := base
		u.Type, u.Description = chat.UpdateDescription, ev.Topic.Topic
		out = append(out, u)
	}
	return out
}
