package engine

import (
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// content is what a WhatsApp message shows, in Chat API terms.
type content struct {
	kind, body, caption, fileName, mime string
	download                            whatsmeow.DownloadableMessage
	lat, lng                            *float64
	address, title, description         string
	poll                                *chat.Poll
	// target is the message a reaction, poll vote, edit or revoke refers to.
	target *waCommon.MessageKey
	// encrypted marks a reaction whose emoji is encrypted with the target's secret.
	encrypted bool
	// context is the quote and forward context of the message, if any.
	context *waE2E.ContextInfo
}

// classify maps a WhatsApp message to a Chat API type and fields; ok is false for messages that
// have nothing to show (sender-key distribution, app state and other protocol messages).
func classify(msg *waE2E.Message) (content, bool) {
	msg = unwrap(msg)
	for _, kind := range []func(*waE2E.Message) (content, bool){textContent, mediaContent, sharedContent, refContent} {
		if c, ok := kind(msg); ok {
			c.context = contextInfoOf(msg)
			return c, true
		}
	}
	return content{}, false
}

// unwrap takes a message out of the containers whatsmeow may leave around it.
func unwrap(msg *waE2E.Message) *waE2E.Message {
	for _, inner := range []*waE2E.Message{msg.GetDocumentWithCaptionMessage().GetMessage(),
		msg.GetEphemeralMessage().GetMessage(), msg.GetViewOnceMessage().GetMessage(),
		msg.GetViewOnceMessageV2().GetMessage()} {
		if inner != nil {
			msg = inner
		}
	}
	return msg
}

// textContent classifies texts, with their link preview.
func textContent(msg *waE2E.Message) (content, bool) {
	switch {
	case msg.GetConversation() != "":
		return content{kind: chat.TypeChat, body: msg.GetConversation()}, true
	case msg.GetExtendedTextMessage() != nil:
		t := msg.GetExtendedTextMessage()
		return content{kind: chat.TypeChat, body: t.GetText(), title: t.GetTitle(), description: t.GetDescription()}, true
	}
	return content{}, false
}

// mediaContent classifies attachments, which are downloaded and linked.
func mediaContent(msg *waE2E.Message) (content, bool) {
	switch {
	case msg.GetImageMessage() != nil:
		m := msg.GetImageMessage()
		return content{kind: chat.TypeImage, caption: m.GetCaption(), mime: m.GetMimetype(), download: m}, true
	case msg.GetVideoMessage() != nil || msg.GetPtvMessage() != nil:
		m := msg.GetVideoMessage()
		if m == nil {
			m = msg.GetPtvMessage()
		}
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
	}
	return content{}, false
}

// sharedContent classifies locations and contact cards.
func sharedContent(msg *waE2E.Message) (content, bool) {
	switch {
	case msg.GetLocationMessage() != nil:
		m := msg.GetLocationMessage()
		return location(m.GetDegreesLatitude(), m.GetDegreesLongitude(), m.GetName(), m.GetAddress()), true
	case msg.GetLiveLocationMessage() != nil:
		m := msg.GetLiveLocationMessage()
		return location(m.GetDegreesLatitude(), m.GetDegreesLongitude(), m.GetCaption(), ""), true
	case msg.GetContactMessage() != nil:
		return content{kind: chat.TypeVCard, body: msg.GetContactMessage().GetVcard()}, true
	case msg.GetContactsArrayMessage() != nil:
		var cards []string
		for _, c := range msg.GetContactsArrayMessage().GetContacts() {
			cards = append(cards, c.GetVcard())
		}
		return content{kind: chat.TypeVCard, body: strings.Join(cards, "\n")}, true
	}
	return content{}, false
}

// location is a location's content: body "lat;lng", the name as caption, and the address (the
// name when there is none).
func location(lat, lng float64, name, address string) content {
	if address == "" {
		address = name
	}
	return content{kind: chat.TypeLocation, body: fmt.Sprintf("%g;%g", lat, lng), caption: name,
		lat: &lat, lng: &lng, address: address}
}

// refContent classifies polls and the kinds that refer to another message: votes, reactions,
// edits and revokes; and call logs.
func refContent(msg *waE2E.Message) (content, bool) {
	switch {
	case pollOf(msg) != nil:
		return pollContent(pollOf(msg)), true
	case msg.GetPollUpdateMessage() != nil:
		return content{kind: chat.TypePollVote, target: msg.GetPollUpdateMessage().GetPollCreationMessageKey()}, true
	case msg.GetReactionMessage() != nil:
		r := msg.GetReactionMessage()
		return content{kind: chat.TypeReaction, body: r.GetText(), target: r.GetKey()}, true
	case msg.GetEncReactionMessage() != nil:
		return content{kind: chat.TypeReaction, target: msg.GetEncReactionMessage().GetTargetMessageKey(), encrypted: true}, true
	case msg.GetCallLogMesssage() != nil:
		outcome := strings.ToLower(msg.GetCallLogMesssage().GetCallOutcome().String())
		return content{kind: chat.TypeCallLog, body: outcome}, true
	}
	pm := msg.GetProtocolMessage()
	switch pm.GetType() {
	case waE2E.ProtocolMessage_REVOKE:
		return content{kind: chat.TypeRevoked, target: pm.GetKey()}, pm.GetKey().GetID() != ""
	case waE2E.ProtocolMessage_MESSAGE_EDIT:
		return content{kind: chat.TypeEdited, body: textOf(pm.GetEditedMessage()), target: pm.GetKey()}, pm.GetKey().GetID() != ""
	}
	return content{}, false
}

// textOf is the text a message shows: a text's, or a media message's caption.
func textOf(msg *waE2E.Message) string {
	msg = unwrap(msg)
	for _, s := range []string{msg.GetConversation(), msg.GetExtendedTextMessage().GetText(),
		msg.GetImageMessage().GetCaption(), msg.GetVideoMessage().GetCaption(), msg.GetDocumentMessage().GetCaption()} {
		if s != "" {
			return s
		}
	}
	return ""
}

// contextInfoOf returns the quote and forward context of a message of any kind that carries one.
func contextInfoOf(msg *waE2E.Message) *waE2E.ContextInfo {
	type withContext interface{ GetContextInfo() *waE2E.ContextInfo }
	for _, part := range []withContext{msg.GetExtendedTextMessage(), msg.GetImageMessage(), msg.GetVideoMessage(),
		msg.GetPtvMessage(), msg.GetAudioMessage(), msg.GetDocumentMessage(), msg.GetStickerMessage(),
		msg.GetLocationMessage(), msg.GetLiveLocationMessage(), msg.GetContactMessage(), msg.GetContactsArrayMessage(),
		pollOf(msg)} {
		if ci := part.GetContextInfo(); ci != nil {
			return ci
		}
	}
	return nil
}
