package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// onMessage journals a message the account received, or sent from another of its devices, with
// its Chat API type and fields. Media is downloaded first and served from our own URL; edits and
// revokes also mark the message they change.
func (e *Engine) onMessage(cli *whatsmeow.Client, ev *events.Message) bool {
	info := ev.Info
	if info.Chat.Server == types.BroadcastServer || info.Chat.Server == types.NewsletterServer {
		return true // status updates and channels are not chats of the Chat API
	}
	c, ok := classify(ev.Message)
	if !ok {
		return true // protocol messages, sender-key distribution: nothing to show
	}
	m := e.newMessage(cli, info, c)
	switch {
	case c.kind == chat.TypePollVote && !e.decryptVote(cli, ev, &m),
		c.encrypted && !e.decryptReaction(cli, ev, &m):
		return true // logged; nothing WhatsApp could deliver again would help
	case c.kind == chat.TypeEdited:
		return e.journalChange(m, editTo(m.Body))
	case c.kind == chat.TypeRevoked:
		return e.journalChange(m, func(orig *chat.Message) { orig.Revoked = true })
	}
	if c.download != nil {
		link, err := e.saveMedia(cli, c, info.ID)
		if err != nil {
			e.log.Warn("downloading incoming media failed", "err", err, "type", c.kind)
		}
		m.Body = link
	}
	return e.journal(m)
}

// newMessage builds the journal entry of a classified message: ids in Chat API form, the chat's
// name, and what it quotes or refers to.
func (e *Engine) newMessage(cli *whatsmeow.Client, info types.MessageInfo, c content) chat.Message {
	chatID := e.chatIDOf(cli, info.Chat, info.SenderAlt)
	if info.IsFromMe && !info.IsGroup {
		chatID = e.chatIDOf(cli, info.Chat, info.RecipientAlt)
	}
	author := e.chatIDOf(cli, info.Sender.ToNonAD(), info.SenderAlt.ToNonAD())
	m := chat.Message{
		ID:   chat.MessageID{FromMe: info.IsFromMe, Chat: chatID, WAID: info.ID}.String(),
		Body: c.body, Type: c.kind, SenderName: info.PushName, FromMe: info.IsFromMe, Author: author.String(),
		Time: info.Timestamp.Unix(), ChatID: chatID.String(), Caption: c.caption, FileName: c.fileName, MimeType: c.mime,
		Lat: c.lat, Lng: c.lng, Address: c.address, Title: c.title, Description: c.description, Poll: c.poll,
	}
	hint := ""
	if !info.IsFromMe && !info.IsGroup {
		hint = info.PushName // the contact store learns it only after this event
	}
	m.ChatName = e.chatName(cli, m.ChatID, hint)
	if ci := c.context; ci != nil {
		m.IsForwarded = ci.GetIsForwarded()
		if ci.GetStanzaID() != "" {
			m.QuotedMsgID = e.quotedID(cli, chatID, ci)
			m.QuotedMsgBody = textOf(ci.GetQuotedMessage())
		}
	}
	if c.target != nil {
		m.QuotedMsgID = e.targetID(cli, info, chatID, c.target)
	}
	return m
}

// targetID gives the Chat API id of the message a reaction, vote, edit or revoke refers to. The
// key is the sender's view: fromMe there means the target is the sender's own message.
func (e *Engine) targetID(cli *whatsmeow.Client, info types.MessageInfo, chatID chat.ID, key *waCommon.MessageKey) string {
	var fromMe bool
	switch {
	case key.GetFromMe():
		fromMe = info.IsFromMe
	case key.GetParticipant() != "":
		fromMe = isOwn(cli, key.GetParticipant())
	default: // a 1:1 chat: not the sender's, so the other side's
		fromMe = !info.IsFromMe
	}
	return e.resolveRef(chatID, key.GetID(), chat.MessageID{FromMe: fromMe, Chat: chatID, WAID: key.GetID()}.String())
}

// quotedID gives the Chat API id of the message a reply quotes: the account's own when the quoted
// participant is the account.
func (e *Engine) quotedID(cli *whatsmeow.Client, chatID chat.ID, ci *waE2E.ContextInfo) string {
	fromMe := false
	if p := ci.GetParticipant(); p != "" {
		fromMe = isOwn(cli, p)
	}
	return e.resolveRef(chatID, ci.GetStanzaID(), chat.MessageID{FromMe: fromMe, Chat: chatID, WAID: ci.GetStanzaID()}.String())
}

// resolveRef returns guess when the journal holds it or holds no message of chatID with WhatsApp
// id waID, else the id of the journaled one (the reference's sender may name an author differently,
// by LID or phone number).
func (e *Engine) resolveRef(chatID chat.ID, waID, guess string) string {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if _, err := e.opts.Store.Message(ctx, guess); err == nil {
		return guess
	}
	msgs, err := e.opts.Store.MessagesByWAID(ctx, waID)
	if err != nil {
		e.log.Warn("looking up a referred message failed", "err", err, "id", guess)
		return guess
	}
	for _, m := range msgs {
		if m.ChatID == chatID.String() {
			return m.ID
		}
	}
	return guess
}

// isOwn reports whether a JID (phone number or LID form) is the account.
func isOwn(cli *whatsmeow.Client, jid string) bool {
	j, err := types.ParseJID(jid)
	if err != nil || j.User == "" {
		return false
	}
	own := cli.Store.ID
	return (own != nil && j.User == own.User) || j.User == cli.Store.GetLID().User
}

// journalChange journals an edit or revoke (m, whose QuotedMsgID names the changed message) and
// applies change to the changed message's entry, once: a re-delivered edit or revoke is already in
// the journal and changes nothing again. A change to a message the journal never held is journaled
// all the same.
func (e *Engine) journalChange(m chat.Message, change func(*chat.Message)) bool {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	_, err := e.opts.Store.Message(ctx, m.ID)
	switch {
	case err == nil:
		return true
	case !errors.Is(err, store.ErrNotFound):
		e.log.Error("looking up an edit or revoke failed; it will be delivered again", "err", err, "type", m.Type)
		return false
	}
	found, err := e.opts.Store.MarkMessage(ctx, m.QuotedMsgID, change)
	if err != nil {
		e.log.Error("marking an edited or revoked message failed; it will be delivered again", "err", err, "type", m.Type)
		return false
	}
	if !found {
		e.log.Info("an edit or revoke of a message the journal does not hold", "type", m.Type, "target", m.QuotedMsgID)
	}
	return e.journal(m)
}

// editTo is the change an edit makes: the new text replaces the body, or a media message's caption.
func editTo(text string) func(*chat.Message) {
	return func(orig *chat.Message) {
		if chat.IsMedia(orig.Type) {
			orig.Caption = text
		} else {
			orig.Body = text
		}
		orig.Edited = true
	}
}

// saveMedia downloads an attachment into the media directory and returns its link.
func (e *Engine) saveMedia(cli *whatsmeow.Client, c content, waID string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), mediaTimeout)
	defer cancel()
	data, err := cli.Download(ctx, c.download)
	if err != nil {
		return "", err
	}
	name := c.fileName
	if name == "" {
		name = waID
	}
	rel, err := e.opts.Media.Save(media.Incoming, media.SanitizeFilename(name, c.mime), data)
	if err != nil {
		return "", fmt.Errorf("saving media: %w", err)
	}
	return e.opts.Media.Link(rel), nil
}

// chatIDOf gives a JID its Chat API id: <digits>@c.us for people (via the phone number when only
// a LID is at hand and the number is known), <id>@g.us for groups, <id>@lid otherwise.
func (e *Engine) chatIDOf(cli *whatsmeow.Client, jid, alt types.JID) chat.ID {
	jid = jid.ToNonAD()
	switch jid.Server {
	case types.GroupServer:
		return chat.ID{Kind: chat.Group, User: jid.User}
	case types.DefaultUserServer:
		return chat.ID{Kind: chat.Person, User: jid.User}
	case types.HiddenUserServer:
		if alt.Server == types.DefaultUserServer {
			return chat.ID{Kind: chat.Person, User: alt.User}
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		if pn, err := cli.Store.LIDs.GetPNForLID(ctx, jid); err == nil && !pn.IsEmpty() {
			return chat.ID{Kind: chat.Person, User: pn.User}
		}
		return chat.ID{Kind: chat.LID, User: jid.User}
	}
	return chat.ID{Kind: chat.Person, User: jid.User}
}

// sanitizeWAID keeps the characters a Chat API message id allows.
func sanitizeWAID(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '-' {
			return r
		}
		return -1
	}, id)
}
