package engine

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// deliverPoll sends a poll. whatsmeow keeps the poll's message secret when it is sent, so the
// votes that come back can be decrypted.
func (e *Engine) deliverPoll(ctx context.Context, cli *whatsmeow.Client, it store.Item, p queue.Poll) (string, *chat.Message, error) {
	selectable := 1
	if p.Multiple {
		selectable = 0 // any number of options
	}
	msg := cli.BuildPollCreation(p.Name, p.Options, selectable)
	if secret := pollSecret(cli, it.WAID); secret != nil {
		msg.MessageContextInfo.MessageSecret = secret
	}
	msg.PollCreationMessage.ContextInfo = e.replyContext(ctx, p.QuotedMsgID)
	entry := e.entry(it, chat.TypePoll, p.Name)
	entry.Poll = &chat.Poll{Name: p.Name, Options: p.Options, Multiple: p.Multiple}
	entry.QuotedMsgID = p.QuotedMsgID
	return "", entry, e.send(ctx, cli, it.ChatID, it.WAID, msg)
}

// pollSecret is the message secret of the poll with WhatsApp id waID, the same on every attempt
// to send it: whatsmeow keeps the secret of a message id's first attempt, while BuildPollCreation
// makes a new one each time, so a poll resent with another secret would have votes nobody can
// decrypt. It is derived from the device's identity key (nil when there is none).
func pollSecret(cli *whatsmeow.Client, waID string) []byte {
	if cli.Store.IdentityKey == nil || cli.Store.IdentityKey.Priv == nil {
		return nil
	}
	mac := hmac.New(sha256.New, cli.Store.IdentityKey.Priv[:])
	mac.Write([]byte("messenger-operator poll secret\x00" + waID))
	return mac.Sum(nil)
}

// deliverReaction sends an emoji on a journaled message, or removes the account's ("").
func (e *Engine) deliverReaction(ctx context.Context, cli *whatsmeow.Client, it store.Item, p queue.Reaction) (string, *chat.Message, error) {
	t, err := e.target(ctx, p.MessageID)
	if err != nil {
		return "", nil, err
	}
	sender, err := senderOf(cli, t.msg, t.id)
	if err != nil {
		return "", nil, err
	}
	msg := cli.BuildReaction(t.chat, sender, t.id.WAID, p.Reaction)
	entry := e.entry(it, chat.TypeReaction, p.Reaction)
	entry.QuotedMsgID = t.msg.ID
	return "", entry, e.send(ctx, cli, it.ChatID, it.WAID, msg)
}

// deliverEdit replaces the text of one of the account's messages and marks the original edited.
// The edit window is checked again: an edit that waited in the queue past it fails for good.
func (e *Engine) deliverEdit(ctx context.Context, cli *whatsmeow.Client, it store.Item, p queue.Edit) (string, *chat.Message, error) {
	t, err := e.target(ctx, p.MessageID)
	if err != nil {
		return "", nil, err
	}
	switch {
	case !t.msg.FromMe || t.msg.Type != chat.TypeChat || t.msg.Revoked:
		return "", nil, fmt.Errorf("%w: message %s is not a text of the account's that can be edited", errPermanent, t.msg.ID)
	case queue.EditExpired(time.Unix(t.msg.Time, 0), time.Now()):
		return "", nil, fmt.Errorf("%w: the %s edit window of message %s passed while the edit was queued",
			errPermanent, queue.EditWindow, t.msg.ID)
	}
	msg := cli.BuildEdit(t.chat, t.id.WAID, &waE2E.Message{Conversation: proto.String(it.Body)})
	if err := e.send(ctx, cli, it.ChatID, it.WAID, msg); err != nil {
		return "", nil, err
	}
	e.markOriginal(ctx, t.msg.ID, func(m *chat.Message) { m.Edited, m.Body = true, it.Body })
	entry := e.entry(it, chat.TypeEdited, it.Body)
	entry.QuotedMsgID = t.msg.ID
	return "", entry, nil
}

// deliverDelete revokes a message for everyone: the account's own, or in a group another
// member's (WhatsApp refuses that unless the account is an admin: a permanent failure).
func (e *Engine) deliverDelete(ctx context.Context, cli *whatsmeow.Client, it store.Item, p queue.Delete) (string, *chat.Message, error) {
	t, err := e.target(ctx, p.MessageID)
	if err != nil {
		return "", nil, err
	}
	sender := types.EmptyJID
	if !t.msg.FromMe {
		if t.id.Chat.Kind != chat.Group {
			return "", nil, fmt.Errorf("%w: only the account's own messages can be deleted in a 1:1 chat", errPermanent)
		}
		if sender, err = senderOf(cli, t.msg, t.id); err != nil {
			return "", nil, err
		}
	}
	if err := e.send(ctx, cli, it.ChatID, it.WAID, cli.BuildRevoke(t.chat, sender, t.id.WAID)); err != nil {
		return "", nil, err
	}
	e.markOriginal(ctx, t.msg.ID, func(m *chat.Message) { m.Revoked = true })
	entry := e.entry(it, chat.TypeRevoked, "")
	entry.QuotedMsgID = t.msg.ID
	return "", entry, nil
}

// deliverForward sends a journaled message again to the item's chat, marked forwarded; media are
// uploaded again from the media directory.
func (e *Engine) deliverForward(ctx context.Context, cli *whatsmeow.Client, it store.Item, p queue.Forward) (string, *chat.Message, error) {
	t, err := e.target(ctx, p.MessageID)
	if err != nil {
		return "", nil, err
	}
	msg, err := e.forwardContent(ctx, cli, t.msg)
	if err != nil {
		return "", nil, err
	}
	src := t.msg
	entry := e.entry(it, src.Type, src.Body)
	entry.Caption, entry.FileName, entry.MimeType = src.Caption, src.FileName, src.MimeType
	entry.Lat, entry.Lng, entry.Address, entry.Title, entry.Description = src.Lat, src.Lng, src.Address, src.Title, src.Description
	entry.IsForwarded = true
	return "", entry, e.send(ctx, cli, it.ChatID, it.WAID, msg)
}

// forwardContent builds the WhatsApp message of a journal entry, with the forwarded context.
func (e *Engine) forwardContent(ctx context.Context, cli *whatsmeow.Client, m chat.Message) (*waE2E.Message, error) {
	if m.Revoked {
		return nil, fmt.Errorf("%w: message %s was deleted", errPermanent, m.ID)
	}
	fwd := &waE2E.ContextInfo{IsForwarded: proto.Bool(true), ForwardingScore: proto.Uint32(1)}
	switch m.Type {
	case chat.TypeChat:
		return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String(m.Body),
			Title: nonEmpty(m.Title), Description: nonEmpty(m.Description), ContextInfo: fwd}}, nil
	case chat.TypeLocation:
		lat, lng, err := coordinates(m)
		if err != nil {
			return nil, err
		}
		return &waE2E.Message{LocationMessage: &waE2E.LocationMessage{DegreesLatitude: &lat, DegreesLongitude: &lng,
			Address: nonEmpty(m.Address), Name: nonEmpty(m.Caption), ContextInfo: fwd}}, nil
	case chat.TypeVCard:
		return &waE2E.Message{ContactMessage: &waE2E.ContactMessage{DisplayName: proto.String(vcardName(m.Body)),
			Vcard: proto.String(m.Body), ContextInfo: fwd}}, nil
	}
	if !chat.IsMedia(m.Type) {
		return nil, fmt.Errorf("%w: a message of type %s cannot be forwarded", errPermanent, m.Type)
	}
	msg, err := e.reupload(ctx, cli, m)
	if err != nil {
		return nil, err
	}
	setContext(msg, fwd)
	return msg, nil
}

// reupload uploads the stored file of a media entry again and builds the message that carries it.
func (e *Engine) reupload(ctx context.Context, cli *whatsmeow.Client, m chat.Message) (*waE2E.Message, error) {
	rel, err := e.opts.Media.FromLink(m.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: the file of message %s: %v", errPermanent, m.ID, err)
	}
	path, err := e.opts.Media.Path(rel)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPermanent, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the file of message %s: %v", errPermanent, m.ID, err)
	}
	if m.Type == chat.TypeSticker {
		up, err := cli.Upload(ctx, data, whatsmeow.MediaImage)
		if err != nil {
			return nil, fmt.Errorf("uploading sticker: %w", err)
		}
		return &waE2E.Message{StickerMessage: &waE2E.StickerMessage{URL: &up.URL, DirectPath: &up.DirectPath,
			MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength,
			Mimetype: proto.String(m.MimeType)}}, nil
	}
	name := m.FileName
	if name == "" {
		name = rel[strings.LastIndexByte(rel, '/')+1:]
	}
	return uploadMessage(ctx, cli, queue.File{FileName: name, MimeType: m.MimeType, MediaType: m.Type, Caption: m.Caption}, data)
}

// coordinates returns a location entry's latitude and longitude (from Lat/Lng, else its body "lat;lng").
func coordinates(m chat.Message) (float64, float64, error) {
	if m.Lat != nil && m.Lng != nil {
		return *m.Lat, *m.Lng, nil
	}
	a, b, ok := strings.Cut(m.Body, ";")
	lat, err1 := strconv.ParseFloat(a, 64)
	lng, err2 := strconv.ParseFloat(b, 64)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%w: location %s has no coordinates", errPermanent, m.ID)
	}
	return lat, lng, nil
}

// vcardName is the formatted name (FN) of a vCard, or "" when it has none.
func vcardName(card string) string {
	for line := range strings.Lines(card) {
		key, value, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		if ok && (strings.EqualFold(key, "FN") || strings.HasPrefix(strings.ToUpper(key), "FN;")) {
			return value
		}
	}
	return ""
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// refTarget is a journaled message a send acts on, with its WhatsApp chat.
type refTarget struct {
	msg  chat.Message
	id   chat.MessageID
	chat types.JID
}

// target reads the journal entry a queued send acts on; a message the journal no longer holds is
// a permanent failure, a journal that cannot be read a transient one.
func (e *Engine) target(ctx context.Context, messageID string) (refTarget, error) {
	id, err := chat.ParseMessageID(messageID)
	if err != nil {
		return refTarget{}, fmt.Errorf("%w: %v", errPermanent, err)
	}
	m, err := e.opts.Store.Message(ctx, id.String())
	if errors.Is(err, store.ErrNotFound) {
		return refTarget{}, fmt.Errorf("%w: unknown message %s", errPermanent, messageID)
	}
	if err != nil {
		return refTarget{}, fmt.Errorf("reading message %s: %w", messageID, err)
	}
	jid, err := types.ParseJID(id.Chat.JID())
	if err != nil {
		return refTarget{}, fmt.Errorf("%w: %v", errPermanent, err)
	}
	return refTarget{msg: m, id: id, chat: jid}, nil
}

// senderOf is the WhatsApp author of a journaled message: the account for its own messages, the
// author recorded with the entry otherwise (in a 1:1 chat, the other side).
func senderOf(cli *whatsmeow.Client, m chat.Message, id chat.MessageID) (types.JID, error) {
	if m.FromMe {
		return cli.Store.GetJID().ToNonAD(), nil
	}
	author := id.Chat
	if m.Author != "" {
		a, err := chat.ParseChatID(m.Author)
		if err != nil {
			return types.EmptyJID, fmt.Errorf("%w: author of message %s: %v", errPermanent, m.ID, err)
		}
		author = a
	}
	if author.Kind == chat.Group {
		return types.EmptyJID, fmt.Errorf("%w: message %s has no known author", errPermanent, m.ID)
	}
	jid, err := types.ParseJID(author.JID())
	if err != nil {
		return types.EmptyJID, fmt.Errorf("%w: %v", errPermanent, err)
	}
	return jid, nil
}

// markOriginal records an edit or revoke on the message it changed. The send is done by then, so
// a failure is only logged: the edited or revoked entry journaled with the send still tells.
func (e *Engine) markOriginal(ctx context.Context, id string, change func(*chat.Message)) {
	found, err := e.opts.Store.MarkMessage(context.WithoutCancel(ctx), id, change)
	if err != nil || !found {
		e.log.Warn("marking the original of an edit or revoke", "messageId", id, "found", found, "err", err)
	}
}
