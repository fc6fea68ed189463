package sandbox

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// Errors of the phone's message kinds.
var (
	// ErrInvalid marks a request the phone cannot act on as asked (a bad option, an empty body…).
	ErrInvalid = errors.New("invalid request")
	// ErrUnknownTarget marks a reaction, vote, edit, revoke or reply to a message the phone never saw.
	ErrUnknownTarget = errors.New("the phone has no such message")
)

// Limits of polls, as WhatsApp's apps enforce them.
const (
	minPollOptions = 2
	maxPollOptions = 12
)

// pollOf returns the poll a message creates, in any of its versions.
func pollOf(msg *waE2E.Message) *waE2E.PollCreationMessage {
	for _, p := range []*waE2E.PollCreationMessage{msg.GetPollCreationMessage(), msg.GetPollCreationMessageV2(), msg.GetPollCreationMessageV3()} {
		if p != nil {
			return p
		}
	}
	return nil
}

// contextInfoOf returns the context (quote, forward) of a message of any kind that carries one.
func contextInfoOf(msg *waE2E.Message) *waE2E.ContextInfo {
	type withContext interface{ GetContextInfo() *waE2E.ContextInfo }
	for _, part := range []withContext{msg.GetExtendedTextMessage(), msg.GetImageMessage(), msg.GetVideoMessage(),
		msg.GetAudioMessage(), msg.GetDocumentMessage(), msg.GetStickerMessage(), msg.GetLocationMessage(),
		msg.GetContactMessage(), pollOf(msg)} {
		if ci := part.GetContextInfo(); ci != nil {
			return ci
		}
	}
	return nil
}

// fillContent sets a message's kind and fields from its content. It returns false for what a
// phone does not show (key distribution, app state and other protocol messages).
func fillContent(m *PhoneMessage, msg *waE2E.Message) bool {
	m.msg = msg
	m.Type, m.Body = describe(msg)
	if edited := msg.GetEditedMessage().GetMessage(); edited != nil {
		msg = edited
	}
	switch {
	case msg.GetExtendedTextMessage() != nil:
		t := msg.GetExtendedTextMessage()
		m.Title, m.Description, m.URL = t.GetTitle(), t.GetDescription(), t.GetMatchedText()
	case msg.GetLocationMessage() != nil:
		l := msg.GetLocationMessage()
		lat, lng := l.GetDegreesLatitude(), l.GetDegreesLongitude()
		m.Lat, m.Lng, m.Address = &lat, &lng, l.GetAddress()
	case msg.GetContactMessage() != nil:
		m.VCard = msg.GetContactMessage().GetVcard()
	case pollOf(msg) != nil:
		poll := pollOf(msg)
		m.Poll = &PhonePoll{Name: poll.GetName(), Multiple: poll.GetSelectableOptionsCount() != 1, Options: []string{}}
		for _, o := range poll.GetOptions() {
			m.Poll.Options = append(m.Poll.Options, o.GetOptionName())
		}
	case msg.GetReactionMessage() != nil:
		m.Reaction, m.TargetID = msg.GetReactionMessage().GetText(), msg.GetReactionMessage().GetKey().GetID()
	case msg.GetPollUpdateMessage() != nil:
		m.TargetID = msg.GetPollUpdateMessage().GetPollCreationMessageKey().GetID()
	case msg.GetProtocolMessage() != nil:
		m.TargetID = msg.GetProtocolMessage().GetKey().GetID()
	}
	m.QuotedID = contextInfoOf(msg).GetStanzaID()
	return m.Type != "unknown" && m.Type != "protocol"
}

// applyLocked records on its target what a reaction, vote, edit or revoke did. Call with p.mu held.
func (p *Phone) applyLocked(m *PhoneMessage) {
	t := p.byID[m.TargetID]
	if m.TargetID == "" || t == nil || t == m {
		return
	}
	switch m.Type {
	case "reaction":
		if m.Reaction == "" {
			delete(t.Reactions, m.From)
			return
		}
		if t.Reactions == nil {
			t.Reactions = map[string]string{}
		}
		t.Reactions[m.From] = m.Reaction
	case "edited":
		t.Edited = m.Body
	case "revoked":
		t.Revoked = true
	case "poll_vote":
		if t.Poll != nil {
			if t.Poll.Votes == nil {
				t.Poll.Votes = map[string][]string{}
			}
			t.Poll.Votes[m.From] = slices.Clone(m.SelectedOptions)
		}
	}
}

// clone copies a message deep enough that the caller may keep it. Call with p.mu held.
func (m *PhoneMessage) clone() PhoneMessage {
	out := *m
	if m.Media != nil {
		media := *m.Media
		out.Media = &media
	}
	if m.Poll != nil {
		poll := *m.Poll
		poll.Options = slices.Clone(m.Poll.Options)
		poll.Votes = maps.Clone(m.Poll.Votes)
		out.Poll = &poll
	}
	out.Reactions = maps.Clone(m.Reactions)
	out.SelectedOptions = slices.Clone(m.SelectedOptions)
	return out
}

// decryptVote opens a poll vote with the poll's secret (which whatsmeow kept when the poll was
// sent or received) and names the chosen options; options the poll does not have are shown as
// their hash in hex.
func (p *Phone) decryptVote(e *events.Message, pollID string) []string {
	vote, err := p.cli.DecryptPollVote(context.Background(), e)
	if err != nil {
		return []string{"undecryptable: " + err.Error()}
	}
	p.mu.Lock()
	var options []string
	if poll := p.byID[pollID]; poll != nil && poll.Poll != nil {
		options = poll.Poll.Options
	}
	p.mu.Unlock()
	byHash := map[string]string{}
	for i, h := range whatsmeow.HashPollOptions(options) {
		byHash[string(h)] = options[i]
	}
	names := []string{}
	for _, h := range vote.GetSelectedOptions() {
		if name, ok := byHash[string(h)]; ok {
			names = append(names, name)
		} else {
			names = append(names, hex.EncodeToString(h))
		}
	}
	return names
}

// Kind is a message a phone sends besides text, media, locations and contacts.
type Kind struct {
	// Type is poll, reaction, poll_vote, edit, revoke or reply.
	Type string `json:"type"`
	// Name, Options and Multiple make a poll; Options are also a vote's choices by name.
	Name     string   `json:"name"`
	Options  []string `json:"options"`
	Multiple bool     `json:"multiple"`
	// TargetID is the message a reaction, edit or revoke refers to; PollID the poll of a vote;
	// QuotedID the message a reply quotes.
	TargetID string `json:"targetId"`
	PollID   string `json:"pollId"`
	QuotedID string `json:"quotedId"`
	// Emoji is a reaction's ("" removes the phone's earlier reaction); Body the text of an edit or reply.
	Emoji string `json:"emoji"`
	Body  string `json:"body"`
}

// SendKind sends a poll, reaction, vote, edit, revoke or reply to the chat named by to. Errors
// wrap ErrInvalid for requests that cannot be sent as asked and ErrUnknownTarget for targets the
// phone never saw.
func (p *Phone) SendKind(ctx context.Context, to string, k Kind) (PhoneMessage, error) {
	jid, err := ParseRecipient(to)
	if err != nil {
		return PhoneMessage{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if k.Type == "poll" {
		msg, err := p.pollMessage(k)
		if err != nil {
			return PhoneMessage{}, err
		}
		return p.sendTo(ctx, jid, msg, nil)
	}
	targetID := map[string]string{"reaction": k.TargetID, "edit": k.TargetID, "revoke": k.TargetID,
		"poll_vote": k.PollID, "reply": k.QuotedID}
	id, ok := targetID[k.Type]
	if !ok {
		return PhoneMessage{}, fmt.Errorf("%w: type %q is not poll, reaction, poll_vote, edit, revoke, reply or typing", ErrInvalid, k.Type)
	}
	if id == "" {
		return PhoneMessage{}, fmt.Errorf("%w: %s needs the id of the message it refers to", ErrInvalid, k.Type)
	}
	t, err := p.target(jid, id)
	if err != nil {
		return PhoneMessage{}, err
	}
	msg, fill, err := p.kindMessage(t, k)
	if err != nil {
		return PhoneMessage{}, err
	}
	return p.sendTo(ctx, t.chat, msg, fill)
}

// target finds a message of the chat to refers to, as it was when looked up.
func (p *Phone) target(to types.JID, id string) (PhoneMessage, error) {
	chat := p.pnString(to)
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.byID[id]
	if m == nil {
		return PhoneMessage{}, fmt.Errorf("%w: %q", ErrUnknownTarget, id)
	}
	if m.Chat != chat {
		return PhoneMessage{}, fmt.Errorf("%w: message %q is in chat %s, not %s", ErrInvalid, id, m.Chat, chat)
	}
	return m.clone(), nil
}

func (p *Phone) pollMessage(k Kind) (*waE2E.Message, error) {
	name := strings.TrimSpace(k.Name)
	if name == "" {
		return nil, fmt.Errorf("%w: a poll needs a name", ErrInvalid)
	}
	if len(k.Options) < minPollOptions || len(k.Options) > maxPollOptions {
		return nil, fmt.Errorf("%w: a poll needs %d to %d options", ErrInvalid, minPollOptions, maxPollOptions)
	}
	seen := map[string]bool{}
	for _, o := range k.Options {
		if strings.TrimSpace(o) == "" || seen[o] {
			return nil, fmt.Errorf("%w: poll options must be non-empty and distinct", ErrInvalid)
		}
		seen[o] = true
	}
	selectable := 1
	if k.Multiple {
		selectable = 0 // any number
	}
	return p.cli.BuildPollCreation(name, k.Options, selectable), nil
}

// kindMessage builds the message of a kind that refers to the message t.
func (p *Phone) kindMessage(t PhoneMessage, k Kind) (*waE2E.Message, func(*PhoneMessage), error) {
	switch k.Type {
	case "reaction":
		return p.cli.BuildReaction(t.chat, t.sender, t.ID, k.Emoji), nil, nil
	case "edit":
		switch {
		case !t.FromMe:
			return nil, nil, fmt.Errorf("%w: only the phone's own messages can be edited", ErrInvalid)
		case t.Type != "text" || t.Revoked:
			return nil, nil, fmt.Errorf("%w: only texts that were not deleted can be edited", ErrInvalid)
		case k.Body == "":
			return nil, nil, fmt.Errorf("%w: body is required", ErrInvalid)
		}
		return p.cli.BuildEdit(t.chat, t.ID, &waE2E.Message{Conversation: proto.String(k.Body)}), nil, nil
	case "revoke":
		sender := types.EmptyJID
		if !t.FromMe {
			if t.chat.Server != types.GroupServer {
				return nil, nil, fmt.Errorf("%w: in a 1:1 chat only the phone's own messages can be deleted for everyone", ErrInvalid)
			}
			sender = t.sender // as a group admin
		}
		return p.cli.BuildRevoke(t.chat, sender, t.ID), nil, nil
	case "reply":
		if k.Body == "" {
			return nil, nil, fmt.Errorf("%w: body is required", ErrInvalid)
		}
		return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String(k.Body),
			ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String(t.ID), Participant: proto.String(t.sender.ToNonAD().String()),
				QuotedMessage: t.msg}}}, nil, nil
	}
	return p.voteMessage(t, k.Options)
}

func (p *Phone) voteMessage(t PhoneMessage, options []string) (*waE2E.Message, func(*PhoneMessage), error) {
	if t.Poll == nil {
		return nil, nil, fmt.Errorf("%w: message %q is not a poll", ErrInvalid, t.ID)
	}
	for _, o := range options {
		if !slices.Contains(t.Poll.Options, o) {
			return nil, nil, fmt.Errorf("%w: the poll has no option %q", ErrInvalid, o)
		}
	}
	if !t.Poll.Multiple && len(options) > 1 {
		return nil, nil, fmt.Errorf("%w: the poll allows one option", ErrInvalid)
	}
	info := &types.MessageInfo{ID: t.ID, MessageSource: types.MessageSource{
		Chat: t.chat, Sender: t.sender, IsFromMe: t.FromMe, IsGroup: t.chat.Server == types.GroupServer}}
	msg, err := p.cli.BuildPollVote(context.Background(), info, options)
	if err != nil {
		return nil, nil, fmt.Errorf("encrypting the vote: %w", err)
	}
	chosen := slices.Clone(options)
	if chosen == nil {
		chosen = []string{}
	}
	return msg, func(m *PhoneMessage) { m.SelectedOptions = chosen }, nil
}
