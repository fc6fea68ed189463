package engine

import (
	"context"
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/media"
)

// content is what a WhatsApp message shows, in Chat API terms.
type content struct {
	kind, body, caption, fileName, mime string
	download                            whatsmeow.DownloadableMessage
}

// onMessage journals a message the account received, or sent from another of its devices.
// Media is downloaded first and served from our own URL.
func (e *Engine) onMessage(cli *whatsmeow.Client, ev *events.Message) bool {
	info := ev.Info
	if info.Chat.Server == types.BroadcastServer || info.Chat.Server == types.NewsletterServer {
		return true // status updates and channels are not chats of the Chat API
	}
	c, ok := classify(ev.Message)
	if !ok {
		return true // protocol messages, sender-key distribution, reactions: nothing to show
	}
	chatID := e.chatIDOf(cli, info.Chat, info.SenderAlt)
	if info.IsFromMe && !info.IsGroup {
		chatID = e.chatIDOf(cli, info.Chat, info.RecipientAlt)
	}
	author := e.chatIDOf(cli, info.Sender.ToNonAD(), info.SenderAlt.ToNonAD())
	m := chat.Message{
		ID:   chat.MessageID{FromMe: info.IsFromMe, Chat: chatID, WAID: info.ID}.String(),
		Body: c.body, Type: c.kind, SenderName: info.PushName, FromMe: info.IsFromMe, Author: author.String(),
		Time: info.Timestamp.Unix(), ChatID: chatID.String(), Caption: c.caption, FileName: c.fileName, MimeType: c.mime,
	}
	hint := ""
	if !info.IsFromMe && !info.IsGroup {
		hint = info.PushName // the contact store learns it only after this event
	}
	m.ChatName = e.chatName(cli, m.ChatID, hint)
	if ctxInfo := contextInfo(ev.Message); ctxInfo != nil {
		m.IsForwarded = ctxInfo.GetIsForwarded()
		m.QuotedMsgBody = ctxInfo.GetQuotedMessage().GetConversation()
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

// classify maps a WhatsApp message to a Chat API type and body; ok is false for messages that
// have nothing to show.
func classify(msg *waE2E.Message) (content, bool) {
	if inner := msg.GetDocumentWithCaptionMessage().GetMessage(); inner != nil {
		msg = inner
	}
	if inner := msg.GetEphemeralMessage().GetMessage(); inner != nil {
		msg = inner
	}
	if inner := msg.GetViewOnceMessage().GetMessage(); inner != nil {
		msg = inner
	}
	switch {
	case msg.GetConversation() != "":
		return content{kind: chat.TypeChat, body: msg.GetConversation()}, true
	case msg.GetExtendedTextMessage() != nil:
		return content{kind: chat.TypeChat, body: msg.GetExtendedTextMessage().GetText()}, true
	case msg.GetImageMessage() != nil:
		m := msg.GetImageMessage()
		return content{kind: chat.TypeImage, caption: m.GetCaption(), mime: m.GetMimetype(), download: m}, true
	case msg.GetVideoMessage() != nil:
		m := msg.GetVideoMessage()
		return content{kind: chat.TypeVideo, caption: m.GetCaption(), mime: m.GetMimetype(), download: m}, true
	case msg.GetAudioMessage() != nil:
		m := msg.GetAudioMessage()
		kind := chat.TypeAudio
		if m.GetPTT() {
			kind = chat.TypePTT
		}
		return content{kind: kind, mime: m.GetMimetype(), download: m}, true
	case msg.GetDocumentMessage() != nil:
		m := msg.GetDocumentMessage()
		return content{kind: chat.TypeDocument, caption: m.GetCaption(), fileName: m.GetFileName(), mime: m.GetMimetype(), download: m}, true
	case msg.GetStickerMessage() != nil:
		m := msg.GetStickerMessage()
		return content{kind: chat.TypeSticker, mime: m.GetMimetype(), download: m}, true
	case msg.GetLocationMessage() != nil:
		m := msg.GetLocationMessage()
		return content{kind: chat.TypeLocation, body: fmt.Sprintf("%g;%g", m.GetDegreesLatitude(), m.GetDegreesLongitude()), caption: m.GetName()}, true
	case msg.GetLiveLocationMessage() != nil:
		m := msg.GetLiveLocationMessage()
		return content{kind: chat.TypeLocation, body: fmt.Sprintf("%g;%g", m.GetDegreesLatitude(), m.GetDegreesLongitude()), caption: m.GetCaption()}, true
	case msg.GetContactMessage() != nil:
		return content{kind: chat.TypeVCard, body: msg.GetContactMessage().GetVcard()}, true
	case msg.GetContactsArrayMessage() != nil:
		var cards []string
		for _, c := range msg.GetContactsArrayMessage().GetContacts() {
			cards = append(cards, c.GetVcard())
		}
		return content{kind: chat.TypeVCard, body: strings.Join(cards, "\n")}, true
	case msg.GetProtocolMessage() != nil && msg.GetProtocolMessage().GetType() == waE2E.ProtocolMessage_REVOKE:
		return content{kind: chat.TypeRevoked, body: msg.GetProtocolMessage().GetKey().GetID()}, true
	}
	return content{}, false
}

// contextInfo returns the quoting/forwarding context of a message, if it has one.
func contextInfo(msg *waE2E.Message) *waE2E.ContextInfo {
	switch {
	case msg.GetExtendedTextMessage() != nil:
		return msg.GetExtendedTextMessage().GetContextInfo()
	case msg.GetImageMessage() != nil:
		return msg.GetImageMessage().GetContextInfo()
	case msg.GetVideoMessage() != nil:
		return msg.GetVideoMessage().GetContextInfo()
	case msg.GetDocumentMessage() != nil:
		return msg.GetDocumentMessage().GetContextInfo()
	}
	return nil
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
