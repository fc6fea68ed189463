package engine

import (
	"context"
	"errors"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// replyContext is the quote of a reply to the message with Chat API id quotedMsgID: its WhatsApp
// id (StanzaID), its sender (Participant) and, when the journal holds it, its content
// (QuotedMessage). It returns nil for "" and for an id that does not parse (the API refuses those
// before queueing). A message the journal does not hold is still quoted by id: its sender follows
// from the id for the account's own messages and for 1:1 chats; in a group it is then unknown.
func (e *Engine) replyContext(ctx context.Context, quotedMsgID string) *waE2E.ContextInfo {
	if quotedMsgID == "" {
		return nil
	}
	id, err := chat.ParseMessageID(quotedMsgID)
	if err != nil {
		e.log.Warn("reply to an unparsable message id; sending without the quote", "quotedMsgId", quotedMsgID, "err", err)
		return nil
	}
	ci := &waE2E.ContextInfo{StanzaID: proto.String(id.WAID)}
	m, err := e.opts.Store.Message(ctx, id.String())
	switch {
	case err == nil:
		ci.QuotedMessage = quotedContent(m)
	case !errors.Is(err, store.ErrNotFound):
		e.log.Warn("reading the quoted message; quoting it by id only", "quotedMsgId", quotedMsgID, "err", err)
	}
	if p := e.quotedSender(id, m); p != "" {
		ci.Participant = proto.String(p)
	}
	return ci
}

// quotedSender is the WhatsApp JID of who sent the quoted message: the account for its own, the
// journal's author when known, else the other side of a 1:1 chat ("" in a group).
func (e *Engine) quotedSender(id chat.MessageID, m chat.Message) string {
	if id.FromMe {
		if cli := e.loggedIn(); cli != nil && cli.Store.ID != nil {
			return cli.Store.ID.ToNonAD().String()
		}
	}
	if author, err := chat.ParseChatID(m.Author); err == nil {
		return author.JID()
	}
	if id.Chat.Kind != chat.Group && !id.FromMe {
		return id.Chat.JID()
	}
	return ""
}

// quotedContent rebuilds what a reply shows of the quoted message from its journal entry: its text,
// location, contact card, poll, or the caption and type of its media. Nil when there is nothing.
func quotedContent(m chat.Message) *waE2E.Message {
	caption, mime := optional(m.Caption), optional(m.MimeType)
	switch m.Type {
	case chat.TypeChat, chat.TypeEdited:
		if m.Title != "" || m.Description != "" {
			return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String(m.Body),
				Title: optional(m.Title), Description: optional(m.Description)}}
		}
		if m.Body == "" {
			return nil
		}
		return &waE2E.Message{Conversation: proto.String(m.Body)}
	case chat.TypeLocation:
		loc := &waE2E.LocationMessage{Address: optional(m.Address)}
		if m.Lat != nil && m.Lng != nil {
			loc.DegreesLatitude, loc.DegreesLongitude = proto.Float64(*m.Lat), proto.Float64(*m.Lng)
		}
		return &waE2E.Message{LocationMessage: loc}
	case chat.TypeVCard:
		return &waE2E.Message{ContactMessage: &waE2E.ContactMessage{Vcard: proto.String(m.Body)}}
	case chat.TypePoll:
		if m.Poll == nil {
			return nil
		}
		poll := &waE2E.PollCreationMessage{Name: proto.String(m.Poll.Name)}
		for _, o := range m.Poll.Options {
			poll.Options = append(poll.Options, &waE2E.PollCreationMessage_Option{OptionName: proto.String(o)})
		}
		return &waE2E.Message{PollCreationMessage: poll}
	case chat.TypeImage:
		return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: caption, Mimetype: mime}}
	case chat.TypeVideo:
		return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{Caption: caption, Mimetype: mime}}
	case chat.TypeAudio, chat.TypePTT:
		return &waE2E.Message{AudioMessage: &waE2E.AudioMessage{Mimetype: mime, PTT: proto.Bool(m.Type == chat.TypePTT)}}
	case chat.TypeDocument:
		return &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{Caption: caption, Mimetype: mime,
			FileName: optional(m.FileName)}}
	case chat.TypeSticker:
		return &waE2E.Message{StickerMessage: &waE2E.StickerMessage{Mimetype: mime}}
	}
	return nil
}

// optional is nil for "", else a pointer to s (protobuf optional strings).
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return proto.String(s)
}

// quote makes msg a reply to quotedMsgID and records the quote on its journal entry. A quote of a
// message of another chat names that chat (RemoteJID), as "reply privately" does. msg must hold
// one content part that takes a context (see setContext); a Conversation becomes an
// ExtendedTextMessage.
func (e *Engine) quote(ctx context.Context, it store.Item, msg *waE2E.Message, entry *chat.Message, quotedMsgID string) {
	ci := e.replyContext(ctx, quotedMsgID)
	if ci == nil {
		return
	}
	q, _ := chat.ParseMessageID(quotedMsgID) // replyContext parsed it
	if q.Chat.String() != it.ChatID {
		ci.RemoteJID = proto.String(q.Chat.JID())
	}
	setContext(msg, ci)
	if entry != nil {
		entry.QuotedMsgID = q.String()
		entry.QuotedMsgBody = ci.GetQuotedMessage().GetConversation()
		if entry.QuotedMsgBody == "" {
			entry.QuotedMsgBody = ci.GetQuotedMessage().GetExtendedTextMessage().GetText()
		}
	}
}

// setContext puts ci on the content part of msg. A plain Conversation has no context: it becomes
// an ExtendedTextMessage with the same text.
func setContext(msg *waE2E.Message, ci *waE2E.ContextInfo) {
	if msg.Conversation != nil {
		msg.ExtendedTextMessage = &waE2E.ExtendedTextMessage{Text: msg.Conversation}
		msg.Conversation = nil
	}
	switch {
	case msg.ExtendedTextMessage != nil:
		msg.ExtendedTextMessage.ContextInfo = ci
	case msg.ImageMessage != nil:
		msg.ImageMessage.ContextInfo = ci
	case msg.VideoMessage != nil:
		msg.VideoMessage.ContextInfo = ci
	case msg.AudioMessage != nil:
		msg.AudioMessage.ContextInfo = ci
	case msg.DocumentMessage != nil:
		msg.DocumentMessage.ContextInfo = ci
	case msg.StickerMessage != nil:
		msg.StickerMessage.ContextInfo = ci
	case msg.LocationMessage != nil:
		msg.LocationMessage.ContextInfo = ci
	case msg.ContactMessage != nil:
		msg.ContactMessage.ContextInfo = ci
	case msg.PollCreationMessage != nil:
		msg.PollCreationMessage.ContextInfo = ci
	case msg.PollCreationMessageV3 != nil:
		msg.PollCreationMessageV3.ContextInfo = ci
	}
}
